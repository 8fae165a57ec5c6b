"""What the run list sorts and filters by, kept beside the runs: a summary row per (run,
scalar metric) maintained as points are stored, and a row per parameter, tag and property.

Parameters are read from the run's arguments the way argparse-style scripts (and Azure's
HyperDrive, which passes ``--lr 0.01``) spell them: ``--name value``, ``--name=value``, and
a ``--flag`` followed by another option or nothing is ``"true"``.
"""

from __future__ import annotations

import math
import struct
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db import connection, transaction

from runs.models import MetricSummary, Run, RunField

MAX_TEXT = 2000  # a field's text as stored; the sort key takes the first 250 characters


def params_of(arguments: Iterable[Any]) -> dict[str, str]:
    """``["--lr", "0.01", "--epochs=3", "--amp"]`` → ``{"lr": "0.01", "epochs": "3", "amp": "true"}``.
    A dataset argument (an object) is its name; values without an option before them are skipped."""
    items = [_argument_text(a) for a in arguments]
    out: dict[str, str] = {}
    i = 0
    while i < len(items):
        item = items[i]
        if item.startswith("-") and len(item) > 1 and not _is_number(item):
            name, sep, value = item.lstrip("-").partition("=")
            if name and sep:
                out[name] = value
            elif name:
                following = items[i + 1] if i + 1 < len(items) else None
                if following is None or (following.startswith("-") and not _is_number(following)):
                    out[name] = "true"
                else:
                    out[name] = following
                    i += 1
        i += 1
    return out


def _argument_text(value: Any) -> str:
    if isinstance(value, dict):
        for key in ("dataset", "datastore", "output"):
            if key in value:
                return f"{key}:{value[key]}" + (f"/{value['path']}" if value.get("path") else "")
        return str(value)
    return str(value)


def _is_number(text: str) -> bool:
    return as_number(text) is not None


def as_number(text: str) -> float | None:
    """The text as a finite float, or None (``nan`` and ``inf`` stay text)."""
    try:
        value = float(text)
    except ValueError:
        return None
    return value if math.isfinite(value) else None


def sort_key(text: str) -> str:
    """One sortable string per value: numbers first, in numeric order, then text.

    A float's IEEE bits, flipped so that negative numbers sort below positive ones, as 16
    hex digits: comparing the strings compares the numbers."""
    number = as_number(text)
    if number is None:
        return "t" + text[:250]
    (bits,) = struct.unpack(">Q", struct.pack(">d", number + 0.0))  # + 0.0: -0.0 sorts as 0.0
    bits = bits ^ 0xFFFFFFFFFFFFFFFF if bits >> 63 else bits | (1 << 63)
    return f"n{bits:016x}"


def fields_of(run: Run) -> list[RunField]:
    rows = []
    sources = (
        (RunField.Kind.PARAM, params_of(run.arguments or [])),
        (RunField.Kind.TAG, run.tags or {}),
        (RunField.Kind.PROPERTY, run.properties or {}),
    )
    for kind, values in sources:
        for key, value in values.items():
            text = "" if value is None else str(value)
            rows.append(
                RunField(
                    run_id=run.pk,
                    kind=kind,
                    key=str(key)[:255],
                    text=text[:MAX_TEXT],
                    number=as_number(text),
                    sort_key=sort_key(text),
                )
            )
    return rows


def sync_fields(run: Run) -> None:
    """Replace the run's field rows with what its arguments, tags and properties say now."""
    with transaction.atomic():
        RunField.objects.filter(run_id=run.pk).delete()
        RunField.objects.bulk_create(fields_of(run))


def on_run_saved(sender: Any, instance: Run, created: bool, update_fields: Any = None, **kwargs: Any) -> None:
    """post_save: every write of arguments, tags or properties (submit, run.tag, add_properties,
    bulk tag, the admin) refreshes the rows; status saves and the like cost nothing."""
    if kwargs.get("raw"):
        return
    if update_fields is not None and not {"arguments", "tags", "properties"} & set(update_fields):
        return
    if created:  # nothing to replace yet: one insert (none without fields) on the submit path
        RunField.objects.bulk_create(fields_of(instance))
        return
    sync_fields(instance)


@dataclass(frozen=True)
class Aggregate:
    """One metric's points of one batch, folded."""

    latest: float
    latest_step: int | None
    low: float
    high: float
    points: int


def fold(points: Iterable[tuple[str, float | None, int | None]]) -> dict[str, Aggregate]:
    """(name, value, step) in logging order → one Aggregate per name; None and non-finite
    values skipped. Plain lists per name, folded once: an Aggregate per point cost more
    than storing the point."""
    values: dict[str, list[float]] = {}
    steps: dict[str, int | None] = {}
    isfinite = math.isfinite
    for name, value, step in points:
        if value is None or not isfinite(value):
            continue
        series = values.get(name)
        if series is None:
            values[name] = [value]
        else:
            series.append(value)
        steps[name] = step
    return {name: Aggregate(vs[-1], steps[name], min(vs), max(vs), len(vs)) for name, vs in values.items()}


