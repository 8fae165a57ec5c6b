"""Carrying out ``scheduling.preemption``'s decision: the one place runs are preempted.

Called by the scheduler service from the claim path, with the target's row lock held
(``execution.executor._claim``), so two workers deciding for the same capacity are
serialised: the second sees the first's victims as already stopping (``Run.
preempt_requested_at``) and adds none. Marking a victim is a conditional update
(``preempt_requested_at IS NULL``) and audited once, naming victim, beneficiary and reason.

The executor that owns a marked run sees the mark within its heartbeat poll and stops
the run's processes through its backend (SIGTERM, the target's grace, SIGKILL); when they
exited, the attempt ends with cause ``preempted`` and the run goes back to Queued to
resume (``runs.attempts.retry``). The beneficiary, first in the plan, takes the capacity.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db.models import F, Q
from django.utils import timezone

from audit.services import record
from compute.models import ComputeTarget
from runs.models import Attempt, Run
from runs.status import ACTIVE
from scheduling import preemption, state
from scheduling.models import TargetPool

# target id -> (the plan object the state was read for, the state): the plan is the
# service's cached one, so the state is read again exactly when the plan is.
_states: dict[int, tuple[Any, state.TargetState]] = {}


@dataclass(frozen=True)
class Timing:
    grace_seconds: float
    min_run_seconds: float


def timing(target_id: int) -> Timing:
    """The target's preemption settings (its TargetPool's, else the RUNYARD_PREEMPT_* defaults)."""
    conf = settings.RUNYARD
    grace, min_run = float(conf["PREEMPT_GRACE_SECONDS"]), float(conf["PREEMPT_MIN_RUN_SECONDS"])
    row = (
        TargetPool.objects.filter(compute_target_id=target_id)
        .values_list("preempt_grace_seconds", "preempt_min_run_seconds")
        .first()
    )
    if row is not None:
        grace = grace if row[0] is None else float(row[0])
        min_run = min_run if row[1] is None else float(row[1])
    return Timing(grace, min_run)


def has_candidates(target: ComputeTarget) -> bool:
    """Whether preemption can matter on ``target`` at all: an active run is preemptible
    (or already stopping). One indexed query; most targets answer no and stop here."""
    return (
        Run.objects.filter(compute_target=target, status__in=ACTIVE)
        .filter(Q(preemptible=True) | Q(preempt_requested_at__isnull=False))
        .exists()
    )


def active_runs(target: ComputeTarget) -> list[preemption.Active]:
    gpus = state.gpus_per_node(target.kind, target.config)
    rows = list(
        Run.objects.filter(compute_target=target, status__in=ACTIVE)
        .order_by()
        .values_list("id", "team_id", "priority", "preparing_at", "distributed", "preemptible", "preempt_requested_at")
    )
    # This attempt resumed after a preemption: it gets its minimum run time.
    resumed = set(
        Attempt.objects.filter(run_id__in=[r[0] for r in rows], number=F("run__attempt"), resumed=True).values_list(
            "run_id", flat=True
        )
    )
    return [
        preemption.Active(
            pk,
            team_id,
            priority,
            started.timestamp() if started else 0.0,
            state.demand_of(distributed, gpus),
            preemptible,
            pk in resumed,
            requested is not None,
        )
        for pk, team_id, priority, started, distributed, preemptible, requested in rows
    ]


def decision(target: ComputeTarget, plan: Any) -> preemption.Decision:
    """The decision for ``target`` given the service's current ``plan`` (its verdicts);
    callers ask ``has_candidates`` first."""
    cached = _states.get(target.pk)
    if cached is None or cached[0] is not plan:
        cached = (plan, state.load(target))
        _states[target.pk] = cached
    loaded = cached[1]
    return preemption.decide(
        loaded.capacity,
        loaded.used,
        loaded.teams,
        loaded.queue,
        list(plan.verdicts.values()),
        active_runs(target),
        timezone.now().timestamp(),
        timing(target.pk).min_run_seconds,
    )


def carry_out(target: ComputeTarget, plan: Any) -> preemption.Decision:
    """Mark the decision's victims (caller holds the target's row lock); idempotent."""
    decided = decision(target, plan)
    now = timezone.now()
    for p in decided.victims:
        marked = Run.objects.filter(pk=p.victim, status__in=ACTIVE, preempt_requested_at__isnull=True).update(
            preempt_requested_at=now, preempt_for_id=p.beneficiary, preempt_reason=p.why[:300]
        )
        if marked:
            victim = Run.objects.get(pk=p.victim)
            record(
                "scheduling.run.preempted",
                actor=None,
                obj=victim,
                changes={"victim": p.victim, "beneficiary": p.beneficiary, "reason": p.reason, "why": p.why},
                via="scheduler",
            )
    return decided
