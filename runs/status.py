"""Run statuses (Azure ML's names) and the moves allowed between them."""

from __future__ import annotations

from django.db import models


class Status(models.TextChoices):
    NOT_STARTED = "NotStarted"
    QUEUED = "Queued"
    PREPARING = "Preparing"
    STARTING = "Starting"
    RUNNING = "Running"
    FINALIZING = "Finalizing"
    COMPLETED = "Completed"
    FAILED = "Failed"
    CANCEL_REQUESTED = "CancelRequested"
    CANCELED = "Canceled"
    NOT_RESPONDING = "NotResponding"


TERMINAL = frozenset({Status.COMPLETED, Status.FAILED, Status.CANCELED})
ACTIVE = frozenset({Status.PREPARING, Status.STARTING, Status.RUNNING, Status.FINALIZING, Status.CANCEL_REQUESTED})

# to-status -> the statuses it may be entered from.
ALLOWED: dict[str, frozenset[str]] = {
    # Starting -> Queued: the cluster scheduler (Slurm) holds the job pending.
    Status.QUEUED: frozenset({Status.NOT_STARTED, Status.STARTING}),
    Status.PREPARING: frozenset({Status.QUEUED}),
    Status.STARTING: frozenset({Status.PREPARING}),
    Status.RUNNING: frozenset({Status.STARTING, Status.QUEUED, Status.NOT_RESPONDING}),
    Status.FINALIZING: frozenset({Status.RUNNING, Status.STARTING, Status.NOT_RESPONDING}),
    Status.COMPLETED: frozenset({Status.FINALIZING}),
    Status.FAILED: frozenset(
        {
            Status.NOT_STARTED,
            Status.QUEUED,
            Status.PREPARING,
            Status.STARTING,
            Status.RUNNING,
            Status.FINALIZING,
            Status.NOT_RESPONDING,
            Status.CANCEL_REQUESTED,
        }
    ),
    Status.CANCEL_REQUESTED: frozenset(
        {
            Status.NOT_STARTED,
            Status.QUEUED,
            Status.PREPARING,
            Status.STARTING,
            Status.RUNNING,
            Status.FINALIZING,
            Status.NOT_RESPONDING,
        }
    ),
    Status.CANCELED: frozenset({Status.CANCEL_REQUESTED, Status.NOT_STARTED, Status.QUEUED}),
    Status.NOT_RESPONDING: frozenset(
        {Status.QUEUED, Status.PREPARING, Status.STARTING, Status.RUNNING, Status.FINALIZING}
    ),
}

# Where a failing attempt may go back to Queued for a retry (runs.attempts); a pending
# Slurm job's worker also fails from Queued.
RETRY_FROM = frozenset(
    {Status.QUEUED, Status.PREPARING, Status.STARTING, Status.RUNNING, Status.FINALIZING, Status.NOT_RESPONDING}
)

# The timestamp column set when a run enters a status.
PHASE_FIELD: dict[str, str] = {
    Status.QUEUED: "queued_at",
    Status.PREPARING: "preparing_at",
    Status.STARTING: "starting_at",
    Status.RUNNING: "running_at",
    Status.FINALIZING: "finalizing_at",
    Status.COMPLETED: "ended_at",
    Status.FAILED: "ended_at",
    Status.CANCELED: "ended_at",
}


def can_move(from_status: str, to_status: str) -> bool:
    return from_status in ALLOWED.get(to_status, frozenset())
