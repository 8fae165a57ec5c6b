"""Actions on many runs at once (the run list's selection): cancel, tag, archive, restore.

Each id is acted on alone and answered alone: a run outside the caller's teams (or that
does not exist; the two are not told apart) is refused and left untouched, as is a run
the action does not fit (cancel of an ended run); the others go ahead. Every change is
audited per run, as the single-run actions are."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Literal

from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone

from audit.services import record
from common.errors import InvalidInput
from runs import cancellation
from runs.models import Run

Action = Literal["cancel", "tag", "archive", "restore"]
ACTIONS: tuple[Action, ...] = ("cancel", "tag", "archive", "restore")
MAX_IDS = 500
NOT_VISIBLE = "No such run in your teams."


@dataclass(frozen=True)
class Refusal:
    id: int
    reason: str


@dataclass
class BulkResult:
    done: list[int] = field(default_factory=list)
    refused: list[Refusal] = field(default_factory=list)


@dataclass(frozen=True)
class BulkRequest:
    action: Action
    ids: list[int]
    tags: dict[str, str]
    remove_tags: list[str]
    reason: str = ""


def apply(visible: QuerySet[Run], request: BulkRequest, user: Any) -> BulkResult:
    """Run ``request`` on each of its ids that ``visible`` (the caller's runs) holds."""
    result = BulkResult()
    found = {run.pk: run for run in visible.filter(pk__in=request.ids)}
    for run_id in dict.fromkeys(request.ids):  # once each, in the order given
        run = found.get(run_id)
        if run is None:
            result.refused.append(Refusal(run_id, NOT_VISIBLE))
            continue
        try:
            _one(run, request, user)
        except InvalidInput as exc:
            result.refused.append(Refusal(run_id, _first_message(exc.errors)))
            continue
        result.done.append(run_id)
    return result


def _one(run: Run, request: BulkRequest, user: Any) -> None:
    if request.action == "cancel":
        cancellation.request_cancel(run, user, reason=request.reason)
    elif request.action == "tag":
        retag(run, request.tags, request.remove_tags, user)
    elif request.action == "archive":
        set_archived(run, True, user)
    else:
        set_archived(run, False, user)


def retag(run: Run, add: dict[str, str], remove: Iterable[str], user: Any) -> None:
    with transaction.atomic():
        locked = Run.objects.select_for_update().get(pk=run.pk)
        before = dict(locked.tags)
        tags = {**locked.tags, **add}
        for key in remove:
            tags.pop(key, None)
        if tags == before:
            return
        locked.tags = tags
        locked.save(update_fields=["tags"])
        record("runs.run.tagged", actor=user, obj=locked, changes={"tags": [before, tags]})


def set_archived(run: Run, archived: bool, user: Any) -> None:
    with transaction.atomic():
        locked = Run.objects.select_for_update().get(pk=run.pk)
        if (locked.archived_at is not None) == archived:
            raise InvalidInput({"archived": [f"Run {run.pk} is {'already' if archived else 'not'} archived."]})
        locked.archived_at = timezone.now() if archived else None
        locked.save(update_fields=["archived_at"])
        record("runs.run.archived" if archived else "runs.run.restored", actor=user, obj=locked)


def _first_message(errors: Any) -> str:
    if isinstance(errors, dict):
        for value in errors.values():
            return _first_message(value)
    if isinstance(errors, list) and errors:
        return _first_message(errors[0])
    return str(errors)
