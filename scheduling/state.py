"""Reading one target's scheduling state from the database into ``policy``'s types.

Three queries: the waiting runs, the runs that hold or held capacity inside the usage
window (active ones and recently ended ones, for decayed usage), and the quotas.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import lru_cache
from typing import Any

from django.conf import settings
from django.db.models import Q
from django.utils import timezone

from accounts.models import Team
from compute.models import ComputeTarget
from runs.distributed import Shape
from runs.models import Run
from runs.status import ACTIVE, Status
from scheduling import policy
from scheduling.models import TargetPool, TeamQuota


@dataclass(frozen=True)
class TargetState:
    target_id: int
    capacity: policy.Capacity
    used: policy.Demand
    teams: list[policy.TeamLoad]
    queue: list[policy.Waiting]

    def plan(self) -> list[policy.Verdict]:
        return policy.plan(self.capacity, self.used, self.teams, self.queue)


def gpus_per_node(kind: str, config: dict[str, Any] | None) -> int:
    """GPUs one node of a run on a target of ``kind`` gets (0 where the target gives none)."""
    config = config or {}
    raw = {"slurm": config.get("gpus_per_node"), "docker": config.get("gpus")}.get(kind, 0)
    if raw == "all":
        return 1  # every GPU of the host: at least one, the count is the host's
    try:
        return max(0, int(raw or 0))
    except (TypeError, ValueError):
        return 0


@lru_cache(maxsize=4096)
def _shape(key: str) -> tuple[int, int]:
    shape = Shape.of(json.loads(key) if key else None)
    return shape.nodes, shape.world_size


def demand_of(distributed: dict[str, Any] | None, gpus: int) -> policy.Demand:
    nodes, processes = _shape(json.dumps(distributed, sort_keys=True) if distributed else "")
    return policy.Demand(1, nodes, processes, nodes * gpus)


def quotas(target_id: int) -> dict[int, TeamQuota]:
    return {q.team_id: q for q in TeamQuota.objects.filter(compute_target_id=target_id)}


def to_quota(q: TeamQuota | None) -> policy.Quota:
    if q is None:
        return policy.Quota()
    return policy.Quota(q.share, q.max_runs, q.max_nodes, q.max_processes, q.max_gpus)


def _ts(at: datetime | None) -> float:
    return at.timestamp() if at is not None else 0.0  # the queries filter out missing times


def window_hours() -> float:
    return float(settings.RUNYARD.get("SCHEDULER_USAGE_WINDOW_HOURS", 168.0))


def load(target: ComputeTarget, now: datetime | None = None) -> TargetState:
    now = now or timezone.now()
    gpus = gpus_per_node(target.kind, target.config)
    window = timedelta(hours=window_hours())
    queue = [
        policy.Waiting(pk, team_id, priority, _ts(queued_at), demand_of(distributed, gpus))
        for pk, team_id, priority, queued_at, distributed in Run.objects.filter(
            compute_target=target, status=Status.QUEUED, worker="", queued_at__isnull=False
        )
        .order_by()
        .values_list("id", "team_id", "priority", "queued_at", "distributed")
    ]
    running: dict[int, policy.Demand] = {}
    intervals: dict[int, list[tuple[float, float, float]]] = {}
    used = policy.NOTHING
    held = (
        Run.objects.filter(compute_target=target, preparing_at__isnull=False)
        .filter(Q(status__in=ACTIVE) | Q(ended_at__gte=now - window))
        .order_by()
        .values_list("team_id", "status", "distributed", "preparing_at", "ended_at")
    )
    end = now.timestamp()
    for team_id, status, distributed, started, ended in held:
        demand = demand_of(distributed, gpus)
        if status in ACTIVE:
            running[team_id] = running.get(team_id, policy.NOTHING) + demand
            used = used + demand
        stop = ended.timestamp() if ended is not None else end
        # A GPU-hour weighs as a run-hour each: runs without GPUs count their run-hours.
        intervals.setdefault(team_id, []).append((_ts(started), stop, float(max(1, demand.gpus))))
    found = quotas(target.pk)
    team_ids = {r.team_id for r in queue} | set(running) | set(found)
    names = dict(Team.objects.filter(pk__in=team_ids).values_list("id", "name"))
    teams = [
        policy.TeamLoad(
            tid,
            names.get(tid, f"#{tid}"),
            running.get(tid, policy.NOTHING),
            policy.decayed_hours(intervals.get(tid, []), end, window.total_seconds()),
            to_quota(found.get(tid)),
        )
        for tid in team_ids
    ]
    pool = TargetPool.objects.filter(compute_target=target).first()
    capacity = policy.Capacity(target.max_concurrent_runs, pool.nodes if pool else None, pool.gpus if pool else None)
    return TargetState(target.pk, capacity, used, teams, queue)
