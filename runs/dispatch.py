"""Getting Queued runs to a worker, and keeping them there until one claims them.

Each Queued run has one *dispatch loop*: a Celery message carrying a token, whose
current value is also stored under ``runyard:dispatch:<run id>`` (expiring after
``MARK_TTL`` seconds). A worker that receives the message tries to claim the run;
while the target is full (``busy``) or the claim itself fails (the database refused a
connection, say), it sends the message again after a short delay and refreshes the
mark — but only while the mark still holds its token, so a loop that was replaced
(``kick_queue`` sends a fresh one when a slot frees up) ends by itself instead of
doubling the traffic. A message lost with a dead worker, or never sent because the
broker was down at submit time, leaves its run without a fresh mark: the beat task
``sweep_queues`` finds such runs and starts a new loop. Claims are conditional updates,
so a duplicate message is harmless.
"""

from __future__ import annotations

import logging
import uuid

from config.redisconn import client
from runs.models import Run
from runs.status import Status

log = logging.getLogger(__name__)
MARK_TTL = 60
MAX_BACKOFF = 30.0


def mark_key(run_id: int) -> str:
    return f"runyard:dispatch:{run_id}"


def enqueue(run: Run, countdown: float | None = None) -> None:
    """Start a (new) dispatch loop for ``run``."""
    send(run.pk, run.target.queue, uuid.uuid4().hex, countdown)


def send(run_id: int, queue: str, token: str, countdown: float | None = None) -> None:
    from execution.tasks import execute_run

    client().set(mark_key(run_id), token, ex=MARK_TTL)
    execute_run.apply_async(args=[run_id], kwargs={"token": token}, queue=queue, countdown=countdown)


def enqueue_after_commit(run: Run) -> None:
    """What a submit queues on commit: a broker that is down must not fail the request
    (the run is stored; ``sweep_queues`` dispatches it once the broker is back)."""
    try:
        enqueue(run)
    except Exception as exc:  # redis-py's and kombu's connection errors have no common base
        log.warning("could not queue run %s now (%s); the queue sweep will", run.pk, exc)


def owns_loop(run_id: int, token: str | None) -> bool:
    """Whether the message carrying ``token`` is still the run's dispatch loop."""
    if token is None:
        return True  # a message from before dispatch loops: keep it going
    current = client().get(mark_key(run_id))
    return current is None or (current.decode() if isinstance(current, bytes) else str(current)) == token


def retry_delay(attempt: int) -> float:
    return min(MAX_BACKOFF, 0.5 * 2.0 ** max(0, attempt))


def kick_queue(target_id: int) -> None:
    """A slot freed up: queue the task of each run the scheduler would start now."""
    from compute.models import ComputeTarget
    from scheduling.service import startable

    target = ComputeTarget.objects.filter(pk=target_id).first()
    if target is None:
        return
    for run in Run.objects.filter(pk__in=list(startable(target)), status=Status.QUEUED, worker="").select_related(
        "compute_target"
    ):
        enqueue(run)


def sweep_queues() -> int:
    """Start a dispatch loop for every waiting run whose mark expired; return how many."""
    waiting = list(
        Run.objects.filter(status=Status.QUEUED, worker="")
        .select_related("compute_target")
        .order_by("queued_at", "id")[:5000]
    )
    if not waiting:
        return 0
    marks = client().mget([mark_key(run.pk) for run in waiting])
    lost = [run for run, mark in zip(waiting, marks, strict=True) if mark is None]
    for run in lost:
        log.info("run %s is Queued with no live dispatch: queuing it again", run.pk)
        enqueue(run)
    return len(lost)
