"""The claim path's decision on a real database: read from the queue's heads, it starts
exactly what the full plan starts, as the queue, the active runs, quotas and the ended
runs change; the per-process mirror of ended runs gives the usage a full read gives."""

from __future__ import annotations

import random
from datetime import timedelta
from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from accounts.models import Team
from compute.models import ComputeTarget
from runs.models import Run
from runs.status import Status
from scheduling import service, state
from scheduling.models import TargetPool, TeamQuota
from tests.conftest import World
from tests.factories import make_run


def full_starts(target: ComputeTarget) -> frozenset[int]:
    return frozenset(v.run_id for v in state.load(target).plan() if v.start)


NOW = timezone.now()


def usage(target: ComputeTarget) -> dict[int, float]:
    return {t.team_id: t.usage_hours for t in state.load(target, NOW).teams}


@pytest.fixture
def teams(world: World) -> list[Team]:
    return [world.team_a, world.team_b, *(Team.objects.create(name=f"T{i}", slug=f"t{i}") for i in range(3))]


def add_runs(world: World, teams: list[Team], rng: random.Random, n: int) -> None:
    now = timezone.now()
    for _ in range(n):
        team = rng.choice(teams)
        kind = rng.random()
        nodes = rng.choice([1, 1, 1, 2])
        shape = {"type": "mpi", "node_count": nodes, "process_count_per_node": 1} if nodes > 1 else None
        if kind < 0.6:
            make_run(
                world.alice.user,
                team,
                status=Status.QUEUED,
                priority=rng.choice([0, 1, 1, 2, 3]),
                queued_at=now - timedelta(seconds=rng.uniform(0, 3000)),
                distributed=shape,
            )
        elif kind < 0.75:
            make_run(
                world.alice.user,
                team,
                status=Status.RUNNING,
                worker="w@host",
                preparing_at=now - timedelta(minutes=rng.uniform(1, 90)),
                distributed=shape,
            )
        else:
            start = now - timedelta(hours=rng.uniform(0.5, 100))
            make_run(
                world.alice.user,
                team,
                status=Status.COMPLETED,
                preparing_at=start,
                ended_at=start + timedelta(minutes=rng.uniform(1, 120)),
                distributed=shape,
            )


def test_the_heads_decide_as_the_full_plan(world: World, teams: list[Team]) -> None:
    rng = random.Random(22)
    target = ComputeTarget.objects.get(name="local")
    for i, team in enumerate(teams):
        TeamQuota.objects.create(team=team, compute_target=target, share=i % 3, max_runs=rng.choice([None, 3, 6]))
    add_runs(world, teams, rng, 150)
    for step in range(12):
        cap = Run.objects.filter(status=Status.RUNNING).count() + rng.randint(-1, 10)
        ComputeTarget.objects.filter(pk=target.pk).update(max_concurrent_runs=max(0, cap))
        target.refresh_from_db()
        if step % 4 == 3:
            TargetPool.objects.update_or_create(compute_target=target, defaults={"nodes": rng.randint(10, 60)})
        got = service.startable(target)
        assert got == full_starts(target), f"step {step}"
        # What changes a queue: runs end, start and arrive; priorities move; old ones vanish.
        running = list(Run.objects.filter(status=Status.RUNNING))
        for run in rng.sample(running, min(3, len(running))):
            Run.objects.filter(pk=run.pk).update(status=Status.COMPLETED, ended_at=timezone.now())
        for pk in list(got)[:2]:
            Run.objects.filter(pk=pk).update(status=Status.RUNNING, worker="w@host", preparing_at=timezone.now())
        for run in Run.objects.filter(status=Status.QUEUED).order_by("?")[:5]:
            Run.objects.filter(pk=run.pk).update(priority=rng.choice([0, 1, 2, 3]))
        if step == 6:
            Run.objects.filter(status=Status.COMPLETED).order_by("id").first().delete()  # type: ignore[union-attr]
        add_runs(world, teams, rng, 15)


def test_the_claim_reads_a_few_runs_per_team(world: World, teams: list[Team]) -> None:
    target = ComputeTarget.objects.get(name="local")
    ComputeTarget.objects.filter(pk=target.pk).update(max_concurrent_runs=3)
    target.refresh_from_db()
    now = timezone.now()
    for i in range(300):
        make_run(world.alice.user, teams[i % 5], status=Status.QUEUED, queued_at=now - timedelta(seconds=300 - i))
    service.startable(target)  # the ended-runs mirror filled
    rows: list[Any] = []
    real = state._waiting

    def counting(found: Any, gpus: int) -> Any:
        out = real(found, gpus)
        rows.extend(out)
        return out

    state._waiting = counting  # type: ignore[assignment]
    try:
        with CaptureQueriesContext(connection) as queries:
            got = service.startable(target)
    finally:
        state._waiting = real  # type: ignore[assignment]
    assert got == full_starts(target) and len(got) == 3
    assert len(rows) <= 5 * 4  # 3 free slots: room + 1 runs of each of the 5 teams
    assert len(queries) <= 10, [q["sql"] for q in queries]


def test_the_ended_runs_mirror_follows_the_database(world: World, teams: list[Team]) -> None:
    target = ComputeTarget.objects.get(name="local")
    add_runs(world, teams, random.Random(5), 80)
    first = usage(target)
    assert first and any(first.values())
    state._ended.clear()
    assert usage(target) == pytest.approx(first)
    # An end stamped long ago but recorded now (beyond the re-read margin), and a deletion:
    # both noticed by the aggregate, and the usage equals a fresh read's.
    old = timezone.now() - timedelta(hours=50)
    make_run(world.alice.user, teams[0], status=Status.FAILED, preparing_at=old, ended_at=old + timedelta(hours=3))
    Run.objects.filter(status=Status.COMPLETED).order_by("id").last().delete()  # type: ignore[union-attr]
    mirrored = usage(target)
    state._ended.clear()
    assert mirrored == pytest.approx(usage(target))
    assert mirrored != pytest.approx(first)
