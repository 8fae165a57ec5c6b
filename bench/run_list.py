"""The run list page at scale: GET /api/runs/?limit=50 with filters and the default sort.

Rows are bulk-inserted with the ORM (``bulk_create`` in batches) into the stack's own
database: a team member's default team holds most runs, a second team the rest;
200 experiments; statuses mostly Completed/Failed/Canceled with a few Running and
Queued; created_at spread over a year. Then, as the team member, 200 requests each
(p50/p95, keep-alive HTTP to uvicorn) for: no filter, a status filter, an experiment
filter, and a deep cursor page (90% down the list); plus, as extras (30 requests),
status=Queued (``queue_position`` per row) and an admin (no team scope). Each case's SQL is
captured in-process and EXPLAINed; plans that scan the table or sort in a temporary
B-tree are reported. Target (DESIGN.md): p50 ≤ 15 ms at 100k and at 1M runs.

SQLite by default; PostgreSQL when DATABASE_URL is set. ``--data-dir`` keeps and
reuses a populated database (rows are only added up to the size asked).

The peer (unless ``--no-peers`` or RUNYARD_BENCH_PEERS=0): MLflow's tracking server
(``bench/peers.py``, SQLite store) holding as many runs, searched with ``runs/search``
for the same four cases (``bench/mlflow_runs.py`` says how they map). The two are
measured in one loop of rounds with rotating order: each round makes one MLflow search
and its share of Runyard's requests (MLflow's take 100s of ms, so it gets fewer: at
most 100 per case, 30 at 1M), both sides in the same minutes of the machine's load.
The headline row of ``make bench``'s summary is the worst p50 of the four cases on
each side.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import random
import sys
import time
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

sys.path.insert(0, str(Path(__file__).resolve().parent))

import mlflow_runs
import peers
import summary
from harness import Api, Section, Stack, database, pct, per_database, verdict

EXPERIMENTS = 200
BATCH = 5000
STATUSES = [
    ("Completed", 0.70),
    ("Failed", 0.18),
    ("Canceled", 0.10),
    ("Running", 0.015),
    ("Queued", 0.005),
]


def populate(target: int, stack: Stack, log: Any) -> float:
    """Add runs until there are ``target``; return the seconds it took."""
    from django.db import transaction
    from django.utils import timezone

    from accounts.models import Team
    from compute.models import ComputeTarget
    from environments.models import EnvironmentVersion
    from runs.models import Experiment, Run

    have = Run.objects.count()
    if have >= target:
        return 0.0
    team = Team.objects.get(slug="default")
    other, _ = Team.objects.get_or_create(slug="bench-other", defaults={"name": "Bench other"})
    experiments = {}
    for t in (team, other):
        for i in range(EXPERIMENTS):
            exp, _ = Experiment.objects.get_or_create(team=t, name=f"exp-{i:03d}")
            experiments[(t.pk, i)] = exp.pk
    version = EnvironmentVersion.objects.filter(environment__name="Runyard-Python-3.11").order_by("-version").first()
    assert version is not None
    compute = ComputeTarget.objects.get(name="local")
    rng = random.Random(have)
    names, weights = zip(*STATUSES, strict=True)
    start = timezone.now() - timedelta(days=365)
    step = timedelta(days=365) / 1_000_000  # one year spread over 1M runs: a later top-up stays newer
    t0 = time.monotonic()
    made = have
    while made < target:
        rows = []
        for _ in range(min(BATCH, target - made)):
            made += 1
            t = team if rng.random() < 0.8 else other
            status = rng.choices(names, weights)[0]
            created = start + step * made + timedelta(microseconds=rng.randint(0, 999))
            ended = created + timedelta(seconds=rng.randint(5, 5000)) if status not in ("Running", "Queued") else None
            rows.append(
                Run(
                    team=t,
                    experiment_id=experiments[(t.pk, rng.randrange(EXPERIMENTS))],
                    submitted_by_id=stack.user_id,
                    display_name=f"bench run {made}",
                    status=status,
                    script="train.py",
                    arguments=["--lr", "0.01"],
                    environment_version=version,
                    compute_target=compute,
                    tags={"bench": "1", "seed": str(made % 10)},
                    created_at=created,
                    queued_at=created,
                    running_at=created + timedelta(seconds=1) if status != "Queued" else None,
                    ended_at=ended,
                    exit_code=(0 if status == "Completed" else 1) if ended else None,
                )
            )
        with transaction.atomic():
            Run.objects.bulk_create(rows, batch_size=1000)
        if made % 100_000 < BATCH:
            log(f"  {made:,} runs ({made / (time.monotonic() - t0 + 1e-9):,.0f}/s incl. earlier)")
    return time.monotonic() - t0


def analyze() -> None:
    """Vacuum and analyze runs_run on PostgreSQL, as autovacuum would soon after a bulk
    insert (an insert-only table is vacuumed once enough rows arrived). Without the
    statistics the planner takes runs_run for a few hundred rows and sorts instead of using
    an index. Without the vacuum no page is all-visible: an index-only scan reads the heap
    for every row (the scheduler's active runs: 1,494 heap fetches, 5.7 ms; vacuumed 0.4 ms)
    and planning reads ~10x the buffers. This machine's server runs with autovacuum off, so
    the PostgreSQL figures depended on whether anything had vacuumed the table since it was
    filled. Run at every start (cheap on a vacuumed table): a reused database is measured in
    the state a fresh one is. (SQLite is left as Django leaves it: without ANALYZE.)"""
    from django.db import connection

    if connection.vendor == "postgresql":
        with connection.cursor() as cur:
            cur.execute("VACUUM (ANALYZE) runs_run")


def deep_cursor(fraction: float) -> str:
    """A DRF cursor for the team's list ``fraction`` of the way down (newest first)."""
    from accounts.models import Team
    from runs.models import Run

    team = Team.objects.get(slug="default")
    runs = Run.objects.filter(team=team).order_by("-created_at", "-id")
    depth = int(runs.count() * fraction)
    created = runs.values_list("created_at", flat=True)[depth]
    return base64.b64encode(urlencode({"p": str(created)}).encode()).decode()


def cases(cursor: str) -> list[tuple[str, dict[str, str], bool]]:
    """(label, query, as admin)"""
    return [
        ("no filter", {"limit": "50"}, False),
        ("status=Failed", {"limit": "50", "status": "Failed"}, False),
        ("experiment=exp-042", {"limit": "50", "experiment": "exp-042"}, False),
        ("deep cursor page (90% down)", {"limit": "50", "cursor": cursor}, False),
        ("extra: status=Queued", {"limit": "50", "status": "Queued"}, False),
        ("extra: admin, no filter", {"limit": "50"}, True),
        ("extra: admin, status=Failed", {"limit": "50", "status": "Failed"}, True),
    ]


def explain(sql: str, params: Any) -> str:
    from django.db import connection

    with connection.cursor() as cur:
        if connection.vendor == "sqlite":
            cur.execute("EXPLAIN QUERY PLAN " + sql, params)
            return "; ".join(str(row[-1]) for row in cur.fetchall())
        cur.execute("EXPLAIN " + sql, params)
        return " / ".join(str(row[0]).strip() for row in cur.fetchall())


def bad_plan(plan: str, vendor: str) -> bool:
    if vendor == "sqlite":
        # Reading a subquery's own result (SCAN numbered) is no table scan.
        steps = plan.split("; ")
        subqueries = {p.split()[-1] for p in steps if p.startswith(("CO-ROUTINE ", "MATERIALIZE "))}
        scans = [p for p in steps if p.startswith("SCAN ") and " USING " not in p and p.split()[1] not in subqueries]
        return bool(scans) or "USE TEMP B-TREE" in plan
    # "runs_run " with its space: a scan of runs_runfield (an empty table here) is no scan of the runs.
    return "Seq Scan on runs_run " in plan or "Sort " in plan


def capture(path: str, query: dict[str, str], token: str) -> tuple[int, list[dict[str, Any]], int]:
    """Run one request in-process; return (status, captured queries, bytes)."""
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    client = Client()
    with CaptureQueriesContext(connection) as ctx:
        response = client.get(path, query, HTTP_AUTHORIZATION=f"Token {token}")
    return response.status_code, list(ctx.captured_queries), len(response.content)


def cpu_ms(query: dict[str, str], token: str, n: int = 20) -> float:
    """Median CPU time (this thread) of one request served in-process by Django."""
    from django.test import Client

    client = Client()
    times = []
    for _ in range(n):
        t = time.thread_time()
        client.get("/api/runs/", query, HTTP_AUTHORIZATION=f"Token {token}")
        times.append(time.thread_time() - t)
    return pct(times, 50) * 1000


def explain_case(query: dict[str, str], token: str) -> tuple[int, float, list[str]]:
    """(number of queries, SQL ms, plans of run-list queries that scan or sort)."""
    from django.db import connection

    status, queries, _ = capture("/api/runs/", query, token)
    assert status == 200, status
    sql_ms = sum(float(q.get("time") or 0) for q in queries) * 1000
    problems = []
    seen = set()
    for q in queries:
        sql = q["sql"]
        if "runs_run" not in sql or not sql.lstrip().upper().startswith("SELECT"):
            continue
        shape = sql.split(" WHERE ")[0][:80] + (" WHERE " + sql.split(" WHERE ")[1][:200] if " WHERE " in sql else "")
        if shape in seen:
            continue
        seen.add(shape)
        # Captured SQL has the parameters inlined; EXPLAIN it as is.
        plan = explain(sql, None)
        if bad_plan(plan, connection.vendor):
            head = "SELECT DISTINCT … " if sql.lstrip().upper().startswith("SELECT DISTINCT") else "SELECT … "
            where = ("WHERE " + sql.split(" WHERE ", 1)[1][:200]) if " WHERE " in sql else "(no WHERE)"
            steps = plan.split("; ") if connection.vendor == "sqlite" else [plan]
            shown = [p for p in steps if "runs_run" in p or "TEMP" in p or "Sort" in p or "Seq Scan" in p]
            problems.append(f"`{head}{where}…` → `{'; '.join(shown)[:600]}`")
    return len(queries), sql_ms, problems


def measure(api: Api, query: dict[str, str], n: int) -> tuple[list[float], int]:
    path = "/api/runs/?" + urlencode(query)
    api.request("GET", path)  # warm
    times = []
    size = 0
    for _ in range(n):
        t = time.perf_counter()
        status, body = api.request("GET", path)
        times.append(time.perf_counter() - t)
        if status != 200:
            raise RuntimeError(f"{path}: {status} {body[:300]!r}")
        size = len(body)
    return times, size


@dataclass
class Side:
    """One system's samples for a case."""

    times: list[float] = field(default_factory=list)
    size: int = 0


def interleaved(
    api: Api,
    query: dict[str, str],
    n: int,
    search: mlflow_runs.MlflowSearch | None,
    body: dict[str, Any] | None,
    rounds: int,
    loads: list[float],
) -> tuple[Side, Side]:
    """Runyard's ``n`` requests and MLflow's ``rounds`` searches in ``rounds`` rounds,
    alternating which goes first (so neither always follows the other's cache misses)."""
    path = "/api/runs/?" + urlencode(query)
    ours, theirs = Side(), Side()
    api.request("GET", path)  # warm both
    if search is not None and body is not None:
        theirs.size = search.check(body)
    rounds = rounds if search is not None else 1
    for r in range(rounds):
        share = n * (r + 1) // rounds - n * r // rounds
        steps = ["ours", "peer"] if r % 2 == 0 else ["peer", "ours"]
        for step in steps:
            if step == "ours":
                for _ in range(share):
                    t = time.perf_counter()
                    status, data = api.request("GET", path)
                    ours.times.append(time.perf_counter() - t)
                    if status != 200:
                        raise RuntimeError(f"{path}: {status} {data[:300]!r}")
                    ours.size = len(data)
            elif search is not None and body is not None:
                t = time.perf_counter()
                status, raw = search.search(body)
                theirs.times.append(time.perf_counter() - t)
                if status != 200:
                    raise RuntimeError(f"MLflow runs/search: {status} {raw[:300]!r}")
        loads.append(summary.current_load())
    return ours, theirs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="10k runs, 50 requests per case")
    parser.add_argument("--sizes", help="comma-separated run counts, e.g. 100000,1000000 (default 100000)")
    parser.add_argument("--requests", type=int)
    parser.add_argument("--data-dir", help="keep and reuse this data directory (populated once)")
    parser.add_argument("--peers", action=argparse.BooleanOptionalAction, default=peers.enabled())
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")] if args.sizes else ([10_000] if args.quick else [100_000])
    n = args.requests or (50 if args.quick else 200)
    title = f"Run list page at scale (GET /api/runs/?limit=50, {database()}), vs MLflow search_runs"
    section = Section(per_database("run_list"), title, args.quick)
    rows: list[summary.Row] = []
    with contextlib.ExitStack() as running:
        stack = running.enter_context(Stack(args.data_dir, worker=False))
        mlflow = running.enter_context(peers.MlflowServer()) if args.peers else None
        search = mlflow_runs.MlflowSearch(mlflow.port) if mlflow else None
        from django.db import connection

        admin_token, _ = stack.user_token("bench-admin", admin=True)
        vendor = connection.vendor
        member = stack.api()
        admin = Api("127.0.0.1", stack.port, admin_token)
        section.add(
            f"Database {vendor}; {n} keep-alive requests per case after one warm-up; as a member of "
            "the default team (80% of the runs) unless marked admin. Server CPU ms: median thread CPU time of the "
            "same request served in-process (Django test client, 20 times), which the machine's load does not "
            "inflate; SQL ms and query count from one in-process request."
        )
        if mlflow:
            section.add("")
            section.add(
                f"Peer: MLflow {mlflow.version} tracking server (one worker, SQLite store) with as many runs, "
                "`POST /api/2.0/mlflow/runs/search` for the same four cases (see bench/mlflow_runs.py for how "
                "they map), interleaved with Runyard's requests in rounds of rotating order; × is MLflow's p50 "
                "over Runyard's."
            )
        for size in sizes:
            took = populate(size, stack, print)
            analyze()
            if took:
                print(f"inserted up to {size:,} runs in {took:.0f}s", flush=True)
            corpus = None
            if mlflow:
                corpus, mtook = mlflow_runs.populate(mlflow.db_path, size, EXPERIMENTS, STATUSES, print)
                if mtook:
                    print(f"MLflow: inserted up to {size:,} runs in {mtook:.0f}s", flush=True)
            bodies = mlflow_runs.cases(corpus) if corpus else {}
            rounds = min(n, 30 if size >= 1_000_000 else 100)
            cursor = deep_cursor(0.9)
            section.add("")
            section.add(f"### {size:,} runs" + (f" (bulk insert took {took:.0f} s)" if took else ""))
            section.add("")
            section.add(
                "| case | p50 | p95 | max | server CPU ms | queries | SQL ms | bytes | plan "
                "| MLflow p50 | MLflow p95 | MLflow bytes | × |"
            )
            section.add("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
            all_problems = []
            core_p50: list[float] = []
            peer_p50: list[float] = []
            loads: list[float] = []
            for label, query, as_admin in cases(cursor):
                api = admin if as_admin else member
                body = bodies.get(label)
                # The extras can take 100s of ms at 1M rows: fewer requests keep the benchmark bounded.
                count_n = min(n, 30) if label.startswith("extra") else n
                ours, theirs = interleaved(api, query, count_n, search if body else None, body, rounds, loads)
                times = ours.times
                key = admin_token if as_admin else stack.token
                count, sql_ms, problems = explain_case(query, key)
                cpu = cpu_ms(query, key)
                if not label.startswith("extra"):
                    core_p50.append(pct(times, 50))
                peer_cells = "| – | – | – | – |"
                if theirs.times:
                    peer_p50.append(pct(theirs.times, 50))
                    peer_cells = (
                        f"| {pct(theirs.times, 50) * 1000:.1f} ms | {pct(theirs.times, 95) * 1000:.1f} ms "
                        f"| {theirs.size:,} | ×{pct(theirs.times, 50) / pct(times, 50):.1f} |"
                    )
                all_problems += [f"- {label}: {p}" for p in problems]
                section.add(
                    f"| {label} | {pct(times, 50) * 1000:.1f} ms | {pct(times, 95) * 1000:.1f} ms | "
                    f"{max(times) * 1000:.1f} ms | {cpu:.1f} | {count} | {sql_ms:.1f} | {ours.size:,} | "
                    f"{'scan/sort, see below' if problems else 'ok'} {peer_cells}"
                )
                peer_note = f", MLflow {pct(theirs.times, 50) * 1000:.1f} ms" if theirs.times else ""
                print(f"{size:,} {label}: p50 {pct(times, 50) * 1000:.1f} ms{peer_note}", flush=True)
            section.add("")
            worst = max(core_p50)
            mean_load = sum(loads) / len(loads)
            line = f"Worst p50 of the four cases: **{worst * 1000:.1f} ms**"
            if peer_p50:
                line += f" (MLflow's worst {max(peer_p50) * 1000:.1f} ms, ×{max(peer_p50) / worst:.1f})"
            section.add(
                f"{line}; target p50 ≤ 15 ms {verdict(worst <= 0.015)} (mean 1-min load while measured {mean_load:.1f})"
            )
            rows.append(
                summary.Row(
                    measure="Run list page, worst p50 of 4 cases",
                    unit="ms",
                    runyard=worst * 1000,
                    better="lower",
                    target=15.0,
                    peer="MLflow search_runs" if peer_p50 else "",
                    peer_value=max(peer_p50) * 1000 if peer_p50 else None,
                    load=mean_load,
                    note=f"{size:,} runs, {vendor}",
                )
            )
            if all_problems:
                section.add("")
                section.add("Plans that do not use an index for the filter and the order (EXPLAIN):")
                section.add("")
                section.extend(all_problems)
        member.close()
        admin.close()
        if search is not None:
            search.close()
    section.write()
    summary.record(per_database("run_list"), rows)


if __name__ == "__main__":
    main()
