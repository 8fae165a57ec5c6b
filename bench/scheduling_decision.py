"""Scheduling decision time with 10k queued runs across 20 teams on one target.

A private SQLite database (a temporary RUNYARD_DATA_DIR, migrated and seeded) gets 20 teams
with quotas on one target (share 2, limit 8, max priority urgent), ``--running`` active runs
spread over them, 2,000 ended runs inside the usage window, and ``--queued`` Queued runs with
random priorities, team and submit times. Measured, each ``--repeat`` times:

- policy: ``scheduling.policy.plan`` alone on the whole loaded state (pure logic);
- load + plan: ``scheduling.state.load(target).plan()``: every waiting run read and planned
  (what positions and reasons need; outside the claim's lock);
- decision: ``scheduling.service.startable`` — the claim path's decision, read from the
  heads of the teams' queues (``scheduling.heads``), no cache; and the same with the
  process's mirror of ended runs dropped (the first decision of a process);
- claim: ``execution.executor.claim`` of a waiting run that the scheduler does not start
  (capacity free, so it decides), i.e. what every dispatch retry of a waiting run costs
  inside the target's lock (the transaction, the row lock, the decision);
- explain a page: ``scheduling.explain.explain`` for 50 Queued runs (the run list's reasons),
  which reads the per-process full plan, cached and stale.

Target (issue 22's brief): the decision in the claim path ≤ 20 ms p50 with 10k queued.
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from harness import Section, pct
from summary import Row, current_load, record


def setup_django(data_dir: str) -> None:
    os.environ["RUNYARD_DATA_DIR"] = data_dir
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    for name in ("DATABASE_URL", "REDIS_URL"):
        os.environ.pop(name, None)
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    from stack.seed import seed

    seed()


def populate(queued: int, running: int, teams_n: int) -> tuple[int, list[int]]:
    from django.contrib.auth import get_user_model
    from django.utils import timezone

    from accounts.models import Membership, Team
    from compute.models import ComputeTarget
    from environments.models import EnvironmentVersion
    from runs.models import Experiment, Run
    from scheduling.models import TeamQuota

    user = get_user_model().objects.create_user("bench", password="bench-pw-123!")
    target = ComputeTarget.objects.get(name="local")
    target.max_concurrent_runs = running + 50  # room left: claims read the whole queue
    target.save()
    version = EnvironmentVersion.objects.filter(environment__name="Runyard-Python-3.11").order_by("-version").first()
    teams = []
    for i in range(teams_n):
        team = Team.objects.create(name=f"team-{i:02d}", slug=f"team-{i:02d}")
        Membership.objects.create(user=user, team=team)
        TeamQuota.objects.create(team=team, compute_target=target, share=2, max_runs=8, max_priority=3)
        teams.append((team, Experiment.objects.create(team=team, name="bench")))
    rng = random.Random(22)
    now = timezone.now()
    rows = []

    def run(status: str, **fields: object) -> Run:
        team, exp = rng.choice(teams)
        return Run(
            team=team,
            experiment=exp,
            submitted_by=user,
            status=status,
            script="train.py",
            environment_version=version,
            compute_target=target,
            **fields,
        )

    for _ in range(running):
        rows.append(run("Running", preparing_at=now - timedelta(minutes=rng.randint(1, 600)), worker="w@bench"))
    for _ in range(2000):
        start = now - timedelta(hours=rng.uniform(1, 160))
        rows.append(run("Completed", preparing_at=start, ended_at=start + timedelta(minutes=rng.randint(1, 300))))
    for i in range(queued):
        rows.append(
            run("Queued", priority=rng.choice([0, 1, 1, 1, 2, 3]), queued_at=now - timedelta(seconds=queued - i))
        )
    Run.objects.bulk_create(rows, batch_size=1000)
    waiting = list(Run.objects.filter(status="Queued").values_list("id", flat=True))
    return target.pk, waiting


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--queued", type=int, default=10_000)
    parser.add_argument("--teams", type=int, default=20)
    parser.add_argument("--running", type=int, default=100)
    parser.add_argument("--repeat", type=int, default=20)
    parser.add_argument("--quick", action="store_true", help="1,000 queued runs, 5 repeats")
    args = parser.parse_args()
    if args.quick:
        args.queued, args.repeat = 1000, 5
    section = Section("scheduling", "Scheduling decision time", args.quick)
    with tempfile.TemporaryDirectory(prefix="ry-bench-sched-") as data_dir:
        setup_django(data_dir)
        from compute.models import ComputeTarget
        from execution.executor import claim
        from runs.models import Run
        from scheduling import explain, policy, service, state

        t0 = time.monotonic()
        target_id, waiting = populate(args.queued, args.running, args.teams)
        section.add(
            f"{args.queued:,} Queued runs across {args.teams} teams (quotas: share 2, limit 8), "
            f"{args.running} running, 2,000 ended in the usage window; SQLite; populated in "
            f"{time.monotonic() - t0:.1f} s."
        )
        target = ComputeTarget.objects.get(pk=target_id)
        load = round(current_load(), 2)
        loaded = state.load(target)
        verdicts = loaded.plan()
        last = verdicts[-1].run_id  # never started by this plan: the claim reads everything and says busy
        full_start = frozenset(v.run_id for v in verdicts if v.start)
        assert service.startable(target) == full_start  # the heads decide as the full plan
        timings: dict[str, list[float]] = {
            "policy (full queue)": [],
            "load + plan (full queue)": [],
            "decision (claim path, queue heads)": [],
            "decision, ended-runs mirror cold": [],
            "claim (busy)": [],
            "explain 50, plan cached": [],
            "explain 50, plan stale": [],
        }
        rows = list(
            Run.objects.filter(pk__in=waiting[:50]).values(
                "id", "status", "status_reason", "worker", "compute_target_id"
            )
        )
        for _ in range(args.repeat):
            t = time.perf_counter()
            policy.plan(loaded.capacity, loaded.used, loaded.teams, loaded.queue)
            timings["policy (full queue)"].append(time.perf_counter() - t)
            t = time.perf_counter()
            state.load(target).plan()
            timings["load + plan (full queue)"].append(time.perf_counter() - t)
            t = time.perf_counter()
            service.startable(target)
            timings["decision (claim path, queue heads)"].append(time.perf_counter() - t)
            state._ended.clear()
            t = time.perf_counter()
            service.startable(target)
            timings["decision, ended-runs mirror cold"].append(time.perf_counter() - t)
            t = time.perf_counter()
            outcome = claim(last, "bench@host")
            timings["claim (busy)"].append(time.perf_counter() - t)
            assert outcome == "busy", outcome
            t = time.perf_counter()
            explain.explain(rows)
            timings["explain 50, plan cached"].append(time.perf_counter() - t)
            service._plans.clear()
            t = time.perf_counter()
            explain.explain(rows)
            timings["explain 50, plan stale"].append(time.perf_counter() - t)
        started = sum(1 for v in verdicts if v.start)
        section.add(f"The plan starts {started} runs now (capacity and limits hold the rest); {args.repeat} repeats.")
        section.add("")
        section.add("| step | p50 ms | p95 ms | max ms |")
        section.add("| --- | --- | --- | --- |")
        for name, values in timings.items():
            ms = [v * 1000 for v in values]
            section.add(f"| {name} | {pct(ms, 50):.1f} | {pct(ms, 95):.1f} | {max(ms):.1f} |")
        decision = pct([v * 1000 for v in timings["decision (claim path, queue heads)"]], 50)
        claim_ms = pct([v * 1000 for v in timings["claim (busy)"]], 50)
        from config.embedded_redis import stop as stop_redis

        stop_redis(Path(data_dir))  # settings started it for this data dir; it would outlive the dir
    section.write()
    if not args.quick:
        record(
            "scheduling_decision",
            [
                Row(
                    measure=f"scheduling decision, {args.queued // 1000}k queued / {args.teams} teams (p50)",
                    unit="ms",
                    runyard=round(decision, 2),
                    better="lower",
                    target=20,
                    load=load,
                    note=f"claim transaction p50 {claim_ms:.1f} ms",
                )
            ],
        )


if __name__ == "__main__":
    main()
