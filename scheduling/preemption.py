"""Which running runs to preempt so that a waiting run can start, as pure logic (no
database, no clock: ``now`` is given).

Input: the same state ``policy.plan`` reads (capacity, what is used, each team's load and
quota, the waiting runs), the plan's verdicts, and the target's active runs. Output: a
``Decision`` for the queue's head — the first waiting run the plan would start next but
which does not fit — naming the runs to stop for it.

Algorithm:
1. Only when the plan starts nothing (a run it starts takes free capacity first; the
   next plan decides again) and its head is held by capacity, not by its team's limit.
2. Runs already asked to stop count as freed: when they free enough, nothing more is
   preempted (a decision repeated by another claim or worker adds no victim).
3. A victim must be preemptible, past its minimum run time when it resumed after an
   earlier preemption (no preemption cycles), and either
   - of lower priority than the head ("priority"; never equal or higher for priority), or
   - of no higher priority, in another team borrowing beyond its guaranteed share, while
     the head's team is under its own share ("reclaim"); a reclaim never takes a team
     below its share.
4. Candidates in order: lowest priority first, borrowing teams first, youngest attempt
   first, then the highest id (deterministic). They are taken until the head fits; if it
   would still not fit with every candidate stopped, nothing is preempted. Then every
   victim whose stop is not needed after all is dropped again (newest taken first), so
   the set is minimal: no victim can be spared.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from scheduling.policy import NOTHING, Capacity, Demand, TeamLoad, Verdict, Waiting, capacity_problem, limit_problem

PRIORITY = "priority"
RECLAIM = "reclaim"


@dataclass(frozen=True)
class Active:
    """A run that holds capacity on the target now."""

    id: int
    team_id: int
    priority: int
    started_at: float  # this attempt's start (POSIX seconds)
    demand: Demand = field(default_factory=Demand)
    preemptible: bool = False
    resumed: bool = False  # this attempt resumed after a preemption
    stopping: bool = False  # already asked to stop for a preemption


@dataclass(frozen=True)
class Preemption:
    victim: int
    beneficiary: int
    reason: str  # PRIORITY or RECLAIM
    why: str  # one sentence for the audit trail and the victim's log


@dataclass(frozen=True)
class Decision:
    beneficiary: int | None = None
    victims: tuple[Preemption, ...] = ()  # to stop now
    stopping: tuple[int, ...] = ()  # already stopping for it
    note: str = ""  # for the beneficiary's waiting reason ("" : nothing to add)


NONE = Decision()


def minus(a: Demand, b: Demand) -> Demand:
    return Demand(a.runs - b.runs, a.nodes - b.nodes, a.processes - b.processes, a.gpus - b.gpus)


def total(runs: Iterable[Active]) -> Demand:
    out = NOTHING
    for r in runs:
        out = out + r.demand
    return out


def _label(priority: int) -> str:
    from scheduling.priority import Priority

    try:
        return Priority(priority).label
    except ValueError:
        return str(priority)


def _head(verdicts: Sequence[Verdict], queue: Sequence[Waiting], loads: dict[int, TeamLoad]) -> Waiting | None:
    by_id = {w.id: w for w in queue}
    for verdict in verdicts:
        run = by_id.get(verdict.run_id)
        if run is None:
            continue
        team = loads.get(run.team_id, TeamLoad(run.team_id, f"#{run.team_id}"))
        if limit_problem(team, team.running, run.demand):
            continue  # held by its own team's limit: stopping others would not help it
        return run
    return None


@dataclass
class _Room:
    """The head, the teams' loads and what each team still runs, while victims are taken."""

    head: Waiting
    loads: dict[int, TeamLoad]
    remaining: dict[int, int]  # a team's running runs minus those leaving

    def share(self, team_id: int) -> int:
        return self.loads[team_id].quota.share if team_id in self.loads else 0

    def runs_of(self, team_id: int) -> int:
        return self.loads[team_id].running.runs if team_id in self.loads else 0

    def reason_for(self, r: Active) -> str:
        head = self.head
        if r.priority < head.priority:
            return PRIORITY
        if (
            self.runs_of(head.team_id) < self.share(head.team_id)
            and r.team_id != head.team_id
            and r.priority <= head.priority
            and self.remaining.get(r.team_id, 0) - r.demand.runs >= self.share(r.team_id)
        ):
            return RECLAIM
        return ""

    def order(self, r: Active) -> tuple[int, int, float, int]:
        borrowing = self.runs_of(r.team_id) > self.share(r.team_id)
        return (r.priority, 0 if borrowing else 1, -r.started_at, -r.id)

    def why(self, r: Active, reason: str) -> str:
        head = self.head
        if reason == PRIORITY:
            return f"preempted for run {head.id} of higher priority ({_label(head.priority)} over {_label(r.priority)})"
        return (
            f"preempted for run {head.id}: its team is under its guaranteed share and this run's team "
            "borrows beyond its own"
        )


