"""The one summary table of ``make bench``: measure, Runyard, peer, ratio, target, met.

Each benchmark script states its headline figures as ``Row``s and calls ``record(key,
rows)``; the rows go to a JSON file per benchmark under ``.runyard-data/bench-summary``
(so a script run alone still feeds the next table). ``bench/run_all.py`` prints the rows
recorded during its run as one table and writes it to RESULTS.md's ``summary`` section;
``python bench/summary.py`` prints the newest rows of every benchmark.

A row compares like with like: the peer's figure is measured in the same run,
interleaved with Runyard's (see each script), and ``load`` is the machine's 1-minute
load average while it was measured, because on a shared 2-core machine the figures move
with it.
"""

from __future__ import annotations

import json
import os
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
STORE = ROOT / ".runyard-data" / "bench-summary"


@dataclass(frozen=True)
class Row:
    """One headline figure. ``better`` says which way is good ("lower" for latencies,
    "higher" for throughputs); ``ratio`` is then how many times better Runyard is than the
    peer (> 1: Runyard ahead). ``target`` is a threshold in the same unit as ``runyard``."""

    measure: str
    unit: str
    runyard: float
    better: str  # "lower" | "higher"
    target: float | None = None
    peer: str = ""
    peer_value: float | None = None
    load: float | None = None
    note: str = ""

    @property
    def ratio(self) -> float | None:
        if self.peer_value is None or not self.runyard or not self.peer_value:
            return None
        return self.peer_value / self.runyard if self.better == "lower" else self.runyard / self.peer_value

    @property
    def met(self) -> bool | None:
        if self.target is None:
            return None
        return self.runyard <= self.target if self.better == "lower" else self.runyard >= self.target


def current_load() -> float:
    return os.getloadavg()[0]


def record(key: str, rows: list[Row]) -> Path:
    """Keep ``rows`` as benchmark ``key``'s newest headline figures."""
    STORE.mkdir(parents=True, exist_ok=True)
    path = STORE / f"{key}.json"
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps({"at": time.time(), "rows": [asdict(r) for r in rows]}, indent=1))
    tmp.replace(path)
    return path


def load_rows(since: float = 0.0) -> list[tuple[str, Row]]:
    """Every benchmark's newest rows recorded at or after ``since`` (epoch seconds)."""
    found: list[tuple[str, Row]] = []
    for path in sorted(STORE.glob("*.json")) if STORE.exists() else []:
        data = json.loads(path.read_text())
        if data["at"] >= since:
            found.extend((path.stem, Row(**row)) for row in data["rows"])
    return found


def _num(value: float | None, unit: str = "") -> str:
    if value is None:
        return "–"
    text = f"{value:,.0f}" if abs(value) >= 100 else f"{value:.3g}"
    return f"{text} {unit}".rstrip()


def table(rows: list[tuple[str, Row]]) -> str:
    """The rows as a Markdown table (also readable as plain text)."""
    lines = [
        "| measure | Runyard | peer | ratio | target | met | load |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for _key, r in rows:
        peer = f"{r.peer} {_num(r.peer_value, r.unit)}" if r.peer else "–"
        ratio = f"×{r.ratio:.2f}" if r.ratio is not None else "–"
        bound = "≤" if r.better == "lower" else "≥"
        target = f"{bound} {_num(r.target, r.unit)}" if r.target is not None else "–"
        met = {True: "yes", False: "**no**", None: "–"}[r.met]
        load = f"{r.load:.1f}" if r.load is not None else "–"
        measure = r.measure + (f" ({r.note})" if r.note else "")
        lines.append(f"| {measure} | {_num(r.runyard, r.unit)} | {peer} | {ratio} | {target} | {met} | {load} |")
    return "\n".join(lines)


if __name__ == "__main__":
    print(table(load_rows(float(sys.argv[1]) if len(sys.argv) > 1 else 0.0)))
