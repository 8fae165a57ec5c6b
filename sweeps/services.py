"""Creating a sweep, and reading one back (children with their primary metric, the best)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import partial
from typing import Any

from django.db import transaction
from django.utils import timezone

from audit.services import record
from runs import events, metricstore
from runs.models import Run, RunStatusChange
from runs.status import Status
from runs.submission import Submission, check, submitted_fields
from sweeps import triggers
from sweeps.config import SweepConfig, parse_config
from sweeps.models import Sweep, SweepChild

# Azure's properties of a HyperDrive parent run (what tools that read them look for).
RUNSOURCE = "hyperdrive"


def create(sub: Submission, raw_config: Any) -> Run:
    """A sweep: its parent run (born Running, executed by nobody) and its controller state.
    The template is checked exactly as a run's submission (snapshot stored once); the
    first children are launched by the controller step queued on commit."""
    config = parse_config(raw_config)
    checked = check(sub)
    now = timezone.now()
    with transaction.atomic():
        parent = Run.objects.create(
            **submitted_fields(sub, checked),
            properties=_parent_properties(config),
            status=Status.RUNNING,
            status_reason="sweep started",
            running_at=now,
        )
        RunStatusChange.objects.create(
            run=parent,
            at=now,
            from_status=Status.NOT_STARTED,
            to_status=Status.RUNNING,
            reason="sweep started",
            actor=sub.user if getattr(sub.user, "is_authenticated", False) else None,
        )
        Sweep.objects.create(
            run=parent,
            config=config.to_json(),
            template={
                "script": sub.script,
                "command": sub.command,
                "arguments": sub.arguments,
                "inputs": sub.inputs,
                "distributed": checked.shape,
                "tags": sub.tags,
                "max_run_duration_seconds": sub.max_run_duration_seconds,
            },
            environment_version=checked.env_version,
            compute_target=checked.target,
        )
        record(
            "sweeps.sweep.created",
            actor=sub.user,
            obj=parent,
            changes={
                "experiment": parent.experiment.name,
                "script": parent.entrypoint,
                "environment": str(checked.env_version),
                "compute_target": checked.target.name,
                **config.to_json(),
            },
        )
        transaction.on_commit(partial(events.status_changed, parent, Status.NOT_STARTED))
        transaction.on_commit(partial(triggers.wake, parent.pk))
    return parent


def _parent_properties(config: SweepConfig) -> dict[str, str]:
    return {
        "azureml.runsource": RUNSOURCE,
        "runTemplate": "HyperDrive",
        "primary_metric_config": json.dumps(
            {"name": config.primary_metric, "goal": "maximize" if config.maximize else "minimize"}
        ),
        "generator_config": json.dumps(config.to_json()["hyperparameter_sampling"]),
        "policy_config": json.dumps(config.policy.to_json()),
        "max_total_jobs": str(config.max_total_runs),
        "max_concurrent_jobs": str(config.max_concurrent_runs),
        "max_duration_minutes": str(config.max_duration_minutes),
        "seed": str(config.seed),
    }


@dataclass(frozen=True)
class ChildRow:
    """A child as the sweep page and the SDK list it."""

    index: int
    run: Run
    params: dict[str, Any]
    best: float | None
    last: float | None
    intervals: int
    terminated_by: str
    termination_reason: str


def children(sweep: Sweep) -> list[ChildRow]:
    config = parse_config(sweep.config)
    kids = list(SweepChild.objects.filter(sweep=sweep).select_related("run").order_by("index"))
    values = metricstore.values_by_run([k.run_id for k in kids], config.primary_metric)
    rows = []
    for kid in kids:
        curve = values[kid.run_id]
        best = (max(curve) if config.maximize else min(curve)) if curve else None
        rows.append(
            ChildRow(
                kid.index,
                kid.run,
                kid.params,
                best,
                curve[-1] if curve else None,
                len(curve),
                kid.terminated_by,
                kid.termination_reason,
            )
        )
    return rows


def best(sweep: Sweep, rows: list[ChildRow] | None = None) -> ChildRow | None:
    """The child with the best primary metric (Azure's get_best_run_by_primary_metric:
    failed and canceled children count; the first of equals wins)."""
    config = parse_config(sweep.config)
    scored = [r for r in (rows if rows is not None else children(sweep)) if r.best is not None]
    if not scored:
        return None
    pick = max if config.maximize else min
    return pick(scored, key=lambda r: r.best if r.best is not None else 0.0)


def primary_series(sweep: Sweep) -> dict[int, list[dict[str, Any]]]:
    """Every child's primary metric points (the overlay chart): ``{run id: [{step, value, at}]}``."""
    config = parse_config(sweep.config)
    ids = list(SweepChild.objects.filter(sweep=sweep).values_list("run_id", flat=True))
    out: dict[int, list[dict[str, Any]]] = {i: [] for i in ids}
    for chunk in metricstore.chunks(ids, [config.primary_metric]):
        out[chunk.run_id].extend({"step": p.step, "value": p.value, "at": p.at.isoformat()} for p in chunk.points())
    return out
