"""Sweep controller overhead per child: a sweep of N trivial children against N plain runs.

Both run the same one-line script on the ``local`` target (capacity 4) with the same
worker. Plain: all N submitted at once (the target's queue holds them), timed from the
first POST until the last run ended. Sweep: one POST of a Random sweep with
``max_concurrent_runs`` 4 and ``max_total_runs`` N, timed until the sweep's run ended.
The difference per child is what the controller costs end to end: a child is created
only after another ended (event → controller step → submit → dispatch), where the plain
runs were already waiting in the queue. The worker's log gives each controller step's
own time (Celery's "succeeded in"), and how many steps ran per child.

``python bench/sweep_overhead.py [--quick] [--children N]``
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import summary
from harness import TERMINAL, Api, Section, Stack, make_tar, multipart, pct, verdict

SCRIPT = "print('trivial')\n"
CONCURRENCY = 4


def plain(api: Api, n: int) -> tuple[float, float]:
    """(wall time, of which the N POSTs)."""
    t0 = time.monotonic()
    for _ in range(n):
        api.submit({"train.py": SCRIPT}, experiment="bench-sweep-plain")
    posted = time.monotonic() - t0
    while True:
        statuses = "&".join(f"status={s}" for s in sorted(TERMINAL))
        done = api.get(f"/api/runs/?experiment=bench-sweep-plain&{statuses}&limit=500")
        if len(done["results"]) >= n:
            return time.monotonic() - t0, posted
        time.sleep(0.1)


def windowed(api: Api, n: int) -> float:
    """A client doing the sweep's job: CONCURRENCY runs in flight, the next submitted as one ends."""
    t0 = time.monotonic()
    flying: list[int] = []
    submitted = 0
    while submitted < n or flying:
        while submitted < n and len(flying) < CONCURRENCY:
            flying.append(api.submit({"train.py": SCRIPT}, experiment="bench-sweep-window")["id"])
            submitted += 1
        flying = [i for i in flying if api.get(f"/api/runs/{i}/")["status"] not in TERMINAL]
        time.sleep(0.02)
    return time.monotonic() - t0


def sweep(api: Api, n: int) -> tuple[float, dict[str, object]]:
    config = {
        "hyperparameter_sampling": {"name": "RANDOM", "parameter_space": {"x": ["uniform", [0, 1]]}},
        "primary_metric_config": {"name": "acc", "goal": "maximize"},
        "max_total_runs": n,
        "max_concurrent_runs": CONCURRENCY,
        "seed": 1,
    }
    fields = {"script": "train.py", "experiment": "bench-sweep", "hyperdrive": json.dumps(config)}
    body, ctype = multipart(fields, {"snapshot": ("src.tar.gz", make_tar({"train.py": SCRIPT}))})
    t0 = time.monotonic()
    status, data = api.request("POST", "/api/sweeps/", body, {"Content-Type": ctype})
    if status != 201:
        raise RuntimeError(f"sweep: {status} {data[:1000]!r}")
    sweep_id = json.loads(data)["id"]
    while True:
        state = api.get(f"/api/sweeps/{sweep_id}/")
        if state["status"] in TERMINAL:
            return time.monotonic() - t0, state
        time.sleep(0.1)


def controller_steps(log: Path, since: int) -> list[float]:
    text = log.read_bytes()[since:].decode(errors="replace")
    return [float(s) for s in re.findall(r"sweeps\.tasks\.advance\[[^\]]+\] succeeded in ([0-9.]+)s", text)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="40 children instead of 200")
    parser.add_argument("--children", type=int)
    parser.add_argument("--data-dir")
    args = parser.parse_args()
    n = args.children or (40 if args.quick else 200)
    section = Section("sweep_overhead", f"Sweep controller overhead per child ({n} trivial children)", args.quick)
    with Stack(args.data_dir, concurrency=CONCURRENCY + 2) as stack:
        api = stack.api()
        warm = api.submit({"train.py": SCRIPT}, experiment="bench-warm")
        api.wait_terminal(warm["id"], timeout=600)
        plain_s, posted_s = plain(api, n)
        print(f"{n} plain runs: {plain_s:.1f} s (POSTs {posted_s:.1f} s)", flush=True)
        window_s = windowed(api, n)
        print(f"{n} plain runs, {CONCURRENCY} in flight: {window_s:.1f} s", flush=True)
        log = stack.data_dir / "bench-logs" / "worker.log"
        offset = log.stat().st_size if log.exists() else 0
        sweep_s, state = sweep(api, n)
        print(f"sweep of {n}: {sweep_s:.1f} s ({state['status']}, {state['end_reason']})", flush=True)
        steps = controller_steps(log, offset) if log.exists() else []
        api.close()
    per_child = (sweep_s - window_s) / n
    section.add(
        f"`local` target, capacity {CONCURRENCY}; the script prints one line; "
        f"the sweep's `max_concurrent_runs` is {CONCURRENCY}."
    )
    section.add("")
    section.add("| | wall time | per run |")
    section.add("| --- | --- | --- |")
    section.add(
        f"| {n} plain runs, submitted at once (of which the POSTs: {posted_s:.1f} s) | {plain_s:.1f} s | "
        f"{plain_s / n * 1000:.0f} ms |"
    )
    section.add(
        f"| {n} plain runs, a client keeping {CONCURRENCY} in flight | {window_s:.1f} s | "
        f"{window_s / n * 1000:.0f} ms |"
    )
    section.add(f"| sweep of {n} children | {sweep_s:.1f} s | {sweep_s / n * 1000:.0f} ms |")
    section.add(f"| **controller overhead per child** (sweep − client in flight) | | **{per_child * 1000:.0f} ms** |")
    section.add(f"| sweep − all at once | | {(sweep_s - plain_s) / n * 1000:.0f} ms |")
    section.add("")
    section.add(
        "All at once pays N client POSTs up front and then N dispatch loops waiting for a free slot "
        "(busy → re-sent with backoff, `runs/dispatch.py`); the sweep creates a child only when a slot "
        "is free, so its dispatch claims at once."
    )
    section.add("")
    counts = state.get("children_by_status")
    section.add(f"Sweep ended {state['status']} ({state['end_reason']}); children by status: {counts}.")
    if steps:
        section.add(
            f"Controller steps: {len(steps)} ({len(steps) / n:.2f} per child), "
            f"each p50 {pct(steps, 50) * 1000:.1f} ms / "
            f"p95 {pct(steps, 95) * 1000:.1f} ms / max {max(steps) * 1000:.1f} ms in the worker; "
            f"{sum(steps):.1f} s in all ({sum(steps) / n * 1000:.1f} ms of worker time per child)."
        )
    section.add(f"Overhead per child ≤ 100 ms (a child's own submit-to-start budget): {verdict(per_child <= 0.1)}.")
    section.write()
    summary.record(
        "sweep_overhead",
        [
            summary.Row(
                "Sweep controller overhead per child", "ms", per_child * 1000, "lower", 100.0,
                load=summary.current_load(), note=f"{n} children",
            )
        ],
    )  # fmt: skip


if __name__ == "__main__":
    main()
