"""Reading one target's scheduling state from the database into ``policy``'s types.

Two readings: ``load`` — every waiting run, for the board and every run's position and
reason — and ``startable`` — the claim path's, which reads only the heads of the teams'
queues (``scheduling.heads``) so a claim costs the same with 10 or 10,000 runs waiting.
Both read the active runs, the quotas and the decayed usage of the runs ended inside the
usage window, which ``ended`` mirrors per process instead of re-reading it.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import Any

from django.conf import settings
from django.db import connection
from django.db.models import Count, Max, Sum
from django.utils import timezone

from accounts.models import Team
from compute.models import ComputeTarget
from runs.distributed import Shape
from runs.models import Run
from runs.status import ACTIVE, Status
from scheduling import heads as head_plan
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
    if at is None:
        return 0.0  # the queries filter out missing times
    if at.tzinfo is None:
        at = at.replace(tzinfo=UTC)  # a raw cursor on SQLite: stored in UTC, read naive
    return at.timestamp()


def window_hours() -> float:
    return float(settings.RUNYARD.get("SCHEDULER_USAGE_WINDOW_HOURS", 168.0))


def _waiting_rows() -> Any:
    # The claim path's raw reads (``heads``, ``WAITING_TEAMS``) repeat these conditions.
    return Run.objects.filter(status=Status.QUEUED, worker="", queued_at__isnull=False).order_by()


WAITING_COLUMNS = ("id", "team_id", "priority", "queued_at", "distributed")


def _waiting(rows: Iterable[tuple[Any, ...]], gpus: int) -> list[policy.Waiting]:
    return [
        policy.Waiting(pk, team_id, priority, _ts(queued_at), demand_of(distributed, gpus))
        for pk, team_id, priority, queued_at, distributed in rows
    ]


@dataclass(frozen=True)
class Active:
    """What a target's active runs hold: in total, per team, and their usage intervals."""

    used: policy.Demand
    running: dict[int, policy.Demand]
    intervals: dict[int, tuple[int, float, float, float]]  # run id -> (team, start, end, weight)


def active(target: ComputeTarget, gpus: int, end: float) -> Active:
    rows = (
        Run.objects.filter(compute_target=target, status__in=ACTIVE)
        .order_by()
        .values_list("id", "team_id", "distributed", "preparing_at")
    )
    return _active_of(((pk, tid, dist, _ts(at) if at else None) for pk, tid, dist, at in rows), gpus, end)


def _active_of(rows: Iterable[tuple[int, int, Any, float | None]], gpus: int, end: float) -> Active:
    """``Active`` from (id, team, distributed, start in POSIX seconds or None) rows."""
    used = policy.NOTHING
    running: dict[int, policy.Demand] = {}
    intervals: dict[int, tuple[int, float, float, float]] = {}
    for pk, team_id, distributed, started in rows:
        demand = demand_of(distributed, gpus)
        running[team_id] = running.get(team_id, policy.NOTHING) + demand
        used = used + demand
        if started is not None:
            # A GPU-hour weighs as a run-hour each: runs without GPUs count their run-hours.
            intervals[pk] = (team_id, started, end, float(max(1, demand.gpus)))
    return Active(used, running, intervals)


# target id -> {run id: (team, start, end, weight)} of its runs ended inside the usage
# window, mirrored per process (see ``ended``).
_ended: dict[int, dict[int, tuple[int, float, float, float]]] = {}
# How far before the newest mirrored end a refresh reads again: a run whose end was stamped
# before another's but committed after it is still seen.
REREAD_SECONDS = 120.0


Interval = tuple[int, float, float, float]  # (team, start, end, weight), POSIX seconds


