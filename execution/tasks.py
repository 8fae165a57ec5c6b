"""Celery tasks: run execution (per compute-target queue), the heartbeat and queue
sweeps, and starting recovery in each worker.

Tasks take ids and look everything else up; they are queued after commit.
"""

from __future__ import annotations

import logging
import os
from datetime import timedelta
from typing import Any

from celery import shared_task
from celery.signals import task_prerun, worker_process_shutdown, worker_ready, worker_shutting_down
from django.conf import settings
from django.db import close_old_connections
from django.db.models import Q
from django.utils import timezone

from execution import executor, recovery
from runs import dispatch, events
from runs.causes import Cause, ending
from runs.lifecycle import IllegalTransition, transition
from runs.models import Run
from runs.status import Status

log = logging.getLogger(__name__)
SWEEP_SECONDS = 5.0


@shared_task(bind=True, acks_late=True, ignore_result=True)
def execute_run(self: Any, run_id: int, token: str | None = None, attempt: int = 0) -> str:
    """Claim and execute a run (see ``runs.dispatch`` for the loop this message is)."""
    worker = self.request.hostname or "worker"
    queue = (self.request.delivery_info or {}).get("routing_key") or f"compute.{_target_name(run_id)}"
    try:
        outcome = executor.execute(run_id, worker)
    except executor.ClaimFailed as exc:
        # The claim never happened (database unreachable, too many connections): the run
        # is still Queued. Try again with backoff instead of dropping the message.
        delay = dispatch.retry_delay(attempt)
        log.warning("claiming run %s failed (%s); retrying in %gs", run_id, exc.__cause__ or exc, delay)
        _again(run_id, queue, token, delay, attempt + 1)
        return "retry"
    if outcome == "busy":
        _again(run_id, queue, token, 1.0, 0)
    return outcome


def _again(run_id: int, queue: str, token: str | None, delay: float, attempt: int) -> None:
    if not dispatch.owns_loop(run_id, token):
        return  # a newer dispatch loop took over this run
    if token is not None:
        dispatch.client().set(dispatch.mark_key(run_id), token, ex=dispatch.MARK_TTL)
    execute_run.apply_async(args=[run_id], kwargs={"token": token, "attempt": attempt}, queue=queue, countdown=delay)


def _target_name(run_id: int) -> str:
    return Run.objects.filter(pk=run_id).values_list("compute_target__name", flat=True).get()


@shared_task(ignore_result=True)
def sweep_queues() -> int:
    """Waiting runs whose dispatch message was lost get a new one (``runs.dispatch``)."""
    return dispatch.sweep_queues()


@shared_task(ignore_result=True)
def sweep_heartbeats() -> dict[str, int]:
    """Active runs whose worker stopped beating go NotResponding, then Failed.

    A run is NotResponding after HEARTBEAT_TIMEOUT without a heartbeat and Failed
    ("worker lost") after WORKER_LOST_SECONDS (default twice that); a pending cancel
    simply completes. This is the backstop for hosts where no worker runs any more:
    a live worker's recoverer (``execution.recovery``) ends or resumes such runs sooner.
    """
    timeout = timedelta(seconds=float(settings.RUNYARD["HEARTBEAT_TIMEOUT_SECONDS"]))
    now = timezone.now()
    counts = {"not_responding": 0, "failed": 0, "canceled": 0}
    stale = Run.objects.filter(heartbeat_at__lt=now - timeout)
    owned = Q(status__in=[Status.PREPARING, Status.STARTING, Status.RUNNING, Status.FINALIZING]) | Q(
        status=Status.QUEUED, worker__gt=""
    )
    for run_id in stale.filter(owned).values_list("pk", flat=True):
        if _move(run_id, Status.NOT_RESPONDING, f"no heartbeat for {timeout.total_seconds():g}s"):
            counts["not_responding"] += 1
    lost = float(settings.RUNYARD.get("WORKER_LOST_SECONDS") or 2 * timeout.total_seconds())
    for run_id in stale.filter(
        status=Status.NOT_RESPONDING, heartbeat_at__lt=now - timedelta(seconds=lost)
    ).values_list("pk", flat=True):
        error = "The worker running this run stopped responding."
        lost_fields = ending(Cause.WORKER_LOST, error).fields()
        if _move(run_id, Status.FAILED, "worker lost", error=error, **lost_fields):
            counts["failed"] += 1
    for run_id in stale.filter(status=Status.CANCEL_REQUESTED).values_list("pk", flat=True):
        if _move(run_id, Status.CANCELED, "canceled (worker lost)"):
            counts["canceled"] += 1
    return counts


