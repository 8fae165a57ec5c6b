"""Where a metrics batch's web CPU goes: one process, no server, a real SQLite file.

    .venv/bin/python bench/metrics_profile.py [--points 5000] [--batches 20] [--profile]

Migrates a fresh data dir (SQLite, WAL, as the stack runs), makes a user with an API
token and an interactive run, then POSTs batches of the SDK's request body
(``runyard.metrics.encode_points`` of what the batcher sends: 10 names, one step per 10
points) through Django's full request path (middleware, token authentication, DRF, the
view) with ``django.test.Client``, and reports the CPU per batch, split by phase: the
request as a whole, then each phase alone on the same body (JSON decode, validation,
preparing the chunks, writing them with the summaries, the live message). With
``DATABASE_URL`` set it runs on that database instead. ``--profile`` adds a cProfile of the
whole requests, sorted by own time. No timing is asserted anywhere; this explains the
figure bench/metrics_ingest.py measures.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import json
import os
import pstats
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from statistics import median
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

KEYS = 10


def _body(points: int, start: int, columnar: bool) -> bytes:
    from runyard import metrics

    now = time.time()
    batch = [(f"m{i % KEYS}", i * 0.5, i // KEYS, now, "scalar", None) for i in range(start, start + points)]
    encode = getattr(metrics, "encode_batch", None)
    if columnar and encode is not None:
        return encode(batch)  # type: ignore[no-any-return]
    return metrics.encode_points([metrics.point_to_api(p) for p in batch])


def _cpu(fn: Callable[[], Any], times: int) -> float:
    """Median process CPU ms of ``fn`` over ``times`` calls."""
    spent = []
    for _ in range(times):
        t = time.process_time()
        fn()
        spent.append((time.process_time() - t) * 1000)
    return median(spent)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--points", type=int, default=5000)
    parser.add_argument("--batches", type=int, default=20)
    parser.add_argument("--profile", action="store_true", help="cProfile the requests (own time)")
    parser.add_argument("--columnar", action="store_true", help="the SDK's columnar body, if it has one")
    parser.add_argument("--top", type=int, default=30)
    args = parser.parse_args()

    data_dir = tempfile.mkdtemp(prefix="runyard-metrics-profile-", dir="/tmp")
    os.environ.update({"RUNYARD_DATA_DIR": data_dir, "DJANGO_SETTINGS_MODULE": "config.settings"})
    for command in (["migrate", "--no-input", "--verbosity", "0"], ["runyard_seed"]):
        subprocess.run([sys.executable, "manage.py", *command], cwd=ROOT, check=True, capture_output=True)

    import django

    django.setup()
    if "REDIS_URL" not in os.environ:
        import atexit

        from stack import embedded_redis

        atexit.register(embedded_redis.stop, Path(data_dir))  # settings started it for this data dir
    from django.contrib.auth import get_user_model
    from django.db import connection
    from django.test import Client
    from django.utils import timezone

    from accounts.models import ApiToken, Membership, Team
    from runs import metricbatch, metricstore

    user = get_user_model().objects.create_user(username="profile", password="x")
    Membership.objects.get_or_create(user=user, team=Team.objects.get(slug="default"))
    _, key = ApiToken.issue(user, name="profile")
    client = Client(HTTP_AUTHORIZATION=f"Token {key}")
    started = client.post("/api/runs/start-logging/", {"experiment": "profile"}, content_type="application/json")
    run_id = started.json()["id"]
    path = f"/api/runs/{run_id}/metrics/"
    print(f"{connection.vendor}, data dir {data_dir}, run {run_id}, {args.points} points a batch")

    step = [0]

    def post() -> None:
        body = _body(args.points, step[0], args.columnar)
        step[0] += args.points
        answer = client.post(path, body, content_type="application/json")
        assert answer.status_code == 201, answer.content[:500]

    post()  # warm: imports, first statements, the summaries' rows
    spent = []
    profiler = cProfile.Profile() if args.profile else None
    for _ in range(args.batches):
        body = _body(args.points, step[0], args.columnar)
        step[0] += args.points
        t = time.process_time()
        if profiler:
            profiler.enable()
        answer = client.post(path, body, content_type="application/json")
        if profiler:
            profiler.disable()
        spent.append((time.process_time() - t) * 1000)
        assert answer.status_code == 201
    whole = median(spent)
    print(
        f"whole request: {whole:.1f} ms CPU median ({min(spent):.1f}–{max(spent):.1f}), "
        f"{args.points / whole * 1000:,.0f} points/s of one core"
    )

    from runs.models import Run

    run = Run.objects.get(pk=run_id)
    body = _body(args.points, step[0], args.columnar)
    data = json.loads(body)
    now = timezone.now()
    batch = metricbatch.parse_body(data, now)

    prepared = metricstore.prepare(batch)

    def write() -> None:
        metricstore._write(run.pk, prepared, now)

    phases: dict[str, Callable[[], Any]] = {
        "json.loads": lambda: json.loads(body),
        "validate (metricbatch.parse_body)": lambda: metricbatch.parse_body(data, now),
        "prepare (per-metric columns, packed arrays, summaries folded)": lambda: metricstore.prepare(batch),
        "write (summaries upsert, next positions, chunk rows + commit)": write,
        "live message (its text, on the publisher's thread)": lambda: metricstore._message(batch),
    }
    for name, fn in phases.items():
        print(f"  {name}: {_cpu(fn, 10):.1f} ms")
    if profiler:
        out = io.StringIO()
        stats = pstats.Stats(profiler, stream=out)
        stats.sort_stats("tottime").print_stats(args.top)
        print(out.getvalue())
        out = io.StringIO()
        stats = pstats.Stats(profiler, stream=out)
        stats.sort_stats("cumulative").print_stats(args.top + 20)
        print(out.getvalue())


if __name__ == "__main__":
    main()
