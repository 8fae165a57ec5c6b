"""Cancel requests. The executor that owns a run notices and stops its processes."""

from __future__ import annotations

from typing import Any

from audit.services import record
from common.errors import InvalidInput
from runs.lifecycle import IllegalTransition, transition
from runs.models import Run
from runs.status import TERMINAL, Status


def request_cancel(run: Run, user: Any, reason: str = "") -> Run:
    """Queued or not-yet-started runs end Canceled at once; active ones go to
    CancelRequested and their executor stops them (SIGTERM, grace, SIGKILL)."""
    if run.status in TERMINAL:
        raise InvalidInput({"status": [f"Run {run.pk} already ended ({run.status})."]})
    why = reason or f"canceled by {user.get_username()}"
    try:
        run = transition(run.pk, Status.CANCEL_REQUESTED, reason=why, actor=user)
    except IllegalTransition as exc:
        if exc.current == Status.CANCEL_REQUESTED:
            return Run.objects.get(pk=run.pk)
        raise InvalidInput({"status": [str(exc)]}) from None
    record("runs.run.cancel_requested", actor=user, obj=run, changes={"reason": why})
    if run.queued_at is None or run.preparing_at is None:
        # Nobody executes it yet: nothing to stop.
        try:
            run = transition(run.pk, Status.CANCELED, reason=why, actor=user, only_from={Status.CANCEL_REQUESTED})
            record("runs.run.canceled", actor=user, obj=run, changes={"reason": why})
        except IllegalTransition:
            run = Run.objects.get(pk=run.pk)
    # Otherwise the executor that owns the run sees CancelRequested within its poll
    # interval and stops every rank; a dead owner is handled by the heartbeat sweep.
    return run