def ended(target: ComputeTarget, gpus: int, now: datetime) -> tuple[dict[int, Interval], tuple[int, float, int]]:
    """The usage intervals of ``target``'s runs that ended inside the window (weight 0 for
    runs that never started), without re-reading them all each time.

    Ended runs do not change, so the process keeps a mirror and checks it against one
    aggregate over the (compute_target, ended_at, id) index — the count, the newest end
    and the sum of ids of the runs ended since the window's start. On a mismatch it reads
    the runs that ended since shortly before the newest mirrored end; only if that still
    does not match (a deleted run, another database) it reads the window again. Returns
    the intervals by run id and the aggregate they match (which names this mirror's state)."""
    cutoff = now - timedelta(hours=window_hours())
    since = Run.objects.filter(compute_target=target, ended_at__gte=cutoff).order_by()
    want = since.aggregate(n=Count("id"), top=Max("ended_at"), ids=Sum("id"))
    expected = (int(want["n"] or 0), _ts(want["top"]), int(want["ids"] or 0))
    mirror = {pk: iv for pk, iv in _ended.get(target.pk, {}).items() if iv[2] >= cutoff.timestamp()}

    def matches() -> bool:
        top = max((iv[2] for iv in mirror.values()), default=0.0)
        return (len(mirror), top, sum(mirror)) == expected

    def read(rows: Any) -> None:
        for pk, team_id, distributed, started, stop in rows.values_list(
            "id", "team_id", "distributed", "preparing_at", "ended_at"
        ):
            weight = float(max(1, demand_of(distributed, gpus).gpus)) if started is not None else 0.0
            mirror[pk] = (team_id, _ts(started) if started is not None else stop.timestamp(), stop.timestamp(), weight)

    if not matches():
        newest = max((iv[2] for iv in mirror.values()), default=None)
        if newest is not None:
            read(since.filter(ended_at__gte=datetime.fromtimestamp(newest - REREAD_SECONDS, tz=UTC)))
        if not matches():
            mirror = {}
            read(since)
    _ended[target.pk] = mirror
    return mirror, expected


# target id -> (the mirror's aggregate, time bucket, {team: decayed hours of its ended runs})
_ended_usage: dict[int, tuple[tuple[int, float, int], int, dict[int, float]]] = {}
# Ended runs' decayed usage is summed once per this many seconds (and per change of the
# mirror): over a window of days it moves by a few millionths in that time, and every
# reader inside one bucket gets the same figures (the claim and the full plan agree).
USAGE_STEP = 10.0


