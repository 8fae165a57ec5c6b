"""The scheduling decision for one compute target, as pure logic (no database, no clock).

Input: the target's capacity and what its active runs use, each team's load on it
(running demand, decayed usage, quota) and the waiting runs. Output: one ``Verdict`` per
waiting run, in the order the scheduler would start them: whether it may start now,
its position, and why it waits.

Algorithm (a merge of per-team queues):
1. each team's waiting runs are sorted by (priority desc, submit time, id);
2. repeatedly the best team head is taken, by
   (priority desc, under its guaranteed share first, fair-share load, submit time, id)
   where fair-share load = (decayed usage in hours + one hour per run it has running or
   was just given) / max(share, 1) — so teams interleave even without history, and a
   team that used more recently, relative to its share, comes later;
3. a run whose team would exceed its limit (runs, nodes, processes, GPUs) is skipped
   with that reason, and the others go on (a team's limit never blocks another team);
4. otherwise it starts if the free capacity holds it. The first run that does not fit
   stops all starting (no backfill: a large run is not starved by small ones behind it);
   the rest only get positions and reasons.
Idle capacity is borrowed: a team past its share still starts when nothing under share
waits. Reclaim happens at the next free slot, where under-share teams go first.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

# A running (or just started) run weighs as much as this many decayed usage hours.
RUNNING_WEIGHT_HOURS = 1.0


@dataclass(frozen=True)
class Demand:
    """What a run holds while it runs (or what a set of runs holds together)."""

    runs: int = 1
    nodes: int = 1
    processes: int = 1
    gpus: int = 0

    def __add__(self, other: Demand) -> Demand:
        return Demand(
            self.runs + other.runs,
            self.nodes + other.nodes,
            self.processes + other.processes,
            self.gpus + other.gpus,
        )


NOTHING = Demand(0, 0, 0, 0)


@dataclass(frozen=True)
class Capacity:
    """A target's capacity; None where the target does not know the amount."""

    runs: int
    nodes: int | None = None
    gpus: int | None = None


@dataclass(frozen=True)
class Quota:
    """A team's guaranteed share and limits on one target (None: no limit)."""

    share: int = 0
    max_runs: int | None = None
    max_nodes: int | None = None
    max_processes: int | None = None
    max_gpus: int | None = None


@dataclass(frozen=True)
class TeamLoad:
    team_id: int
    name: str
    running: Demand = NOTHING
    usage_hours: float = 0.0
    quota: Quota = field(default_factory=Quota)


@dataclass(frozen=True)
class Waiting:
    id: int
    team_id: int
    priority: int
    queued_at: float  # a timestamp: only its order matters
    demand: Demand = Demand()


@dataclass(frozen=True)
class Verdict:
    run_id: int
    start: bool
    position: int  # 1: the next to start
    reason: str  # "" for a run that may start now


def limit_problem(team: TeamLoad, held: Demand, demand: Demand) -> str:
    """Why ``team`` (holding ``held``) may not start ``demand`` under its quota; "" if it may."""
    q = team.quota
    after = held + demand
    checks = (
        ("", q.max_runs, held.runs, after.runs),
        ("node ", q.max_nodes, held.nodes, after.nodes),
        ("process ", q.max_processes, held.processes, after.processes),
        ("GPU ", q.max_gpus, held.gpus, after.gpus),
    )
    for what, limit, now, wanted in checks:
        if limit is not None and wanted > limit:
            return f"team {team.name} at its {what}limit {now}/{limit}"
    return ""


def capacity_problem(capacity: Capacity, used: Demand, demand: Demand) -> str:
    """Why the target cannot hold ``demand`` on top of ``used``; "" if it can."""
    if used.runs + demand.runs > capacity.runs:
        return f"the target is full ({used.runs}/{capacity.runs} runs)"
    if capacity.nodes is not None and used.nodes + demand.nodes > capacity.nodes:
        return f"waiting for {demand.nodes} nodes; {max(0, capacity.nodes - used.nodes)} free"
    if capacity.gpus is not None and used.gpus + demand.gpus > capacity.gpus:
        return f"waiting for {demand.gpus} GPUs; {max(0, capacity.gpus - used.gpus)} free"
    return ""


