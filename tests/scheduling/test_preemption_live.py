"""Preemption end to end on the local target, with a real worker and sandboxed scripts:
a preemptible low-priority run gets SIGTERM when a higher-priority run needs its slot,
its ``on_preempt`` callback saves into RUNYARD_CHECKPOINT_DIR, the waiting run starts
and completes first, then the first run resumes as attempt 2 of the same run id, reads
its checkpoint, finds its outputs/, continues its steps and completes. Also: reclaim of
borrowed capacity, a non-preemptible run is never preempted, SIGKILL after the grace."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from django.conf import settings

from audit.models import AuditEvent
from compute.models import ComputeTarget
from runs.models import Attempt, Run
from runs.status import Status
from scheduling.models import TeamQuota
from tests.conftest import wait_for
from tests.executor.helpers import lines, submit, wait_status

pytestmark = [pytest.mark.worker, pytest.mark.xdist_group("live")]

# Attempt 1 logs "loss" without a step until preempted; its callback saves the step it
# reached. Attempt 2 reads it back, checks outputs/ and logs three more, then ends.
RESUMABLE = """
import json, os, sys, time
from runyard.run import Run

run = Run.get_context()
ckpt = run.checkpoint_dir
state = ckpt / "state.json"
done = json.loads(state.read_text())["step"] if state.exists() else 0
print(f"attempt {run.attempt} starts at {done}; checkpoint dir {ckpt}", flush=True)

def save(left):
    state.write_text(json.dumps({"step": done}))
    print(f"on_preempt: saved step {done}, {left:.1f}s left", flush=True)

run.on_preempt(save)
if run.attempt == 1:
    os.makedirs("outputs", exist_ok=True)
    with open("outputs/first.txt", "w") as f:
        f.write("from attempt 1")
    while True:
        run.log("loss", float(done))
        done += 1
        if done == 3:
            run.flush()
            print("logged 3", flush=True)
        time.sleep(0.1 if done < 3 else 0.5)
print("outputs kept:", open("outputs/first.txt").read(), flush=True)
for _ in range(3):
    run.log("loss", float(done))
    done += 1
print("finished at", done, flush=True)
"""

IGNORES_TERM = """
import os, signal, time
from runyard.run import Run
run = Run.get_context()
if run.attempt == 1:
    # One write per signal: the stop signals the process and its group, and a print()
    # interrupted by the second handler interleaves ("ignoring SIGTERMignoring SIGTERM").
    signal.signal(signal.SIGTERM, lambda *a: os.write(1, b"ignoring SIGTERM\\n"))
    print("running", flush=True)
    time.sleep(600)
