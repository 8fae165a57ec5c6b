"""Interactive and child runs (Azure's ``experiment.start_logging()``, ``run.child_run()``).

Such a run has no snapshot, environment or compute target and no worker: the client that
created it logs to it and ends it. It is born Running (one RunStatusChange from NotStarted
records that, as ``runs.lifecycle.transition`` would), and ends through ``finish``, the
only moves it makes: Running -> Finalizing -> Completed, or Running -> Failed. Having no
heartbeat and no worker, the sweeps and recovery never touch it; canceling one that never
ran ends it Canceled at once (runs.cancellation).

A run token may create children of its own run (and of their children) and act on them,
so a training script's ``run.child_run()`` works with the token the run was given.
"""

from __future__ import annotations

import re
from functools import partial
from typing import Any

from django.db import transaction
from django.utils import timezone
from rest_framework import serializers

from accounts.models import Team
from audit.services import record
from runs.causes import Cause, ending
from runs.lifecycle import IllegalTransition, transition
from runs.models import Experiment, Run, RunStatusChange
from runs.status import Status

PROPERTY_KEY = re.compile(r"^[A-Za-z0-9_.:/-]{1,128}$")
MAX_DEPTH = 16  # parent chains this long are refused (and bound the ancestry walk)


def start(
    *,
    team: Team,
    user: Any,
    experiment: str,
    parent: Run | None = None,
    display_name: str = "",
    tags: dict[str, str] | None = None,
    properties: dict[str, str] | None = None,
) -> Run:
    if parent is not None and len(ancestors(parent)) + 1 >= MAX_DEPTH:
        raise serializers.ValidationError({"parent": [f"Runs nest at most {MAX_DEPTH} deep."]})
    now = timezone.now()
    with transaction.atomic():
        exp, _ = Experiment.objects.get_or_create(team=team, name=experiment, defaults={"created_by": user})
        run = Run.objects.create(
            team=team,
            experiment=exp,
            submitted_by=user,
            display_name=display_name,
            interactive=True,
            parent=parent,
            tags=tags or {},
            properties=properties or {},
            status=Status.RUNNING,
            status_reason="started by the client",
            running_at=now,
        )
        RunStatusChange.objects.create(
            run=run,
            at=now,
            from_status=Status.NOT_STARTED,
            to_status=Status.RUNNING,
            reason="started by the client",
            actor=user if getattr(user, "is_authenticated", False) else None,
        )
        record(
            "runs.run.created",
            actor=user,
            obj=run,
            changes={"experiment": exp.name, "interactive": True, "parent": parent.pk if parent else None},
        )
        transaction.on_commit(partial(_announce, run))
    return run


def _announce(run: Run) -> None:
    from runs import events

    events.status_changed(run, Status.NOT_STARTED)


def finish(run: Run, *, status: str, error: str, user: Any) -> Run:
    """End an interactive run as the client says: Completed, or Failed with ``error``."""
    if not run.interactive:
        raise serializers.ValidationError(
            {"status": ["Only an interactive run is ended by its client; a submitted run ends with its script."]}
        )
    if status not in (Status.COMPLETED, Status.FAILED):
        raise serializers.ValidationError({"status": ["Must be Completed or Failed."]})
    try:
        if status == Status.COMPLETED:
            transition(run.pk, Status.FINALIZING, reason="completed by the client", actor=user)
            run = transition(run.pk, Status.COMPLETED, reason="completed by the client", actor=user)
        else:
            user_failed = ending(Cause.USER_ERROR, (error or "Failed by the client.")[:300])
            run = transition(
                run.pk,
                Status.FAILED,
                reason="failed by the client",
                actor=user,
                fields={"error": error[:10000], **user_failed.fields()},
            )
    except IllegalTransition as exc:
        raise serializers.ValidationError({"status": [str(exc)]}) from None
    return run


def ancestors(run: Run) -> list[int]:
    """Ids of the run's parent, its parent's parent, … (at most MAX_DEPTH)."""
    out: list[int] = []
    parent_id = run.parent_id
    while parent_id is not None and len(out) < MAX_DEPTH:
        out.append(parent_id)
        parent_id = Run.objects.filter(pk=parent_id).values_list("parent_id", flat=True).first()
    return out


def add_properties(run: Run, new: Any) -> dict[str, str]:
    """Azure's add-only properties: a new key is added; a key keeps its first value."""
    if not isinstance(new, dict) or not new:
        raise serializers.ValidationError({"properties": ["Must be a non-empty object of name: value."]})
    with transaction.atomic():
        locked = Run.objects.select_for_update().get(pk=run.pk)
        merged = dict(locked.properties)
        for key, value in new.items():
            if not isinstance(key, str) or not PROPERTY_KEY.match(key):
                raise serializers.ValidationError(
                    {"properties": [f"Property name {key!r}: letters, digits and _ . : / - (at most 128)."]}
                )
            text = "" if value is None else str(value)
            if key in merged and merged[key] != text:
                raise serializers.ValidationError(
                    {"properties": [f"Property {key!r} is already {merged[key]!r}: properties cannot be changed."]}
                )
            merged[key] = text
        locked.properties = merged
        locked.save(update_fields=["properties"])
    return merged
