"""Run every benchmark, one after the other (``make bench``); ``--quick`` for small sizes.

Each benchmark starts and stops its own stack and writes its own section of
bench/RESULTS.md; one that fails is reported and the others still run. Every
benchmark runs under a time limit (default 15 minutes each).
"""

from __future__ import annotations

import argparse
import signal
import subprocess
import sys
import time
from pathlib import Path

import summary  # bench/ is on sys.path: this file runs as a script
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
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="smaller counts (a few minutes in all)")
    parser.add_argument("--only", choices=ORDER, action="append", help="run only these (repeatable)")
    parser.add_argument("--timeout", type=float, default=900, help="seconds allowed per benchmark")
    parser.add_argument("--million", action="store_true", help="run_list at 100k and at 1M runs")
    args = parser.parse_args()
    failed = []
    began = time.time()
    for name in args.only or ORDER:
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
    print(f"\nResults: {BENCH / 'RESULTS.md'}" + (f"; failed: {', '.join(failed)}" if failed else ""))
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
