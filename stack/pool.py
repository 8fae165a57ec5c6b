"""How many pool processes the standalone worker runs: sized to what it may execute.

A pool process executing a run is held for the run's whole life (it starts the ranks,
pumps their output into the log store, beats, collects outputs), so the local target's
capacity, not the machine's cores, is the number that bounds useful concurrency: the
ranks do the computing, and a pool capped at ``nproc`` would start fewer runs at once
than the target allows. An idle pool process still costs ~95 MB, so the worker
autoscales instead of keeping them all:

    max = sum of max_concurrent_runs over the enabled targets whose queues it consumes
          + SPARE (a process for the default queue's short tasks: sweeps, builds,
          notifications, "target full, try again" re-sends while every run slot is busy)
    min = 1 (what an idle stack keeps: the first run starts without a fork)

Celery forks a process when a message finds none idle (from the preloaded main process:
milliseconds) and retires extra ones after ``AUTOSCALE_KEEPALIVE`` seconds (Celery's
environment variable, default 30) without work. ``RUNYARD_WORKER_MIN_CONCURRENCY`` /
``RUNYARD_WORKER_MAX_CONCURRENCY`` override the bounds; ``RUNYARD_WORKER_CONCURRENCY``
(or ``runyard_serve --concurrency``) gives a fixed pool instead. The capacity is read
when the stack starts: restart it after raising a target's ``max_concurrent_runs``.
"""

from __future__ import annotations

from dataclasses import dataclass

from compute.models import ComputeTarget
from config.env import env_int
from stack.processes import DEFAULT_QUEUES

SPARE = 1


@dataclass(frozen=True)
class PoolSize:
    max: int
    min: int
    capacity: int

    def autoscale(self) -> tuple[int, int]:
        return (self.max, self.min)

    def describe(self) -> str:
        return f"{self.min}–{self.max} pool processes (target capacity {self.capacity} + {SPARE} spare)"


def for_queues(queues: str = DEFAULT_QUEUES) -> PoolSize:
    names = [q.removeprefix("compute.") for q in queues.split(",") if q.startswith("compute.")]
    capacity = sum(
        ComputeTarget.objects.filter(name__in=names, enabled=True).values_list("max_concurrent_runs", flat=True)
    )
    maximum = env_int("RUNYARD_WORKER_MAX_CONCURRENCY", max(1, capacity) + SPARE, minimum=1)
    minimum = min(env_int("RUNYARD_WORKER_MIN_CONCURRENCY", 1, minimum=1), maximum)
    return PoolSize(maximum, minimum, capacity)
