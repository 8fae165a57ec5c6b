"""Every failure cause from a real script on the local backend, its evidence in the
API and the runs list's ?cause= filter; retries by cause as attempts of the same run."""

from __future__ import annotations

import signal
import uuid
from typing import Any

import pytest

from compute.models import ComputeTarget
from runs.models import Attempt, Run
from runs.status import Status
from tests.conftest import wait_for
from tests.executor.helpers import lines, submit, wait_status

pytestmark = [pytest.mark.worker, pytest.mark.xdist_group("live")]

TRACEBACK = """
def load(rate):
    if rate > 1:
        raise ValueError(f"bad learning rate {rate}")

def main():
    print("training", flush=True)
    load(5)

main()
"""

MEMORY_HOG = """
chunks = []
print("allocating", flush=True)
while True:
    chunks.append("x" * (16 * 1024 * 1024))  # written, so every page is charged
"""

SILENT = """
import time
print("started", flush=True)
time.sleep(600)
"""

SLEEPER = "import time\nprint('sleeping', flush=True)\ntime.sleep(600)\n"


def test_traceback_is_user_error_with_its_frames(live: Any, world: Any) -> None:
    made = submit(world.alice, {"train.py": TRACEBACK})
    run = wait_status(made["id"])
    assert run.status == Status.FAILED and run.cause == "user_error"
    evidence = world.alice.client.get(f"/api/runs/{run.pk}/").json()["cause_evidence"]
    assert evidence["exception"] == "ValueError: bad learning rate 5"
    assert [f["function"] for f in evidence["frames"]] == ["<module>", "main", "load"]
    assert evidence["frames"][-1]["code"] == 'raise ValueError(f"bad learning rate {rate}")'
    assert evidence["exit_code"] == 1
    # Never retried without a policy: one attempt.
    assert list(Attempt.objects.filter(run=run).values_list("number", "cause")) == [(1, "user_error")]
    listed = world.alice.client.get("/api/runs/", {"cause": "user_error"}).json()["results"]
    assert [r["id"] for r in listed] == [run.pk] and listed[0]["cause"] == "user_error"
    assert world.alice.client.get("/api/runs/", {"cause": "oom"}).json()["results"] == []
    bad = world.alice.client.get("/api/runs/", {"cause": "nonsense"})
    assert bad.status_code == 400 and "cause" in bad.json()


def test_memory_hog_under_a_limit_is_oom(live: Any, world: Any) -> None:
    ComputeTarget.objects.filter(name="local").update(config={"memory": "256m"})
    made = submit(world.alice, {"train.py": MEMORY_HOG})
    run = wait_status(made["id"], timeout=120)
    assert run.status == Status.FAILED and run.cause == "oom", (run.cause, run.cause_evidence)
    evidence = run.cause_evidence
    assert evidence["memory_limit"] == 256 * 1024 * 1024
    if evidence["oom_source"] == "cgroup":
        # The kernel OOM killer acted inside the run's memory cgroup.
        assert evidence["oom_kills"] >= 1
    else:
        # No writable memory controller here: RLIMIT_AS made the allocation fail.
        assert evidence["oom_source"] == "rlimit" and evidence["exception"].startswith("MemoryError")
    assert any(line.startswith("Memory limit: 268435456 bytes") for line in lines(run.pk, rank=-1))


def test_silence_is_a_hang_and_the_run_is_stopped(live: Any, world: Any) -> None:
    made = submit(world.alice, {"train.py": SILENT}, failure_policy={"hang_timeout_seconds": 3})
    run = wait_status(made["id"], timeout=120)
    assert run.status == Status.FAILED and run.cause == "hang"
    assert run.cause_evidence["limit_seconds"] == 3 and run.cause_evidence["idle_seconds"] >= 3
    assert "hang" in run.status_reason
    assert any("the run hangs" in line for line in lines(run.pk, rank=-1))


def test_metrics_keep_a_quiet_run_alive(live: Any, world: Any) -> None:
    script = (
        "import time\nfrom runyard import Run\nrun = Run.get_context()\n"
        "for i in range(6):\n    run.log('step', i)\n    run.flush()\n    time.sleep(1)\n"
    )
    made = submit(world.alice, {"train.py": script}, failure_policy={"hang_timeout_seconds": 4})
    run = wait_status(made["id"], timeout=120)
    assert run.status == Status.COMPLETED and run.cause == "", (run.status, run.error)


def test_time_limit_and_cancel_causes(live: Any, world: Any) -> None:
    limited = submit(world.alice, {"train.py": SLEEPER}, max_run_duration_seconds=3)
    run = wait_status(limited["id"], timeout=60)
    assert run.cause == "time_limit" and run.cause_evidence["limit_seconds"] == 3
    canceled = submit(world.alice, {"train.py": SLEEPER})
    wait_for(lambda: "sleeping" in lines(canceled["id"], rank=0), timeout=60, what="the script to start")
    world.alice.client.post(f"/api/runs/{canceled['id']}/cancel/")
    run = wait_status(canceled["id"])
    assert run.status == Status.CANCELED and run.cause == "canceled"