def _runs(n: int) -> str:
    return f"{n} run{'s' if n != 1 else ''}"


def _ahead(higher: int, earlier: int) -> str:
    if higher and higher == earlier:
        return f"{_runs(higher)} of higher priority ahead"
    if higher:
        return f"{_runs(earlier)} ahead, {higher} of higher priority"
    return f"{_runs(earlier)} ahead" if earlier else ""


def plan(capacity: Capacity, used: Demand, teams: Iterable[TeamLoad], queue: Sequence[Waiting]) -> list[Verdict]:
    """The verdict for every waiting run, in scheduling order (see the module docstring)."""
    loads = {t.team_id: t for t in teams}
    per_team: dict[int, list[Waiting]] = {}
    for run in sorted(queue, key=lambda r: (-r.priority, r.queued_at, r.id)):
        per_team.setdefault(run.team_id, []).append(run)
    for runs in per_team.values():
        runs.reverse()  # the head last: popped in O(1)
    for team_id in per_team:
        loads.setdefault(team_id, TeamLoad(team_id, f"#{team_id}"))
    held = {tid: t.running for tid, t in loads.items()}  # real holdings plus runs started here
    given = dict.fromkeys(loads, 0)  # runs placed by this plan (started or queued ahead), for ordering

    def key(team_id: int) -> tuple[int, int, float, float, int]:
        t, head = loads[team_id], per_team[team_id][-1]
        share = t.quota.share
        placed = t.running.runs + given[team_id]
        load = (t.usage_hours + RUNNING_WEIGHT_HOURS * placed) / max(share, 1)
        return (-head.priority, 0 if placed < share else 1, load, head.queued_at, head.id)

    heap = [(key(tid), tid) for tid in per_team]
    heapq.heapify(heap)
    verdicts: list[Verdict] = []
    used_now = used
    stopped = ""  # set once a run does not fit: nothing behind it starts
    by_priority: dict[int, int] = {}  # priority -> runs placed ahead so far (not held by a team limit)
    while heap:
        _, tid = heapq.heappop(heap)
        run = per_team[tid].pop()
        team = loads[tid]
        position = len(verdicts) + 1
        ahead = sum(by_priority.values())
        higher = sum(n for p, n in by_priority.items() if p > run.priority)
        limited = limit_problem(team, held[tid], run.demand)
        full = "" if stopped else capacity_problem(capacity, used_now, run.demand)
        if limited:
            verdicts.append(Verdict(run.id, False, position, limited))
        elif not stopped and not full:
            verdicts.append(Verdict(run.id, True, position, ""))
            used_now = used_now + run.demand
            held[tid] = held[tid] + run.demand
        else:
            stopped = stopped or full
            # Its own shortfall when it has one ("waiting for 2 nodes; 1 free"), else the
            # one that stopped the queue ahead of it.
            why = capacity_problem(capacity, used_now, run.demand) or stopped
            before = _ahead(higher, ahead)
            verdicts.append(Verdict(run.id, False, position, f"{before}; {why}" if before else why))
        given[tid] += 1
        if not limited:
            by_priority[run.priority] = by_priority.get(run.priority, 0) + 1
        if per_team[tid]:
            heapq.heappush(heap, (key(tid), tid))
    return verdicts


def may_start(verdicts: Iterable[Verdict], run_id: int) -> bool:
    return any(v.run_id == run_id and v.start for v in verdicts)


def decayed_hours(intervals: Iterable[tuple[float, float, float]], now: float, window: float) -> float:
    """Usage in weighted hours from ``(start, end, weight)`` intervals (POSIX seconds), each
    moment counting ``1 - age/window`` (linearly forgotten over the window; 0 beyond it)."""
    if window <= 0:
        return 0.0
    total = 0.0
    for start, end, weight in intervals:
        young, old = max(0.0, now - end), min(window, now - start)  # ages of the interval's ends
        if old <= young:
            continue
        total += weight * ((old - young) - (old * old - young * young) / (2 * window))
    return total / 3600.0