print("attempt", run.attempt, flush=True)
"""

QUICK = "print('urgent work done')\n"


def one_slot() -> ComputeTarget:
    target = ComputeTarget.objects.get(name="local")
    ComputeTarget.objects.filter(pk=target.pk).update(max_concurrent_runs=1)
    return target


def attempts_of(actor: Any, run_id: int) -> list[dict[str, Any]]:
    return list(actor.client.get(f"/api/runs/{run_id}/attempts/").json())


def test_preempted_run_resumes_with_its_checkpoint_and_continued_steps(live: Any, world: Any) -> None:
    one_slot()
    victim = submit(world.alice, {"train.py": RESUMABLE}, priority="low", preemptible="true")["id"]
    wait_for(lambda: "logged 3" in lines(victim, rank=0), timeout=120, what="the preemptible run to log")
    urgent = submit(world.bob, {"train.py": QUICK}, priority="high")["id"]

    assert wait_status(urgent, timeout=120).status == Status.COMPLETED
    run = wait_status(victim, timeout=120)
    assert run.status == Status.COMPLETED, run.error
    assert run.attempt == 2
    out = lines(victim, rank=0)
    saved = next(t for t in out if t.startswith("on_preempt: saved step"))
    step = int(saved.split()[3].rstrip(","))
    assert step >= 3
    assert f"attempt 2 starts at {step}; checkpoint dir {Path(settings.RUNYARD['CHECKPOINT_DIR']) / str(victim)}" in out
    assert "outputs kept: from attempt 1" in out
    assert f"finished at {step + 3}" in out

    # The waiting run took the freed slot before the victim's second attempt started.
    urgent_run = Run.objects.get(pk=urgent)
    second = Attempt.objects.get(run_id=victim, number=2)
    assert urgent_run.ended_at is not None and urgent_run.ended_at <= second.started_at

    attempts = attempts_of(world.alice, victim)
    assert [(a["number"], a["status"], a["cause"]) for a in attempts] == [
        (1, "Preempted", "preempted"),
        (2, "Completed", ""),
    ]
    first = attempts[0]
    assert first["cause_evidence"]["beneficiary"] == urgent
    assert "higher priority (high over low)" in first["cause_evidence"]["summary"]
    assert first["checkpoint"]["files"] == 1 and first["checkpoint"]["preempted_for"] == urgent
    assert attempts[1]["resumed"] is True
    assert attempts[1]["checkpoint"]["dir"] == str(Path(settings.RUNYARD["CHECKPOINT_DIR"]) / str(victim))
    # The run ended for good: its checkpoint dir is gone.
    assert not (Path(settings.RUNYARD["CHECKPOINT_DIR"]) / str(victim)).exists()

    # Steps continue: attempt 1's points are step-less (indexes 0..n-1), attempt 2's carry n, n+1, n+2.
    points = world.alice.client.get(f"/api/runs/{victim}/metrics/?name=loss").json()["loss"]
    first_attempt = [p for p in points if p["step"] is None]
    assert [p["step"] for p in points if p["step"] is not None] == [
        len(first_attempt),
        len(first_attempt) + 1,
        len(first_attempt) + 2,
    ]
    assert [p["value"] for p in points[-3:]] == [float(step), float(step + 1), float(step + 2)]

    event = AuditEvent.objects.get(action="scheduling.run.preempted", object_id=str(victim))
    assert event.changes["beneficiary"] == urgent and event.changes["reason"] == "priority"


def test_reclaim_of_borrowed_capacity(live: Any, world: Any) -> None:
    target = one_slot()
    TeamQuota.objects.create(team=world.team_b, compute_target=target, share=1)
    # Team A has no guarantee here: its run borrows the idle slot.
    borrower = submit(world.alice, {"train.py": RESUMABLE}, preemptible="true")["id"]
    wait_for(lambda: "logged 3" in lines(borrower, rank=0), timeout=120, what="the borrowing run to log")
    owner = submit(world.bob, {"train.py": QUICK})["id"]
    assert wait_status(owner, timeout=120).status == Status.COMPLETED
    assert wait_status(borrower, timeout=120).status == Status.COMPLETED
    event = AuditEvent.objects.get(action="scheduling.run.preempted", object_id=str(borrower))
    assert event.changes["reason"] == "reclaim" and event.changes["beneficiary"] == owner
    assert Attempt.objects.get(run_id=borrower, number=1).cause == "preempted"


def test_a_non_preemptible_run_is_never_preempted(live: Any, world: Any) -> None:
    one_slot()
    held = submit(world.alice, {"train.py": RESUMABLE}, priority="low")["id"]
    wait_for(lambda: "logged 3" in lines(held, rank=0), timeout=120, what="the run to log")
    waiting = submit(world.bob, {"train.py": QUICK}, priority="high")["id"]

    def reason() -> str:
        return str(world.admin.client.get(f"/api/runs/{waiting}/").json()["waiting_reason"])

    wait_for(
        lambda: f"the target is full (1/1 runs); run {held} is not preemptible" in reason(),
        timeout=120,
        what="the waiting reason",
    )
    assert Run.objects.get(pk=held).status == Status.RUNNING
    assert Run.objects.get(pk=held).preempt_requested_at is None
    assert not AuditEvent.objects.filter(action="scheduling.run.preempted").exists()
    for run_id in (held, waiting):
        world.admin.client.post(f"/api/runs/{run_id}/cancel/")
    assert wait_status(held).status == Status.CANCELED


def test_a_script_ignoring_sigterm_is_killed_after_the_grace(live: Any, world: Any) -> None:
    one_slot()
    victim = submit(world.alice, {"train.py": IGNORES_TERM}, priority="low", preemptible="true")["id"]
    wait_for(lambda: "running" in lines(victim, rank=0), timeout=120, what="the script to start")
    urgent = submit(world.bob, {"train.py": QUICK}, priority="high")["id"]
    assert wait_status(urgent, timeout=120).status == Status.COMPLETED
    run = wait_status(victim, timeout=120)
    assert run.status == Status.COMPLETED and run.attempt == 2
    assert "ignoring SIGTERM" in lines(victim, rank=0)
    assert "Grace period over: SIGKILL." in lines(victim, rank=-1)
    first = Attempt.objects.get(run_id=victim, number=1)
    assert (first.status, first.cause, first.cause_evidence["signal"]) == ("Preempted", "preempted", "SIGKILL")
