"""A tabular dataset's profile, computed in two streaming passes with bounded memory.

Pass 1 counts rows, nulls, distinct values (exact up to ``DISTINCT_CAP`` per column,
then reported as "at least"), min/max/mean of numbers and the most frequent values
(counted over at most ``TOP_CAP`` distinct values per column: beyond that the counts of
values first seen late are lower bounds, flagged by ``top_values_exact``). Pass 2 bins
the numeric columns into ``BINS`` equal-width bins between the min and max from pass 1.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from runyard.tabular import reader
from runyard.tabular.definition import Definition

DISTINCT_CAP = 100_000
TOP_CAP = 10_000
TOP = 10
BINS = 20


@dataclass
class ColumnProfile:
    name: str
    type: str
    count: int = 0
    nulls: int = 0
    distinct: int = 0
    distinct_exact: bool = True
    min: Any = None
    max: Any = None
    mean: float | None = None
    top_values: list[dict[str, Any]] = field(default_factory=list)
    top_values_exact: bool = True
    histogram: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class Profile:
    row_count: int
    columns: list[ColumnProfile]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class _Acc:
    """One column's running counts."""

    def __init__(self, name: str, kind: str) -> None:
        self.profile = ColumnProfile(name, kind)
        self.seen: set[Any] = set()
        self.counts: dict[Any, int] = {}
        self.total = 0.0

    def add(self, column: Any) -> None:
        pc = reader.require("pyarrow.compute")
        p = self.profile
        p.count += len(column)
        p.nulls += column.null_count
        valid = pc.drop_null(column)
        if not len(valid):
            return
        if p.type in ("int", "float", "datetime"):
            lo, hi = pc.min_max(valid).values()
            lo, hi = lo.as_py(), hi.as_py()
            p.min = lo if p.min is None else min(p.min, lo)
            p.max = hi if p.max is None else max(p.max, hi)
            if p.type != "datetime":
                self.total += float(pc.sum(valid).as_py() or 0)
        if p.distinct_exact:
            self.seen.update(pc.unique(valid).to_pylist())
            if len(self.seen) > DISTINCT_CAP:
                p.distinct_exact = False
                p.distinct = len(self.seen)
                self.seen = set()
        if p.type in ("string", "bool", "int"):
            counts = pc.value_counts(valid)
            for value, n in zip(counts.field("values").to_pylist(), counts.field("counts").to_pylist(), strict=True):
                if value in self.counts:
                    self.counts[value] += n
                elif len(self.counts) < TOP_CAP:
                    self.counts[value] = n
                else:
                    p.top_values_exact = False

    def finish(self) -> ColumnProfile:
        p = self.profile
        if p.distinct_exact:
            p.distinct = len(self.seen)
        valid = p.count - p.nulls
        if p.type in ("int", "float") and valid:
            p.mean = self.total / valid
        top = sorted(self.counts.items(), key=lambda kv: (-kv[1], str(kv[0])))[:TOP]
        p.top_values = [{"value": v, "count": n} for v, n in top]
        if p.type == "datetime":
            p.min = p.min.isoformat() if p.min is not None else None
            p.max = p.max.isoformat() if p.max is not None else None
        return p


def compute(
    files: Sequence[reader.SourceFile], definition: Definition, progress: Callable[[float], None] | None = None
) -> Profile:
    """The profile of the dataset as defined (its steps applied); ``progress`` gets 0..1."""
    np = reader.require("numpy")
    columns = reader.output_columns(definition)
    total = max(1, sum(f.path.stat().st_size for f in files))
    numeric = [c.name for c in columns if c.type in ("int", "float")]
    passes = 2 if numeric else 1

    def report(pass_no: int) -> Callable[[int], None]:
        return lambda done: progress((pass_no + min(done, total) / total) / passes) if progress else None

    accs = {c.name: _Acc(c.name, c.type) for c in columns}
    rows = 0
    for batch in reader.batches(files, definition, progress=report(0)):
        rows += batch.num_rows
        for name, acc in accs.items():
            acc.add(batch.column(batch.schema.get_field_index(name)))
    profiles = {name: acc.finish() for name, acc in accs.items()}
    edges: dict[str, Any] = {}
    for name in numeric:
        p = profiles[name]
        if p.min is not None and p.max is not None and math.isfinite(p.min) and math.isfinite(p.max):
            edges[name] = np.linspace(float(p.min), float(p.max) if p.max > p.min else float(p.min) + 1, BINS + 1)
    if edges:
        counts = {name: np.zeros(BINS, dtype=np.int64) for name in edges}
        for batch in reader.batches(files, definition, progress=report(1)):
            for name, bins in edges.items():
                values = batch.column(batch.schema.get_field_index(name)).drop_null().to_numpy(zero_copy_only=False)
                counts[name] += np.histogram(values.astype(np.float64), bins=bins)[0]
        for name, bins in edges.items():
            profiles[name].histogram = [
                {"start": float(bins[i]), "end": float(bins[i + 1]), "count": int(counts[name][i])} for i in range(BINS)
            ]
    if progress:
        progress(1.0)
    return Profile(rows, [profiles[c.name] for c in columns])
