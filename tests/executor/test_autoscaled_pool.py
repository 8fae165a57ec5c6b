"""The autoscaled pool of the standalone worker (``stack.pool``, ``execution.workerboot``):
idle at its minimum, grown when runs arrive so a target runs up to its capacity at once,
shrunk back once they end, never by a process that is executing a run."""

from __future__ import annotations

import time
from typing import Any

import psutil
import pytest

from compute.models import ComputeTarget
from runs.models import Run
from runs.status import Status
from tests.conftest import wait_for
from tests.datasets.webserver import WebFiles
from tests.datasets.webserver import web as web
from tests.executor.helpers import submit, wait_status

pytestmark = [pytest.mark.worker, pytest.mark.xdist_group("live")]

# Holds until the test serves ``argv[1]``: the three overlap however slowly a loaded
# machine starts the third (a fixed sleep let the first end before the third ran).
HOLD = """
import sys, time, urllib.request
print("holding", flush=True)
deadline = time.monotonic() + 600
while True:
    try:
        urllib.request.urlopen(sys.argv[1], timeout=10).read()
        break
    except OSError:  # 404 (HTTPError) until the test serves it
        if time.monotonic() > deadline:
            raise SystemExit("no go signal within 600 s")
        time.sleep(0.2)
print("done")
"""
KEEPALIVE = 2.0


def pool(worker: int) -> list[int]:
    return [p.pid for p in psutil.Process(worker).children()]


def describe(worker: int) -> list[str]:
    out = []
    for child in psutil.Process(worker).children():
        try:
            command = " ".join(child.cmdline())[:80]
            out.append(f"{child.pid} {child.status()} {command} children={len(child.children())}")
        except psutil.Error as exc:
            out.append(f"{child.pid} {exc!r}")
    return out


def test_an_autoscaled_pool_runs_a_target_at_capacity_then_shrinks_back(live: Any, world: Any, web: WebFiles) -> None:
    ComputeTarget.objects.create(
        name="burst", kind="local", max_concurrent_runs=3, max_nodes=1, max_processes_per_node=1
    )
    worker = live.start_worker(
        "burst", queues="compute.burst", autoscale=(4, 1), env={"AUTOSCALE_KEEPALIVE": f"{KEEPALIVE:g}"}
    )
    try:
        assert len(pool(worker.pid)) == 1  # idle: the minimum
        go = web.url("go")
        ids = [submit(world.alice, {"train.py": HOLD}, compute_target="burst", arguments=[go])["id"] for _ in range(3)]
        wait_for(
            lambda: Run.objects.filter(pk__in=ids, status=Status.RUNNING).count() == 3,
            timeout=120,
            what="the three runs to be Running at once",
        )
        owners = set(Run.objects.filter(pk__in=ids).values_list("worker_pid", flat=True))
        assert len(owners) == 3 and owners <= set(pool(worker.pid))  # one pool process each
        # Busy processes are never retired: the keepalive passes three times while they hold.
        held_until = time.monotonic() + 3 * KEEPALIVE
        while time.monotonic() < held_until:
            assert owners <= set(pool(worker.pid))
            time.sleep(0.2)
        web.files["/go"] = b"go"
        for run_id in ids:
            run = wait_status(run_id, timeout=180)
            assert run.status == Status.COMPLETED, run.error
        try:
            wait_for(lambda: len(pool(worker.pid)) == 1, timeout=180, what="the pool to shrink back to its minimum")
        except AssertionError as exc:
            # Seen once in CI under load: say which processes stayed and what the worker did.
            log = (live.logdir / "worker-burst.log").read_text(errors="replace")
            scaling = [line for line in log.splitlines() if "Scaling" in line or "ERROR" in line]
            raise AssertionError(f"{exc}: {describe(worker.pid)}; {scaling[-20:]}\n{log[-4000:]}") from None
    finally:
        live.stop("burst")
