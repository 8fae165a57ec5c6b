"""After a worker restart: a run whose container ended meanwhile is finished from the
container's exit code (outputs collected); a container still running is an orphan
and is removed (the run fails as "worker lost")."""

from __future__ import annotations

import signal
from typing import Any

import pytest

from compute.models import ComputeTarget
from runs.models import Artifact
from runs.status import Status
from tests.conftest import Stack, wait_for
from tests.docker.helpers import leftovers
from tests.executor.helpers import lines, submit, wait_status

pytestmark = [pytest.mark.docker, pytest.mark.worker, pytest.mark.xdist_group("live")]

SHORT = "import time\nprint('started', flush=True)\ntime.sleep(4)\nopen('outputs/late.txt', 'w').write('x')\n"
LONG = "import time\nprint('started', flush=True)\ntime.sleep(600)\n"


def _container_state(client: Any, run_id: int) -> str:
    found = [c for c in client.containers.list(all=True) if c.name.endswith(f"-{run_id}-node0")]
    return found[0].status if found else "gone"


def test_worker_restart_reconciles_ended_runs_and_removes_orphans(
    docker_target: ComputeTarget, world: Any, docker_client: Any, live: Stack
) -> None:
    ended = submit(world.alice, {"train.py": SHORT}, compute_target="docker")["id"]
    orphan = submit(world.alice, {"train.py": LONG}, compute_target="docker")["id"]
    for run_id in (ended, orphan):
        wait_for(lambda r=run_id: "started" in lines(r, rank=0), timeout=300, what="both scripts to start")
    live.stop("docker", signal.SIGKILL)
    wait_for(lambda: _container_state(docker_client, ended) == "exited", timeout=60, what="the short run to end")
    assert _container_state(docker_client, orphan) == "running"
    live.start_worker("docker", queues="compute.docker", concurrency=4)

    run = wait_status(ended, timeout=120)
    assert run.status == Status.COMPLETED and run.exit_code == 0, run.error
    assert Artifact.objects.filter(run=run, path="outputs/late.txt").exists()
    lost = wait_status(orphan, timeout=120)
    assert lost.status == Status.FAILED and "restarted" in lost.error
    assert leftovers(docker_client, ended) == [] and leftovers(docker_client, orphan) == []
