"""Runs whose executing worker died: found by ownership, then resumed or ended.

A run being executed records its owner: the worker's node name and the pid of the
process executing it (``Run.worker`` / ``Run.worker_pid``, set by the claim). Every
worker's main process runs a ``Recoverer`` thread that, every ``EVERY`` seconds:

1. announces itself: ``runyard:worker:<node>`` in Redis, expiring after ``TTL``;
2. looks at the claimed, unfinished runs of the compute targets whose queues it
   consumes, and decides for each whether its owner is gone:
   - owner on this host: the executing pid no longer exists (or is no longer a
     Celery process) — a SIGKILLed pool child is noticed within seconds, not only
     when the worker restarts;
   - owner on another host: its announcement expired (no worker of that name has
     been alive for ``TTL`` seconds);
3. takes each orphan over with a conditional update on the old (worker, pid), so one
   recoverer acts on it, then stops what is left of its processes and resumes it
   when its backend can re-attach (a container or Slurm job outlives the worker;
   runs pending in Slurm included), else ends it: Failed ("worker lost"), or Canceled
   when a cancel was pending.

Names are never trusted on their own: a restarted worker that reuses a name has a new
pid, and its predecessor's runs are orphans. The beat sweep (``sweep_heartbeats``) stays
the backstop for hosts where no worker runs any more.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import threading
from collections.abc import Iterable
from dataclasses import dataclass

import redis
from django.db import close_old_connections
from django.db.models import Q

from config.redisconn import client as _redis
from execution.backends.procs import cmdline, exists
from runs.causes import Cause, ending
from runs.models import Run
from runs.status import ACTIVE, Status

log = logging.getLogger(__name__)
TTL = 30
EVERY = 3.0
# Statuses in which a run has an owner that must be alive: Queued with a worker is a
# job pending in a cluster scheduler.
OWNED = (*ACTIVE, Status.NOT_RESPONDING)


def liveness_key(node: str) -> str:
    return f"runyard:worker:{node}"


def host_of(node: str) -> str:
    return node.rpartition("@")[2]


def announce(node: str, queues: Iterable[str]) -> None:
    _redis().set(liveness_key(node), json.dumps({"pid": os.getpid(), "queues": sorted(queues)}), ex=TTL)


def retire(node: str) -> None:
    _redis().delete(liveness_key(node))


def _is_celery_process(pid: int) -> bool:
    return exists(pid) and any("celery" in part for part in cmdline(pid))


def owner_alive(worker: str, worker_pid: int | None, here: str) -> bool:
    if host_of(worker) == here and worker_pid:
        return _is_celery_process(worker_pid)
    return bool(_redis().exists(liveness_key(worker)))


@dataclass
class Recovered:
    resumed: int = 0
    failed: int = 0
    canceled: int = 0


def recover(node: str, queues: Iterable[str]) -> Recovered:
    """One pass of step 2 and 3 above, for the runs of targets on ``queues``."""
    from execution.backends import get_backend
    from execution.backends.base import Target
    from execution.tasks import resume_run
    from runs.lifecycle import IllegalTransition, transition

    here = host_of(node) or socket.gethostname()
    names = [q.removeprefix("compute.") for q in queues if q.startswith("compute.")]
    owned = Q(status__in=OWNED) | Q(status=Status.QUEUED)
    candidates = (
        Run.objects.filter(owned, compute_target__name__in=names)
        .exclude(worker="")
        .values("pk", "worker", "worker_pid", "status")
    )
    done = Recovered()
    for row in candidates:
        if owner_alive(row["worker"], row["worker_pid"], here):
            continue
        taken = Run.objects.filter(pk=row["pk"], worker=row["worker"], worker_pid=row["worker_pid"]).update(
            worker=node, worker_pid=None
        )
        if not taken:
            continue  # another recoverer was first, or the run moved on
        run = Run.objects.select_related("compute_target").get(pk=row["pk"])
        backend = get_backend(run.target.kind)
        state = run.backend_state or {}
        log.info("run %s (%s) lost its worker %s: recovering", run.pk, run.status, row["worker"])
        try:
            # Still active: what can be resumed (containers, a Slurm job) is left running.
            backend.reap_orphans(state, Target.of(run.target), active=True)
        except Exception:
            log.warning("could not reap processes of run %s", run.pk, exc_info=True)
        if backend.can_resume(state):
            # A pending cancel included: the resumed execution stops the job itself.
            resume_run.apply_async(args=[run.pk], queue=run.target.queue)
            done.resumed += 1
            continue
        Run.objects.filter(pk=run.pk).update(backend_state={**state, "reaped": True})
        try:
            if run.status == Status.CANCEL_REQUESTED:
                transition(run.pk, Status.CANCELED, reason="canceled (worker lost)")
                done.canceled += 1
            else:
                transition(
                    run.pk,
                    Status.FAILED,
                    reason="worker lost",
                    fields={
                        "error": f"Worker {row['worker']} died or restarted while the run was active.",
                        **ending(
                            Cause.WORKER_LOST,
                            f"Worker {row['worker']} died or restarted while the run was {run.status}.",
                            worker=row["worker"],
                        ).fields(),
                    },
                )
                done.failed += 1
        except IllegalTransition:
            pass
    return done


class Recoverer(threading.Thread):
    """Step 1–3 every ``EVERY`` seconds in a worker's main process (started on worker_ready)."""

    def __init__(self, node: str, queues: list[str]) -> None:
        super().__init__(name="runyard-recoverer", daemon=True)
        self.node = node
        self.queues = queues
        self.stop_event = threading.Event()

    def run(self) -> None:
        while True:
            try:
                announce(self.node, self.queues)
                recover(self.node, self.queues)
            except Exception:
                # Redis or the database is away: try again next round, never die.
                log.warning("recovery pass failed", exc_info=True)
                close_old_connections()
            if self.stop_event.wait(EVERY):
                break
        try:
            retire(self.node)
        except redis.RedisError:
            pass
