"""Usage accounting: run-hours, GPU-hours and queue wait per user, team, experiment or target.

A run counts in the period its submit time falls in. Run-hours are its running time (as
``Run.duration_seconds``: from Starting/Running to its end, or now); GPU-hours multiply
them by the GPUs its nodes got (``scheduling.state.gpus_per_node``); queue wait is from
Queued to the claim (Preparing), or to its end or now when it never started.

Efficiency comes from the runs' system metrics (``execution.sysmetrics``: ``system/...``
points) where they were sampled: a run's mean CPU per rank (percent of one core, over its
``system/rankN/cpu_percent`` points) and mean GPU utilization (``system/gpuN/
utilization_percent``), averaged in the database; a group's figure weighs each sampled
run by its run-hours, and is None when no run of the group was sampled.
"""

from __future__ import annotations

import csv
import io
from dataclasses import asdict, dataclass
from datetime import datetime

from django.db.models import Q, QuerySet
from django.utils import timezone

from runs import metricstore
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
    cpu_percent: float | None  # mean CPU per rank, % of one core, over the sampled runs
    gpu_utilization: float | None  # mean GPU utilization, %, over the runs sampled on GPUs


CPU = Q(name__startswith="system/rank", name__endswith="/cpu_percent")
GPU = Q(name__startswith="system/gpu", name__endswith="/utilization_percent")


def efficiency(runs: QuerySet[Run]) -> dict[int, tuple[float | None, float | None]]:
    """``{run id: (mean CPU per rank %, mean GPU utilization %)}`` of the sampled ``runs``."""
    found = metricstore.means(runs, {"cpu": CPU, "gpu": GPU}, name_prefix="system/")
    return {run_id: (m["cpu"], m["gpu"]) for run_id, m in found.items()}


def _weighted(pairs: list[tuple[float, float]]) -> float | None:
    """The hours-weighted mean of (value, hours) pairs; a plain mean when no hours add up."""
    if not pairs:
        return None
    hours = sum(h for _, h in pairs)
    if hours <= 0:
        return round(sum(v for v, _ in pairs) / len(pairs), 2)
    return round(sum(v * h for v, h in pairs) / hours, 2)


def usage(runs: QuerySet[Run], group_by: str, since: datetime, until: datetime) -> list[UsageRow]:
    """Totals of ``runs`` (already scoped to the caller's teams) submitted in [since, until)."""
    now = timezone.now()
    column = GROUPS[group_by]
    scoped = runs.filter(created_at__gte=since, created_at__lt=until, interactive=False)
    sampled = efficiency(scoped)
    rows = scoped.order_by().values_list(
        "id",
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
    totals: dict[tuple[str, str], list[float]] = {}
    cpu: dict[tuple[str, str], list[tuple[float, float]]] = {}
    gpu: dict[tuple[str, str], list[tuple[float, float]]] = {}
    for pk, key, team, distributed, kind, config, queued, preparing, starting, running, ended in rows:
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
        run_cpu, run_gpu = sampled.get(pk, (None, None))
        if run_cpu is not None:
            cpu.setdefault(group, []).append((run_cpu, hours))
        if run_gpu is not None:
            gpu.setdefault(group, []).append((run_gpu, hours))
    return [
        UsageRow(
            key,
            team,
            int(a[0]),
            round(a[1], 4),
            round(a[2], 4),
            round(a[3], 4),
            _weighted(cpu.get((key, team), [])),
            _weighted(gpu.get((key, team), [])),
        )
        for (key, team), a in sorted(totals.items(), key=lambda kv: (-kv[1][1], kv[0]))
    ]


def to_csv(rows: list[UsageRow], group_by: str) -> str:
    out = io.StringIO()
    writer = csv.writer(out)
    columns = ["runs", "run_hours", "gpu_hours", "queue_wait_hours", "cpu_percent", "gpu_utilization"]
    writer.writerow([group_by, "team", *columns])
    for row in rows:
        d = asdict(row)
        # An unsampled group's efficiency is an empty cell, not 0 (nothing was measured).
        writer.writerow([d["key"], d["team"], *("" if d[c] is None else d[c] for c in columns)])
    return out.getvalue()
