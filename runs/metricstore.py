"""Metric points: stored in batches, announced to watchers, read back grouped."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from django.db import transaction
from django.utils import timezone

from runs import events, signals, summaries
from runs.models import Metric, Run


def store(run: Run, points: list[dict[str, Any]]) -> int:
    now = timezone.now()
    rows = [
        Metric(
            run_id=run.pk,
            name=p["name"],
            kind=p.get("kind", "scalar"),
            value=p.get("value"),
            payload=p.get("payload"),
            step=p.get("step"),
            at=p.get("time") or now,
        )
        for p in points
    ]
    scalars = summaries.fold((m.name, m.value, m.step) for m in rows if m.kind == "scalar" and m.value is not None)
    with transaction.atomic():
        Metric.objects.bulk_create(rows, batch_size=2000)
        summaries.record_points(run.pk, scalars, now)
    for start in range(0, len(rows), 500):  # bounded messages; watchers get every point
        events.metrics_logged(run.pk, [_point(m) for m in rows[start : start + 500]])
    if rows:
        names = {m.name for m in rows}
        transaction.on_commit(lambda: signals.metrics_stored.send_robust(Run, run=run, names=names))
    return len(rows)


def _point(m: Metric) -> dict[str, Any]:
    return {
        "name": m.name,
        "kind": m.kind,
        "value": m.value,
        "payload": m.payload,
        "step": m.step,
        "at": m.at.isoformat(),
    }


def grouped(run_id: int, name: str | None = None) -> dict[str, list[dict[str, Any]]]:
    points = Metric.objects.filter(run_id=run_id)
    if name:
        points = points.filter(name=name)
    out: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for n, kind, value, payload, step, at in (
        points.order_by("name", "id")
        .values_list("name", "kind", "value", "payload", "step", "at")
        .iterator(chunk_size=5000)
    ):
        out[n].append({"kind": kind, "value": value, "payload": payload, "step": step, "at": at.isoformat()})
    return dict(out)
