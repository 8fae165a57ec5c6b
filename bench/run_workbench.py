"""The run list as a workbench at scale: sorted by a metric or a parameter, filtered by a
metric condition, at 100k runs (GET /api/runs/?limit=50&ordering=-metrics.acc ...).

The runs are run_list.py's (bulk-inserted, 80% in the member's team); each also gets the
rows the workbench reads, as ingest and submission would have written them: metric
summaries for ``acc`` and ``loss`` (90% of the runs have them: the rest come last) and
``lr`` / ``batch`` parameter fields. Per case: p50/p95 over keep-alive HTTP, the server
CPU of the same request in-process, query count, SQL time, and whether any plan scans
runs_run or sorts in a temporary B-tree. Target (DESIGN.md, run list): p50 ≤ 15 ms.
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import summary
from harness import Section, Stack, pct, verdict
from run_list import bad_plan, capture, explain, measure, populate

BATCH = 5000


def add_workbench_rows(log: Any) -> float:
    """Summaries and parameter fields for runs that have none yet; seconds taken."""
    from django.db import transaction
    from django.utils import timezone

    from runs.models import MetricSummary, Run, RunField
    from runs.summaries import sort_key

    done = set(MetricSummary.objects.values_list("run_id", flat=True).distinct())
    done |= set(RunField.objects.values_list("run_id", flat=True).distinct())
    todo = [pk for pk in Run.objects.order_by("pk").values_list("pk", flat=True) if pk not in done]
    if not todo:
        return 0.0
    t0 = time.monotonic()
    rng = random.Random(7)
    now = timezone.now()
    for start in range(0, len(todo), BATCH):
        summaries, fields = [], []
        for pk in todo[start : start + BATCH]:
            if rng.random() < 0.9:
                acc = rng.random()
                loss = rng.random() * 3
                summaries += [
                    MetricSummary(
                        run_id=pk, name="acc", latest=acc, min_value=acc / 2, max_value=acc, points=100, updated_at=now
                    ),
                    MetricSummary(
                        run_id=pk,
                        name="loss",
                        latest=loss,
                        min_value=loss / 3,
                        max_value=loss * 2,
                        points=100,
                        updated_at=now,
                    ),
                ]
            lr = str(rng.choice([0.1, 0.03, 0.01, 0.003, 0.001, 0.0003]))
            batch = str(rng.choice([16, 32, 64, 128, 256]))
            fields += [
                RunField(run_id=pk, kind="param", key="lr", text=lr, number=float(lr), sort_key=sort_key(lr)),
                RunField(
                    run_id=pk, kind="param", key="batch", text=batch, number=float(batch), sort_key=sort_key(batch)
                ),
            ]
        with transaction.atomic():
            MetricSummary.objects.bulk_create(summaries, batch_size=2000)
            RunField.objects.bulk_create(fields, batch_size=2000)
        log(f"  workbench rows for {min(start + BATCH, len(todo)):,} runs")
    from django.db import connection

    if connection.vendor == "postgresql":
        with connection.cursor() as cur:
            cur.execute("ANALYZE runs_metricsummary")
            cur.execute("ANALYZE runs_runfield")
    return time.monotonic() - t0


CASES: list[tuple[str, dict[str, str]]] = [
    ("plain list (archived hidden)", {"limit": "50"}),
    ("ordering=-metrics.acc", {"limit": "50", "ordering": "-metrics.acc"}),
    ("ordering=metrics_min.loss", {"limit": "50", "ordering": "metrics_min.loss"}),
    ("metric=acc>0.9", {"limit": "50", "metric": "acc>0.9"}),
    ("metric=acc>0.99 & ordering=-metrics.acc", {"limit": "50", "metric": "acc>0.99", "ordering": "-metrics.acc"}),
    ("ordering=params.lr", {"limit": "50", "ordering": "params.lr"}),
    ("param=lr<0.001", {"limit": "50", "param": "lr<0.001"}),
    ("ordering=-metrics.acc & status=Failed", {"limit": "50", "ordering": "-metrics.acc", "status": "Failed"}),
]


def second_page(api: Any, query: dict[str, str]) -> dict[str, str]:
    """The query of the page after the first (the cursor from its next link)."""
    import json
    from urllib.parse import parse_qs, urlencode, urlparse

    status, body = api.request("GET", "/api/runs/?" + urlencode(query))
    assert status == 200, body[:300]
    nxt = json.loads(body)["next"]
    return {k: v[0] for k, v in parse_qs(urlparse(nxt).query).items()}


def cpu_ms(query: dict[str, str], token: str, n: int = 10) -> float:
    from django.test import Client

    client = Client()
    times = []
    for _ in range(n):
        t = time.thread_time()
        client.get("/api/runs/", query, HTTP_AUTHORIZATION=f"Token {token}")
        times.append(time.thread_time() - t)
    return pct(times, 50) * 1000


def plan_problems(query: dict[str, str], token: str) -> tuple[int, float, list[str]]:
    from django.db import connection

    status, queries, _ = capture("/api/runs/", query, token)
    assert status == 200, status
    sql_ms = sum(float(q.get("time") or 0) for q in queries) * 1000
    problems = []
    for q in queries:
        sql = q["sql"]
        if "runs_run" not in sql or not sql.lstrip().upper().startswith("SELECT"):
            continue
        plan = explain(sql, None)
        if bad_plan(plan, connection.vendor):
            problems.append(plan[:1200])
    return len(queries), sql_ms, problems


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="10k runs, 30 requests per case")
    parser.add_argument("--size", type=int)
    parser.add_argument("--requests", type=int)
    parser.add_argument("--data-dir", help="keep and reuse this data directory (populated once)")
    args = parser.parse_args()
    size = args.size or (10_000 if args.quick else 100_000)
    n = args.requests or (30 if args.quick else 100)
    section = Section("run_workbench", "Run list as a workbench: sort and filter by metrics and parameters", args.quick)
    with Stack(args.data_dir, worker=False) as stack:
        from django.db import connection

        took = populate(size, stack, print)
        extra = add_workbench_rows(print)
        api = stack.api()
        section.add(
            f"Database {connection.vendor}; {size:,} runs (80% in the member's team), 90% with `acc` and `loss` "
            f"summaries, all with `lr` and `batch` parameters; {n} sequential keep-alive requests per case after a "
            "warm-up, as the team member. Server CPU: median thread CPU of the same request in-process (10 times)."
            + (f" Bulk insert {took:.0f} s, workbench rows {extra:.0f} s." if took or extra else "")
        )
        section.add("")
        section.add("| case | p50 | p95 | server CPU ms | queries | SQL ms | plan |")
        section.add("| --- | --- | --- | --- | --- | --- | --- |")
        notes = []
        worst = 0.0
        cases = list(CASES)
        cases.append(
            (
                "second page of -metrics.acc (keyset cursor)",
                second_page(api, {"limit": "50", "ordering": "-metrics.acc"}),
            )
        )
        for label, query in cases:
            times, _size = measure(api, query, n)
            count, sql_ms, problems = plan_problems(query, stack.token)
            cpu = cpu_ms(query, stack.token)
            worst = max(worst, pct(times, 50))
            notes += [f"- {label}: `{p}`" for p in problems]
            section.add(
                f"| {label} | {pct(times, 50) * 1000:.1f} ms | {pct(times, 95) * 1000:.1f} ms | {cpu:.1f} | {count} | "
                f"{sql_ms:.1f} | {'scan/sort, see below' if problems else 'ok'} |"
            )
            print(f"{label}: p50 {pct(times, 50) * 1000:.1f} ms", flush=True)
        section.add("")
        section.add(f"Worst p50: **{worst * 1000:.1f} ms**; run-list target p50 ≤ 15 ms {verdict(worst <= 0.015)}")
        headline = summary.Row(
            "Run list as workbench (metric sort/filter), worst p50", "ms", worst * 1000, "lower", 15.0,
            load=summary.current_load(), note=f"{size:,} runs, {connection.vendor}",
        )  # fmt: skip
        keys = []
        for _ in range(10):
            t = time.perf_counter()
            status, _body = api.request("GET", "/api/runs/keys/")
            keys.append(time.perf_counter() - t)
            assert status == 200, _body[:200]
        section.add("")
        section.add(
            "The column chooser's keys (`GET /api/runs/keys/`, distinct metric names and field keys of the team's "
            f"newest 2,000 runs; asked when the chooser opens): p50 {pct(keys, 50) * 1000:.0f} ms over 10 requests."
        )
        if notes:
            section.add("")
            section.add("Plans that scan runs_run or sort in a temporary B-tree (EXPLAIN QUERY PLAN):")
            section.add("")
            section.extend(notes)
        api.close()
    section.write()
    summary.record("run_workbench", [headline])


if __name__ == "__main__":
    main()
