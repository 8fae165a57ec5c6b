"""The run list (GET /api/runs/): same output as RunListSerializer, queue positions, filters,
team scoping, and a query count that does not grow with the page."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from rest_framework.renderers import JSONRenderer

from accounts.models import Membership
from compute.models import ComputeTarget
from environments.models import Environment
from runs.models import Experiment, Run
from runs.serializers import RunListSerializer
from runs.status import Status
from runs.submission import queue_position
from tests.factories import make_run


def all_pages(client: Any, **params: Any) -> list[dict[str, Any]]:
    """Every row of the list, following the cursor links."""
    response = client.get("/api/runs/", params)
    assert response.status_code == 200, response.content
    rows = []
    while True:
        page = response.json()
        rows += page["results"]
        if not page["next"]:
            return rows
        response = client.get(page["next"])


def ids(rows: list[dict[str, Any]]) -> list[int]:
    return [r["id"] for r in rows]


def newest_first(runs: Any) -> list[int]:
    return list(runs.order_by("-created_at", "-id").values_list("id", flat=True))


def varied_runs(world: Any) -> list[Run]:
    """Runs in both teams with different experiments, targets, users, tags and statuses; some
    share a created_at (the cursor's offset) and some a queued_at (the queue's tie-break)."""
    env = Environment.objects.get(name="Runyard-Python-3.11")
    other_version = env.add_version({"pip_requirements": ["six"]})
    slurm = ComputeTarget.objects.create(name="cluster", kind=ComputeTarget.Kind.SLURM)
    t0 = timezone.now() - timedelta(hours=1)
    runs = []
    for i in range(24):
        team, user = (world.team_b, world.bob.user) if i % 5 == 0 else (world.team_a, world.alice.user)
        if i % 7 == 3:
            user = world.admin.user
        status = [Status.QUEUED, Status.COMPLETED, Status.FAILED, Status.QUEUED, Status.CANCELED][i % 5]
        created = t0 + timedelta(seconds=i // 2)  # pairs share created_at
        ended = created + timedelta(seconds=30 + i) if status not in (Status.QUEUED,) else None
        run = make_run(
            user,
            team,
            display_name=f"run number {i}" if i % 3 else "",
            status=status,
            command=["python", "-m", "mod"] if i % 4 == 0 else [],
            tags={"seed": str(i % 3), **({"best": ""} if i % 6 == 0 else {})},
            distributed={"kind": "pytorch", "process_count_per_node": 2} if i % 8 == 1 else None,
            created_at=created,
            queued_at=t0 + timedelta(seconds=(i // 4)) if status == Status.QUEUED or i % 2 else None,
            running_at=created + timedelta(seconds=1) if ended else None,
            ended_at=ended,
            exit_code=(0 if status == Status.COMPLETED else 1) if ended else None,
            worker="slurm-17" if i == 13 else "",
        )
        if i % 2:
            run.experiment, _ = Experiment.objects.get_or_create(team=team, name="sweep")
        if i % 3 == 0:
            run.compute_target = slurm
        if i % 4 == 1:
            run.environment_version = other_version
        run.save()
        runs.append(run)
    return runs


def test_list_output_equals_run_list_serializer(world: Any) -> None:
    varied_runs(world)
    listed = all_pages(world.admin.client, limit=7)
    expected = Run.objects.order_by("-created_at", "-id")
    assert ids(listed) == [r.pk for r in expected]
    serialized = json.loads(JSONRenderer().render(RunListSerializer(expected, many=True).data))
    for row in serialized:
        assert list(row) == RunListSerializer.Meta.fields
    assert listed == serialized


def test_queue_positions_on_a_page_equal_queue_position(world: Any) -> None:
    varied_runs(world)
    for client in (world.admin.client, world.alice.client, world.bob.client):
        for params in ({"limit": 5}, {"limit": 5, "status": Status.QUEUED}, {"limit": 50, "ordering": "created_at"}):
            listed = all_pages(client, **params)
            runs = {r.pk: r for r in Run.objects.filter(pk__in=ids(listed))}
            assert [r["queue_position"] for r in listed] == [queue_position(runs[r["id"]]) for r in listed]
    positions = [r["queue_position"] for r in all_pages(world.admin.client, status=Status.QUEUED)]
    assert positions.count(1) == 2  # one head per target
    assert positions.count(None) == 1  # the run queued in the cluster's scheduler


def test_queue_positions_cost_one_query_per_page(world: Any) -> None:
    for i in range(3):
        make_run(world.alice.user, world.team_a, status=Status.QUEUED, queued_at=timezone.now() + timedelta(seconds=i))

    def count() -> int:
        with CaptureQueriesContext(connection) as ctx:
            assert world.alice.client.get("/api/runs/", {"status": Status.QUEUED}).status_code == 200
        assert not [q for q in ctx.captured_queries if "DISTINCT" in q["sql"].upper()]
        return len(ctx.captured_queries)

    count()  # the first request of a token also records its use
    few = count()
    for i in range(12):
        make_run(world.alice.user, world.team_a, status=Status.QUEUED, queued_at=timezone.now() + timedelta(minutes=i))
    count()  # the queue changed: the scheduler plans it once (scheduling.plan_cache), whatever its length
    assert count() == few


def test_filters_return_the_same_rows_without_duplicates(world: Any) -> None:
    varied_runs(world)
    Membership.objects.create(user=world.bob.user, team=world.team_a)  # bob: both teams
    cases: list[tuple[dict[str, Any], Any]] = [
        ({"status": [Status.QUEUED, Status.FAILED]}, {"status__in": [Status.QUEUED, Status.FAILED]}),
        ({"status": Status.COMPLETED}, {"status": Status.COMPLETED}),
        ({"experiment": "sweep"}, {"experiment__name": "sweep"}),
        ({"compute_target": "cluster"}, {"compute_target__name": "cluster"}),
        ({"submitted_by": "root"}, {"submitted_by__username": "root"}),
        ({"environment": "Runyard-Python-3.11"}, {}),
        ({"tag": "best"}, {"tags__has_key": "best"}),
        ({"tag": "seed=1"}, {"tags__seed": "1"}),
        ({"tag": "seed__contains=1"}, {"pk": -1}),  # a key, not a lookup
        ({"q": "number 1"}, {"display_name__icontains": "number 1"}),
        ({"q": "sweep", "status": [Status.QUEUED, Status.CANCELED]}, {"experiment__name__icontains": "sweep"}),
    ]
    for actor, teams in ((world.admin, None), (world.alice, [world.team_a]), (world.bob, [world.team_a, world.team_b])):
        visible = Run.objects.all() if teams is None else Run.objects.filter(team__in=teams)
        for params, lookup in cases:
            expected = visible.filter(**lookup)
            if params.get("status") == [Status.QUEUED, Status.CANCELED]:
                expected = expected.filter(status__in=params["status"])
            listed = ids(all_pages(actor.client, limit=4, **params))
            assert len(set(listed)) == len(listed), params
            assert listed == newest_first(expected), (actor.user.username, params)
        one = visible.order_by("id").first()
        assert one is not None
        assert str(one.pk) in {str(i) for i in ids(all_pages(actor.client, q=str(one.pk)))}


def test_members_see_their_teams_runs_and_admins_all(world: Any) -> None:
    runs = varied_runs(world)
    a = [r.pk for r in runs if r.team_id == world.team_a.pk]
    b = [r.pk for r in runs if r.team_id == world.team_b.pk]
    assert set(ids(all_pages(world.alice.client))) == set(a)
    assert set(ids(all_pages(world.bob.client, limit=2))) == set(b)
    assert set(ids(all_pages(world.admin.client))) == set(a + b)
    assert ids(all_pages(world.bob.client, experiment="sweep", status=Status.FAILED)) == newest_first(
        Run.objects.filter(team=world.team_b, experiment__name="sweep", status=Status.FAILED)
    )
    assert world.anon.get("/api/runs/").status_code in (401, 403)


def test_oldest_first_and_cursor_pages_cover_every_run_once(world: Any) -> None:
    varied_runs(world)
    forward = ids(all_pages(world.admin.client, limit=3, ordering="created_at"))
    assert forward == list(Run.objects.order_by("created_at", "id").values_list("id", flat=True))
    first = world.admin.client.get("/api/runs/", {"limit": 5}).json()
    second = world.admin.client.get(first["next"]).json()
    back = world.admin.client.get(second["previous"]).json()
    assert ids(back["results"]) == ids(first["results"])
