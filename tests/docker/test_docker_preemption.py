"""Preemption on the docker kind against a real engine: the scheduler's SIGTERM reaches
the container, the script's ``on_preempt`` callback writes into RUNYARD_CHECKPOINT_DIR
(bind-mounted at the same path as on the worker), the waiting run takes the slot, and
the run resumes in a new container as attempt 2 of the same run id, reading its
checkpoint and its outputs/. Scripts here do not reach the API (see conftest), so
steps are tested on local (tests/scheduling/test_preemption_live.py)."""

from __future__ import annotations

from typing import Any

import pytest

from compute.models import ComputeTarget
from runs.models import Attempt, Run
from runs.status import Status
from tests.conftest import wait_for
from tests.docker.helpers import leftovers
from tests.executor.helpers import lines, submit, wait_status

pytestmark = [pytest.mark.docker, pytest.mark.worker, pytest.mark.xdist_group("live")]

RESUMABLE = """
import json, os, time
from runyard.run import Run

run = Run.get_context()
state = run.checkpoint_dir / "state.json"
done = json.loads(state.read_text())["step"] if state.exists() else 0
print(f"attempt {run.attempt} starts at {done}", flush=True)

def save(left):
    state.write_text(json.dumps({"step": done}))
    print(f"on_preempt: saved step {done}, {left:.1f}s left", flush=True)

run.on_preempt(save)
if run.attempt == 1:
    os.makedirs("outputs", exist_ok=True)
    with open("outputs/first.txt", "w") as f:
        f.write("from attempt 1")
    while True:
        done += 1
        if done == 3:
            print("working", flush=True)
        time.sleep(0.2)
print("outputs kept:", open("outputs/first.txt").read(), flush=True)
print("finished", flush=True)
"""


def test_preempted_container_resumes_from_its_checkpoint(
    docker_target: ComputeTarget, world: Any, docker_client: Any
) -> None:
    ComputeTarget.objects.filter(pk=docker_target.pk).update(max_concurrent_runs=1)
    victim = submit(world.alice, {"train.py": RESUMABLE}, compute_target="docker", priority="low", preemptible="true")
    wait_for(lambda: "working" in lines(victim["id"], rank=0), timeout=300, what="the container to work")
    urgent = submit(world.bob, {"train.py": "print('urgent done')\n"}, compute_target="docker", priority="high")
    assert wait_status(urgent["id"], timeout=300).status == Status.COMPLETED
    run = wait_status(victim["id"], timeout=300)
    assert run.status == Status.COMPLETED, run.error
    out = lines(run.pk, rank=0)
    saved = next(t for t in out if t.startswith("on_preempt: saved step"))
    step = int(saved.split()[3].rstrip(","))
    assert step >= 3 and f"attempt 2 starts at {step}" in out
    assert "outputs kept: from attempt 1" in out and "finished" in out
    first, second = Attempt.objects.filter(run=run).order_by("number")
    assert (first.status, first.cause, first.cause_evidence["beneficiary"]) == ("Preempted", "preempted", urgent["id"])
    assert second.resumed and second.status == Status.COMPLETED
    assert Run.objects.get(pk=urgent["id"]).ended_at <= second.started_at
    assert leftovers(docker_client, run.pk) == []
