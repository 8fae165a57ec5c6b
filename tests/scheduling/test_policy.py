"""The scheduling decision as pure logic: priority, fair share, limits, capacity, reasons."""

from __future__ import annotations

import pytest

from scheduling.policy import Capacity, Demand, Quota, TeamLoad, Waiting, decayed_hours, plan

LOW, NORMAL, HIGH, URGENT = 0, 1, 2, 3


def waiting(run_id: int, team: int, priority: int = NORMAL, at: float | None = None, **demand: int) -> Waiting:
    return Waiting(run_id, team, priority, float(run_id if at is None else at), Demand(**demand))


def started(verdicts: list) -> list[int]:
    return [v.run_id for v in verdicts if v.start]


def order(verdicts: list) -> list[int]:
    return [v.run_id for v in verdicts]


def test_priority_first_then_submit_time() -> None:
    queue = [waiting(1, 1), waiting(2, 1, HIGH), waiting(3, 1, LOW), waiting(4, 1, URGENT), waiting(5, 1, HIGH)]
    verdicts = plan(Capacity(runs=2), Demand(0, 0, 0, 0), [], queue)
    assert order(verdicts) == [4, 2, 5, 1, 3]
    assert started(verdicts) == [4, 2]
    assert [v.position for v in verdicts] == [1, 2, 3, 4, 5]
    assert verdicts[1].reason == ""
    assert verdicts[2].reason == "2 runs ahead, 1 of higher priority; the target is full (2/2 runs)"
    assert verdicts[3].reason == "3 runs of higher priority ahead; the target is full (2/2 runs)"
    assert verdicts[4].reason.startswith("4 runs of higher priority ahead")


def test_teams_interleave_without_history() -> None:
    # Team 1 submitted first, many runs; team 2 later: fair share alternates them.
    queue = [waiting(i, 1) for i in range(1, 5)] + [waiting(i, 2) for i in range(5, 9)]
    verdicts = plan(Capacity(runs=4), Demand(0, 0, 0, 0), [], queue)
    assert order(verdicts)[:4] == [1, 5, 2, 6]
    assert started(verdicts) == [1, 5, 2, 6]


def test_decayed_usage_puts_the_heavy_user_last() -> None:
    teams = [TeamLoad(1, "vision", usage_hours=50.0), TeamLoad(2, "nlp", usage_hours=2.0)]
    queue = [waiting(1, 1), waiting(2, 2, at=100)]
    assert order(plan(Capacity(runs=1), Demand(0, 0, 0, 0), teams, queue)) == [2, 1]


def test_guaranteed_share_goes_first_and_idle_capacity_is_borrowed() -> None:
    # nlp already runs 3 (beyond its share of 1); vision has a share of 2 and runs 0.
    teams = [
        TeamLoad(1, "vision", quota=Quota(share=2)),
        TeamLoad(2, "nlp", running=Demand(3, 3, 3, 0), quota=Quota(share=1)),
    ]
    queue = [waiting(1, 2, at=0), waiting(2, 2, at=1), waiting(3, 1, at=5), waiting(4, 1, at=6), waiting(5, 1, at=7)]
    verdicts = plan(Capacity(runs=6), Demand(3, 3, 3, 0), teams, queue)
    # vision's two guaranteed slots first, then borrowing by load: vision (3rd) before nlp.
    assert order(verdicts)[:2] == [3, 4]
    assert started(verdicts) == order(verdicts)[:3]
    # Nothing under share waits: nlp borrows what is idle.
    alone = plan(Capacity(runs=6), Demand(3, 3, 3, 0), teams, [waiting(1, 2), waiting(2, 2)])
    assert started(alone) == [1, 2]


def test_team_limit_blocks_only_that_team() -> None:
    teams = [TeamLoad(1, "vision", running=Demand(4, 4, 4, 0), quota=Quota(max_runs=4))]
    queue = [waiting(1, 1), waiting(2, 1), waiting(3, 2)]
    verdicts = plan(Capacity(runs=10), Demand(4, 4, 4, 0), teams, queue)
    assert started(verdicts) == [3]
    reasons = {v.run_id: v.reason for v in verdicts}
    assert reasons[1] == reasons[2] == "team vision at its limit 4/4"


def test_gpu_limit() -> None:
    teams = [TeamLoad(1, "vision", running=Demand(2, 2, 2, 4), quota=Quota(max_gpus=4))]
    verdicts = plan(Capacity(runs=10), Demand(2, 2, 2, 4), teams, [waiting(1, 1, gpus=1)])
    assert verdicts[0].reason == "team vision at its GPU limit 4/4"


def test_nodes_waiting_and_no_backfill() -> None:
    # 3 of 4 nodes used: a 2-node run waits, and the 1-node run behind it does not jump it.
    verdicts = plan(Capacity(runs=10, nodes=4), Demand(1, 3, 3, 0), [], [waiting(1, 1, nodes=2), waiting(2, 1)])
    assert started(verdicts) == []
    assert verdicts[0].reason == "waiting for 2 nodes; 1 free"
    assert verdicts[1].reason == "1 run ahead; waiting for 2 nodes; 1 free"


def test_limited_run_does_not_stop_the_queue() -> None:
    teams = [TeamLoad(1, "vision", running=Demand(1, 1, 1, 0), quota=Quota(max_runs=1))]
    verdicts = plan(Capacity(runs=3), Demand(1, 1, 1, 0), teams, [waiting(1, 1, URGENT), waiting(2, 2)])
    assert started(verdicts) == [2]


def test_capacity_is_never_exceeded() -> None:
    queue = [waiting(i, i % 20, i % 4) for i in range(1, 2001)]
    verdicts = plan(Capacity(runs=7), Demand(2, 2, 2, 0), [], queue)
    assert len(started(verdicts)) == 5
    assert sorted(order(verdicts)) == list(range(1, 2001))


@pytest.mark.parametrize(
    ("interval", "expected"),
    [
        ((0.0, 3600.0, 1.0), 1.0 - 0.5 / 10),  # the last hour of a 10 h window: ages 0..1 h
        ((-36000.0, -32400.0, 1.0), 0.0),  # older than the window
        ((0.0, 3600.0, 2.0), 2 * (1.0 - 0.5 / 10)),  # two GPUs
    ],
)
def test_decayed_hours(interval: tuple[float, float, float], expected: float) -> None:
    assert decayed_hours([interval], now=3600.0, window=36000.0) == pytest.approx(expected)
