"""Model instances from rows of plain SQL, loaded as the ORM loads them.

For hot reads written as one statement (a token with its user, a target with its plan's
fingerprint): a RawQuerySet or queryset cost more to build than the statement took."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, TypeVar

from django.db import connection, models

M = TypeVar("M", bound=models.Model)


def columns(model: type[models.Model], alias: str) -> str:
    """The model's concrete columns, quoted, as ``alias."column", …`` in field order."""
    quote = connection.ops.quote_name
    return ", ".join(f"{alias}.{quote(str(f.column))}" for f in model._meta.concrete_fields)


def instance(model: type[M], values: Sequence[Any]) -> M:
    """``model`` from ``values`` of ``columns(model, …)``, through the backend's and the
    fields' converters (SQLite's booleans and datetimes, JSON text, …)."""
    fields = model._meta.concrete_fields
    converted = []
    for field, value in zip(fields, values, strict=True):
        column = field.get_col(model._meta.db_table)
        for convert in connection.ops.get_db_converters(column) + column.get_db_converters(connection):
            value = convert(value, column, connection)
        converted.append(value)
    return model.from_db(connection.alias, [f.attname for f in fields], converted)
