"""The MLflow API's rules over Runyard's objects: the filter grammar, MLflow's error shape,
run tokens (their run and its children only), team isolation of lists, the ajax-api copy."""

from __future__ import annotations

from typing import Any

import pytest
from rest_framework.test import APIClient

from mlflow_api.errors import MlflowError
from mlflow_api.search import Comparison, OrderBy, parse_filter, parse_order_by
from runs import metricstore
from runs.models import Run, RunToken
from tests.factories import make_run

ML = "/api/2.0/mlflow"


def test_the_filter_grammar() -> None:
    assert parse_filter("metrics.acc > 0.9 and params.lr = '0.01'") == [
        Comparison("metric", "acc", ">", 0.9),
        Comparison("param", "lr", "=", "0.01"),
    ]
    assert parse_filter("tags.\"my tag\" LIKE 'a%' AND `metrics`.`val loss` <= -1e-3") == [
        Comparison("tag", "my tag", "LIKE", "a%"),
        Comparison("metric", "val loss", "<=", -0.001),
    ]
    assert parse_filter("attributes.status IN ('FINISHED', 'FAILED') and run_name != 'it''s'") == [
        Comparison("attribute", "status", "IN", ("FINISHED", "FAILED")),
        Comparison("attribute", "run_name", "!=", "it's"),
    ]
    assert parse_filter("tags.mlflow.parentRunId = '3' and params.x IS NOT NULL") == [
        Comparison("tag", "mlflow.parentRunId", "=", "3"),
        Comparison("param", "x", "IS NOT NULL", None),
    ]
    assert parse_filter("  ") == []
    assert parse_order_by(["metrics.acc DESC", "start_time"]) == [
        OrderBy("metric", "acc", False),
        OrderBy("attribute", "start_time", True),
    ]


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("metrics.acc > 'high'", "compared with a number"),
        ("params.lr > '1'", "does not apply"),
        ("metrics.acc > 1 or metrics.acc < 0", "no OR"),
        ("metric.acc >", "ends too early"),
        ("colour = 'red'", "not a run attribute"),
        ("things.x = '1'", "not an entity type"),
        ("params.lr IN 'a'", "parenthesised list"),
        ("metrics.acc ~ 1", "cannot read"),
    ],
)
def test_bad_filters_say_what_is_wrong(text: str, says: str) -> None:
    with pytest.raises(MlflowError) as bad:
        parse_filter(text)
    assert bad.value.code == "INVALID_PARAMETER_VALUE" and says in bad.value.message


def test_errors_have_mlflows_shape(world: Any) -> None:
    alice = world.alice.client
    missing = alice.get(f"{ML}/runs/get", {"run_id": "424242"})
    assert missing.status_code == 404
    assert missing.json() == {"error_code": "RESOURCE_DOES_NOT_EXIST", "message": "Run with id=424242 not found"}
    no_id = alice.get(f"{ML}/runs/get")
    assert no_id.status_code == 400 and no_id.json()["error_code"] == "INVALID_PARAMETER_VALUE"
    assert "run_id" in no_id.json()["message"]
    run = make_run(world.alice.user, world.team_a)
    bad = alice.post(
        f"{ML}/runs/log-metric", {"run_id": str(run.pk), "key": "x", "value": "abc", "timestamp": 1}, format="json"
    )
    assert bad.status_code == 400 and "metric 'x'" in bad.json()["message"]
    too_many = alice.post(
        f"{ML}/runs/log-batch",
        {"run_id": str(run.pk), "metrics": [{"key": "m", "value": 1, "timestamp": 1}] * 1001},
        format="json",
    )
    assert too_many.status_code == 400 and "at most 1000 metrics" in too_many.json()["message"]
    anon = APIClient().get(f"{ML}/runs/get", {"run_id": str(run.pk)})
    assert anon.status_code == 401 and anon.json()["error_code"] == "UNAUTHENTICATED"
    bad_filter = alice.post(f"{ML}/runs/search", {"filter": "metrics.acc >> 1"}, format="json")
    assert bad_filter.status_code == 400 and bad_filter.json()["error_code"] == "INVALID_PARAMETER_VALUE"
    twice = alice.post(f"{ML}/experiments/create", {"name": run.experiment.name}, format="json")
    assert twice.status_code == 400 and twice.json()["error_code"] == "RESOURCE_ALREADY_EXISTS"