def record_points(run_id: int, batch: dict[str, Aggregate], at: datetime) -> None:
    """Fold a stored batch into the run's summaries: one upsert of a row per metric name.

    The upsert does the merge in the database (``ON CONFLICT ... DO UPDATE``), so ranks
    logging the same metric at once never lose each other's min, max or count; on
    PostgreSQL it also holds the names' rows locked until the batch commits (what lets
    ``runs.metricstore`` number a metric's points). One statement for all the names, in
    name order (two batches lock shared names in the same order): with client-side
    binding each statement is parsed and planned on its own."""
    if not batch:
        return
    least, greatest = ("LEAST", "GREATEST") if connection.vendor == "postgresql" else ("MIN", "MAX")
    table = MetricSummary._meta.db_table
    rows = [(run_id, name, a.latest, a.latest_step, a.low, a.high, a.points, at) for name, a in sorted(batch.items())]
    values = ", ".join(["(%s, %s, %s, %s, %s, %s, %s, %s)"] * len(rows))
    sql = (
        f"INSERT INTO {table} (run_id, name, latest, latest_step, min_value, max_value, points, updated_at) "
        f"VALUES {values} "
        "ON CONFLICT (run_id, name) DO UPDATE SET latest = excluded.latest, latest_step = excluded.latest_step, "
        f"min_value = {least}({table}.min_value, excluded.min_value), "
        f"max_value = {greatest}({table}.max_value, excluded.max_value), "
        f"points = {table}.points + excluded.points, updated_at = excluded.updated_at"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [value for row in rows for value in row])


def summaries_of(run_ids: Iterable[int]) -> dict[int, dict[str, dict[str, Any]]]:
    """Each run's metric summaries by name, for a page of runs (one query)."""
    out: dict[int, dict[str, dict[str, Any]]] = {}
    # order_by(): the model's ordering (by run) would join runs_run and sort.
    rows = (
        MetricSummary.objects.filter(run_id__in=list(run_ids))
        .order_by()
        .values_list("run_id", "name", "latest", "latest_step", "min_value", "max_value", "points")
    )
    for run_id, name, latest, step, low, high, points in rows:
        out.setdefault(run_id, {})[name] = _summary(latest, step, low, high, points)
    return out


def _summary(latest: Any, step: Any, low: Any, high: Any, points: Any) -> dict[str, Any]:
    """One metric's summary as the API shows it (``MetricSummarySerializer``)."""
    return {"last": latest, "step": step, "min": low, "max": high, "count": points}


def params_by_run(run_ids: Iterable[int]) -> dict[int, dict[str, str]]:
    """Each run's parameters (a page's, one query)."""
    out: dict[int, dict[str, str]] = {}
    rows = (
        RunField.objects.filter(run_id__in=list(run_ids), kind=RunField.Kind.PARAM)
        .order_by()
        .values_list("run_id", "key", "text")
    )
    for run_id, key, text in rows:
        out.setdefault(run_id, {})[key] = text
    return out


def page_summaries(run_ids: Iterable[int]) -> tuple[dict[int, dict[str, dict[str, Any]]], dict[int, dict[str, str]]]:
    """``(summaries_of(ids), params_by_run(ids))`` in one statement (UNION ALL of the two
    reads, plain SQL): the run list asks both for every page, and each was a round trip
    plus a queryset to build."""
    ids = [int(pk) for pk in run_ids]
    metrics: dict[int, dict[str, dict[str, Any]]] = {}
    params: dict[int, dict[str, str]] = {}
    if not ids:
        return metrics, params
    # PostgreSQL: the ids as one array parameter; 100 placeholders made psycopg convert the
    # statement afresh on every call (it caches statements of at most 50 parameters).
    values: list[Any]
    if connection.vendor == "postgresql":
        where, values = "run_id = ANY(%s)", [ids]
    else:
        where, values = f"run_id IN ({', '.join(['%s'] * len(ids))})", ids
    sql = (
        "SELECT run_id, name, latest, latest_step, min_value, max_value, points, NULL "
        f"FROM {MetricSummary._meta.db_table} WHERE {where} "
        "UNION ALL SELECT run_id, key, NULL, NULL, NULL, NULL, NULL, text "
        f"FROM {RunField._meta.db_table} WHERE kind = %s AND {where}"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [*values, str(RunField.Kind.PARAM), *values])
        rows = cursor.fetchall()
    for run_id, name, latest, step, low, high, points, text in rows:
        if points is None:  # a parameter's row (a summary's count is never NULL)
            params.setdefault(run_id, {})[name] = text
        else:
            metrics.setdefault(run_id, {})[name] = _summary(latest, step, low, high, points)
    return metrics, params
