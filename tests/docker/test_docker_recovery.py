"""After a worker restart, docker runs resume like Slurm jobs: a run whose containers
are all still there (running or ended meanwhile) is re-attached, its log continuing
exactly where the stored log ends; a run that cannot be resumed (a container removed
while no worker watched) fails saying so. Cancel and the time limit still apply, and
every run's containers and network are removed at the end."""

from __future__ import annotations

import signal
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings

from compute.models import ComputeTarget
from runs.lifecycle import transition
from runs.models import Artifact
from runs.status import Status
from tests.conftest import Stack, wait_for
from tests.docker.helpers import leftovers
from tests.executor.helpers import lines, submit, wait_status

pytestmark = [pytest.mark.docker, pytest.mark.worker, pytest.mark.xdist_group("live")]

SHORT = "import time\nprint('started', flush=True)\ntime.sleep(4)\nopen('outputs/late.txt', 'w').write('x')\n"
LONG = "import time\nprint('started', flush=True)\ntime.sleep(600)\n"
COUNT = 600
# Numbered lines before, during and after the restart: the second half waits for the
# test's go-ahead (a file in the run directory), which it gives once the worker is back.
COUNTER = f"""
import os, sys, time
for i in range({COUNT}):
    if i == {COUNT // 2}:
        print("waiting", file=sys.stderr, flush=True)
        while not os.path.exists("go"):
            time.sleep(0.05)
    print(i, flush=True)
    time.sleep(0.02)
open("outputs/done.txt", "w").write("x")
"""


def _container(client: Any, run_id: int) -> Any:
    found = [c for c in client.containers.list(all=True) if c.name.endswith(f"-{run_id}-node0")]
    return found[0] if found else None


def _container_state(client: Any, run_id: int) -> str:
    container = _container(client, run_id)
    return container.status if container else "gone"


def _printed(client: Any, run_id: int, text: bytes) -> bool:
    container = _container(client, run_id)
    return container is not None and text in container.logs(stdout=True, stderr=True)


def _restart(live: Stack) -> None:
    live.start_worker("docker", queues="compute.docker", concurrency=4)


def test_worker_restart_resumes_running_and_ended_runs(
    docker_target: ComputeTarget, world: Any, docker_client: Any, live: Stack
) -> None:
    counting = submit(world.alice, {"train.py": COUNTER}, compute_target="docker")["id"]
    ended = submit(world.alice, {"train.py": SHORT}, compute_target="docker")["id"]
    wait_for(lambda: "started" in lines(ended, rank=0), timeout=300, what="the short script to start")
    wait_for(lambda: len(lines(counting, rank=0, stream="stdout")) >= 50, timeout=300, what="numbered lines")
    live.stop("docker", signal.SIGKILL)  # mid-stream: lines may be queued in the dead worker's log writer
    wait_for(lambda: _container_state(docker_client, ended) == "exited", timeout=60, what="the short run to end")
    wait_for(lambda: _printed(docker_client, counting, b"waiting"), timeout=60, what="lines printed while down")
    assert _container_state(docker_client, counting) == "running"
    _restart(live)

    run = wait_status(ended, timeout=120)
    assert run.status == Status.COMPLETED and run.exit_code == 0, run.error
    assert Artifact.objects.filter(run=run, path="outputs/late.txt").exists()
    wait_for(lambda: any("re-attached" in t for t in lines(counting, stream="system")), what="the re-attach")
    (Path(settings.RUNYARD["WORK_DIR"]) / str(counting) / "go").touch()
    run = wait_status(counting, timeout=120)
    assert run.status == Status.COMPLETED and run.exit_code == 0, run.error
    assert lines(counting, rank=0, stream="stdout") == [str(i) for i in range(COUNT)]
    assert lines(counting, rank=0, stream="stderr") == ["waiting"]
    assert Artifact.objects.filter(run=run, path="outputs/done.txt").exists()
    assert leftovers(docker_client, ended) == [] and leftovers(docker_client, counting) == []


def test_worker_restart_fails_removed_and_stops_canceled_overdue_or_swept_runs(
    docker_target: ComputeTarget, world: Any, docker_client: Any, live: Stack
) -> None:
    removed = submit(world.alice, {"train.py": LONG}, compute_target="docker")["id"]
    canceled = submit(world.alice, {"train.py": LONG}, compute_target="docker")["id"]
    overdue = submit(world.alice, {"train.py": LONG}, compute_target="docker", max_run_duration_seconds=30)["id"]
    swept = submit(world.alice, {"train.py": LONG}, compute_target="docker")["id"]
    for run_id in (removed, canceled, overdue, swept):
        wait_for(lambda r=run_id: "started" in lines(r, rank=0), timeout=300, what="the scripts to start")
    live.stop("docker", signal.SIGKILL)
    _container(docker_client, removed).remove(force=True)
    assert world.alice.client.post(f"/api/runs/{canceled}/cancel/").status_code in (200, 202)
    # What the heartbeat sweep does to a run whose worker stays away too long.
    transition(swept, Status.NOT_RESPONDING, reason="no heartbeat")
    transition(swept, Status.FAILED, reason="worker lost")
    assert _container_state(docker_client, swept) == "running"
    _restart(live)

    lost = wait_status(removed, timeout=120)
    assert lost.status == Status.FAILED and "was removed" in lost.error, lost.error
    stopped = wait_status(canceled, timeout=120)
    assert stopped.status == Status.CANCELED, stopped.error
    assert any("re-attached" in t for t in lines(canceled, stream="system"))
    limited = wait_status(overdue, timeout=120)
    assert limited.status == Status.FAILED and "max_run_duration_seconds=30" in limited.status_reason
    assert any("re-attached" in t for t in lines(overdue, stream="system"))
    # The swept run stays Failed; its still-running container is removed all the same.
    wait_for(lambda: leftovers(docker_client, swept) == [], timeout=120, what="the swept run's container removed")
    assert wait_status(swept).status == Status.FAILED
    for run_id in (removed, canceled, overdue):
        assert leftovers(docker_client, run_id) == []
