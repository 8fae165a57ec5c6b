"""The run list as a workbench: metric summaries kept on ingest, sorting and filtering by
metrics, parameters, tags and properties (keyset pages, runs without the value last),
archiving, bulk actions (with team isolation), saved columns and the compare endpoints."""

from __future__ import annotations

import json
from typing import Any

import pytest

from audit.models import AuditEvent
from runs import snapshots
from runs.models import MetricSummary, Run, RunField
from runs.status import Status
from runs.summaries import params_of, sort_key
from tests.conftest import World, make_tar
from tests.factories import make_run


def log(client: Any, run: Run, points: list[dict[str, Any]]) -> None:
    response = client.post(f"/api/runs/{run.pk}/metrics/", points, format="json")
    assert response.status_code == 201, response.content


def every_page(client: Any, **params: Any) -> list[dict[str, Any]]:
    response = client.get("/api/runs/", params)
    assert response.status_code == 200, response.content
    rows = []
    while True:
        page = response.json()
        rows += page["results"]
        if not page["next"]:
            return rows
        response = client.get(page["next"])
        assert response.status_code == 200, response.content


def ids(rows: list[dict[str, Any]]) -> list[int]:
    return [r["id"] for r in rows]


def test_summaries_follow_ingest_latest_min_max_count(world: World) -> None:
    run = make_run(world.alice.user, world.team_a)
    log(world.alice.client, run, [{"name": "acc", "value": v, "step": i} for i, v in enumerate([0.5, 0.9, 0.7])])
    log(
        world.alice.client,
        run,
        [{"name": "acc", "value": 0.2, "step": 3}, {"name": "note", "kind": "text", "payload": "x"}],
    )
    summary = MetricSummary.objects.get(run=run, name="acc")
    assert (summary.latest, summary.latest_step, summary.min_value, summary.max_value, summary.points) == (
        0.2,
        3,
        0.2,
        0.9,
        4,
    )
    assert not MetricSummary.objects.filter(run=run, name="note").exists()  # text: not a column
    row = world.alice.client.get("/api/runs/").json()["results"][0]
    assert row["metrics"]["acc"] == {"last": 0.2, "step": 3, "min": 0.2, "max": 0.9, "count": 4}
    detail = world.alice.client.get(f"/api/runs/{run.pk}/").json()
    assert detail["metrics"]["acc"]["max"] == 0.9


def test_params_are_read_from_arguments_and_sort_numerically() -> None:
    assert params_of(["--lr", "0.01", "--epochs=3", "--amp", "--seed", "-1", "pos", {"dataset": "mnist"}]) == {
        "lr": "0.01",
        "epochs": "3",
        "amp": "true",
        "seed": "-1",
    }
    values = ["10", "9", "-2.5", "0", "abc", "1e3", "-100"]
    assert sorted(values, key=sort_key) == ["-100", "-2.5", "0", "9", "10", "1e3", "abc"]


def metric_runs(world: World) -> list[Run]:
    """Six runs: five with acc (two tied), one without; lr parameters and tags to match."""
    runs = []
    for i, acc in enumerate([0.8, 0.95, None, 0.6, 0.95, 0.99]):
        run = make_run(
            world.alice.user,
            world.team_a,
            arguments=["--lr", str(10 ** -(i + 1)), "--opt", "adam" if i % 2 else "sgd"],
            tags={"size": str(i * 10)},
        )
        if acc is not None:
            log(world.alice.client, run, [{"name": "acc", "value": acc / 2}, {"name": "acc", "value": acc}])
        runs.append(run)
    return runs


def test_ordering_by_metric_pages_by_keyset_with_missing_values_last(world: World) -> None:
    runs = metric_runs(world)
    by_acc_desc = [runs[5].pk, runs[4].pk, runs[1].pk, runs[0].pk, runs[3].pk, runs[2].pk]  # ties: higher id first
    for limit in (1, 2, 4, 50):
        rows = every_page(world.alice.client, ordering="-metrics.acc", limit=limit)
        assert ids(rows) == by_acc_desc, limit
    ascending = every_page(world.alice.client, ordering="metrics.acc", limit=2)
    assert ids(ascending) == [runs[3].pk, runs[0].pk, runs[1].pk, runs[4].pk, runs[5].pk, runs[2].pk]
    assert every_page(world.alice.client, ordering="metrics_min.acc", limit=3)[0]["id"] == runs[3].pk


