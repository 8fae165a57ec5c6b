"""Why a Queued run waits, and its place in the queue: the scheduler's own verdicts
(``scheduling.policy``), plus what only the outside world knows — no worker consuming the
target's queue, or the cluster's scheduler holding the job (Slurm's reason)."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from config.redisconn import client
from runs.status import Status
from scheduling import preemptor, service

CLUSTER_PREFIX = "waiting in the cluster queue: "
# A Queued run the scheduler has not placed yet: the POST that queued it answers with this
# rather than planning the queue again while a worker's claim decides it.
ENTERING = "entering the queue"
# Slurm says "None" (or "(None)") for a job it has not looked at yet.
EMPTY_CLUSTER_REASONS = {"", "None", "(None)"}


@dataclass(frozen=True)
class QueueInfo:
    position: int | None
    reason: str


def served_queues() -> set[str]:
    """The queues some live worker consumes (``execution.recovery`` announces them)."""
    r = client()
    keys = list(r.scan_iter(match="runyard:worker:*", count=500))
    queues: set[str] = set()
    for raw in r.mget(keys) if keys else []:
        if raw is None:
            continue
        try:
            queues.update(json.loads(raw).get("queues", []))
        except (ValueError, AttributeError):
            continue
    return queues


def cluster_reason(status_reason: str) -> str:
    """The run is submitted to the cluster and pending there: say what its scheduler says."""
    reason = status_reason.removeprefix(CLUSTER_PREFIX).strip()
    if reason in EMPTY_CLUSTER_REASONS:
        return "submitted to the cluster; its scheduler has not placed the job yet"
    return f"pending in the cluster's scheduler: {reason}"


def explain(rows: Iterable[Mapping[str, Any]]) -> dict[int, QueueInfo]:
    """``{run id: QueueInfo}`` for the Queued runs among ``rows`` (mappings with id, status,
    status_reason, worker and compute_target_id); one scheduling pass per target."""
    queued = [r for r in rows if r["status"] == Status.QUEUED and r.get("compute_target_id")]
    if not queued:
        return {}
    out: dict[int, QueueInfo] = {}
    waiting: dict[int, list[int]] = {}
    for r in queued:
        if r["worker"]:
            out[r["id"]] = QueueInfo(None, cluster_reason(r["status_reason"] or ""))
        else:
            waiting.setdefault(r["compute_target_id"], []).append(r["id"])
    if not waiting:
        return out
    try:
        served: set[str] | None = served_queues()
    except Exception:  # Redis down: say nothing about workers rather than fail the page
        served = None
    for target, plan in service.current_plans(waiting):
        verdicts = plan.verdicts  # the claim path's plan, while it holds
        # Preemption: the head's reason says which run makes room for it, or why none may.
        decided = None
        head = next((v.run_id for v in verdicts.values() if not v.start), None)
        if head in waiting[target.pk] and not any(v.start for v in verdicts.values()):
            decided = preemptor.decision(target, plan)
        for run_id in waiting[target.pk]:
            verdict = verdicts.get(run_id)
            position = verdict.position if verdict else None
            reason = (verdict.reason or "starting: capacity is free") if verdict else ENTERING
            if decided is not None and decided.beneficiary == run_id and decided.note:
                reason = f"{reason}; {decided.note}"
            if not target.enabled:
                reason = f"compute target {target.name} is disabled; {reason}"
            elif served is not None and target.queue not in served:
                reason = f"no worker is serving {target.queue}; {reason}"
            out[run_id] = QueueInfo(position, reason)
    return out
