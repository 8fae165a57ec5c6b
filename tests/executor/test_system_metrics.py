"""System metrics: the worker samples each rank's process tree (psutil) into system/
metrics, on a real run and on real processes; GPUs only where nvidia-smi answers."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from typing import Any

import pytest

from execution.backends.base import ProcessInfo
from execution.sysmetrics import Sampler
from runs import metricstore
from runs.status import Status
from tests.executor.helpers import submit, wait_status
from tests.factories import make_run

# A parent that holds 60 MB and a child that burns a core: the tree, not just the root, counts.
TREE = """
import subprocess, sys, time
child = subprocess.Popen([sys.executable, "-c", "import time\\nend = time.time() + 30\\nwhile time.time() < end: pass"])
block = bytearray(60 * 1024 * 1024)
time.sleep(30)
"""


def sampled(run_id: int) -> dict[str, list[float]]:
    points = metricstore.points(run_id).items()
    return {name: [p.value for p in ps] for name, ps in points if name.startswith("system/")}


def test_a_process_tree_is_sampled_cpu_memory_and_disk(world: Any) -> None:
    run = make_run(world.alice.user, world.team_a, status=Status.RUNNING)
    proc = subprocess.Popen([sys.executable, "-c", TREE])
    try:
        time.sleep(1.0)  # the child is started and the block allocated
        # A long interval: the first sample is due 2 s after start, the next not for 60 s,
        # however slow a loaded machine makes the first walk.
        sampler = Sampler(run.pk, interval=60)
        ranks = [ProcessInfo(rank=0, pid=proc.pid), ProcessInfo(rank=1, pid=proc.pid, host="elsewhere")]
        sampler.start(ranks)
        time.sleep(2.2)
        sampler.maybe_sample(lambda: ranks)
        sampler.maybe_sample(lambda: ranks)  # not due yet: no second sample
    finally:
        proc.kill()
        proc.wait()
    got = sampled(run.pk)
    # The busy child, in percent of one core: an idle tree samples ~0; how much more than
    # a few percent a busy loop gets depends on the machine's load (29.5 seen at load ~10).
    assert got["system/rank0/cpu_percent"][0] > 5
    assert got["system/rank0/memory_mb"][0] > 60
    assert len(got["system/rank0/cpu_percent"]) == 1
    assert not [name for name in got if name.startswith("system/rank1/")]  # not on this host
    assert not [name for name in got if "gpu" in name]  # no nvidia-smi here


def test_a_failing_gpu_query_stops_gpu_sampling_cleanly(world: Any, tmp_path: Any) -> None:
    run = make_run(world.alice.user, world.team_a, status=Status.RUNNING)
    broken = tmp_path / "nvidia-smi"
    broken.write_text("#!/bin/sh\necho 'NVIDIA-SMI has failed' >&2\nexit 9\n")
    broken.chmod(0o755)
    sampler = Sampler(run.pk, interval=0.01, _gpu=str(broken))
    ranks = [ProcessInfo(rank=0, pid=os.getpid())]
    sampler.start(ranks)
    time.sleep(0.05)
    sampler.maybe_sample(lambda: ranks)
    assert sampler._gpu is None
    assert "system/rank0/memory_mb" in sampled(run.pk)


def test_interval_zero_samples_nothing(world: Any) -> None:
    run = make_run(world.alice.user, world.team_a, status=Status.RUNNING)
    sampler = Sampler(run.pk, interval=0)
    sampler.start([ProcessInfo(rank=0, pid=os.getpid())])
    sampler.maybe_sample(lambda: [ProcessInfo(rank=0, pid=1)])
    assert sampled(run.pk) == {}


BUSY = """
import time
end = time.time() + 3.5
while time.time() < end:
    pass
"""


@pytest.mark.worker
@pytest.mark.xdist_group("live")
def test_a_running_run_gets_system_metrics_from_its_worker(live: Any, world: Any) -> None:
    made = submit(world.alice, {"train.py": BUSY})
    run = wait_status(made["id"])
    assert run.status == Status.COMPLETED, run.error
    got = sampled(run.pk)
    assert got["system/rank0/cpu_percent"][0] > 20, got
    assert got["system/rank0/memory_mb"][0] > 1
    served = world.alice.client.get(f"/api/runs/{run.pk}/metrics/").json()
    assert "system/rank0/cpu_percent" in served
