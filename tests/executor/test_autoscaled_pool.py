"""The autoscaled pool of the standalone worker (``stack.pool``, ``execution.workerboot``):
idle at its minimum, grown when runs arrive so a target runs up to its capacity at once,
shrunk back once they end, never by a process that is executing a run."""

from __future__ import annotations

from typing import Any

import psutil
import pytest

from compute.models import ComputeTarget
from runs.models import Run
from runs.status import Status
from tests.conftest import wait_for
from tests.executor.helpers import submit, wait_status

pytestmark = [pytest.mark.worker, pytest.mark.xdist_group("live")]

# Long enough that the three overlap on a loaded machine, and that the 2 s keepalive
# below passes many times while they run (a busy process must not be retired).
HOLD = "import time\nprint('holding', flush=True)\ntime.sleep(10)\nprint('done')\n"


def pool(worker: int) -> list[int]:
    return [p.pid for p in psutil.Process(worker).children()]


def test_an_autoscaled_pool_runs_a_target_at_capacity_then_shrinks_back(live: Any, world: Any) -> None:
    ComputeTarget.objects.create(
        name="burst", kind="local", max_concurrent_runs=3, max_nodes=1, max_processes_per_node=1
    )
    worker = live.start_worker("burst", queues="compute.burst", autoscale=(4, 1), env={"AUTOSCALE_KEEPALIVE": "2"})
    try:
        assert len(pool(worker.pid)) == 1  # idle: the minimum
        ids = [submit(world.alice, {"train.py": HOLD}, compute_target="burst")["id"] for _ in range(3)]
        wait_for(
            lambda: Run.objects.filter(pk__in=ids, status=Status.RUNNING).count() == 3,
            timeout=120,
            what="the three runs to be Running at once",
        )
        owners = set(Run.objects.filter(pk__in=ids).values_list("worker_pid", flat=True))
        assert len(owners) == 3 and owners <= set(pool(worker.pid))  # one pool process each
        for run_id in ids:
            run = wait_status(run_id, timeout=180)
            assert run.status == Status.COMPLETED, run.error
        wait_for(lambda: len(pool(worker.pid)) == 1, timeout=60, what="the pool to shrink back to its minimum")
    finally:
        live.stop("burst")
