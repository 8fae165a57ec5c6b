"""Query integers and limit/offset pages that answer a 400 naming the parameter.

Kept apart from ``config.api``: DRF imports the default pagination class while its
generics load, before drf-spectacular (which ``config.api`` uses) can be imported."""

from __future__ import annotations

from rest_framework import serializers
from rest_framework.pagination import LimitOffsetPagination
from rest_framework.request import Request

# The largest value a database integer column (and so a filter or a slice) takes.
MAX_QUERY_INT = 2**63 - 1


def int_param(
    request: Request, name: str, default: int, *, minimum: int | None = 0, maximum: int = MAX_QUERY_INT
) -> int:
    """A query parameter as an int, or a 400 naming it (never a database overflow)."""
    raw = request.query_params.get(name)
    if raw in (None, ""):
        return default
    try:
        value = int(str(raw))
    except ValueError:
        raise serializers.ValidationError({name: ["Must be an integer."]}) from None
    lowest = -MAX_QUERY_INT if minimum is None else minimum
    if value < lowest:
        raise serializers.ValidationError(
            {name: ["Must not be negative." if lowest == 0 else f"Must be at least {lowest}."]}
        )
    if value > maximum:
        raise serializers.ValidationError({name: [f"Must be at most {maximum}."]})
    return value


class CheckedLimitOffsetPagination(LimitOffsetPagination):
    """DRF's limit/offset, but a bad ``limit`` or ``offset`` is a 400 naming it, where
    DRF silently uses the default, or hands an enormous number to the database."""

    max_limit = 1000

    def get_limit(self, request: Request) -> int | None:
        return int_param(request, self.limit_query_param, self.default_limit or 50, minimum=1, maximum=self.max_limit)

    def get_offset(self, request: Request) -> int:
        return int_param(request, self.offset_query_param, 0)