def _ended_hours(
    target_id: int, done: dict[int, Interval], token: tuple[int, float, int], now: float
) -> dict[int, float]:
    bucket = int(now // USAGE_STEP)
    cached = _ended_usage.get(target_id)
    if cached is not None and cached[0] == token and cached[1] == bucket:
        return cached[2]
    per_team: dict[int, list[tuple[float, float, float]]] = {}
    for team_id, start, stop, weight in done.values():
        per_team.setdefault(team_id, []).append((start, stop, weight))
    window = window_hours() * 3600.0
    hours = {tid: policy.decayed_hours(ivs, bucket * USAGE_STEP, window) for tid, ivs in per_team.items()}
    _ended_usage[target_id] = (token, bucket, hours)
    return hours


def team_loads(
    target: ComputeTarget,
    act: Active,
    gpus: int,
    now: datetime,
    team_ids: Iterable[int],
    *,
    for_claim: bool = False,
    found: Mapping[int, policy.Quota] | None = None,
) -> list[policy.TeamLoad]:
    """Each team's load on ``target``: what it runs, its decayed usage and its quota.

    ``for_claim``: without the teams' names (only reasons quote them) and, when a single
    team waits, without usage (it only orders the teams whose runs wait). ``found``: the
    target's quotas when the caller read them."""
    waiting = set(team_ids)
    usage = {} if for_claim and len(waiting) <= 1 else _usage(target, act, gpus, now)
    if found is None:
        found = {tid: to_quota(q) for tid, q in quotas(target.pk).items()}
    ids = waiting | set(act.running) | set(found)
    names = {} if for_claim else dict(Team.objects.filter(pk__in=ids).values_list("id", "name"))
    return [
        policy.TeamLoad(
            tid,
            names.get(tid, f"#{tid}"),
            act.running.get(tid, policy.NOTHING),
            max(0.0, usage.get(tid, 0.0)),
            found.get(tid) or policy.Quota(),
        )
        for tid in ids
    ]


def _usage(target: ComputeTarget, act: Active, gpus: int, now: datetime) -> dict[int, float]:
    """Each team's decayed hours on ``target``: its ended runs' and its active ones'."""
    end = now.timestamp()
    window = window_hours() * 3600.0
    done, token = ended(target, gpus, now)
    usage = dict(_ended_hours(target.pk, done, token, end))
    bucket_end = (end // USAGE_STEP) * USAGE_STEP
    for pk, (team_id, start, stop, weight) in act.intervals.items():
        if pk in done:  # ended once and active again (a resumed attempt): its active interval counts
            t, s0, s1, w = done[pk]
            usage[t] = usage.get(t, 0.0) - policy.decayed_hours([(s0, s1, w)], bucket_end, window)
        usage[team_id] = usage.get(team_id, 0.0) + policy.decayed_hours([(start, stop, weight)], end, window)
    return usage


def capacity_of(target: ComputeTarget) -> policy.Capacity:
    pool = TargetPool.objects.filter(compute_target=target).first()
    return policy.Capacity(target.max_concurrent_runs, pool.nodes if pool else None, pool.gpus if pool else None)


def load(target: ComputeTarget, now: datetime | None = None) -> TargetState:
    """The whole state, every waiting run included (the board, positions and reasons)."""
    now = now or timezone.now()
    gpus = gpus_per_node(target.kind, target.config)
    queue = _waiting(_waiting_rows().filter(compute_target=target).values_list(*WAITING_COLUMNS), gpus)
    act = active(target, gpus, now.timestamp())
    teams = team_loads(target, act, gpus, now, {r.team_id for r in queue})
    return TargetState(target.pk, capacity_of(target), act.used, teams, queue)


# The teams with runs waiting on a target (``t``): a loose index scan (one index probe per
# team on run_waiting_heads) instead of reading the queue for its distinct teams. Takes the
# target's id and Status.QUEUED twice.
_WAITING = "compute_target_id = %s AND status = %s AND worker = '' AND queued_at IS NOT NULL"
WAITING_TEAMS = (
    f"WITH RECURSIVE t(team) AS (SELECT MIN(team_id) FROM {Run._meta.db_table} WHERE {_WAITING} "
    f"UNION ALL SELECT (SELECT MIN(team_id) FROM {Run._meta.db_table} WHERE {_WAITING} AND team_id > t.team) "
    "FROM t WHERE t.team IS NOT NULL)"
)


@dataclass(frozen=True)
class ClaimView:
    """What the claim decides from besides the queue's heads, read in one statement."""

    capacity: policy.Capacity
    active: list[tuple[int, int, Any, float | None]]  # (id, team, distributed, start) of active runs
    waiting_teams: list[int]
    quotas: dict[int, policy.Quota]


# A timestamp column as POSIX seconds, per database (the union below has no column types
# of its own to convert through).
_EPOCH = {
    "postgresql": "CAST(EXTRACT(EPOCH FROM {}) AS DOUBLE PRECISION)",
    "sqlite": "((julianday({}) - 2440587.5) * 86400.0)",
}


_NONE_INT = "CAST(NULL AS INTEGER)"


def claim_view(target: ComputeTarget) -> ClaimView:
    """The target's pool, active runs, waiting teams and quotas in one statement (four reads'
    round trips and query compilations fewer on the claim path): a union of tagged rows whose
    columns hold integers, the JSON of a run's shape and a start time."""
    epoch = _EPOCH[connection.vendor].format("preparing_at")
    marks = ", ".join(["%s"] * len(ACTIVE))
    sql = (
        f"{WAITING_TEAMS} "
        # The first branch names the columns' types (PostgreSQL types an untyped NULL as text).
        f"SELECT 'p', nodes, gpus, {_NONE_INT}, {_NONE_INT}, {_NONE_INT}, {_NONE_INT}, CAST(NULL AS TEXT), "
        f"CAST(NULL AS DOUBLE PRECISION) FROM {TargetPool._meta.db_table} "
        "WHERE compute_target_id = %s "
        f"UNION ALL SELECT 'a', id, team_id, NULL, NULL, NULL, NULL, CAST(distributed AS TEXT), {epoch} "
        f"FROM {Run._meta.db_table} WHERE compute_target_id = %s AND status IN ({marks}) "
        "UNION ALL SELECT 't', team, NULL, NULL, NULL, NULL, NULL, NULL, NULL FROM t WHERE team IS NOT NULL "
        "UNION ALL SELECT 'q', team_id, share, max_runs, max_nodes, max_processes, max_gpus, NULL, NULL "
        f"FROM {TeamQuota._meta.db_table} WHERE compute_target_id = %s"
    )
    params: list[int | str] = [target.pk, Status.QUEUED, target.pk, Status.QUEUED, target.pk, target.pk]
    params += [*ACTIVE, target.pk]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        rows = cursor.fetchall()
    nodes = gpus = None
    running: list[tuple[int, int, Any, float | None]] = []
    teams: list[int] = []
    found: dict[int, policy.Quota] = {}
    for kind, a, b, c, d, e, f, distributed, started in rows:
        if kind == "p":
            nodes, gpus = a, b
        elif kind == "a":
            running.append((a, b, json.loads(distributed) if distributed else None, started))
        elif kind == "t":
            teams.append(int(a))
        else:
            found[a] = policy.Quota(b, c, d, e, f)
    return ClaimView(policy.Capacity(target.max_concurrent_runs, nodes, gpus), running, sorted(teams), found)


def heads(target: ComputeTarget, gpus: int, want: Mapping[int, int]) -> dict[int, list[policy.Waiting]]:
    """The first ``want[team]`` waiting runs of each team, in the team's order (priority
    desc, submit time, id), in one statement read from the run_waiting_heads index."""
    asked = [(tid, k) for tid, k in want.items() if k > 0]
    found: dict[int, list[policy.Waiting]] = {tid: [] for tid in want}
    if not asked:
        return found
    # Written out, not built by the ORM: compiling 20 querysets cost more than running them,
    # and Django refuses LIMIT inside a UNION on SQLite (both take it in a subquery).
    one = (
        f"SELECT * FROM (SELECT id, team_id, priority, queued_at, distributed FROM {Run._meta.db_table} "
        "WHERE compute_target_id = %s AND status = %s AND worker = '' AND team_id = %s AND queued_at IS NOT NULL "
        "ORDER BY priority DESC, queued_at, id LIMIT %s) AS h{i}"
    )
    sql = " UNION ALL ".join(one.format(i=i) for i in range(len(asked)))
    params = [p for tid, k in asked for p in (target.pk, Status.QUEUED.value, tid, k)]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        # A raw cursor gives JSON as text (SQLite; Django's psycopg loader) or decoded.
        rows = [(*row[:4], json.loads(row[4]) if isinstance(row[4], str) else row[4]) for row in cursor.fetchall()]
    for run in _waiting(rows, gpus):
        found[run.team_id].append(run)
    for runs in found.values():
        runs.sort(key=lambda r: (-r.priority, r.queued_at, r.id))  # a union keeps no order
    return found


def startable(target: ComputeTarget, now: datetime | None = None) -> frozenset[int]:
    """The waiting runs the scheduler starts now, read from the queue's heads only
    (``scheduling.heads``): a few runs per team however long the queue is."""
    now = now or timezone.now()
    gpus = gpus_per_node(target.kind, target.config)
    view = claim_view(target)
    act = _active_of(view.active, gpus, now.timestamp())
    if act.used.runs >= view.capacity.runs or not view.waiting_teams:
        return frozenset()
    teams = team_loads(target, act, gpus, now, view.waiting_teams, for_claim=True, found=view.quotas)
    return head_plan.startable(
        view.capacity, act.used, teams, view.waiting_teams, lambda want: heads(target, gpus, want)
    )
