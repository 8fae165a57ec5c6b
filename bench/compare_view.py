"""The compare view at size: 10 runs × 10 metrics × 10k points each, opened in real
Chromium (/runs/compare?ids=…) until every chart has drawn once.

The points (1M) are bulk-inserted with their summaries. Each of ``--repeat`` page loads
is a fresh navigation (no query cache; the app's files from the browser cache, as on a
second visit) and reports, from the page's own clock: when the series answer arrived
(Resource Timing of /api/runs/compare/series/) and when the last chart drew (the app's
``compare-charts-drawn`` performance mark), and their difference, the browser's share
(parse, align, draw). The series endpoint is also timed alone over HTTP. Target (issue
18): the view renders within 1 s.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import summary
from harness import Section, Stack, pct, verdict

RUNS, METRICS, POINTS = 10, 10, 10_000
PASSWORD = "bench-compare-pw-1!"


def populate(runs: int, metrics: int, points: int) -> list[int]:
    from django.contrib.auth import get_user_model
    from django.utils import timezone

    from accounts.models import Team
    from compute.models import ComputeTarget
    from environments.models import Environment
    from runs import metricstore
    from runs.models import Experiment, Run

    user = get_user_model().objects.get(username="bench")
    user.set_password(PASSWORD)
    user.save()
    team = Team.objects.get(slug="default")
    experiment, _ = Experiment.objects.get_or_create(team=team, name="compare-bench")
    existing = list(Run.objects.filter(experiment=experiment).order_by("pk").values_list("pk", flat=True))
    if len(existing) >= runs:
        return existing[:runs]
    env = Environment.objects.get(name="Runyard-Python-3.11").latest_version()
    target = ComputeTarget.objects.get(name="local")
    ids = []
    now = timezone.now()
    for r in range(runs):
        run = Run.objects.create(
            team=team,
            experiment=experiment,
            submitted_by=user,
            display_name=f"sweep-{r}",
            script="train.py",
            arguments=["--lr", str(0.1 / (r + 1)), "--batch", str(16 * (r % 4 + 1))],
            environment_version=env,
            compute_target=target,
        )
        ids.append(run.pk)
        for m in range(metrics):
            for start in range(0, points, 5000):  # the SDK's batch size: chunks as stored live
                steps = range(start, min(points, start + 5000))
                batch = metricstore.Columns(
                    [f"metric_{m}"] * len(steps),
                    [(1 + r) * (1 + m) / (s + 1) + (s % 97) / 1000 for s in steps],
                    list(steps),
                    [now.timestamp()] * len(steps),
                )
                metricstore.store_columns(run, batch, now)
        print(f"  run {r + 1}/{runs}: {metrics * points:,} points", flush=True)
    return ids


def series_over_http(stack: Stack, ids: list[int], n: int, warm: bool = True) -> tuple[list[float], int]:
    api = stack.api()
    path = f"/api/runs/compare/series/?ids={','.join(map(str, ids))}&max_points=1000"
    if warm:
        api.request("GET", path)
    times, size = [], 0
    for _ in range(n):
        t = time.perf_counter()
        status, body = api.request("GET", path)
        times.append(time.perf_counter() - t)
        assert status == 200, body[:300]
        size = len(body)
    api.close()
    return times, size


def page_loads(stack: Stack, ids: list[int], repeat: int) -> list[dict[str, float]]:
    from playwright.sync_api import sync_playwright

    chromium = os.environ.get("RUNYARD_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
    os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    out = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, args=["--no-sandbox", "--disable-gpu"])
        page = browser.new_context(viewport={"width": 1400, "height": 900}).new_page()
        page.set_default_timeout(60_000)
        page.goto(stack.url + "/")
        page.get_by_label("Username").fill("bench")
        page.get_by_label("Password").fill(PASSWORD)
        page.get_by_role("button", name="Sign in").click()
        page.get_by_test_id("current-user").wait_for()
        url = f"{stack.url}/runs/compare?ids={','.join(map(str, ids))}"
        for i in range(repeat + 1):  # the first: cold (no kept sketches, nothing in the browser cache)
            page.goto(url)
            page.locator(".chart-grid[data-drawn]").wait_for()
            timing = page.evaluate(
                """() => {
                  const drawn = performance.getEntriesByName('compare-charts-drawn')[0].startTime;
                  const resources = performance.getEntriesByType('resource');
                  const series = resources.find(e => e.name.includes('/compare/series/'));
                  return {drawn, series_end: series.responseEnd, series_start: series.startTime,
                          charts: document.querySelectorAll('.chart-grid .uplot').length};
                }"""
            )
            out.append(timing)
            print(
                f"  load {i}: charts drawn at {timing['drawn']:.0f} ms "
                f"(series answer at {timing['series_end']:.0f} ms, {timing['charts']} charts)",
                flush=True,
            )
        browser.close()
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="10 runs × 10 metrics × 1k points, 3 loads")
    parser.add_argument("--repeat", type=int)
    parser.add_argument("--data-dir", help="keep and reuse this data directory (populated once)")
    args = parser.parse_args()
    points = 1_000 if args.quick else POINTS
    repeat = args.repeat or (3 if args.quick else 10)
    section = Section("compare_view", "Compare view: 10 runs × 10 metrics × 10k points in Chromium", args.quick)
    with Stack(args.data_dir, worker=False) as stack:
        t0 = time.monotonic()
        ids = populate(RUNS, METRICS, points)
        took = time.monotonic() - t0
        from runs.models import MetricSketch

        MetricSketch.objects.all().delete()
        cold_http, _ = series_over_http(stack, ids, 1, warm=False)
        MetricSketch.objects.all().delete()
        first, *loads = page_loads(stack, ids, repeat)
        http_times, size = series_over_http(stack, ids, 10)
        drawn = [t["drawn"] / 1000 for t in loads]
        browser_part = [(t["drawn"] - t["series_end"]) / 1000 for t in loads]
        data_part = [(t["series_end"] - t["series_start"]) / 1000 for t in loads]
        section.add(
            f"{RUNS} runs × {METRICS} metrics × {points:,} points ({RUNS * METRICS * points:,} stored points"
            + (f", inserted in {took:.0f} s" if took > 1 else "")
            + f"); the server thins each series to ≤ 1,000 points (bucket min/max) and keeps the result "
            f"(MetricSketch) until the metric gets new points. One cold page load (no kept sketches, empty browser "
            f"cache), then {repeat} fresh page loads, each timed by the page's own clock from navigation start."
        )
        section.add("")
        section.add("| measure | p50 | p95 | max |")
        section.add("| --- | --- | --- | --- |")

        def row(label: str, values: list[float]) -> None:
            p50, p95, top = (x * 1000 for x in (pct(values, 50), pct(values, 95), max(values)))
            section.add(f"| {label} | {p50:.0f} ms | {p95:.0f} ms | {top:.0f} ms |")

        section.add(f"| cold: first view of these runs (series read from 1M points) | {first['drawn']:.0f} ms | | |")
        section.add(f"| cold: series endpoint alone, no kept sketches | {cold_http[0] * 1000:.0f} ms | | |")
        row("navigation → every chart drawn (the view rendered)", drawn)
        row("series request (in the page: start → last byte)", data_part)
        row("browser share: series answer → every chart drawn", browser_part)
        row(f"series endpoint alone over HTTP, sketches kept ({size / 1e6:.1f} MB JSON)", http_times)
        section.add("")
        section.add(
            f"p50 navigation → drawn: **{pct(drawn, 50) * 1000:.0f} ms**; target ≤ 1 s {verdict(pct(drawn, 50) <= 1.0)}"
        )
        headline = summary.Row(
            "Compare view rendered (navigation → charts drawn, p50)", "ms", pct(drawn, 50) * 1000, "lower", 1000.0,
            load=summary.current_load(), note="10 runs × 10 metrics × 10k points",
        )  # fmt: skip
    section.write()
    summary.record("compare_view", [headline])


if __name__ == "__main__":
    main()