def test_previous_links_walk_back_to_the_first_page(world: World) -> None:
    runs = metric_runs(world)
    client = world.alice.client
    pages = [client.get("/api/runs/", {"ordering": "-metrics.acc", "limit": 2}).json()]
    while pages[-1]["next"]:
        pages.append(client.get(pages[-1]["next"]).json())
    assert len(pages) == 3 and pages[0]["previous"] is None
    back = client.get(pages[2]["previous"]).json()
    assert ids(back["results"]) == ids(pages[1]["results"])
    first = client.get(back["previous"]).json()
    assert ids(first["results"]) == ids(pages[0]["results"]) and first["previous"] is None
    assert len(runs) == 6


def test_ordering_by_param_tag_and_property(world: World) -> None:
    runs = metric_runs(world)
    lr = every_page(world.alice.client, ordering="params.lr", limit=2)
    assert ids(lr) == [r.pk for r in reversed(runs)]  # 1e-06 < ... < 0.1, as numbers
    size = every_page(world.alice.client, ordering="-tags.size", limit=4)
    assert ids(size) == [r.pk for r in reversed(runs)]  # "50" > "40" > ... > "0" as numbers, not text
    world.alice.client.post(f"/api/runs/{runs[2].pk}/properties/", {"properties": {"stage": "b"}}, format="json")
    assert every_page(world.alice.client, ordering="properties.stage")[0]["id"] == runs[2].pk


def test_filters_by_metric_and_param(world: World) -> None:
    runs = metric_runs(world)
    client = world.alice.client
    assert set(ids(every_page(client, metric="acc>0.9"))) == {runs[1].pk, runs[4].pk, runs[5].pk}
    assert set(ids(every_page(client, metric="acc>=0.95", ordering="-metrics.acc"))) == {
        runs[1].pk,
        runs[4].pk,
        runs[5].pk,
    }
    assert set(ids(every_page(client, metric_max="acc<0.7"))) == {runs[3].pk}
    assert set(ids(every_page(client, metric_min="acc<0.45"))) == {runs[3].pk, runs[0].pk}
    assert set(ids(every_page(client, metric="acc!=0.95"))) == {runs[0].pk, runs[3].pk, runs[5].pk}
    both = client.get("/api/runs/?metric=acc>0.7&metric=acc<0.96").json()["results"]
    assert set(ids(both)) == {runs[0].pk, runs[1].pk, runs[4].pk}
    assert set(ids(every_page(client, param="lr<0.001"))) == {r.pk for r in runs[3:]}
    assert set(ids(every_page(client, param="opt=adam"))) == {runs[1].pk, runs[3].pk, runs[5].pk}
    assert len(every_page(client, param="opt")) == 6 and every_page(client, param="nope") == []


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"ordering": "-bogus.acc"}, "ordering"),
        ({"ordering": "metrics."}, "ordering"),
        ({"metric": "acc"}, "metric"),
        ({"metric": "acc>high"}, "metric"),
        ({"metric_max": ">1"}, "metric_max"),
        ({"param": "opt>adam"}, "param"),
        ({"ordering": "-metrics.acc", "cursor": "not-a-cursor"}, "cursor"),
        ({"archived": "maybe"}, "archived"),
        # A forged cursor whose id would overflow a database integer.
        ({"ordering": "-metrics.acc", "cursor": "eyJ2IjogMSwgImkiOiAxZTk5OSwgImIiOiBmYWxzZX0"}, "cursor"),
        (
            {
                "ordering": "-metrics.acc",
                "cursor": "eyJ2IjogMSwgImkiOiAxMDAwMDAwMDAwMDAwMDAwMDAwMDAwLCAiYiI6IGZhbHNlfQ",
            },
            "cursor",
        ),
    ],
)
def test_bad_orderings_and_conditions_are_400_naming_the_field(
    world: World, params: dict[str, str], field: str
) -> None:
    response = world.alice.client.get("/api/runs/", params)
    assert response.status_code == 400, response.content
    assert field in response.json(), response.json()


