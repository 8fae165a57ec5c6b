"""Attempts of a run, and retries by cause.

A claim opens attempt ``run.attempt`` (``opened``); every terminal move closes it
with the run's status, cause and last log seq (``close``). A move to Failed whose cause
the run's ``failure_policy`` still allows retrying is turned, inside
``runs.lifecycle.transition``, into a move back to Queued (``retry``): the attempt is
closed as Failed with its cause, the run's counter goes up, its worker and per-attempt
timestamps are cleared and it is dispatched again after commit. Since the claim only
takes a Queued run with no worker, by one conditional update, a retried run is
launched once whatever messages are still in flight.

Preemption with resume (issue 22) reuses this: a scheduler that preempts a run ends
its attempt with cause ``preempted`` and calls ``retry(..., resume=True,
checkpoint=...)``; the next attempt records ``resumed`` and the checkpoint to start from.
"""

from __future__ import annotations

from typing import Any

from django.utils import timezone

from runs import logstore
from runs.models import Attempt, Run
from runs.policy import parse
from runs.status import Status


def opened(run_id: int, worker: str, claimed: Run | None = None) -> None:
    """Open the run's current attempt at claim time (idempotent per number). ``claimed``:
    the run as the claim's transition returned it (its attempt and log_seq are current
    inside the claim's transaction), saving a read."""
    if claimed is not None:
        number, log_seq = claimed.attempt, claimed.log_seq
    else:
        number, log_seq = Run.objects.filter(pk=run_id).values_list("attempt", "log_seq").get()
    first_seq = log_seq + 1
    if number == 1:
        # Nothing to resume from: one upsert (a claim that crashed before its commit left
        # no row; one whose worker died after it left one, which the new claim takes over).
        Attempt.objects.bulk_create(
            [Attempt(run_id=run_id, number=1, worker=worker, first_seq=first_seq, started_at=timezone.now())],
            update_conflicts=True,
            unique_fields=["run", "number"],
            update_fields=["worker", "first_seq", "started_at"],
        )
        return
    # An update, else an insert, rather than update_or_create's savepoints and locking
    # read: the claim's conditional update made this worker the one opening this attempt.
    if Attempt.objects.filter(run_id=run_id, number=number).update(
        worker=worker, first_seq=first_seq, started_at=timezone.now()
    ):
        return
    # Attempt 1 has no previous attempt to resume from.
    previous = Attempt.objects.filter(run_id=run_id, number=number - 1).first() if number > 1 else None
    Attempt.objects.create(
        run_id=run_id,
        number=number,
        worker=worker,
        first_seq=first_seq,
        resumed=bool(previous and previous.checkpoint),
        checkpoint=previous.checkpoint if previous else {},
    )


def close(run_id: int, number: int, status: str, fields: dict[str, Any]) -> None:
    """End attempt ``number`` with what the run's terminal (or retrying) move wrote."""
    run = Run.objects.filter(pk=run_id).values("log_seq", "worker").get()
    Attempt.objects.update_or_create(
        run_id=run_id,
        number=number,
        defaults={
            "ended_at": timezone.now(),
            "status": status,
            "cause": fields.get("cause", ""),
            "cause_evidence": fields.get("cause_evidence", {}),
            "exit_code": fields.get("exit_code"),
            "error": (fields.get("error") or "")[-20000:],
            "last_seq": run["log_seq"],
        },
        create_defaults={"worker": run["worker"], "first_seq": 1, "status": status, "last_seq": run["log_seq"]},
    )


def retries_left(run_id: int, cause: str) -> bool:
    policy = Run.objects.filter(pk=run_id).values_list("failure_policy", flat=True).get()
    allowed = parse(policy).retries_for(cause)
    if not allowed:
        return False
    used = Attempt.objects.filter(run_id=run_id, cause=cause, status=Status.FAILED).count()
    return used < allowed


def retry_fields(run_id: int) -> dict[str, Any]:
    """What a retry writes on the run, with the move back to Queued."""
    attempt = Run.objects.filter(pk=run_id).values_list("attempt", flat=True).get()
    return {
        "attempt": attempt + 1,
        "worker": "",
        "worker_pid": None,
        "backend_state": {},
        "exit_code": None,
        "error": "",
        "cause": "",
        "cause_evidence": {},
        "preparing_at": None,
        "starting_at": None,
        "running_at": None,
        "finalizing_at": None,
        "heartbeat_at": None,
        "preempt_requested_at": None,
        "preempt_for": None,
        "preempt_reason": "",
    }


# The status a preempted attempt ends with (the run itself goes back to Queued).
PREEMPTED = "Preempted"


def retry(
    run_id: int,
    cause: str,
    *,
    resume: bool = False,
    checkpoint: dict[str, Any] | None = None,
    evidence: dict[str, Any] | None = None,
) -> Run:
    """Send the run back to Queued for its next attempt, outside a failure (issue 22's
    preemption): the current attempt ends with ``cause`` and ``evidence``; with ``resume``
    it ends as Preempted and records ``checkpoint``, and the next attempt is ``resumed``."""
    from runs.lifecycle import transition

    if resume:
        number = Run.objects.filter(pk=run_id).values_list("attempt", flat=True).get()
        # Non-empty even without a summary: opened() marks the next attempt resumed by it.
        Attempt.objects.filter(run_id=run_id, number=number).update(checkpoint=checkpoint or {"resume": True})
    fields: dict[str, Any] = {"cause": cause, "cause_evidence": evidence or {}, "retry": True}
    if resume:
        fields["attempt_status"] = PREEMPTED
    return transition(run_id, Status.QUEUED, reason=f"retry after {cause}", fields=fields)


def listing(run: Run) -> list[dict[str, Any]]:
    """The run's attempts with their log line counts, oldest first."""
    rows = list(Attempt.objects.filter(run=run).order_by("number"))
    counts: dict[int, int] = {}
    if rows:
        for attempt in rows:
            last = attempt.last_seq if attempt.last_seq is not None else run.log_seq
            counts[attempt.number] = logstore.count_between(run.pk, attempt.first_seq, last)
    return [
        {
            "number": a.number,
            "started_at": a.started_at,
            "ended_at": a.ended_at,
            "status": a.status or (run.status if a.number == run.attempt else ""),
            "cause": a.cause,
            "cause_evidence": a.cause_evidence,
            "exit_code": a.exit_code,
            "error": a.error,
            "first_seq": a.first_seq,
            "last_seq": a.last_seq,
            "log_lines": counts.get(a.number, 0),
            "worker": a.worker,
            "resumed": a.resumed,
            "checkpoint": a.checkpoint,
        }
        for a in rows
    ]


def seq_range(run: Run, number: int) -> tuple[int, int] | None:
    """The log seq range of attempt ``number`` (None: no such attempt)."""
    attempt = Attempt.objects.filter(run=run, number=number).values("first_seq", "last_seq").first()
    if attempt is None:
        return None
    last = attempt["last_seq"] if attempt["last_seq"] is not None else run.log_seq
    return attempt["first_seq"], last
