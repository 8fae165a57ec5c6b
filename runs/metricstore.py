"""Metric points: stored in batches, announced to watchers, read back. Every reader of a
run's points goes through here.

Scalars (nearly every point) are stored as ``MetricChunk`` rows, one per metric name and
batch, the points packed into arrays (``runs.metricchunks`` has the format); lists,
rows, images and texts stay a ``Metric`` row each (low volume). ``prepare`` splits a
validated batch by metric (slices of the columns, no step per point) and packs it; the
write is one transaction: the metrics' summaries in one upsert (``runs.summaries``),
which on PostgreSQL also locks the names' summary rows, so concurrent batches of one
metric (ranks logging ``loss`` at once) take their positions one after the other; one
query for each metric's next position (the last chunk's, one index seek per name); the
chunks in one ``executemany`` (a binary COPY on PostgreSQL), the other points in one
statement. Then one live message to the run's watchers (built only when someone
watches) and one ``metrics_stored`` signal (the sweep controller wakes on it).

A metric's points are numbered by position (0, 1, 2 … in logging order: the order of
its batches, one at a time per sender, then of the batch). A point logged without a
step keeps no step (the API answers null); charts, compare and the thinned series draw
it at its position, as they drew it at its index before the chunks.

Why chunks: a row per point cost ~30 ms of a 5000-point SQLite request (B-tree work for
5000 rows and their index entries, a timestamp text each; bench/RESULTS.md "metrics
ingest"); ten chunk rows cost well under a millisecond, and a reader unpacks a chunk's
arrays in C instead of building a row per point.
"""

from __future__ import annotations

import heapq
import json
import math
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from itertools import repeat
from operator import itemgetter
from typing import Any, NamedTuple

from django.db import connection, transaction
from django.db.models import Max, OuterRef, Q, QuerySet, Subquery, Sum
from django.utils import timezone

from runs import events, metricchunks, signals, summaries
from runs.metricbatch import Columns, Point
from runs.metricchunks import Packed
from runs.models import Metric, MetricChunk, Run

__all__ = [
    "Chunk",
    "Columns",
    "Point",
    "ScalarPoint",
    "chunks",
    "grouped",
    "has_points",
    "last_logged_at",
    "latest_subquery",
    "latest_values",
    "means",
    "mlflow_latest",
    "points",
    "scalar_points",
    "store",
    "store_columns",
    "store_points",
    "values_by_run",
]

COLUMNS = ("run", "name", "kind", "value", "payload", "step", "at")
CHUNK_COLUMNS = (
    "run_id",
    "name",
    "first_position",
    "last_position",
    "count",
    "min_value",
    "max_value",
    "value_sum",
    "last_at",
    "top_step",
    "top_at",
    "top_value",
    "value_bytes",
    "step_bytes",
    "time_bytes",
)
FETCH_CHUNKS = 50  # rows per fetch while reading: ~6 MB of arrays at most


# ---- writing --------------------------------------------------------------------------
def store(run: Run, points: list[dict[str, Any]]) -> int:
    """Store points given as dicts by our own code (the MLflow API, system metrics):
    already valid; ``time`` may be any aware datetime (default: now). A non-finite
    scalar is kept as a text point (as the MLflow API keeps its NaNs): chunks hold
    finite values only."""
    now = timezone.now()
    rows = []
    for p in points:
        at = p.get("time") or now
        if at.utcoffset():
            at = at.astimezone(UTC)
        kind, value, payload = p.get("kind", "scalar"), p.get("value"), p.get("payload")
        if kind == "scalar" and (value is None or not math.isfinite(value)):
            kind, value, payload = "text", None, str(value)
        rows.append(Point(p["name"], kind, value, payload, p.get("step"), at))
    return store_points(run, rows, now)


def store_points(run: Run, rows: list[Point], now: datetime) -> int:
    """Store a validated batch (``runs.metricbatch.parse``; ``at`` in UTC)."""
    return store_columns(run, Columns.of(rows), now)


