"""A target's queue board: capacity per team now (running, borrowed, queued) and over time.

Targets are shared, so every signed-in user sees each team's counts; the runs listed
by id and reason are only those of the caller's teams (``visible_team_ids``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.db.models import Q
from django.utils import timezone

from compute.models import ComputeTarget
from runs.models import Run
from scheduling import explain, state
from scheduling.models import TeamQuota
from scheduling.priority import label


@dataclass(frozen=True)
class TeamCapacity:
    team: str
    share: int
    max_runs: int | None
    running: int
    borrowed: int  # running beyond the guaranteed share
    queued: int
    gpus: int
    usage_hours: float


@dataclass(frozen=True)
class QueuedRun:
    id: int
    team: str
    priority: str
    position: int
    starts_now: bool
    waiting_reason: str


@dataclass(frozen=True)
class Board:
    target: str
    capacity_runs: int
    capacity_nodes: int | None
    capacity_gpus: int | None
    used_runs: int
    used_nodes: int
    used_gpus: int
    served: bool | None  # whether a live worker consumes the target's queue (None: unknown)
    teams: list[TeamCapacity] = field(default_factory=list)
    runs: list[QueuedRun] = field(default_factory=list)


def board(target: ComputeTarget, visible_team_ids: set[int] | None) -> Board:
    """``visible_team_ids`` None: an admin, who sees every team's runs."""
    st = state.load(target)
    verdicts = st.plan()
    queued: dict[int, int] = {}
    team_of = {w.id: w.team_id for w in st.queue}
    for w in st.queue:
        queued[w.team_id] = queued.get(w.team_id, 0) + 1
    names = {t.team_id: t.name for t in st.teams}
    try:
        served: bool | None = target.queue in explain.served_queues()
    except Exception:
        served = None
    teams = [
        TeamCapacity(
            t.name,
            t.quota.share,
            t.quota.max_runs,
            t.running.runs,
            max(0, t.running.runs - t.quota.share),
            queued.get(t.team_id, 0),
            t.running.gpus,
            round(t.usage_hours, 3),
        )
        for t in sorted(st.teams, key=lambda t: t.name)
    ]
    priorities = {w.id: w.priority for w in st.queue}
    runs = [
        QueuedRun(
            v.run_id,
            names.get(team_of[v.run_id], ""),
            label(priorities[v.run_id]),
            v.position,
            v.start,
            v.reason or "starting: capacity is free",
        )
        for v in verdicts
        if visible_team_ids is None or team_of[v.run_id] in visible_team_ids
    ][:500]
    return Board(
        target.name,
        st.capacity.runs,
        st.capacity.nodes,
        st.capacity.gpus,
        st.used.runs,
        st.used.nodes,
        st.used.gpus,
        served,
        teams,
        runs,
    )


@dataclass(frozen=True)
class TeamSeries:
    team: str
    running: list[int]
    queued: list[int]
    borrowed: list[int]  # running beyond the team's guaranteed share (today's share)


@dataclass(frozen=True)
class Timeline:
    at: list[datetime]
    series: list[TeamSeries]


def timeline(target: ComputeTarget, hours: float, points: int) -> Timeline:
    """Running, borrowed and queued runs per team at ``points`` evenly spaced moments of the
    last ``hours``. Borrowed is measured against each team's share as it is now (quotas keep
    no history)."""
    now = timezone.now()
    start = now - timedelta(hours=hours)
    step = (now - start) / max(1, points - 1)
    at = [start + step * i for i in range(points)]
    rows = (
        Run.objects.filter(compute_target=target)
        .filter(Q(queued_at__lte=now) | Q(preparing_at__lte=now))
        .exclude(ended_at__lt=start)
        .order_by()
        .values_list("team__name", "queued_at", "preparing_at", "ended_at")
    )
    running: dict[str, list[int]] = {}
    queued: dict[str, list[int]] = {}
    for team, queued_at, preparing_at, ended_at in rows:
        r = running.setdefault(team, [0] * points)
        q = queued.setdefault(team, [0] * points)
        end = ended_at or now + step
        for i, t in enumerate(at):
            if preparing_at is not None and preparing_at <= t < end:
                r[i] += 1
            elif queued_at is not None and queued_at <= t < (preparing_at or end):
                q[i] += 1
    shares = dict(TeamQuota.objects.filter(compute_target=target).values_list("team__name", "share"))
    return Timeline(
        at,
        [
            TeamSeries(team, running[team], queued[team], [max(0, n - shares.get(team, 0)) for n in running[team]])
            for team in sorted(running)
        ],
    )
