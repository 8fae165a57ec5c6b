"""Which running runs the scheduler preempts, as pure logic: victims chosen minimally and
deterministically, never for a run that would still not fit, never of equal or higher
priority for priority alone, never a resumed run inside its minimum run time."""

from __future__ import annotations

from collections.abc import Sequence

from scheduling.policy import Capacity, Demand, Quota, TeamLoad, Waiting, plan
from scheduling.preemption import PRIORITY, RECLAIM, Active, Decision, decide

LOW, NORMAL, HIGH, URGENT = 0, 1, 2, 3
NOW = 10_000.0


def running(
    run_id: int,
    team: int,
    priority: int = LOW,
    started: float = 1000.0,
    preemptible: bool = True,
    resumed: bool = False,
    stopping: bool = False,
    nodes: int = 1,
) -> Active:
    return Active(run_id, team, priority, started, Demand(1, nodes, nodes, 0), preemptible, resumed, stopping)


def decide_for(
    capacity: Capacity,
    active: Sequence[Active],
    queue: Sequence[Waiting],
    quotas: dict[int, Quota] | None = None,
    min_run: float = 300.0,
) -> Decision:
    """What the scheduler decides with ``active`` holding the target and ``queue`` waiting."""
    quotas = quotas or {}
    used = Demand(0, 0, 0, 0)
    held: dict[int, Demand] = {}
    for r in active:
        used = used + r.demand
        held[r.team_id] = held.get(r.team_id, Demand(0, 0, 0, 0)) + r.demand
    team_ids = set(held) | {w.team_id for w in queue} | set(quotas)
    teams = [
        TeamLoad(t, f"t{t}", held.get(t, Demand(0, 0, 0, 0)), 0.0, quotas.get(t, Quota())) for t in sorted(team_ids)
    ]
    verdicts = plan(capacity, used, teams, queue)
    return decide(capacity, used, teams, queue, verdicts, active, NOW, min_run)


def victims(d: Decision) -> list[int]:
    return [p.victim for p in d.victims]


def test_a_higher_priority_run_preempts_the_lowest_priority_youngest_run() -> None:
    active = [
        running(1, 1, LOW, started=100),
        running(2, 1, NORMAL, started=200),
        running(3, 1, LOW, started=300),  # youngest of the lowest priority
    ]
    d = decide_for(Capacity(runs=3), active, [Waiting(9, 2, URGENT, 1.0)])
    assert d.beneficiary == 9
    assert victims(d) == [3]
    assert d.victims[0].reason == PRIORITY
    assert "higher priority (urgent over low)" in d.victims[0].why
    assert d.note == "preempting run 3 to make room"


def test_equal_or_higher_priority_is_never_preempted_for_priority() -> None:
    active = [running(1, 1, HIGH), running(2, 1, URGENT)]
    d = decide_for(Capacity(runs=2), active, [Waiting(9, 2, HIGH, 1.0)])
    assert victims(d) == []
    assert d.note == ""


def test_a_non_preemptible_run_is_never_preempted_and_the_waiting_run_says_so() -> None:
    active = [running(1, 1, LOW, preemptible=False)]
    d = decide_for(Capacity(runs=1), active, [Waiting(9, 2, URGENT, 1.0)])
    assert victims(d) == []
    assert d.beneficiary == 9 and d.note == "run 1 is not preemptible"
    two = [running(1, 1, LOW, preemptible=False), running(2, 1, NORMAL, preemptible=False)]
    assert decide_for(Capacity(runs=2), two, [Waiting(9, 2, URGENT, 1.0)]).note == "runs 1, 2 are not preemptible"


def test_nothing_is_preempted_for_a_run_that_would_still_not_fit() -> None:
    # The waiting run needs 4 nodes; stopping both preemptible runs frees only 2 of the 4 held.
    active = [running(1, 1, LOW), running(2, 1, LOW), running(3, 1, URGENT, preemptible=False, nodes=2)]
    d = decide_for(Capacity(runs=4, nodes=4), active, [Waiting(9, 2, HIGH, 1.0, Demand(1, 4, 4, 0))])
    assert victims(d) == []
    assert d.note == "stopping every preemptible run would still not make room"


def test_victims_are_minimal() -> None:
    # Lowest priority first takes run 1 (1 node), then run 2 (2 nodes) makes room for 2 nodes;
    # run 1 alone is not needed once run 2 goes, so it is spared.
    active = [running(1, 1, LOW, nodes=1), running(2, 1, NORMAL, nodes=2)]
    d = decide_for(Capacity(runs=3, nodes=3), active, [Waiting(9, 2, HIGH, 1.0, Demand(1, 2, 2, 0))])
    assert victims(d) == [2]