def test_a_run_token_reaches_its_run_and_its_children_only(world: Any) -> None:
    run = make_run(world.alice.user, world.team_a)
    other = make_run(world.alice.user, world.team_a)
    token = APIClient()
    token.credentials(HTTP_AUTHORIZATION=f"Bearer {RunToken.issue(run)}")  # how the mlflow client sends it

    mine = token.get(f"{ML}/runs/get", {"run_id": str(run.pk)})
    assert mine.status_code == 200 and mine.json()["run"]["info"]["run_id"] == str(run.pk)
    child = token.post(f"{ML}/runs/create", {"experiment_id": "0", "run_name": "fold"}, format="json").json()["run"]
    child_run = Run.objects.get(pk=int(child["info"]["run_id"]))
    assert child_run.parent_id == run.pk and child_run.experiment_id == run.experiment_id
    logged = token.post(
        f"{ML}/runs/log-metric",
        {"run_id": child["info"]["run_id"], "key": "a", "value": 1, "timestamp": 5},
        format="json",
    )
    assert logged.status_code == 200 and "a" in metricstore.points(child_run.pk)

    for method, path, data in [
        ("get", "runs/get", {"run_id": str(other.pk)}),
        ("post", "runs/log-metric", {"run_id": str(other.pk), "key": "a", "value": 1, "timestamp": 5}),
        ("post", "runs/set-tag", {"run_id": str(other.pk), "key": "a", "value": "b"}),
        ("post", "runs/create", {"tags": [{"key": "mlflow.parentRunId", "value": str(other.pk)}]}),
    ]:
        response = getattr(token, method)(f"{ML}/{path}", data, **({"format": "json"} if method == "post" else {}))
        assert response.status_code == 404, (path, response.content)
    found = token.post(f"{ML}/runs/search", {}, format="json").json()["runs"]
    assert {r["info"]["run_id"] for r in found} == {str(run.pk), str(child_run.pk)}
    upload = token.put(f"/api/2.0/mlflow-artifacts/artifacts/runs/{other.pk}/x.txt", b"x", content_type="text/plain")
    assert upload.status_code == 404
    denied = token.post(f"{ML}/experiments/create", {"name": "planted"}, format="json")
    assert denied.status_code == 403 and denied.json()["error_code"] == "PERMISSION_DENIED"
    assert not metricstore.has_points(other.pk) and other.tags == {}


def test_lists_hold_the_users_teams_only(world: Any) -> None:
    alice_run = make_run(world.alice.user, world.team_a)
    bob_run = make_run(world.bob.user, world.team_b)
    for client, mine, theirs in ((world.alice.client, alice_run, bob_run), (world.bob.client, bob_run, alice_run)):
        runs = {r["info"]["run_id"] for r in client.post(f"{ML}/runs/search", {}, format="json").json()["runs"]}
        assert str(mine.pk) in runs and str(theirs.pk) not in runs
        exps = {e["experiment_id"] for e in client.get(f"{ML}/experiments/search").json()["experiments"]}
        assert str(mine.experiment_id) in exps and str(theirs.experiment_id) not in exps
        hidden = client.post(f"{ML}/runs/search", {"experiment_ids": [str(theirs.experiment_id)]}, format="json").json()
        assert hidden["error_code"] == "RESOURCE_DOES_NOT_EXIST"
    # A name both teams use: each sees their own.
    assert world.bob.client.get(f"{ML}/experiments/get-by-name", {"experiment_name": "exp"}).json()["experiment"][
        "experiment_id"
    ] == str(bob_run.experiment_id)


def test_the_ajax_api_serves_the_same_views(world: Any) -> None:
    run = make_run(world.alice.user, world.team_a)
    got = world.alice.client.get("/ajax-api/2.0/mlflow/runs/get", {"run_id": str(run.pk)})
    assert got.status_code == 200 and got.json()["run"]["info"]["status"] == "SCHEDULED"


def test_delete_hides_a_run_from_mlflow_and_restore_brings_it_back(world: Any) -> None:
    alice = world.alice.client
    run = make_run(world.alice.user, world.team_a)
    body = {"experiment_ids": [str(run.experiment_id)]}
    assert alice.post(f"{ML}/runs/delete", {"run_id": str(run.pk)}, format="json").status_code == 200
    assert alice.post(f"{ML}/runs/search", body, format="json").json()["runs"] == []
    deleted = alice.post(f"{ML}/runs/search", {**body, "run_view_type": "DELETED_ONLY"}, format="json").json()
    assert [r["info"]["lifecycle_stage"] for r in deleted["runs"]] == ["deleted"]
    assert alice.post(f"{ML}/runs/restore", {"run_id": str(run.pk)}, format="json").status_code == 200
    assert len(alice.post(f"{ML}/runs/search", body, format="json").json()["runs"]) == 1
