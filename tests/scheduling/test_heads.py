"""The claim path's decision from the heads of the teams' queues equals the full plan's."""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence

import pytest

from scheduling import heads
from scheduling.policy import Capacity, Demand, Quota, TeamLoad, Waiting, plan


def team_order(runs: list[Waiting]) -> list[Waiting]:
    return sorted(runs, key=lambda r: (-r.priority, r.queued_at, r.id))


class Queue:
    """An in-memory queue answering ``heads.Fetch``, counting what it was asked to read."""

    def __init__(self, runs: list[Waiting]) -> None:
        self.by_team: dict[int, list[Waiting]] = {}
        for run in team_order(runs):
            self.by_team.setdefault(run.team_id, []).append(run)
        self.read = 0

    def fetch(self, want: Mapping[int, int]) -> dict[int, Sequence[Waiting]]:
        got: dict[int, Sequence[Waiting]] = {tid: self.by_team.get(tid, [])[:k] for tid, k in want.items()}
        self.read += sum(len(v) for v in got.values())
        return got


def random_case(rng: random.Random) -> tuple[Capacity, Demand, list[TeamLoad], list[Waiting]]:
    n_teams = rng.randint(1, 6)
    gpu_target = rng.random() < 0.7
    node_target = rng.random() < 0.4
    teams = []
    used = Demand(0, 0, 0, 0)
    for tid in range(1, n_teams + 1):
        running = Demand(0, 0, 0, 0)
        for _ in range(rng.randint(0, 3)):
            nodes = rng.choice([1, 1, 2])
            running = running + Demand(1, nodes, nodes * rng.randint(1, 2), nodes * rng.choice([0, 1, 2]))
        used = used + running
        quota = Quota(
            share=rng.randint(0, 3),
            max_runs=rng.choice([None, None, running.runs, running.runs + rng.randint(1, 4)]),
            max_nodes=rng.choice([None, None, running.nodes + rng.randint(0, 4)]),
            max_gpus=rng.choice([None, running.gpus + rng.randint(0, 2)]) if gpu_target else None,
        )
        teams.append(TeamLoad(tid, f"t{tid}", running, rng.uniform(0, 20) if rng.random() < 0.5 else 0.0, quota))
    # Often most runs ask for more GPUs than their team may add: runs held by a limit
    # sit between the ones that start, which is where cutting a team's list can mislead.
    big = rng.choice([0.0, 0.5, 0.9]) if gpu_target else 0.0
    queue = []
    for rid in range(1, rng.randint(0, 120) + 1):
        nodes = rng.choice([1, 1, 1, 2, 3])
        gpus = 4 * nodes if rng.random() < big else nodes * rng.choice([0, 1, 2]) if gpu_target else 0
        demand = Demand(1, nodes, nodes, gpus)
        queue.append(Waiting(rid, rng.randint(1, n_teams + 1), rng.choice([0, 1, 1, 2, 3]), rng.uniform(0, 50), demand))
    capacity = Capacity(
        runs=used.runs + rng.choice([-1, 0, 1, 2, 3, 5, 12]),
        nodes=used.nodes + rng.randint(0, 10) if node_target else None,
        gpus=used.gpus + rng.randint(0, 10) if gpu_target else None,
    )
    return capacity, used, teams, queue


@pytest.mark.parametrize("seed", range(400))
def test_heads_start_what_the_full_plan_starts(seed: int) -> None:
    capacity, used, teams, queue = random_case(random.Random(seed))
    full = frozenset(v.run_id for v in plan(capacity, used, teams, queue) if v.start)
    q = Queue(queue)
    assert heads.startable(capacity, used, teams, q.by_team, q.fetch) == full


def test_a_large_queue_is_read_only_at_its_heads() -> None:
    # 20 teams, 10k waiting, 50 free slots: a few runs per team are read, not the queue.
    rng = random.Random(7)
    teams = [TeamLoad(t, f"t{t}", Demand(5, 5, 5, 0), rng.uniform(0, 10), Quota(2, 8)) for t in range(20)]
    queue = [Waiting(i, rng.randrange(20), rng.choice([0, 1, 2, 3]), float(i)) for i in range(10_000)]
    capacity, used = Capacity(150), Demand(100, 100, 100, 0)
    q = Queue(queue)
    got = heads.startable(capacity, used, teams, q.by_team, q.fetch)
    assert got == frozenset(v.run_id for v in plan(capacity, used, teams, queue) if v.start)
    assert len(got) == 50
    assert q.read <= 20 * 4


def test_a_team_at_its_run_limit_is_not_read() -> None:
    teams = [TeamLoad(1, "vision", Demand(4, 4, 4, 0), quota=Quota(max_runs=4)), TeamLoad(2, "nlp")]
    queue = [Waiting(i, 1, 3, float(i)) for i in range(1, 50)] + [Waiting(100, 2, 0, 100.0)]
    q = Queue(queue)
    asked: list[Mapping[int, int]] = []

    def fetch(want: Mapping[int, int]) -> dict[int, Sequence[Waiting]]:
        asked.append(dict(want))
        return q.fetch(want)

    assert heads.startable(Capacity(10), Demand(4, 4, 4, 0), teams, q.by_team, fetch) == {100}
    assert asked == [{2: 7}]


def test_a_cut_that_hides_a_start_reads_further() -> None:
    # Team 1's first runs are all held by its GPU limit (4 GPUs each); a 1-GPU run behind
    # them fits: the first read (room + 1 = 3 runs) cannot show it, so its k grows.
    teams = [TeamLoad(1, "vision", quota=Quota(max_gpus=2))]
    queue = [Waiting(i, 1, 2, float(i), Demand(1, 1, 1, 4)) for i in range(1, 6)]
    queue.append(Waiting(9, 1, 1, 9.0, Demand(1, 1, 1, 1)))
    capacity = Capacity(2, gpus=8)
    q = Queue(queue)
    assert heads.startable(capacity, Demand(0, 0, 0, 0), teams, q.by_team, q.fetch) == {9}
    assert q.read > 3