def test_several_victims_when_one_is_not_enough() -> None:
    active = [running(1, 1, LOW, nodes=1), running(2, 1, LOW, nodes=1), running(3, 1, LOW, nodes=1)]
    d = decide_for(Capacity(runs=3, nodes=3), active, [Waiting(9, 2, HIGH, 1.0, Demand(1, 2, 2, 0))])
    assert victims(d) == [3, 2]  # youngest first (ids break the tie of equal start times)


def test_a_resumed_run_keeps_its_minimum_run_time() -> None:
    just_resumed = running(1, 1, LOW, started=NOW - 60, resumed=True)
    d = decide_for(Capacity(runs=1), [just_resumed], [Waiting(9, 2, URGENT, 1.0)], min_run=300)
    assert victims(d) == []
    settled = running(1, 1, LOW, started=NOW - 600, resumed=True)
    assert victims(decide_for(Capacity(runs=1), [settled], [Waiting(9, 2, URGENT, 1.0)], min_run=300)) == [1]
    # A first attempt has no minimum: only a resumed one could be thrown back and forth.
    fresh = running(1, 1, LOW, started=NOW - 1)
    assert victims(decide_for(Capacity(runs=1), [fresh], [Waiting(9, 2, URGENT, 1.0)], min_run=300)) == [1]


def test_runs_already_stopping_count_as_freed() -> None:
    # A second claim (or worker) deciding again adds no victim while the first one stops.
    active = [running(1, 1, LOW, stopping=True), running(2, 1, LOW)]
    d = decide_for(Capacity(runs=2), active, [Waiting(9, 2, URGENT, 1.0)])
    assert victims(d) == [] and d.stopping == (1,)
    assert d.note == "run 1 is being preempted to make room"


def test_reclaim_takes_borrowed_capacity_back() -> None:
    # Team 1 (share 1) borrows a second slot; team 2 (share 1) has nothing running.
    quotas = {1: Quota(share=1), 2: Quota(share=1)}
    active = [running(1, 1, NORMAL, started=100), running(2, 1, NORMAL, started=200)]
    d = decide_for(Capacity(runs=2), active, [Waiting(9, 2, NORMAL, 1.0)], quotas)
    assert victims(d) == [2]
    assert d.victims[0].reason == RECLAIM
    assert "under its guaranteed share" in d.victims[0].why


def test_reclaim_never_takes_a_team_below_its_share() -> None:
    quotas = {1: Quota(share=2), 2: Quota(share=1)}
    active = [running(1, 1, NORMAL), running(2, 1, NORMAL)]  # team 1 within its share
    d = decide_for(Capacity(runs=2), active, [Waiting(9, 2, NORMAL, 1.0)], quotas)
    assert victims(d) == []


def test_reclaim_needs_the_waiting_team_under_its_share_and_no_higher_priority_victim() -> None:
    quotas = {1: Quota(share=0), 2: Quota(share=1)}
    active = [running(1, 1, HIGH)]
    assert victims(decide_for(Capacity(runs=1), active, [Waiting(9, 2, NORMAL, 1.0)], quotas)) == []
    over = {1: Quota(share=0), 2: Quota(share=0)}  # team 2 has no guarantee: no reclaim for it
    assert victims(decide_for(Capacity(runs=1), [running(1, 1, NORMAL)], [Waiting(9, 2, NORMAL, 1.0)], over)) == []


def test_borrowing_teams_go_first_among_equal_priority() -> None:
    quotas = {1: Quota(share=2), 2: Quota(share=0), 3: Quota(share=0)}
    active = [running(1, 1, LOW, started=500), running(2, 2, LOW, started=100)]  # team 2 borrows
    d = decide_for(Capacity(runs=2), active, [Waiting(9, 3, HIGH, 1.0)], quotas)
    assert victims(d) == [2]  # older, but its team borrows


def test_no_preemption_while_the_plan_starts_runs_or_the_head_is_held_by_its_team_limit() -> None:
    # Free capacity: the plan starts the waiting run; nothing to preempt.
    d = decide_for(Capacity(runs=2), [running(1, 1, LOW)], [Waiting(9, 2, URGENT, 1.0)])
    assert d.beneficiary is None and victims(d) == []
    # Team 2 at its own limit: stopping another team's run would not let it start.
    quotas = {2: Quota(max_runs=0)}
    d = decide_for(Capacity(runs=1), [running(1, 1, LOW)], [Waiting(9, 2, URGENT, 1.0)], quotas)
    assert victims(d) == []


def test_the_decision_is_deterministic_whatever_the_input_order() -> None:
    active = [running(i, 1 + i % 2, LOW, started=float(100 + i % 3)) for i in range(1, 7)]
    queue = [Waiting(9, 3, URGENT, 1.0)]
    first = decide_for(Capacity(runs=6), active, queue)
    again = decide_for(Capacity(runs=6), list(reversed(active)), queue)
    assert victims(first) == victims(again) == [5]
