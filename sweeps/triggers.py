"""What wakes the sweep controller: a child ending, a child logging the primary metric,
the sweep's own run being canceled. No polling loop: each event queues one
``sweeps.tasks.advance`` message (the beat's ``tick`` is only the backstop).

Metric events coalesce: ``wake`` queues a message only when none is pending for the
sweep (a Redis key set with NX; the task deletes it before it reads the state, so an
event that arrives while a step runs queues the next step). A child ending and the
sweep's run being canceled always queue a step (``coalesce=False``): they are rare (one
per child), and the pending mark may belong to a message that died with its worker — a
SIGKILLed worker takes the messages it had received but not finished with it, and the
broker gives an acked-late message back only after its visibility timeout (a day). The
recoverer ending that worker's children is then the one event left, and a coalesced
wake would drop it: the sweep would wait for the tick. A lost message otherwise leaves
the key to expire after PENDING_TTL; the tick wakes every open sweep meanwhile.
"""

from __future__ import annotations

import logging
from typing import Any

from config.redisconn import client
from runs import signals
from runs.models import Run
from runs.status import TERMINAL, Status

log = logging.getLogger(__name__)
PENDING_TTL = 30


def pending_key(sweep_id: int) -> str:
    return f"runyard:sweep:pending:{sweep_id}"


def wake(sweep_id: int, countdown: float | None = None, *, coalesce: bool = True) -> None:
    """Queue a controller step for the sweep unless one is pending (``coalesce=False``:
    even then). Never raises: an event must not fail the transition or the metric batch
    that caused it."""
    from sweeps.tasks import advance

    try:
        if client().set(pending_key(sweep_id), "1", nx=coalesce, ex=PENDING_TTL) or not coalesce:
            advance.apply_async(args=[sweep_id], countdown=countdown)
    except Exception as exc:  # redis-py's and kombu's connection errors have no common base
        log.warning("could not wake sweep %s now (%s); the tick will", sweep_id, exc)


def _open_sweep(sweep_id: int) -> dict[str, Any] | None:
    from sweeps.models import Sweep

    row = Sweep.objects.filter(pk=sweep_id, ended_at__isnull=True).values_list("config", flat=True).first()
    return dict(row) if row is not None else None


def on_status_changed(sender: Any, run: Run, previous: str, **kwargs: Any) -> None:
    # Ordinary runs (a target, no parent) cost nothing here: no query.
    if run.parent_id is not None:
        sweep_id = run.parent_id if run.status in TERMINAL else None
    elif run.compute_target_id is None and not run.interactive and run.status != Status.RUNNING:
        sweep_id = run.pk  # a sweep's own run, canceled
    else:
        return
    if sweep_id is not None and _open_sweep(sweep_id) is not None:
        wake(sweep_id, coalesce=False)


def on_metrics_stored(sender: Any, run: Run, names: set[str], **kwargs: Any) -> None:
    if run.parent_id is None:
        return
    sweep = _open_sweep(run.parent_id)
    if sweep is not None and sweep["primary_metric_config"]["name"] in names:
        wake(run.parent_id)


def connect() -> None:
    signals.status_changed.connect(on_status_changed, dispatch_uid="sweeps.status")
    signals.metrics_stored.connect(on_metrics_stored, dispatch_uid="sweeps.metrics")