def test_sorted_lists_stay_inside_the_callers_teams(world: World) -> None:
    mine = make_run(world.alice.user, world.team_a)
    theirs = make_run(world.bob.user, world.team_b)
    for run in (mine, theirs):
        log(world.admin.client, run, [{"name": "acc", "value": 0.5}])
    assert ids(every_page(world.alice.client, ordering="-metrics.acc")) == [mine.pk]
    assert ids(every_page(world.bob.client, ordering="-metrics.acc", metric="acc>0.1")) == [theirs.pk]


def bulk(client: Any, **body: Any) -> Any:
    return client.post("/api/runs/bulk/", body, format="json")


def test_bulk_archive_hides_restores_and_audits(world: World) -> None:
    a, b = make_run(world.alice.user, world.team_a), make_run(world.alice.user, world.team_a)
    answer = bulk(world.alice.client, action="archive", ids=[a.pk, b.pk])
    assert answer.status_code == 200, answer.content
    assert answer.json() == {"action": "archive", "done": [a.pk, b.pk], "refused": []}
    assert every_page(world.alice.client) == []
    assert set(ids(every_page(world.alice.client, archived="true"))) == {a.pk, b.pk}
    assert world.alice.client.get(f"/api/runs/{a.pk}/").json()["archived_at"] is not None
    again = bulk(world.alice.client, action="archive", ids=[a.pk]).json()
    assert again["done"] == [] and "already archived" in again["refused"][0]["reason"]
    assert bulk(world.alice.client, action="restore", ids=[a.pk]).json()["done"] == [a.pk]
    assert ids(every_page(world.alice.client)) == [a.pk]
    actions = list(AuditEvent.objects.filter(object_id=str(a.pk)).values_list("action", "actor_name"))
    assert ("runs.run.archived", "alice") in actions and ("runs.run.restored", "alice") in actions


def test_bulk_refuses_other_teams_runs_and_leaves_them_untouched(world: World) -> None:
    mine = make_run(world.alice.user, world.team_a, status=Status.QUEUED)
    theirs = make_run(world.bob.user, world.team_b, status=Status.QUEUED, tags={"k": "theirs"})
    for action, extra in (("tag", {"tags": {"k": "v"}}), ("archive", {}), ("cancel", {})):
        answer = bulk(world.alice.client, action=action, ids=[theirs.pk, mine.pk, 999_999], **extra).json()
        assert answer["done"] == [mine.pk], (action, answer)
        assert answer["refused"] == [
            {"id": theirs.pk, "reason": "No such run in your teams."},
            {"id": 999_999, "reason": "No such run in your teams."},
        ]
    theirs.refresh_from_db()
    assert (theirs.tags, theirs.archived_at, theirs.status) == ({"k": "theirs"}, None, Status.QUEUED)
    assert not AuditEvent.objects.filter(object_id=str(theirs.pk)).exists()
    mine.refresh_from_db()
    assert mine.tags == {"k": "v"} and mine.status == Status.CANCELED and mine.archived_at is not None


def test_bulk_cancel_reports_runs_that_already_ended(world: World) -> None:
    done = make_run(world.alice.user, world.team_a, status=Status.COMPLETED)
    queued = make_run(world.alice.user, world.team_a, status=Status.QUEUED)
    answer = bulk(world.alice.client, action="cancel", ids=[done.pk, queued.pk]).json()
    assert answer["done"] == [queued.pk]
    assert answer["refused"][0]["id"] == done.pk and "already ended" in answer["refused"][0]["reason"]


def test_bulk_tag_sets_and_removes_and_updates_the_sortable_fields(world: World) -> None:
    run = make_run(world.alice.user, world.team_a, tags={"old": "1", "keep": "x"})
    answer = bulk(world.alice.client, action="tag", ids=[run.pk], tags={"stage": "prod"}, remove_tags=["old"])
    assert answer.json()["done"] == [run.pk]
    run.refresh_from_db()
    assert run.tags == {"keep": "x", "stage": "prod"}
    assert set(RunField.objects.filter(run=run, kind="tag").values_list("key", "text")) == {
        ("keep", "x"),
        ("stage", "prod"),
    }
    assert AuditEvent.objects.filter(action="runs.run.tagged", object_id=str(run.pk)).exists()


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"action": "explode", "ids": [1]}, "action"),
        ({"action": "archive", "ids": []}, "ids"),
        ({"action": "archive", "ids": ["x"]}, "ids"),
        ({"action": "tag", "ids": [1]}, "tags"),
        ({"action": "tag", "ids": [1], "tags": ["a"]}, "tags"),
    ],
)
def test_bad_bulk_requests_name_the_field(world: World, body: dict[str, Any], field: str) -> None:
    response = bulk(world.alice.client, **body)
    assert response.status_code == 400 and field in response.json(), response.content


