"""Celery tasks: run execution (per compute-target queue) and the heartbeat sweep.

Tasks take ids and look everything else up; they are queued after commit.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

from celery import shared_task
from celery.signals import worker_process_shutdown, worker_ready
from django.conf import settings
from django.db.models import Q
from django.utils import timezone

from runs import events, executor
from runs.lifecycle import IllegalTransition, transition
from runs.models import Run
from runs.status import Status

log = logging.getLogger(__name__)
SWEEP_SECONDS = 5.0


@shared_task(bind=True, acks_late=True, ignore_result=True)
def execute_run(self: Any, run_id: int) -> str:
    worker = self.request.hostname or "worker"
    outcome = executor.execute(run_id, worker)
    if outcome == "busy":
        queue = (self.request.delivery_info or {}).get("routing_key") or f"compute.{_target_name(run_id)}"
        execute_run.apply_async(args=[run_id], queue=queue, countdown=1.0)
    return outcome


def _target_name(run_id: int) -> str:
    return Run.objects.filter(pk=run_id).values_list("compute_target__name", flat=True).get()


@shared_task(ignore_result=True)
def sweep_heartbeats() -> dict[str, int]:
    """Active runs whose worker stopped beating go NotResponding, then Failed.

    A run is NotResponding after HEARTBEAT_TIMEOUT without a heartbeat and Failed
    ("worker lost") after twice that; a pending cancel simply completes.
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
    for run_id in stale.filter(status=Status.NOT_RESPONDING, heartbeat_at__lt=now - 2 * timeout).values_list(
        "pk", flat=True
    ):
        if _move(run_id, Status.FAILED, "worker lost", error="The worker running this run stopped responding."):
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
    Run.objects.filter(pk=run_id).update(worker=self.request.hostname or "worker", heartbeat_at=timezone.now())
    executor.Execution(run_id).resume()


@worker_process_shutdown.connect
def flush_events(**kwargs: Any) -> None:
    """Publish the status messages still queued before a pool process exits: billiard
    ends it with ``os._exit``, so ``runs.events``' atexit flush would not run."""
    events.flush()


@worker_ready.connect
def recover_after_restart(sender: Any = None, **kwargs: Any) -> None:
    """Runs this worker was executing when it died cannot be resumed: stop what is
    left of their processes and end them, so none stays Running. Runs the sweep
    already failed ("worker lost") get their leftover processes reaped too."""
    from django.db.models import Q

    from compute.backends import get_backend
    from compute.backends.base import Target

    hostname = getattr(sender, "hostname", "") or ""
    log.info("recovering runs of %s", hostname)
    active = [
        Status.PREPARING,
        Status.STARTING,
        Status.RUNNING,
        Status.FINALIZING,
        Status.NOT_RESPONDING,
        Status.CANCEL_REQUESTED,
    ]
    # Ended runs still naming processes or containers: the sweep failed them while no
    # worker ran, so nothing stopped what they started.
    leftovers = Q(status__in=[Status.FAILED, Status.CANCELED], backend_state__has_any_keys=["pids", "containers"])
    abandoned = (
        Run.objects.filter(worker=hostname)
        .filter(Q(status__in=active) | leftovers)
        .filter(Q(backend_state__reaped__isnull=True) | Q(backend_state__reaped=False))
        .select_related("compute_target")
    )
    for run in abandoned:
        log.info("reaping run %s (%s): %s", run.pk, run.status, run.backend_state)
        try:
            get_backend(run.compute_target.kind).reap_orphans(
                run.backend_state or {}, Target.of(run.compute_target), active=run.status in active
            )
        except Exception:
            log.warning("could not reap processes of run %s", run.pk, exc_info=True)
        Run.objects.filter(pk=run.pk).update(backend_state={**(run.backend_state or {}), "reaped": True})
        if run.status in active and get_backend(run.compute_target.kind).can_resume(run.backend_state or {}):
            resume_run.apply_async(args=[run.pk], queue=run.compute_target.queue)
            continue
        if run.status == Status.CANCEL_REQUESTED:
            _move(run.pk, Status.CANCELED, "canceled (worker restarted)")
        elif run.status in active:
            _move(run.pk, Status.FAILED, "worker lost", error=f"Worker {hostname} restarted while the run was active.")
