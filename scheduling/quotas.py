"""Priority caps and quota changes: the services the API, the CLI and submit call."""

from __future__ import annotations

from typing import Any

from django.db import transaction

from audit.services import record
from common.errors import InvalidInput
from compute.models import ComputeTarget
from runs.models import Run
from runs.status import TERMINAL, Status
from scheduling.models import TeamQuota
from scheduling.priority import Priority, label

# A team with no quota row on a target may use priorities up to this one.
DEFAULT_MAX_PRIORITY: int = Priority.HIGH.value


def max_priority(team_id: int, target_id: int) -> int:
    quota = TeamQuota.objects.filter(team_id=team_id, compute_target_id=target_id).first()
    return DEFAULT_MAX_PRIORITY if quota is None else int(quota.max_priority)


def check_priority(team: Any, target: ComputeTarget, priority: int, user: Any, field: str = "priority") -> None:
    """Refuse a priority above the team's cap on ``target`` (admins are not capped)."""
    if getattr(user, "is_staff", False):
        return
    cap = max_priority(team.pk, target.pk)
    if priority > cap:
        raise InvalidInput(
            {
                field: [
                    f"Team {team.name} may use priorities up to {label(cap)} on {target.name}; "
                    f"{label(priority)} needs an admin to raise the team's max_priority."
                ]
            }
        )


def set_priority(run: Run, priority: int, user: Any) -> Run:
    """Change a Queued run's priority within its team's cap; audited. A sweep's parent:
    the sweep's priority — its children still waiting and those it launches later."""
    if hasattr(run, "sweep"):
        return _set_sweep_priority(run, priority, user)
    if run.status != Status.QUEUED or run.worker:
        raise InvalidInput(
            {"priority": [f"Only a run waiting in Runyard's queue can change priority; this one is {run.status}."]}
        )
    check_priority(run.team, run.target, priority, user)
    before = run.priority
    with transaction.atomic():
        changed = Run.objects.filter(pk=run.pk, status=Status.QUEUED, worker="").update(priority=priority)
        if not changed:
            raise InvalidInput({"priority": ["The run left the queue meanwhile."]})
        run.priority = priority
        record(
            "runs.run.priority_changed",
            actor=user,
            obj=run,
            changes={"priority": [label(before), label(priority)]},
        )
    from runs.dispatch import kick_queue

    transaction.on_commit(lambda: kick_queue(run.target.pk))
    return run


def _set_sweep_priority(parent: Run, priority: int, user: Any) -> Run:
    from runs.dispatch import kick_queue

    target = parent.sweep.compute_target
    if parent.status in TERMINAL:
        raise InvalidInput({"priority": [f"The sweep has ended ({parent.status}); it launches no more runs."]})
    check_priority(parent.team, target, priority, user)
    before = parent.priority
    with transaction.atomic():
        Run.objects.filter(pk=parent.pk).update(priority=priority)
        waiting = Run.objects.filter(parent=parent, status=Status.QUEUED, worker="").update(priority=priority)
        parent.priority = priority
        record(
            "runs.run.priority_changed",
            actor=user,
            obj=parent,
            changes={"priority": [label(before), label(priority)], "waiting_children": waiting},
        )
    transaction.on_commit(lambda: kick_queue(target.pk))
    return parent


QUOTA_FIELDS = ("share", "max_runs", "max_nodes", "max_processes", "max_gpus", "max_priority")


def quota_changes(before: dict[str, Any] | None, quota: TeamQuota) -> dict[str, Any]:
    after = {f: getattr(quota, f) for f in QUOTA_FIELDS}
    if before is None:
        return after
    return {f: [before[f], after[f]] for f in QUOTA_FIELDS if before[f] != after[f]}