def test_column_preferences_are_per_user_and_experiment(world: World) -> None:
    run = make_run(world.alice.user, world.team_a)
    client = world.alice.client
    assert client.get("/api/runs/columns/").json() == {"experiment": None, "columns": []}
    saved = client.put("/api/runs/columns/", {"columns": ["metrics.acc", "params.lr"]}, format="json")
    assert saved.status_code == 200, saved.content
    # An experiment without its own choice starts from the all-runs one.
    exp = run.experiment_id
    assert client.get(f"/api/runs/columns/?experiment={exp}").json()["columns"] == ["metrics.acc", "params.lr"]
    client.put("/api/runs/columns/", {"experiment": exp, "columns": ["tags.stage"]}, format="json")
    assert client.get(f"/api/runs/columns/?experiment={exp}").json()["columns"] == ["tags.stage"]
    assert client.get("/api/runs/columns/").json()["columns"] == ["metrics.acc", "params.lr"]
    assert world.admin.client.get("/api/runs/columns/").json()["columns"] == []  # not another user's
    other = world.bob.client.put("/api/runs/columns/", {"experiment": exp, "columns": []}, format="json")
    assert other.status_code == 400 and "experiment" in other.json()
    bad = client.put("/api/runs/columns/", {"columns": ["status"]}, format="json")
    assert bad.status_code == 400 and "columns" in bad.json()


def test_keys_list_what_the_chooser_offers(world: World) -> None:
    runs = metric_runs(world)
    make_run(world.bob.user, world.team_b, arguments=["--secret-param", "1"], tags={"bob": "1"})
    keys = world.alice.client.get("/api/runs/keys/").json()
    assert keys == {"metrics": ["acc"], "params": ["lr", "opt"], "tags": ["size"], "properties": []}
    assert len(runs) == 6


def test_compare_describes_visible_runs_and_names_missing_ones(world: World) -> None:
    a = make_run(world.alice.user, world.team_a, arguments=["--lr", "0.1"], display_name="first")
    b = make_run(world.alice.user, world.team_a, arguments=["--lr", "0.2"], display_name="second")
    theirs = make_run(world.bob.user, world.team_b)
    log(world.alice.client, a, [{"name": "acc", "value": 0.5, "step": 1}])
    answer = world.alice.client.get(f"/api/runs/compare/?ids={a.pk},{b.pk},{theirs.pk}")
    assert answer.status_code == 200, answer.content
    data = answer.json()
    assert [r["display_name"] for r in data["runs"]] == ["first", "second"] and data["missing"] == [theirs.pk]
    assert data["runs"][0]["params"] == {"lr": "0.1"} and data["runs"][0]["metrics"]["acc"]["last"] == 0.5
    assert data["runs"][0]["environment"]["name"] == "Runyard-Python-3.11"
    for bad_ids in ("a,b", "", "99999999999999999999999", ",".join(str(i) for i in range(1, 30))):
        bad = world.alice.client.get(f"/api/runs/compare/?ids={bad_ids}")
        assert bad.status_code == 400 and "ids" in bad.json(), bad_ids


def test_compare_series_thins_long_series_keeping_extremes(world: World) -> None:
    a, b = make_run(world.alice.user, world.team_a), make_run(world.alice.user, world.team_a)
    points = [{"name": "loss", "value": 1.0, "step": i} for i in range(1000)]
    points[500]["value"] = 50.0  # a spike the thinning must keep
    log(world.alice.client, a, points)
    log(
        world.alice.client,
        b,
        [{"name": "loss", "value": 2.0}, {"name": "loss", "value": 3.0}, {"name": "acc", "value": 1}],
    )
    data = world.alice.client.get(f"/api/runs/compare/series/?ids={a.pk},{b.pk}&max_points=100").json()["series"]
    by = {(s["run"], s["name"]): s for s in data}
    thinned = by[(a.pk, "loss")]
    assert thinned["total"] == 1000 and len(thinned["values"]) <= 100 and 50.0 in thinned["values"]
    assert thinned["steps"] == sorted(thinned["steps"])
    assert by[(b.pk, "loss")]["steps"] == [0, 1]  # no step: the point's index
    only = world.alice.client.get(f"/api/runs/compare/series/?ids={a.pk},{b.pk}&names=acc").json()["series"]
    assert [(s["run"], s["name"]) for s in only] == [(b.pk, "acc")]