def test_bad_requirement_is_environment_build(live: Any, world: Any) -> None:
    name = f"no-such-package-{uuid.uuid4().hex[:8]}"
    response = world.alice.client.post(
        "/api/environments/", {"name": "broken", "spec": {"pip_requirements": [name]}}, format="json"
    )
    assert response.status_code == 201
    run = wait_status(submit(world.alice, {"train.py": "print(1)"}, environment="broken")["id"], timeout=300)
    assert run.status == Status.FAILED and run.cause == "environment_build"
    assert name in run.cause_evidence["log_tail"]


def test_user_error_retried_as_attempts_of_the_same_run(live: Any, world: Any) -> None:
    script = (
        "import os, sys\nattempt = int(os.environ['RUNYARD_ATTEMPT'])\nprint('attempt', attempt, flush=True)\n"
        "sys.exit(3) if attempt < 3 else print('third time lucky')\n"
    )
    made = submit(world.alice, {"train.py": script}, failure_policy={"max_retries": {"user_error": 2}})
    run = wait_status(made["id"], {Status.COMPLETED, Status.FAILED, Status.CANCELED})
    assert run.status == Status.COMPLETED and run.attempt == 3
    assert Run.objects.filter(experiment=run.experiment).count() == 1  # no new run
    listed = world.alice.client.get(f"/api/runs/{run.pk}/attempts/").json()
    assert [(a["number"], a["status"], a["cause"]) for a in listed] == [
        (1, "Failed", "user_error"),
        (2, "Failed", "user_error"),
        (3, "Completed", ""),
    ]
    assert [a["exit_code"] for a in listed] == [3, 3, 0]
    for number in (1, 2, 3):
        page = world.alice.client.get(f"/api/runs/{run.pk}/logs/", {"attempt": number, "rank": 0}).json()
        assert [line["text"] for line in page["lines"]][:1] == [f"attempt {number}"]
    assert world.alice.client.get(f"/api/runs/{run.pk}/logs/", {"attempt": 9}).status_code == 400
    # A policy naming an unknown cause is refused naming the key.
    bad = world.alice.client.post(
        "/api/runs/",
        {"snapshot": _tar(), "script": "train.py", "failure_policy": '{"max_retries": {"gremlins": 1}}'},
        format="multipart",
    )
    assert bad.status_code == 400 and "failure_policy.max_retries.gremlins" in bad.json()


def _tar() -> Any:
    from tests.conftest import make_tar

    return make_tar({"train.py": "print(1)"})


def test_lost_worker_is_worker_lost_and_retried(live: Any, world: Any) -> None:
    """SIGKILL the worker executing attempt 1: recovery ends the attempt as worker_lost
    and, the policy allowing it, queues attempt 2 of the same run, which completes."""
    script = (
        "import os, time\nprint('attempt', os.environ['RUNYARD_ATTEMPT'], flush=True)\n"
        "time.sleep(600) if os.environ['RUNYARD_ATTEMPT'] == '1' else print('done')\n"
    )
    live.stop("runner")
    live.start_worker("phoenix", queues="runyard,compute.local", concurrency=1)
    try:
        made = submit(world.alice, {"train.py": script}, failure_policy={"max_retries": {"worker_lost": 1}})
        wait_for(lambda: "attempt 1" in lines(made["id"], rank=0), timeout=60, what="attempt 1 to start")
        live.stop("phoenix", signal.SIGKILL)
        live.start_worker("phoenix", queues="runyard,compute.local", concurrency=1)
        run = wait_status(made["id"], {Status.COMPLETED, Status.FAILED, Status.CANCELED}, timeout=120)
        assert run.status == Status.COMPLETED and run.attempt == 2, (run.status, run.error)
        first = Attempt.objects.get(run=run, number=1)
        assert first.cause == "worker_lost" and first.cause_evidence["worker"]
        assert lines(run.pk, rank=0).count("attempt 2") == 1  # launched once
    finally:
        if "phoenix" in live.procs:
            live.stop("phoenix")
        live.start_worker("runner")


def test_lost_worker_without_retries_is_worker_lost(live: Any, world: Any) -> None:
    live.stop("runner")
    live.start_worker("phoenix", queues="runyard,compute.local", concurrency=1)
    try:
        made = submit(world.alice, {"train.py": SLEEPER})
        wait_for(lambda: "sleeping" in lines(made["id"], rank=0), timeout=60, what="the script to start")
        live.stop("phoenix", signal.SIGKILL)
        live.start_worker("phoenix", queues="runyard,compute.local", concurrency=1)
        run = wait_status(made["id"], timeout=60)
        assert run.status == Status.FAILED and run.cause == "worker_lost"
    finally:
        if "phoenix" in live.procs:
            live.stop("phoenix")
        live.start_worker("runner")
