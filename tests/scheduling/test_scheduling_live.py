"""End to end with two real Celery workers claiming from one target's queue: the
scheduler's order holds, the target's capacity and a team's limit are never exceeded
(no capacity started twice), and a waiting run says why."""

from __future__ import annotations

from typing import Any

import pytest

from compute.models import ComputeTarget
from runs.dispatch import kick_queue
from runs.models import Run
from runs.status import Status
from scheduling.models import TeamQuota
from tests.conftest import wait_for
from tests.executor.helpers import submit, wait_status

# In the live group like every other live-stack test: run beside them on another xdist
# worker, its two workers and web server doubled the load on a 2-core machine.
pytestmark = [pytest.mark.worker, pytest.mark.xdist_group("live")]

SHORT = "import time\ntime.sleep(1.5)\nprint('done')\n"


def most_at_once(runs: list[Run]) -> int:
    edges = sorted([(r.preparing_at, 1) for r in runs] + [(r.ended_at, -1) for r in runs], key=lambda e: (e[0], e[1]))
    now = peak = 0
    for _, step in edges:
        now += step
        peak = max(peak, now)
    return peak


def test_two_workers_follow_the_scheduler(live: Any, world: Any) -> None:
    live.start_worker("runner2", queues="compute.local", concurrency=4)
    try:
        target = ComputeTarget.objects.get(name="local")
        ComputeTarget.objects.filter(pk=target.pk).update(max_concurrent_runs=0)  # hold everything back
        TeamQuota.objects.create(team=world.team_a, compute_target=target, max_runs=1)
        alice = [submit(world.alice, {"train.py": SHORT}, priority="low")["id"] for _ in range(3)]
        b_normal = submit(world.bob, {"train.py": SHORT})["id"]
        b_high = submit(world.bob, {"train.py": SHORT}, priority="high")["id"]
        b_low = submit(world.bob, {"train.py": SHORT}, priority="low")["id"]

        def reason(run_id: int) -> str:
            return str(world.admin.client.get(f"/api/runs/{run_id}/").json()["waiting_reason"])

        # Workers announce themselves within seconds: then the reason is the scheduler's alone.
        wait_for(lambda: "no worker" not in reason(b_low), timeout=120, what="workers announced")
        assert reason(b_high) == "the target is full (0/0 runs)"
        # Bob's high and normal runs first; then fair share puts Alice's team (nothing placed yet) ahead.
        assert reason(b_low) == "5 runs ahead, 2 of higher priority; the target is full (0/0 runs)"

        ComputeTarget.objects.filter(pk=target.pk).update(max_concurrent_runs=2)
        kick_queue(target.pk)
        ids = [*alice, b_normal, b_high, b_low]
        for run_id in ids:
            assert wait_status(run_id, timeout=180).status == Status.COMPLETED
        runs = {r.pk: r for r in Run.objects.filter(pk__in=ids)}
        assert most_at_once(list(runs.values())) <= 2
        assert most_at_once([runs[i] for i in alice]) == 1  # team A's limit
        claimed = {pk: r.preparing_at for pk, r in runs.items() if r.preparing_at is not None}
        later = min(claimed[i] for i in [*alice, b_low])
        assert claimed[b_high] < later and claimed[b_normal] < later
        claimed_by = {r.worker.partition("@")[0] for r in runs.values()}
        assert claimed_by <= {"runner", "runner2"}
    finally:
        live.stop("runner2")