def store_columns(run: Run, batch: Columns, now: datetime) -> int:
    """Store a validated batch as columns (``runs.metricbatch.parse_body``)."""
    if not len(batch):
        return 0
    _write(run.pk, prepare(batch), now)
    # One message per batch, serialized once (on the publisher's thread, off the request);
    # every watcher forwards the text.
    events.metrics_logged(run.pk, lambda: _message(batch))
    names = set(batch.names)
    transaction.on_commit(lambda: signals.metrics_stored.send_robust(Run, run=run, names=names))
    return len(batch)


@dataclass(frozen=True)
class Prepared:
    """A batch made ready to write: its scalars packed per metric, their summaries folded,
    its other points."""

    chunks: list[Packed]
    folded: dict[str, summaries.Aggregate]
    others: Columns | None


def prepare(batch: Columns) -> Prepared:
    scalars, others = _split(batch)
    packed = [metricchunks.pack(name, *columns) for name, columns in scalars.items()]
    folded = {
        p.name: summaries.Aggregate(columns[0][-1], columns[1][-1], p.min_value, p.max_value, p.count)
        for p, columns in zip(packed, scalars.values(), strict=True)
    }
    return Prepared(packed, folded, others)


def _write(run_id: int, prepared: Prepared, now: datetime) -> None:
    with transaction.atomic():
        if prepared.chunks:
            summaries.record_points(run_id, prepared.folded, now)  # first: it locks the names' summaries
            _insert_chunks(run_id, prepared.chunks)
        if prepared.others is not None:
            _insert(run_id, prepared.others)


Series = tuple[Sequence[float], Sequence[int | None], Sequence[float]]  # values, steps, times


def _split(batch: Columns) -> tuple[dict[str, Series], Columns | None]:
    """The batch's scalars by name, each metric's (values, steps, times) in batch order,
    and the other points (None: there are none)."""
    if batch.kinds is None:
        return _by_name(batch.names, batch.values, batch.steps, batch.times), None  # type: ignore[arg-type]
    scalar = [i for i, kind in enumerate(batch.kinds) if kind == "scalar"]
    if len(scalar) == len(batch):
        return _by_name(batch.names, batch.values, batch.steps, batch.times), None  # type: ignore[arg-type]
    chosen = set(scalar)
    others = batch.subset([i for i in range(len(batch)) if i not in chosen])
    if not scalar:
        return {}, others
    part = batch.subset(scalar)
    return _by_name(part.names, part.values, part.steps, part.times), others  # type: ignore[arg-type]


