"""Which waiting runs start now, decided from the heads of the teams' queues only.

``policy.plan`` merges per-team queues; which runs it starts depends only on the merge
up to the first run that does not fit (nothing starts behind it). So the claim path does
not need the whole queue: it asks ``fetch`` for the first ``k`` runs of each team (in
the team's own order: priority desc, submit time, id), plans on those, and checks that
the truncation could not have changed a start. The check replays the plan (with
``policy``'s own limit and capacity tests) to find the *stop* — the first verdict that
neither starts nor is held by its team's limit — and then, for each team whose list was
cut (it got ``k`` runs, so more may wait):

- its last fetched run came at or after the stop: the merge up to the stop saw exactly
  what the full queue would have shown; or
- the team had reached its run limit by then: every further run of it is held by that
  limit, and a held run changes no other run's start (only positions);

otherwise that team's ``k`` grows (×4) and the plan is made again. A team at its run
limit before planning is not fetched at all, for the same reason. The first ``k`` of a
team is the runs it may still start (the free runs of the target, or fewer under its
limit) plus one. The result equals ``policy.plan``'s starts on the whole queue
(``tests/scheduling/test_heads.py`` compares them on random queues); positions and
reasons for every waiting run still come from a full plan (``scheduling.service``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence

from scheduling import policy

# {team id: how many} -> {team id: its first runs, in the team's order, at most that many}
Fetch = Callable[[Mapping[int, int]], Mapping[int, Sequence[policy.Waiting]]]

GROWTH = 4


def first_k(loads: Mapping[int, policy.TeamLoad], free: int, team_id: int) -> int:
    """How many of ``team_id``'s runs to read first: those it may still start, plus one."""
    team = loads.get(team_id)
    limit = team.quota.max_runs if team is not None else None
    running = team.running.runs if team is not None else 0
    room = free if limit is None else min(free, limit - running)
    return room + 1 if room > 0 else 0


def _cut_unsafely(
    loads: Mapping[int, policy.TeamLoad],
    verdicts: Sequence[policy.Verdict],
    heads: Mapping[int, Sequence[policy.Waiting]],
    want: Mapping[int, int],
) -> list[int]:
    """The teams whose cut list may have changed a start (see the module docstring)."""
    cut = {tid for tid, runs in heads.items() if len(runs) >= want[tid] and runs}
    if not cut:
        return []
    runs = {w.id: w for ws in heads.values() for w in ws}
    last = {tid: heads[tid][-1].id for tid in cut}
    held = {tid: t.running for tid, t in loads.items()}
    stop: int | None = None
    exhausted_at: dict[int, int] = {}
    at_limit: set[int] = set()
    for index, verdict in enumerate(verdicts):
        run = runs[verdict.run_id]
        tid = run.team_id
        team = loads.get(tid) or policy.TeamLoad(tid, f"#{tid}")
        if verdict.start:
            held[tid] = held.get(tid, policy.NOTHING) + run.demand
        elif stop is None and not policy.limit_problem(team, held.get(tid, policy.NOTHING), run.demand):
            stop = index
        if tid in cut and last[tid] == run.id:
            exhausted_at[tid] = index
            limit = team.quota.max_runs
            if limit is not None and held.get(tid, policy.NOTHING).runs >= limit:
                at_limit.add(tid)
    unsafe = []
    for tid in cut:
        if tid in at_limit:
            continue
        if stop is None or exhausted_at[tid] < stop:
            unsafe.append(tid)
    return sorted(unsafe)


def startable(
    capacity: policy.Capacity,
    used: policy.Demand,
    teams: Iterable[policy.TeamLoad],
    waiting_teams: Iterable[int],
    fetch: Fetch,
) -> frozenset[int]:
    """The runs ``policy.plan`` would start now on the whole queue, reading only heads."""
    team_list = list(teams)
    loads = {t.team_id: t for t in team_list}
    free = capacity.runs - used.runs
    if free <= 0:
        return frozenset()
    want = {tid: k for tid in waiting_teams if (k := first_k(loads, free, tid)) > 0}
    if not want:
        return frozenset()
    heads: dict[int, Sequence[policy.Waiting]] = dict(fetch(want))
    while True:
        queue = [w for ws in heads.values() for w in ws]
        verdicts = policy.plan(capacity, used, team_list, queue)
        unsafe = _cut_unsafely(loads, verdicts, heads, want)
        if not unsafe:
            return frozenset(v.run_id for v in verdicts if v.start)
        more = {tid: want[tid] * GROWTH for tid in unsafe}
        want.update(more)
        heads.update(fetch(more))
