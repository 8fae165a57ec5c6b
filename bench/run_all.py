"""Run every benchmark, one after the other (``make bench``); ``--quick`` for small sizes.

Each benchmark starts and stops its own stack and writes its own section of
bench/RESULTS.md; one that fails is reported and the others still run. Every
benchmark runs under a time limit (default 15 minutes each). The run ends with one
summary table (measure, Runyard, peer, ratio, target, met, load) of the headline rows
the benchmarks recorded during this run (bench/summary.py).

Peers (MLflow's tracking server, Ray Jobs, Prefect: bench/peers.py) are measured in the
same run, side by side with Runyard, unless ``--no-peers``. They install on first use,
each into a venv of its own (``python bench/peers.py where`` says where), before the
first benchmark starts, so the install is not charged to any benchmark's time limit.
``--no-peers`` sets RUNYARD_BENCH_PEERS=0 for every benchmark and skips those that
measure nothing but a peer comparison (mlflow_batch).
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import peers  # bench/ is on sys.path: this file runs as a script
import summary
from harness import load, machine, write_section

BENCH = Path(__file__).resolve().parent
ORDER = [
    "submit_latency",
    "log_stream",
    "env_build",
    "conda_build",
    "run_list",
    "run_workbench",
    "compare_view",
    "sweep_overhead",
    "sysmetrics",
    "memory",
    "metrics_ingest",
    "mlflow_batch",
]
PEER_ONLY = {"mlflow_batch"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="smaller counts (a few minutes in all)")
    parser.add_argument("--only", choices=ORDER, action="append", help="run only these (repeatable)")
    parser.add_argument("--timeout", type=float, default=900, help="seconds allowed per benchmark")
    parser.add_argument("--million", action="store_true", help="run_list at 100k and at 1M runs")
    parser.add_argument(
        "--peers",
        action=argparse.BooleanOptionalAction,
        default=peers.enabled(),
        help="measure the peers (MLflow, Ray, Prefect) in the same run (default: yes; installs them on first use)",
    )
    args = parser.parse_args()
    os.environ["RUNYARD_BENCH_PEERS"] = "1" if args.peers else "0"  # inherited by every benchmark
    names = [n for n in args.only or ORDER if args.peers or n not in PEER_ONLY]
    if args.peers:
        for peer in peers.PEERS:
            env = peers.ensure(peer)
            print(f"[peers] {peer} {env.version()} in {env.root}", flush=True)
    failed = []
    began = time.time()
    for name in names:
        cmd = [sys.executable, str(BENCH / f"{name}.py")]
        if args.quick:
            cmd.append("--quick")
        if name == "run_list" and args.million and not args.quick:
            cmd += ["--sizes", "100000,1000000"]
        print(f"\n=== {name}: {' '.join(cmd[1:])}", flush=True)
        t = time.monotonic()
        proc = subprocess.Popen(cmd)
        try:
            code = proc.wait(timeout=args.timeout)
        except (subprocess.TimeoutExpired, KeyboardInterrupt) as exc:
            # SIGTERM lets the benchmark stop the stack it started; then give up on it.
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
            if isinstance(exc, KeyboardInterrupt):
                raise
            code = -1
            print(f"=== {name}: stopped after {args.timeout:g}s", flush=True)
        print(f"=== {name}: exit {code} in {time.monotonic() - t:.0f}s", flush=True)
        if code != 0:
            failed.append(name)
    rows = summary.load_rows(since=began)
    if rows:
        text = summary.table(rows)
        print("\n" + text)
        write_section(
            "summary",
            f"## Summary of the last `make bench`\n\n_{machine()}; load (1/5/15 min) {load()} at the end._\n\n{text}\n",
        )
    # A benchmark that ran but stated no headline is a gap in the table: say so rather than
    # let the table look complete.
    silent = [n for n in names if n not in failed and not any(key.startswith(n) for key, _ in rows)]
    if silent:
        print(f"\nNo headline rows from: {', '.join(silent)}")
    print(f"\nResults: {BENCH / 'RESULTS.md'}" + (f"; failed: {', '.join(failed)}" if failed else ""))
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
