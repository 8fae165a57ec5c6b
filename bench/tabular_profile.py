"""Preview and profile of a large delimited file: wall time and peak memory.

    .venv/bin/python bench/tabular_profile.py --size-mb 1024 [--dir /tmp/tabular-bench]

Writes a CSV of about ``--size-mb`` (ids, a category, two floats, a timestamp, text),
then, each in a fresh child process so peak RSS is its own, infers the columns, previews
the first 50 rows and computes the full profile (the Celery task's body,
datasets.tabular.profile.compute) through runyard.tabular.reader.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def generate(path: Path, size_mb: int) -> None:
    import numpy as np
    import pyarrow as pa
    import pyarrow.csv as csv

    rng = np.random.default_rng(0)
    rows = 1_000_000
    written = 0
    with path.open("wb") as fh:
        first = True
        start = 0
        while written < size_mb << 20:
            ids = np.arange(start, start + rows)
            table = pa.table(
                {
                    "id": ids,
                    "category": pa.array(np.array(["alpha", "beta", "gamma", "delta"])[ids % 4]),
                    "x": rng.normal(size=rows),
                    "y": rng.uniform(0, 1000, size=rows),
                    "when": pa.array((ids * 1_000_000).astype("datetime64[us]")),
                    "note": pa.array(np.char.add("row-", (ids % 9973).astype(str))),
                }
            )
            csv.write_csv(table, fh, csv.WriteOptions(include_header=first))
            first = False
            start += rows
            written = fh.tell()


def child(mode: str, path: str) -> None:
    from datasets.tabular.profile import compute
    from runyard.tabular.definition import Definition, ParseOptions
    from runyard.tabular.reader import SourceFile, head, infer_columns

    files = [SourceFile("big.csv", Path(path))]
    t0 = time.perf_counter()
    columns = infer_columns(files, ParseOptions())
    definition = Definition(columns=columns)
    if mode == "preview":
        rows = head(files, definition, 50).num_rows
        extra = {"rows": rows}
    else:
        profile = compute(files, definition)
        extra = {"rows": profile.row_count}
    seconds = time.perf_counter() - t0
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"mode": mode, "seconds": round(seconds, 2), "peak_rss_mb": round(peak_mb), **extra}))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--size-mb", type=int, default=1024)
    parser.add_argument("--dir", default="/tmp/tabular-bench")
    parser.add_argument("--child", nargs=2)
    args = parser.parse_args()
    if args.child:
        child(*args.child)
        return
    folder = Path(args.dir)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"big-{args.size_mb}.csv"
    if not path.exists():
        t0 = time.perf_counter()
        generate(path, args.size_mb)
        print(f"generated {path} ({path.stat().st_size / 2**20:.0f} MiB) in {time.perf_counter() - t0:.0f}s")
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "config.settings"}
    for mode in ("preview", "profile"):
        out = subprocess.run(
            [sys.executable, __file__, "--child", mode, str(path)], capture_output=True, text=True, env=env, check=True
        )
        print(out.stdout.strip())
    print(f"load average: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")


if __name__ == "__main__":
    main()