def _choose(room: _Room, capacity: Capacity, after: Demand, eligible: list[Active]) -> list[tuple[Active, str]] | None:
    """Victims in order until the head fits, then the unneeded ones spared; None: it never fits."""
    demand = room.head.demand

    def fits(victims: Iterable[tuple[Active, str]]) -> bool:
        return not capacity_problem(capacity, minus(after, total(c for c, _ in victims)), demand)

    chosen: list[tuple[Active, str]] = []
    for r in sorted(eligible, key=room.order):
        why = room.reason_for(r)  # a reclaim is re-checked against the victims taken before it
        if not why:
            continue
        chosen.append((r, why))
        room.remaining[r.team_id] = room.remaining.get(r.team_id, 0) - r.demand.runs
        if fits(chosen):
            break
    else:
        return None
    for pair in reversed(chosen[:-1]):
        rest = [c for c in chosen if c is not pair]
        if fits(rest):
            chosen = rest
    return chosen


def decide(
    capacity: Capacity,
    used: Demand,
    teams: Iterable[TeamLoad],
    queue: Sequence[Waiting],
    verdicts: Sequence[Verdict],
    active: Sequence[Active],
    now: float,
    min_run_seconds: float,
) -> Decision:
    """The preemptions for the queue's head (see the module docstring)."""
    if not verdicts or any(v.start for v in verdicts):
        return NONE
    loads = {t.team_id: t for t in teams}
    head = _head(verdicts, queue, loads)
    if head is None or not capacity_problem(capacity, used, head.demand):
        return NONE
    stopping = [r for r in active if r.stopping]
    after = minus(used, total(stopping))
    ids = tuple(sorted(r.id for r in stopping))
    if stopping and not capacity_problem(capacity, after, head.demand):
        return Decision(head.id, (), ids, f"run {', '.join(map(str, ids))} is being preempted to make room")
    room = _Room(head, loads, {tid: t.running.runs for tid, t in loads.items()})
    for r in stopping:
        room.remaining[r.team_id] = room.remaining.get(r.team_id, 0) - r.demand.runs
    others = [r for r in active if not r.stopping]

    def settled(r: Active) -> bool:  # past its minimum run time, or not resumed after a preemption
        return not (r.resumed and now - r.started_at < min_run_seconds)

    eligible = [r for r in others if r.preemptible and settled(r) and room.reason_for(r)]
    if not eligible:
        held = sorted(r.id for r in others if not r.preemptible and room.reason_for(r))
        many = len(held) > 1
        note = f"run{'s' if many else ''} {', '.join(map(str, held))} {'are' if many else 'is'} not preemptible"
        note = note if held else ""
        return Decision(head.id, (), ids, note)
    chosen = _choose(room, capacity, after, eligible)
    if chosen is None:
        return Decision(head.id, (), ids, "stopping every preemptible run would still not make room")
    victims = tuple(
        Preemption(r.id, head.id, why, room.why(r, why)) for r, why in sorted(chosen, key=lambda c: room.order(c[0]))
    )
    names = ", ".join(str(v.victim) for v in victims)
    return Decision(head.id, victims, ids, f"preempting run {names} to make room")