def _by_name(
    names: Sequence[str], values: Sequence[float], steps: Sequence[int | None], times: Sequence[float]
) -> dict[str, Series]:
    """Each name's columns. The SDK's usual batch cycles through the same names
    (``loss, acc, loss, acc …``): then each name's points are a slice of every column, in
    C; otherwise the points are grouped by their indices."""
    distinct = list(dict.fromkeys(names))
    k, n = len(distinct), len(names)
    if k == 1:
        return {distinct[0]: (values, steps, times)}
    if list(names[:k]) == distinct and list(names) == (distinct * (n // k + 1))[:n]:
        return {name: (values[j::k], steps[j::k], times[j::k]) for j, name in enumerate(distinct)}
    indices: dict[str, list[int]] = {name: [] for name in distinct}
    for i, name in enumerate(names):
        indices[name].append(i)
    out: dict[str, Series] = {}
    for name, where in indices.items():
        if len(where) == 1:
            i = where[0]
            out[name] = ([values[i]], [steps[i]], [times[i]])
        else:
            pick = itemgetter(*where)
            out[name] = (pick(values), pick(steps), pick(times))
    return out


def _next_positions(run_id: int, names: list[str]) -> dict[str, int]:
    """Each metric's next position: one past its last chunk's (one index seek each, in one
    statement). Read after the summaries' upsert, which serialises batches of a metric."""
    qn = connection.ops.quote_name
    table = qn(MetricChunk._meta.db_table)
    one = (
        f"SELECT %s, (SELECT {qn('last_position')} FROM {table} WHERE {qn('run_id')} = %s AND {qn('name')} = %s "
        f"ORDER BY {qn('first_position')} DESC LIMIT 1)"
    )
    params: list[Any] = []
    for name in names:
        params += [name, run_id, name]
    with connection.cursor() as cursor:
        cursor.execute(" UNION ALL ".join([one] * len(names)), params)
        return {name: (-1 if last is None else last) + 1 for name, last in cursor.fetchall()}


# PostgreSQL types of CHUNK_COLUMNS, for the binary COPY.
CHUNK_PG_TYPES = (
    "int8",
    "varchar",
    "int8",
    "int8",
    "int4",
    "float8",
    "float8",
    "float8",
    "timestamptz",
    "int8",
    "timestamptz",
    "float8",
    "bytea",
    "bytea",
    "bytea",
)


def _at(t: float) -> datetime:
    return datetime.fromtimestamp(t, UTC)


def _insert_chunks(run_id: int, packed: list[Packed]) -> None:
    """The chunk rows: a binary COPY on PostgreSQL (Django's client-side binding would
    send each array as a hex literal, twice its bytes, for the server to parse), one
    ``executemany`` elsewhere."""
    start = _next_positions(run_id, [p.name for p in packed])
    qn = connection.ops.quote_name
    postgres = connection.vendor == "postgresql"
    stamp = (lambda at: at) if postgres else connection.ops.adapt_datetimefield_value

    def at(t: float) -> Any:
        return stamp(_at(t))

    rows = []
    for p in packed:
        first = start[p.name]
        rows.append(
            (
                run_id,
                p.name,
                first,
                first + p.count - 1,
                p.count,
                p.min_value,
                p.max_value,
                p.value_sum,
                at(p.last_time),
                p.top_step,
                at(p.top_time),
                p.top_value,
                p.value_bytes,
                p.step_bytes,
                p.time_bytes,
            )
        )
    table = qn(MetricChunk._meta.db_table)
    columns = ", ".join(qn(c) for c in CHUNK_COLUMNS)
    with connection.cursor() as cursor:
        if postgres:
            with cursor.copy(f"COPY {table} ({columns}) FROM STDIN (FORMAT BINARY)") as pg_copy:
                pg_copy.set_types(CHUNK_PG_TYPES)
                for row in rows:
                    pg_copy.write_row(row)
            return
        marks = ", ".join(["%s"] * len(CHUNK_COLUMNS))
        cursor.executemany(f"INSERT INTO {table} ({columns}) VALUES ({marks})", rows)


def _insert(run_id: int, batch: Columns) -> None:
    """The non-scalar points: one statement of plain tuples (``bulk_create`` spent ~0.1 ms
    of CPU per point on model instances and field preparation)."""
    meta = Metric._meta
    qn = connection.ops.quote_name
    fields = {f.name: f for f in meta.concrete_fields}
    columns = ", ".join(qn(str(fields[name].column)) for name in COLUMNS)
    table = qn(meta.db_table)
    n = len(batch)
    kinds = batch.kinds or repeat("scalar", n)
    dumps = json.dumps  # OrderedJSONField's text, without a field call per point
    payloads = repeat(None, n) if batch.payloads is None else [None if p is None else dumps(p) for p in batch.payloads]
    ats = batch.ats
    with transaction.atomic(), connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            # psycopg adapts aware datetimes itself (in C).
            with cursor.copy(f"COPY {table} ({columns}) FROM STDIN") as pg_copy:
                write = pg_copy.write_row
                for row in zip(
                    repeat(run_id, n), batch.names, kinds, batch.values, payloads, batch.steps, ats, strict=True
                ):
                    write(row)
            return
        if connection.vendor == "sqlite":
            stamps: Iterable[Any] = _sqlite_stamps(ats)
        else:
            stamps = map(connection.ops.adapt_datetimefield_value, ats)
        params = list(
            zip(repeat(run_id, n), batch.names, kinds, batch.values, payloads, batch.steps, stamps, strict=True)
        )
        marks = ", ".join(["%s"] * len(COLUMNS))
        cursor.executemany(f"INSERT INTO {table} ({columns}) VALUES ({marks})", params)


def _sqlite_stamps(ats: Iterable[datetime]) -> list[str]:
    """What Django's SQLite backend stores for aware UTC datetimes (naive UTC text, the
    ``str`` of the naive datetime), without its per-value timezone conversion: one C call
    a point (every ``at`` here is UTC, so its ISO text ends in the six characters "+00:00")."""
    return [at.isoformat(" ")[:-6] for at in ats]


def _message(batch: Columns) -> str:
    """The websocket "metrics" message of a batch, the text ``send_json`` would make of
    ``{"type": "metrics", "points": [{"name", "kind", "value", "payload", "step", "at"}]}``,
    built by formatting: a dict and a ``json.dumps`` per point cost 18 ms per 5000-point
    batch, as much as storing it, against about 8. Names are encoded once each; a finite
    float's ``repr`` is the text ``json.dumps`` gives it (values are finite: the API
    refuses others, MLflow's are stored as text)."""
    dumps = json.dumps
    names = {name: dumps(name) for name in set(batch.names)}
    n = len(batch)
    kinds = batch.kinds or repeat("scalar", n)
    payloads = repeat("null", n) if batch.payloads is None else [dumps(p) for p in batch.payloads]
    parts = [
        f'{{"name": {names[name]}, "kind": "{kind}", "value": {"null" if value is None else repr(value)}, '
        f'"payload": {payload}, "step": {"null" if step is None else step}, "at": "{at}"}}'
        for name, kind, value, payload, step, at in zip(
            batch.names, kinds, batch.values, payloads, batch.steps, iso_times(batch.times), strict=True
        )
    ]
    return '{"type": "metrics", "points": [' + ", ".join(parts) + "]}"


def iso_times(times: Iterable[float]) -> list[str]:
    """``datetime.fromtimestamp(t, UTC).isoformat()`` of each unix time, at half the cost
    (4.5 → 2.2 ms a 5000-point batch, two thirds of the live text): a datetime is made
    once per whole second, and the microseconds are rounded as ``fromtimestamp`` rounds
    them (the fraction times 1e6, half to even, carried into the second)."""
    out: list[str] = []
    append = out.append
    prefixes: dict[int, str] = {}
    modf = math.modf
    for t in times:
        fraction, whole = modf(t)
        micros = round(fraction * 1e6)
        second = int(whole)
        if micros >= 1_000_000:
            micros -= 1_000_000
            second += 1
        elif micros < 0:
            micros += 1_000_000
            second -= 1
        prefix = prefixes.get(second)
        if prefix is None:
            prefix = prefixes[second] = datetime.fromtimestamp(second, UTC).isoformat()[:-6]
        append(f"{prefix}.{micros:06d}+00:00" if micros else f"{prefix}+00:00")
    return out


# ---- reading --------------------------------------------------------------------------
class ScalarPoint(NamedTuple):
    """One stored scalar point; ``time`` in unix seconds."""

    name: str
    position: int
    value: float
    step: int | None
    time: float

    @property
    def at(self) -> datetime:
        return _at(self.time)


@dataclass(frozen=True, slots=True)
class Chunk:
    """One unpacked MetricChunk: positions ``first`` … ``first + len(values) - 1``."""

    run_id: int
    name: str
    first: int
    values: list[float]
    steps: list[int | None]
    times: list[float]

    def xs(self) -> list[int]:
        """Each point's step, or its position where it has none (the charts' x)."""
        if None not in self.steps:
            return self.steps  # type: ignore[return-value]  # no None: checked
        return [p if s is None else s for p, s in enumerate(self.steps, self.first)]

    def points(self) -> list[ScalarPoint]:
        name = self.name
        return [
            ScalarPoint(name, p, v, s, t)
            for p, v, s, t in zip(
                range(self.first, self.first + len(self.values)), self.values, self.steps, self.times, strict=True
            )
        ]


def chunks(
    run_ids: Iterable[int], names: Iterable[str] | None = None, *, first: int = 0, last: int | None = None
) -> Iterator[Chunk]:
    """The runs' scalar chunks (of ``names``; holding a position in ``first`` … ``last``),
    unpacked, by run, name and position; ``FETCH_CHUNKS`` rows at a time."""
    rows = MetricChunk.objects.filter(run_id__in=list(run_ids))
    if names is not None:
        rows = rows.filter(name__in=sorted(names))
    if first:
        rows = rows.filter(last_position__gte=first)
    if last is not None:
        rows = rows.filter(first_position__lte=last)
    columns = ("run_id", "name", "first_position", "count", "value_bytes", "step_bytes", "time_bytes")
    ordered = rows.order_by("run_id", "name", "first_position").values_list(*columns)
    for run_id, name, first_position, count, value_bytes, step_bytes, time_bytes in ordered.iterator(
        chunk_size=FETCH_CHUNKS
    ):
        yield Chunk(
            run_id,
            name,
            first_position,
            metricchunks.values(value_bytes),
            metricchunks.steps(step_bytes, count),
            metricchunks.times(time_bytes),
        )


def scalar_points(
    run_id: int, name: str | None = None, *, offset: int = 0, limit: int | None = None
) -> list[ScalarPoint]:
    """The run's scalar points (of one metric), by name and position; ``offset`` and
    ``limit`` page one metric's points by position (MLflow's get-history)."""
    if (offset or limit is not None) and name is None:
        raise ValueError("pages are of one metric: give its name")
    last = None if limit is None else offset + limit - 1
    if limit == 0:
        return []
    out: list[ScalarPoint] = []
    for chunk in chunks([run_id], None if name is None else [name], first=offset, last=last):
        out.extend(p for p in chunk.points() if p.position >= offset and (last is None or p.position <= last))
    return out


def has_points(run_id: int) -> bool:
    """Whether the run has any metric point stored."""
    return MetricChunk.objects.filter(run_id=run_id).exists() or Metric.objects.filter(run_id=run_id).exists()


def points(run_id: int, name: str | None = None) -> dict[str, list[Point]]:
    """Each metric's points of every kind in logging order, by name (sorted). A name with
    both scalar and other points (MLflow's NaN among a metric's numbers is a text point)
    has the two merged by time, each kept in its own order."""
    scalars: dict[str, list[Point]] = {}
    for chunk in chunks([run_id], None if name is None else [name]):
        stored = scalars.setdefault(chunk.name, [])
        stored.extend(
            Point(chunk.name, "scalar", v, None, s, _at(t))
            for v, s, t in zip(chunk.values, chunk.steps, chunk.times, strict=True)
        )
    others: dict[str, list[Point]] = {}
    rows = Metric.objects.filter(run_id=run_id)
    if name:
        rows = rows.filter(name=name)
    for n, kind, value, payload, step, at in (
        rows.order_by("name", "id")
        .values_list("name", "kind", "value", "payload", "step", "at")
        .iterator(chunk_size=5000)
    ):
        others.setdefault(n, []).append(Point(n, kind, value, payload, step, at))
    out: dict[str, list[Point]] = {}
    for n in sorted(scalars.keys() | others.keys()):
        if n in scalars and n in others:
            out[n] = list(heapq.merge(scalars[n], others[n], key=lambda p: p.at))
        else:
            out[n] = scalars.get(n) or others[n]
    return out


def grouped(run_id: int, name: str | None = None) -> dict[str, list[dict[str, Any]]]:
    """``GET /api/runs/<id>/metrics/``: each metric's points, oldest first, by name."""
    return {
        n: [
            {"kind": p.kind, "value": p.value, "payload": p.payload, "step": p.step, "at": p.at.isoformat()} for p in ps
        ]
        for n, ps in points(run_id, name or None).items()
    }


def values_by_run(run_ids: Iterable[int], name: str) -> dict[int, list[float]]:
    """One metric's values of each run, in logging order (a sweep's primary metric)."""
    out: dict[int, list[float]] = {run_id: [] for run_id in run_ids}
    for chunk in chunks(out, [name]):
        out[chunk.run_id].extend(chunk.values)
    return out


def latest_values(run_id: int) -> dict[str, Any]:
    """Each metric's last scalar value or, for a text metric, its last text, by name; a
    name with both gives the later one."""
    out: dict[str, Any] = {}
    last_time: dict[str, float] = {}
    tails = MetricChunk.objects.filter(run_id=run_id).values("name").annotate(last=Max("first_position")).order_by()
    for tail in tails:
        # The chunk that starts there is the metric's last (chunks never overlap).
        for chunk in list(chunks([run_id], [tail["name"]], first=tail["last"])):
            out[chunk.name] = chunk.values[-1]
            last_time[chunk.name] = chunk.times[-1]
    texts = Metric.objects.filter(run_id=run_id, kind=Metric.Kind.TEXT).values("name").annotate(last=Max("id"))
    for name, payload, at in Metric.objects.filter(id__in=[t["last"] for t in texts]).values_list(
        "name", "payload", "at"
    ):
        if name not in out or at.timestamp() >= last_time[name]:
            out[name] = payload
    return dict(sorted(out.items()))


class Latest(NamedTuple):
    """A metric's latest point by MLflow's rule (highest step, then latest time)."""

    name: str
    value: float
    step: int
    at: datetime


def mlflow_latest(run_id: int) -> list[Latest]:
    """Each scalar metric's latest point by MLflow's rule: the highest step (none counts as
    0), then the latest time, then the last logged; by name. From the chunks' top points."""
    best: dict[str, tuple[tuple[int, datetime, int], Latest]] = {}
    rows = MetricChunk.objects.filter(run_id=run_id).order_by()
    for name, step, at, value, first in rows.values_list("name", "top_step", "top_at", "top_value", "first_position"):
        rank = (step, at, first)
        if name not in best or rank > best[name][0]:
            best[name] = (rank, Latest(name, value, step, at))
    return [latest for _rank, latest in sorted(best.values(), key=lambda item: item[1].name)]


def latest_subquery(name: str) -> Subquery:
    """The run's (``OuterRef("pk")``) latest value of metric ``name`` by MLflow's rule, for
    filtering and ordering runs in SQL."""
    tops = MetricChunk.objects.filter(run_id=OuterRef("pk"), name=name)
    return Subquery(tops.order_by("-top_step", "-top_at", "-first_position").values("top_value")[:1])


def last_logged_at(run_id: int) -> datetime | None:
    """The time of the run's latest metric point of any kind (None: it has none)."""
    scalar = MetricChunk.objects.filter(run_id=run_id).aggregate(at=Max("last_at"))["at"]
    other = Metric.objects.filter(run_id=run_id).order_by("-id").values_list("at", flat=True).first()
    found = [at for at in (scalar, other) if at is not None]
    return max(found) if found else None


def means(runs: QuerySet[Run], groups: dict[str, Q], name_prefix: str = "") -> dict[int, dict[str, float | None]]:
    """``{run id: {group: mean value}}``: the mean of each group's scalar points (a group
    is a condition on ``name``), from the chunks' sums and counts; runs with no point in
    any group are left out."""
    rows = MetricChunk.objects.filter(run__in=runs.values("id"), name__startswith=name_prefix)
    annotations: dict[str, Any] = {}
    for key, condition in groups.items():
        annotations[f"{key}_sum"] = Sum("value_sum", filter=condition)
        annotations[f"{key}_count"] = Sum("count", filter=condition)
    out: dict[int, dict[str, float | None]] = {}
    keys = [f"{key}_{part}" for key in groups for part in ("sum", "count")]
    for run_id, *figures in rows.values("run_id").annotate(**annotations).order_by().values_list("run_id", *keys):
        sums = dict(zip(keys, figures, strict=True))
        found = {key: sums[f"{key}_sum"] / sums[f"{key}_count"] if sums[f"{key}_count"] else None for key in groups}
        if any(v is not None for v in found.values()):
            out[run_id] = found
    return out
