"""Usage accounting: run-hours, GPU-hours and queue wait per user, team, experiment or target.

A run counts in the period its submit time falls in. Run-hours are its running time (as
``Run.duration_seconds``: from Starting/Running to its end, or now); GPU-hours multiply
them by the GPUs its nodes got (``scheduling.state.gpus_per_node``); queue wait is from
Queued to the claim (Preparing), or to its end or now when it never started.
"""

from __future__ import annotations

import csv
import io
from dataclasses import asdict, dataclass
from datetime import datetime

from django.db.models import QuerySet
from django.utils import timezone

from runs.distributed import Shape
from runs.models import Run
from scheduling.state import gpus_per_node

GROUPS = {
    "team": "team__name",
    "user": "submitted_by__username",
    "experiment": "experiment__name",
    "target": "compute_target__name",
}


@dataclass(frozen=True)
class UsageRow:
    key: str
    team: str
    runs: int
    run_hours: float
    gpu_hours: float
    queue_wait_hours: float


def usage(runs: QuerySet[Run], group_by: str, since: datetime, until: datetime) -> list[UsageRow]:
    """Totals of ``runs`` (already scoped to the caller's teams) submitted in [since, until)."""
    now = timezone.now()
    column = GROUPS[group_by]
    rows = (
        runs.filter(created_at__gte=since, created_at__lt=until, interactive=False)
        .order_by()
        .values_list(
            column,
            "team__name",
            "distributed",
            "compute_target__kind",
            "compute_target__config",
            "queued_at",
            "preparing_at",
            "starting_at",
            "running_at",
            "ended_at",
        )
    )
    totals: dict[tuple[str, str], list[float]] = {}
    for key, team, distributed, kind, config, queued, preparing, starting, running, ended in rows:
        group = (str(key or "—"), team if group_by != "target" else "")
        acc = totals.setdefault(group, [0, 0.0, 0.0, 0.0])
        started = running or starting
        hours = ((ended or now) - started).total_seconds() / 3600 if started else 0.0
        gpus = Shape.of(distributed).nodes * gpus_per_node(kind or "", config)
        wait = ((preparing or ended or now) - queued).total_seconds() / 3600 if queued else 0.0
        acc[0] += 1
        acc[1] += hours
        acc[2] += hours * gpus
        acc[3] += max(0.0, wait)
    return [
        UsageRow(key, team, int(a[0]), round(a[1], 4), round(a[2], 4), round(a[3], 4))
        for (key, team), a in sorted(totals.items(), key=lambda kv: (-kv[1][1], kv[0]))
    ]


def to_csv(rows: list[UsageRow], group_by: str) -> str:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow([group_by, "team", "runs", "run_hours", "gpu_hours", "queue_wait_hours"])
    for row in rows:
        d = asdict(row)
        writer.writerow([d["key"], d["team"], d["runs"], d["run_hours"], d["gpu_hours"], d["queue_wait_hours"]])
    return out.getvalue()