def _move(run_id: int, to: str, reason: str, **fields: Any) -> bool:
    try:
        transition(run_id, to, reason=reason, fields=fields)
        return True
    except IllegalTransition:
        return False


@shared_task(bind=True, acks_late=True, ignore_result=True)
def resume_run(self: Any, run_id: int) -> None:
    """Re-attach to a run whose job outlived the worker that started it."""
    Run.objects.filter(pk=run_id).update(
        worker=self.request.hostname or "worker", worker_pid=os.getpid(), heartbeat_at=timezone.now()
    )
    executor.Execution(run_id).resume()


@task_prerun.connect
def check_connections(sender: Any = None, **kwargs: Any) -> None:
    """Before each task, what Django does before each request: drop a connection that broke,
    outlived CONN_MAX_AGE or left autocommit off, and health-check a kept one on its first
    use (settings.CELERY_DB_REUSE_MAX keeps connections across tasks)."""
    if not getattr(getattr(sender, "request", None), "is_eager", False):
        close_old_connections()


@worker_process_shutdown.connect
def flush_events(**kwargs: Any) -> None:
    """Publish the status messages still queued before a pool process exits: billiard
    ends it with ``os._exit``, so ``runs.events``' atexit flush would not run. The same
    for the process's held launches: their sandboxes would die with it anyway, but their
    slots would stay mounted until another process swept them."""
    events.flush()
    from execution.backends.held import POOL

    POOL.close()


@worker_ready.connect
def start_recovery(sender: Any = None, **kwargs: Any) -> None:
    """In the worker's main process: reap what runs ended while no worker ran left
    behind, then keep recovering runs whose worker died (``execution.recovery``)."""
    hostname = getattr(sender, "hostname", "") or ""
    queues = _consumed_queues(sender)
    reap_leftovers(queues)
    global _recoverer
    _recoverer = recovery.Recoverer(hostname, queues)
    _recoverer.start()


_recoverer: recovery.Recoverer | None = None


@worker_shutting_down.connect
def stop_recovery(**kwargs: Any) -> None:
    if _recoverer is not None:
        _recoverer.stop_event.set()


def _consumed_queues(consumer: Any) -> list[str]:
    try:
        return sorted(q.name for q in consumer.task_consumer.queues)
    except AttributeError:
        return sorted(consumer.app.amqp.queues.consume_from) if consumer is not None else []


def reap_leftovers(queues: list[str]) -> None:
    """Ended runs still naming processes or containers: the sweep failed them while no
    worker ran, so nothing stopped what they started."""
    from execution.backends import get_backend
    from execution.backends.base import Target

    names = [q.removeprefix("compute.") for q in queues if q.startswith("compute.")]
    leftovers = (
        Run.objects.filter(
            status__in=[Status.FAILED, Status.CANCELED],
            compute_target__name__in=names,
            backend_state__has_any_keys=["pids", "containers"],
        )
        .filter(Q(backend_state__reaped__isnull=True) | Q(backend_state__reaped=False))
        .select_related("compute_target")
    )
    for run in leftovers:
        log.info("reaping leftovers of run %s (%s): %s", run.pk, run.status, run.backend_state)
        try:
            get_backend(run.target.kind).reap_orphans(run.backend_state or {}, Target.of(run.target), active=False)
        except Exception:
            log.warning("could not reap processes of run %s", run.pk, exc_info=True)
        Run.objects.filter(pk=run.pk).update(backend_state={**(run.backend_state or {}), "reaped": True})
