"""The worker process's shape: beat as a thread, autoscaling that also sees delayed
messages, and pool processes that share the main process's memory.

- ``--beat-thread`` (``ThreadedBeat``) runs Celery beat's scheduler in a thread of the
  worker's main process instead of a process of its own (``celery beat``, or ``worker
  -B``, which forks one): ~100 MB less. Beat must run exactly once per deployment, so
  only a deployment with one worker may use it: the standalone stack does
  (``runyard_serve``, one instance per data directory); docker-compose keeps its
  ``beat`` service and workers without the flag.
- ``Autoscaler`` (the app's ``worker_autoscaler``) grows the pool only for work that
  would otherwise wait: when a task that holds a process for long (``LONG_TASKS``: a
  run, a build) finds no idle process, at once; when a short one (a sweep, a
  notification) is still waiting a poll later. Celery's own grows whenever more
  messages are reserved than processes exist, so beat's sweeps, sent together every
  5 s, would keep an idle stack at two processes instead of one.
- ``AutoscalePoll`` runs that check every second: a message with a countdown (a run
  re-sent while its target was full, a retry) becomes due in the timer without the
  on-arrival check, and Celery's periodic one runs only every ``AUTOSCALE_KEEPALIVE``
  (30) seconds.
- ``freeze_before_fork``: objects loaded before the pool forks are moved out of the
  garbage collector's reach (``gc.freeze``), so a pool process's collections do not
  write to (and so copy) the pages it shares with the main process.

Registered on the app in ``config.celery``; nothing here imports Django.
"""

from __future__ import annotations

import gc
import logging
from typing import Any

from celery import bootsteps
from celery.signals import worker_init, worker_ready
from celery.worker import autoscale, state

AUTOSCALE_POLL_SECONDS = 1.0
# Tasks that keep a pool process for seconds to hours: one that finds no idle process
# gets a new one at once.
LONG_TASKS = frozenset(
    {
        "execution.tasks.execute_run",
        "execution.tasks.resume_run",
        "environments.tasks.build_environment",
        "datasets.tasks.profile_version",
    }
)


class Autoscaler(autoscale.Autoscaler):  # type: ignore[misc]  # celery is untyped
    """Grows for waiting work only (see the module docstring); shrinks as Celery's does:
    down to ``max(reserved, min)`` processes, ``keepalive`` seconds after the last growth."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._waited: set[str] = set()

    def _maybe_scale(self, req: Any = None) -> bool:
        procs = self.processes
        active = state.active_requests
        waiting = [r for r in state.reserved_requests if r not in active]
        if req is None:  # the periodic check: short tasks count once they waited a poll
            due = [r for r in waiting if r.name in LONG_TASKS or r.id in self._waited]
            self._waited = {r.id for r in waiting}
        else:  # a message just arrived: only long tasks grow the pool on the spot
            due = [r for r in waiting if r.name in LONG_TASKS]
        idle = max(0, procs - len(active))
        want = min(procs + max(0, len(due) - idle), self.max_concurrency)
        if want > procs:
            self.scale_up(want - procs)
            return True
        floor = max(self.qty, self.min_concurrency)
        if floor < procs:
            self.scale_down(procs - floor)
            return True
        return False


class ThreadedBeat(bootsteps.StartStopStep):
    """Beat's scheduler (``app.conf.beat_schedule``, its state in
    ``beat_schedule_filename``) as a daemon thread of the worker's main process."""

    label = "ThreadedBeat"
    conditional = True

    def __init__(self, parent: Any, beat_thread: bool = False, **kwargs: Any) -> None:
        self.enabled = bool(beat_thread)
        super().__init__(parent, **kwargs)

    def create(self, parent: Any) -> Any:
        from celery.beat import EmbeddedService

        # Beat logs every message it sends at INFO; the worker runs at INFO for task
        # receipts, and a line per sweep every few seconds would drown them.
        logging.getLogger("celery.beat").setLevel(logging.WARNING)
        return EmbeddedService(parent.app, thread=True)


class AutoscalePoll(bootsteps.StartStopStep):
    label = "AutoscalePoll"
    requires = ("celery.worker.autoscale:WorkerComponent",)

    def register_with_event_loop(self, parent: Any, hub: Any) -> None:
        if getattr(parent, "autoscaler", None) is not None:
            hub.call_repeatedly(AUTOSCALE_POLL_SECONDS, parent.autoscaler.maybe_scale)


def beat_thread_option() -> Any:
    import click

    return click.Option(
        ["--beat-thread"],
        is_flag=True,
        default=False,
        help="Run beat's scheduler in this worker (only where it is the deployment's one worker).",
    )


@worker_init.connect
def freeze_before_fork(**kwargs: Any) -> None:
    """Sent in the main process once the app and its tasks are loaded, before the pool
    forks; pool processes the autoscaler forks later come from the same main process."""
    gc.collect()
    gc.freeze()


@worker_ready.connect
def freeze_again(**kwargs: Any) -> None:
    """What the main process loaded while starting (consumer, recoverer) is shared with
    the pool processes forked from now on."""
    gc.freeze()
