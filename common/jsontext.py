"""JSON kept as its text, so an object's keys keep the order they were logged in.

PostgreSQL's jsonb (Django's JSONField) reorders object keys (shorter first), which
reorders a ``log_table``'s or ``log_row``'s columns; a text column keeps what was sent."""

from __future__ import annotations

import json
from typing import Any

from django.db import models


class OrderedJSONField(models.TextField):  # type: ignore[type-arg]
    """A JSON value stored as text (never queried into, only read back whole)."""

    def from_db_value(self, value: Any, expression: Any, connection: Any) -> Any:
        return None if value is None else json.loads(value)

    def to_python(self, value: Any) -> Any:
        return json.loads(value) if isinstance(value, str) else value

    def get_prep_value(self, value: Any) -> Any:
        return None if value is None else json.dumps(value)
