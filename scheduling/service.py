"""The scheduler the claim path calls: which waiting run of a target may start now.

The caller holds the target's row lock (``execution.executor._claim``), so the state read
here cannot change under it: two workers never both see a free slot for the same capacity.

The claim decides from the heads of the teams' queues (``state.startable`` →
``scheduling.heads``): a few runs per team are read and planned, so its cost does not grow
with the queue, and every claim decides on the current state (no cache to go stale).

Positions and reasons of every waiting run (the run list, a run's page, the board) need
the full plan. It is kept per process with the *fingerprint* of what it was computed
from — the active runs, the waiting runs' count, newest id and priority sum, the quotas
and the target's capacity. Equal fingerprints mean the same inputs (only decayed usage
drifts, so a plan also expires after ``PLAN_TTL`` seconds); any start, end, submit,
priority or quota change makes the next reader plan afresh. Readers do not hold the
target's lock, so a full plan never delays a claim.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from django.db import connection

from compute.models import ComputeTarget
from runs.models import Run
from runs.status import ACTIVE, Status
from scheduling import policy, state
from scheduling.models import TargetPool, TeamQuota

PLAN_TTL = 5.0
_plans: dict[int, tuple[Any, float, Plan]] = {}  # target id -> (fingerprint, at, plan)


@dataclass(frozen=True)
class Plan:
    verdicts: dict[int, policy.Verdict]  # by run id, in scheduling order
    startable: frozenset[int]


def fingerprint(target: ComputeTarget) -> Any:
    """What the target's plan is computed from, in two reads: the active runs' ids, then
    the waiting runs' count, newest id and priority sum, the quotas' count and latest
    change, and the pool, in one statement. Plain SQL, not the ORM: every page holding a
    Queued run asks this, and building four querysets cost more than the database did."""
    with connection.cursor() as cursor:
        # No ORDER BY: SQLite sorted the active runs in a temporary B-tree; Python sorts faster.
        cursor.execute(_ACTIVE_IDS, [target.pk, *_ACTIVE_STATUSES])
        active = tuple(sorted(row[0] for row in cursor.fetchall()))
        cursor.execute(_INPUTS, [target.pk, str(Status.QUEUED), target.pk, target.pk])
        inputs = cursor.fetchone()
    return (target.max_concurrent_runs, active, inputs)


_ACTIVE_STATUSES = sorted(str(status) for status in ACTIVE)
_ACTIVE_IDS = (
    f"SELECT id FROM {Run._meta.db_table} WHERE compute_target_id = %s "
    f"AND status IN ({', '.join(['%s'] * len(_ACTIVE_STATUSES))})"
)
_INPUTS = (
    "SELECT w.n, w.top, w.p, q.n, q.at, pool.id, pool.nodes, pool.gpus FROM "
    f"(SELECT COUNT(id) AS n, MAX(id) AS top, SUM(priority) AS p FROM {Run._meta.db_table} "
    "WHERE compute_target_id = %s AND status = %s AND worker = '') w "
    f"CROSS JOIN (SELECT COUNT(id) AS n, MAX(updated_at) AS at FROM {TeamQuota._meta.db_table} "
    "WHERE compute_target_id = %s) q "
    f"LEFT JOIN {TargetPool._meta.db_table} pool ON pool.compute_target_id = %s"
)


def current_plan(target: ComputeTarget) -> Plan:
    """The target's plan: this process's, while its fingerprint holds; else a new one."""
    print_ = fingerprint(target)
    cached = _plans.get(target.pk)
    now = time.monotonic()
    if cached is not None and cached[0] == print_ and now - cached[1] < PLAN_TTL:
        return cached[2]
    verdicts = state.load(target).plan()
    plan = Plan({v.run_id: v for v in verdicts}, frozenset(v.run_id for v in verdicts if v.start))
    _plans[target.pk] = (print_, now, plan)
    return plan


def startable(target: ComputeTarget) -> frozenset[int]:
    """The waiting runs the scheduler would start now (the same runs ``current_plan``
    marks to start; read from the queue's heads)."""
    return state.startable(target)


def may_start(target: ComputeTarget, run_id: int) -> bool:
    """Whether the scheduler starts ``run_id`` (Queued on ``target``) now (a full target
    answers before any waiting run is read: ``state.startable``); when it does not, the
    queue's head may take a preemptible run's place."""
    if run_id in startable(target):
        return True
    preempt(target)
    return False


# ---- preemption (issue 22): kept apart from the decision above ------------------------------
def preempt(target: ComputeTarget) -> None:
    """Stop preemptible runs for the queue's head when it may take their place
    (``scheduling.preemptor``); a no-op unless a preemptible run is active on ``target``."""
    from scheduling import preemptor

    if preemptor.has_candidates(target):
        preemptor.carry_out(target, current_plan(target))
