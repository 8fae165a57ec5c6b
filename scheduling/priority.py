"""Run priorities: four levels, ordered; stored as small integers so the queue sorts on them."""

from __future__ import annotations

from django.db import models


class Priority(models.IntegerChoices):
    LOW = 0, "low"
    NORMAL = 1, "normal"
    HIGH = 2, "high"
    URGENT = 3, "urgent"


NAMES = {p.label: p.value for p in Priority}


def parse(value: object, field: str = "priority") -> int:
    """A priority given by name ("high") or number (2); InvalidInput naming ``field`` otherwise."""
    from common.errors import InvalidInput

    if isinstance(value, bool):
        value = None
    if isinstance(value, int) and value in Priority.values:
        return value
    if isinstance(value, str) and value.strip().lower() in NAMES:
        return NAMES[value.strip().lower()]
    raise InvalidInput({field: [f"Use one of {', '.join(NAMES)}."]})


def label(value: int) -> str:
    return Priority(value).label