def test_thinned_series_are_kept_until_the_metric_gets_new_points(world: World) -> None:
    from runs.models import MetricSketch

    run = make_run(world.alice.user, world.team_a)
    log(world.alice.client, run, [{"name": "loss", "value": float(i), "step": i} for i in range(5000)])
    url = f"/api/runs/compare/series/?ids={run.pk}"
    first = world.alice.client.get(url).json()["series"][0]
    assert first["total"] == 5000 and len(first["values"]) <= 1000
    kept = MetricSketch.objects.get(run=run, name="loss")
    assert (kept.points, json.loads(kept.values_json)) == (5000, first["values"])
    MetricSketch.objects.filter(pk=kept.pk).update(values_json=json.dumps([-1.0] * len(first["values"])))
    assert set(world.alice.client.get(url).json()["series"][0]["values"]) == {-1.0}  # read from the sketch
    log(world.alice.client, run, [{"name": "loss", "value": 9999.0, "step": 5000}])
    again = world.alice.client.get(url).json()["series"][0]
    assert again["total"] == 5001 and 9999.0 in again["values"] and -1.0 not in again["values"]


def test_compare_snapshots_lists_files_and_texts_of_changed_ones(world: World) -> None:
    one = snapshots.store(make_tar({"train.py": "lr = 0.1\nprint(lr)\n", "same.txt": "x", "old.py": "a"}))
    two = snapshots.store(make_tar({"train.py": "lr = 0.2\nprint(lr)\n", "same.txt": "x", "new.py": "b"}))
    a = make_run(world.alice.user, world.team_a, snapshot_sha256=one.sha256)
    b = make_run(world.alice.user, world.team_a, snapshot_sha256=two.sha256)
    data = world.alice.client.get(f"/api/runs/compare/snapshots/?ids={a.pk},{b.pk}").json()
    files = {f["path"]: f for f in data["files"]}
    assert set(files) == {"train.py", "same.txt", "old.py", "new.py"}
    assert not files["same.txt"]["changed"] and files["train.py"]["changed"]
    assert files["new.py"]["sha256"][str(a.pk)] is None
    assert data["texts"]["train.py"] == {str(a.pk): "lr = 0.1\nprint(lr)\n", str(b.pk): "lr = 0.2\nprint(lr)\n"}
    assert "same.txt" not in data["texts"]


class SqlOnly:
    """What the backfill uses of a schema editor: execute(sql). (SQLite refuses a real editor
    inside the test's transaction.)"""

    def execute(self, sql: str) -> None:
        from django.db import connection

        with connection.cursor() as cursor:
            cursor.execute(sql)


def test_migration_backfill_builds_summaries_and_fields(world: World) -> None:
    """The migration's backfill, run against rows written without it (as before the migration)."""
    import importlib

    from django.apps import apps

    from runs.models import Metric

    run = make_run(world.alice.user, world.team_a, arguments=["--lr", "0.5"], tags={"t": "1"})
    Metric.objects.bulk_create([Metric(run=run, name="acc", value=v, step=i) for i, v in enumerate([0.3, 0.9, 0.4])])
    MetricSummary.objects.all().delete()
    RunField.objects.all().delete()
    migration = importlib.import_module("runs.migrations.0009_run_workbench")
    migration.backfill(apps, SqlOnly())
    summary = MetricSummary.objects.get(run=run, name="acc")
    assert (summary.latest, summary.min_value, summary.max_value, summary.points) == (0.4, 0.3, 0.9, 3)
    assert set(RunField.objects.filter(run=run).values_list("kind", "key", "text")) == {
        ("param", "lr", "0.5"),
        ("tag", "t", "1"),
    }
