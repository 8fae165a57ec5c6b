"""The worker's side of preemption (issue 22): the checkpoint directory that survives a
run's attempts, the notice a preempted script reads, and the requeue once it stopped.

The scheduler only marks a run (``scheduling.preemptor``); the executor that owns it
notices the mark in its heartbeat poll, writes the notice, stops the ranks with the
target's grace (``Execution.stop``) and then calls ``requeue``: outputs/ are kept as
artifacts (and put back into the next attempt's outputs/), the attempt ends with cause
``preempted`` naming the beneficiary, and the run returns to Queued through
``runs.attempts.retry(resume=True)``.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from runs import artifacts, attempts
from runs.causes import Cause
from runs.models import Artifact, Run

NOTICE_NAME = ".runyard-preempt.json"


@dataclass(frozen=True)
class Mark:
    """What the scheduler wrote on the run when it picked it as a victim."""

    beneficiary: int | None
    why: str

    @classmethod
    def of(cls, run_id: int) -> Mark:
        beneficiary, why = Run.objects.filter(pk=run_id).values_list("preempt_for_id", "preempt_reason").get()
        return cls(beneficiary, why or "preempted by the scheduler")


def notice_path(workdir: Path) -> Path:
    return workdir / NOTICE_NAME


def write_notice(workdir: Path, grace: float, mark: Mark) -> None:
    """Written before SIGTERM: the SDK's handler tells a preemption from a cancel by it and
    reads the time left until SIGKILL (worker and ranks share the clock: local, Docker)."""
    body = {"deadline": time.time() + grace, "grace_seconds": grace, "beneficiary": mark.beneficiary, "why": mark.why}
    path = notice_path(workdir)
    try:
        path.write_text(json.dumps(body))
        os.chmod(path, 0o644)
    except OSError:
        pass  # the run dir is gone (stopped while it was prepared): nothing reads it then


def prepare_checkpoint_dir(path: Path) -> None:
    path.mkdir(parents=True, exist_ok=True)


def checkpoint_summary(path: Path) -> dict[str, Any]:
    """What the checkpoint dir holds now, for the attempt's record (never its content)."""
    files = size = 0
    if path.is_dir():
        for entry in path.rglob("*"):
            if entry.is_file() and not entry.is_symlink():
                files += 1
                size += entry.stat().st_size
    return {"dir": str(path), "files": files, "bytes": size}


def restore_outputs(run: Run, outputs: Path) -> int:
    """Put the outputs/ earlier attempts left (stored as artifacts when they ended) back
    into this attempt's outputs/, so a resumed script finds them where it wrote them."""
    count = 0
    for art in Artifact.objects.filter(run=run, path__startswith="outputs/"):
        source = artifacts.file_of(art)
        dest = outputs / art.path.removeprefix("outputs/")
        if not source.is_file() or outputs.resolve() not in dest.resolve().parents:
            continue
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source, dest)
        count += 1
    return count


def keep(run: Run, outputs: Path, checkpoint_dir: Path) -> dict[str, Any]:
    """Store outputs/ as artifacts (the next attempt gets them back) and summarise the
    checkpoint dir: called before the run dir is removed."""
    kept = artifacts.collect(run, outputs)
    return {**checkpoint_summary(checkpoint_dir), "outputs": kept}


def requeue(run: Run, checkpoint: dict[str, Any], mark: Mark, grace: float, killed: bool) -> Run:
    """End the current attempt as preempted and send the run back to Queued to resume."""
    evidence: dict[str, Any] = {"summary": mark.why[:300], "grace_seconds": grace}
    if mark.beneficiary is not None:
        evidence["beneficiary"] = mark.beneficiary
    if killed:
        evidence["signal"] = "SIGKILL"
    checkpoint = {**checkpoint, "preempted_for": mark.beneficiary}
    return attempts.retry(run.pk, Cause.PREEMPTED, resume=True, checkpoint=checkpoint, evidence=evidence)
