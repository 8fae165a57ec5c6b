"""What system-metric sampling costs the worker (execution/sysmetrics.py).

Starts a process tree like a distributed run's: RANKS rank processes, each with
CHILDREN children (data loaders), all sleeping. Then times ``Sampler.points`` (the
psutil walk of every rank's tree, /proc/<pid>/net/dev, nvidia-smi when present) over
many samples with ``time.process_time`` (CPU, not wall), and the share of one core it
takes at the default interval (RUNYARD_SYSTEM_METRICS_SECONDS=10) and at 1 s. Target
(issue 18): under 1% of a core. Storing the points is one bulk insert of ~4 rows per
rank through runs.metricstore, measured by bench/ of metrics throughput, not here.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import summary
from harness import ROOT, Section, pct

CHILD = "import time; time.sleep(600)"
RANK = (
    "import subprocess, sys, time\n"
    "kids = [subprocess.Popen([sys.executable, '-c', {child!r}]) for _ in range({n})]\n"
    "time.sleep(600)\n"
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    ranks, children, samples = (4, 2, 50) if args.quick else (8, 3, 300)

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    from execution.backends.base import ProcessInfo
    from execution.sysmetrics import Sampler

    procs = [
        subprocess.Popen([sys.executable, "-c", RANK.format(child=CHILD, n=children)], start_new_session=True)
        for _ in range(ranks)
    ]
    try:
        time.sleep(1.5)  # the children are up
        infos = [ProcessInfo(rank=i, pid=p.pid) for i, p in enumerate(procs)]
        sampler = Sampler(0, interval=10)
        sampler.start(infos)
        costs = []
        points = 0
        for _ in range(samples):
            before = time.process_time()
            points = len(sampler.points(infos))
            costs.append(time.process_time() - before)
    finally:
        for p in procs:
            os.killpg(p.pid, 9)
            p.wait()

    section = Section("sysmetrics", "System metrics sampling cost (worker side)", args.quick)
    p50, p95 = pct(costs, 50), pct(costs, 95)
    gpu = "nvidia-smi present" if sampler._gpu else "no nvidia-smi on this machine (GPU query not measured)"
    section.add(
        f"{ranks} ranks × {children + 1} processes each ({ranks * (children + 1)} processes), {samples} samples, "
        f"{points} points a sample; {gpu}."
    )
    section.add("")
    section.add("| | CPU per sample p50 | p95 | share of one core at 10 s (default) | at 1 s |")
    section.add("| --- | --- | --- | --- | --- |")
    section.add(
        f"| Sampler.points | {p50 * 1000:.2f} ms | {p95 * 1000:.2f} ms | {p50 / 10 * 100:.3f}% | {p50 / 1 * 100:.2f}% |"
    )
    section.add("")
    ok = p95 / 10 < 0.01
    section.add(f"Target < 1% of a core at the default interval: {'met' if ok else 'NOT met'}.")
    section.write()
    summary.record(
        "sysmetrics",
        [
            summary.Row(
                "System-metric sampling, share of a core (p95 cost at 10 s)", "%", p95 / 10 * 100, "lower", 1.0,
                load=summary.current_load(), note=f"{ranks * (children + 1)} processes",
            )
        ],
    )  # fmt: skip


if __name__ == "__main__":
    main()
