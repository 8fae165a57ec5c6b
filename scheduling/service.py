"""The scheduler the claim path calls: which waiting run of a target may start now.

The caller holds the target's row lock (``execution.executor._claim``), so the state read
here cannot change under it: two workers never both see a free slot for the same capacity.
"""

from __future__ import annotations

from compute.models import ComputeTarget
from runs.models import Run
from runs.status import ACTIVE
from scheduling import state


def may_start(target: ComputeTarget, run_id: int) -> bool:
    """Whether the scheduler starts ``run_id`` (Queued on ``target``) now."""
    if Run.objects.filter(compute_target=target, status__in=ACTIVE).count() >= target.max_concurrent_runs:
        return False  # full: no need to read the queue
    return any(v.run_id == run_id and v.start for v in state.load(target).plan())


def startable(target: ComputeTarget) -> list[int]:
    """The waiting runs the scheduler would start now, in order."""
    return [v.run_id for v in state.load(target).plan() if v.start]
