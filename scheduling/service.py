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
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from django.db import connection

from common import rows
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
    """What the target's plan is computed from, in one read (``_inputs_sql``): the active
    runs' ids, the waiting runs' count, newest id and priority sum, the quotas' count and
    latest change, and the pool. Plain SQL, not the ORM: every page holding a Queued run
    asks this, and building querysets cost more than the database did."""
    with connection.cursor() as cursor:
        cursor.execute(_inputs_sql(with_target=False), _inputs_params(target.pk))
        row = cursor.fetchone()
    return _fingerprint(target.max_concurrent_runs, row)


def _fingerprint(max_concurrent_runs: int, row: Any) -> Any:
    """``row``: the active ids as one comma-separated text (NULL: none), then the inputs."""
    active = tuple(sorted(map(int, row[0].split(",")))) if row[0] else ()
    return (max_concurrent_runs, active, tuple(row[1:]))


_ACTIVE_STATUSES = sorted(str(status) for status in ACTIVE)


def _inputs_sql(*, with_target: bool) -> str:
    """The fingerprint's statement; ``with_target``: the target's own row first (its
    columns, then the fingerprint's as ``fp_*``), for a reader that has only the id.

    The active ids come aggregated into one text value (no ORDER BY: SQLite sorted them in
    a temporary B-tree, Python sorts faster): a busy target has hundreds of them, and one
    value crosses the wire and the driver faster than as many rows."""
    ids = "string_agg(CAST(id AS text), ',')" if connection.vendor == "postgresql" else "group_concat(id)"
    runs = Run._meta.db_table
    inputs = (
        "a.ids AS fp_active, w.n AS fp_waiting, w.top AS fp_newest, w.p AS fp_priorities, q.n AS fp_quotas, "
        "q.at AS fp_quotas_at, pool.id AS fp_pool, pool.nodes AS fp_nodes, pool.gpus AS fp_gpus FROM "
    )
    derived = (
        f"(SELECT {ids} AS ids FROM {runs} WHERE compute_target_id = %s "
        f"AND status IN ({', '.join(['%s'] * len(_ACTIVE_STATUSES))})) a "
        f"CROSS JOIN (SELECT COUNT(id) AS n, MAX(id) AS top, SUM(priority) AS p FROM {runs} "
        "WHERE compute_target_id = %s AND status = %s AND worker = '') w "
        f"CROSS JOIN (SELECT COUNT(id) AS n, MAX(updated_at) AS at FROM {TeamQuota._meta.db_table} "
        "WHERE compute_target_id = %s) q "
        f"LEFT JOIN {TargetPool._meta.db_table} pool ON pool.compute_target_id = %s"
    )
    if not with_target:
        return f"SELECT {inputs}{derived}"
    target = f"{ComputeTarget._meta.db_table} t"
    return f"SELECT {rows.columns(ComputeTarget, 't')}, {inputs}{target} CROSS JOIN {derived} WHERE t.id = %s"


def _inputs_params(target_id: int) -> list[Any]:
    return [target_id, *_ACTIVE_STATUSES, target_id, str(Status.QUEUED), target_id, target_id]


def current_plan(target: ComputeTarget) -> Plan:
    """The target's plan: this process's, while its fingerprint holds; else a new one."""
    return _plan_for(target, fingerprint(target))


def current_plans(target_ids: Iterable[int]) -> list[tuple[ComputeTarget, Plan]]:
    """The targets among ``target_ids`` with their plans (as ``current_plan``): each
    target's row and its fingerprint in one statement, where reading the target and then
    its fingerprint took two (the run list asks this on every page holding a Queued run)."""
    out = []
    split = len(ComputeTarget._meta.concrete_fields)
    with connection.cursor() as cursor:
        for target_id in sorted(set(target_ids)):
            cursor.execute(_inputs_sql(with_target=True), [*_inputs_params(target_id), target_id])
            row = cursor.fetchone()
            if row is None:
                continue
            target = rows.instance(ComputeTarget, row[:split])
            out.append((target, _plan_for(target, _fingerprint(target.max_concurrent_runs, row[split:]))))
    return out


def _plan_for(target: ComputeTarget, print_: Any) -> Plan:
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
