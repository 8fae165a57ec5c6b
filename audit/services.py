"""Recording audit events. Secrets never reach the trail."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any, ParamSpec

from django.db import models

from audit.context import current
from audit.models import AuditEvent
from config.masking import NO_MASK, Masker, looks_secret_name, mask_url_passwords

P = ParamSpec("P")

MASK = "********"


def mask(value: Any, key: str = "", masker: Masker = NO_MASK) -> Any:
    """Mask, recursively through dicts and lists: values whose key looks secret, the
    passwords of URLs in any string, and the known secret values ``masker`` holds
    wherever they appear (a value can hide under an innocent key)."""
    if key and looks_secret_name(key) and value not in (None, ""):
        return MASK
    if isinstance(value, dict):
        return {k: mask(v, str(k), masker) for k, v in value.items()}
    if isinstance(value, list):
        return [mask(v, "", masker) for v in value]
    if isinstance(value, str):
        return masker(mask_url_passwords(value))
    return value


def _team_of(obj: Any) -> Any:
    if obj is None:
        return None
    for attr in ("team", "experiment.team", "environment.team", "dataset.team", "model.team", "run.team"):
        target = obj
        for part in attr.split("."):
            target = getattr(target, part, None)
            if target is None:
                break
        if target is not None:
            return target
    return None


def event(
    action: str,
    *,
    actor: Any = None,
    obj: models.Model | None = None,
    changes: dict[str, Any] | None = None,
    object_repr: str = "",
    team: Any = None,
    via: str = "",
    secret_values: Iterable[str] = (),
) -> AuditEvent:
    """The event ``record`` stores, not stored yet (``record_all`` stores several at once)."""
    context = current.get()
    masker = Masker(secret_values) if secret_values else NO_MASK
    if actor is not None and not getattr(actor, "is_authenticated", False):
        actor = None
    return AuditEvent(
        actor=actor,
        actor_name=actor.get_username() if actor is not None else "",
        action=action,
        object_type=obj._meta.label_lower if obj is not None else "",
        object_id=str(obj.pk) if obj is not None and obj.pk is not None else "",
        object_repr=masker(object_repr or (str(obj) if obj is not None else ""))[:200],
        team=team if team is not None else _team_of(obj),
        changes=mask(changes or {}, "", masker),
        ip=context.ip,
        request_id=context.request_id,
        via=via or context.via or "worker",
    )


def _stored(make: Callable[P, AuditEvent]) -> Callable[P, AuditEvent]:
    def record(*args: P.args, **kwargs: P.kwargs) -> AuditEvent:
        """Append one audit event; ``changes`` (and the object's name) are masked before
        they are stored: by key, URL passwords, and ``secret_values`` by value."""
        entry = make(*args, **kwargs)
        entry.save()
        return entry

    return record


record = _stored(event)  # event's parameters, stored at once


def record_all(events: Iterable[AuditEvent]) -> None:
    """Append events made by ``event`` in one statement (in their order)."""
    AuditEvent.objects.bulk_create(list(events))


def diff(before: dict[str, Any], after: dict[str, Any]) -> dict[str, Any]:
    """Changed fields as {name: [old, new]}; masking happens in ``record``."""
    out: dict[str, Any] = {}
    for name in sorted(set(before) | set(after)):
        if before.get(name) != after.get(name):
            old, new = before.get(name), after.get(name)
            if looks_secret_name(name):
                old, new = (MASK if old else old), (MASK if new else new)
            out[name] = [old, new]
    return out
