"""Celery tasks of the sweep controller (``sweeps.controller`` has the algorithm)."""

from __future__ import annotations

import logging
from typing import Any

from celery import shared_task
from django.db import DatabaseError, IntegrityError

from config.redisconn import client
from sweeps import controller, triggers
from sweeps.models import Sweep

log = logging.getLogger(__name__)


@shared_task(bind=True, acks_late=True, ignore_result=True, max_retries=None)
def advance(self: Any, sweep_id: int) -> dict[str, Any]:
    """One controller step. Acked late: a worker that dies mid-step leaves the message to
    be redelivered (after the broker's visibility timeout; the events of the recovery
    wake the sweep sooner, ``triggers``), and the step (under the sweep's row lock) is
    safe to repeat."""
    try:
        client().delete(triggers.pending_key(sweep_id))
    except Exception:  # the tick covers an event lost meanwhile
        log.warning("could not clear the pending mark of sweep %s", sweep_id, exc_info=True)
    try:
        step = controller.advance(sweep_id)
    except (IntegrityError, DatabaseError) as exc:
        # Another step won a race (the unique child index) or the database hiccuped: again, soon.
        log.info("sweep %s step retried: %s", sweep_id, exc)
        raise self.retry(countdown=min(30.0, 0.2 * 2 ** min(self.request.retries, 8))) from None
    return step.summary()


@shared_task(ignore_result=True)
def tick() -> int:
    """The backstop (beat): wake every open sweep, for deadlines and lost events."""
    ids = list(Sweep.objects.filter(ended_at__isnull=True).values_list("pk", flat=True)[:10000])
    for sweep_id in ids:
        triggers.wake(sweep_id)
    return len(ids)
