"""The run list as a workbench: sort by a metric, parameter, tag or property, filter by
comparisons on them, and page through the result by keyset.

Orderings (``?ordering=``, ``-`` for descending): ``created_at`` (the default, newest first;
paged by ``config.api.NewestFirstCursorPagination``), ``metrics.<name>`` (the latest
value), ``metrics_min.<name>``, ``metrics_max.<name>``, ``params.<key>``, ``tags.<key>``,
``properties.<key>``. Runs without the value come last either way.

Conditions (repeatable): ``metric=acc>0.9`` (latest value), ``metric_min=loss<0.2``,
``metric_max=acc>=0.95``, ``param=lr<=0.01``, ``param=optimizer=adam``, ``param=amp`` (has
the parameter). Operators: ``> >= < <= = !=``.

A sorted page is read in two parts, each from an index: runs with the value in value order
(``metric_summary_*`` / ``run_field_sort``), then runs without it, newest id first. The
cursor is the last row's (value, id).
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from dataclasses import dataclass
from typing import Any, Literal

from django.db.models import Exists, F, FilteredRelation, OuterRef, Q, QuerySet
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.utils.urls import replace_query_param

from config.pagination import MAX_QUERY_INT, int_param
from runs.models import MetricSummary, Run, RunField

METRIC_COLUMNS = {"metrics": "latest", "metrics_min": "min_value", "metrics_max": "max_value"}
FIELD_KINDS = {"params": RunField.Kind.PARAM, "tags": RunField.Kind.TAG, "properties": RunField.Kind.PROPERTY}
PLAIN_ORDERINGS = ("created_at", "-created_at", "")


@dataclass(frozen=True)
class SortKey:
    """A workbench ordering: which value of which metric or field, and the direction."""

    source: Literal["metric", "field"]
    name: str
    column: str  # MetricSummary or RunField column
    kind: str = ""  # RunField.Kind for fields
    descending: bool = False


def parse_ordering(raw: str) -> SortKey | None:
    """None for the plain orderings (created_at); a SortKey; or a 400 naming ``ordering``."""
    if raw in PLAIN_ORDERINGS:
        return None
    descending = raw.startswith("-")
    prefix, dot, name = raw.lstrip("-").partition(".")
    if dot and name and prefix in METRIC_COLUMNS:
        return SortKey("metric", name, METRIC_COLUMNS[prefix], descending=descending)
    if dot and name and prefix in FIELD_KINDS:
        return SortKey("field", name, "sort_key", kind=FIELD_KINDS[prefix], descending=descending)
    raise serializers.ValidationError(
        {
            "ordering": [
                f"Unknown ordering {raw!r}: use created_at, metrics.NAME, metrics_min.NAME, metrics_max.NAME, "
                "params.KEY, tags.KEY or properties.KEY (prefix - for descending)."
            ]
        }
    )


# ---- conditions ---------------------------------------------------------------------------
_CONDITION = re.compile(r"^(?P<name>.+?)(?P<op>>=|<=|!=|>|<|=)(?P<value>.*)$", re.DOTALL)
_LOOKUP = {">": "gt", ">=": "gte", "<": "lt", "<=": "lte", "=": "exact", "!=": "exact"}


@dataclass(frozen=True)
class Condition:
    name: str
    op: str  # "" when only the name is given (has it)
    value: str


def parse_condition(field: str, raw: str, *, needs_op: bool) -> Condition:
    match = _CONDITION.match(raw)
    if match is None:
        if needs_op or not raw.strip():
            raise serializers.ValidationError({field: [f"{raw!r}: use NAME>VALUE (operators > >= < <= = !=)."]})
        return Condition(raw.strip(), "", "")
    name = match["name"].strip()
    if not name:
        raise serializers.ValidationError({field: [f"{raw!r}: the name before {match['op']!r} is missing."]})
    return Condition(name, match["op"], match["value"].strip())


def metric_condition(field: str, raw: str) -> Q:
    """``metric=acc>0.9`` and its min/max forms as a filter on the run."""
    condition = parse_condition(field, raw, needs_op=True)
    try:
        value = float(condition.value)
    except ValueError:
        raise serializers.ValidationError({field: [f"{raw!r}: {condition.value!r} is not a number."]}) from None
    column = METRIC_COLUMNS[field.replace("metric", "metrics", 1)]
    test = Q(**{f"{column}__{_LOOKUP[condition.op]}": value})
    summaries = MetricSummary.objects.filter(run=OuterRef("pk"), name=condition.name)
    return Q(Exists(summaries.filter(~test if condition.op == "!=" else test)))


def field_condition(field: str, kind: str, raw: str) -> Q:
    """``param=lr<=0.01`` (numbers compare as numbers), ``param=opt=adam``, ``param=amp``."""
    from runs.summaries import as_number

    condition = parse_condition(field, raw, needs_op=False)
    rows = RunField.objects.filter(run=OuterRef("pk"), kind=kind, key=condition.name)
    if not condition.op:
        return Q(Exists(rows))
    number = as_number(condition.value)
    if number is not None:
        test = Q(**{f"number__{_LOOKUP[condition.op]}": number})
    elif condition.op in ("=", "!="):
        test = Q(text=condition.value)
    else:
        raise serializers.ValidationError(
            {field: [f"{raw!r}: {condition.op} needs a number; text compares with = or != only."]}
        )
    return Q(Exists(rows.filter(~test if condition.op == "!=" else test)))


# ---- keyset pages ------------------------------------------------------------------------
@dataclass(frozen=True)
class Position:
    value: Any  # None: a run without the value (the part after every run with one)
    id: int


@dataclass(frozen=True)
class Cursor:
    position: Position
    backwards: bool


def encode_cursor(cursor: Cursor) -> str:
    raw = json.dumps({"v": cursor.position.value, "i": cursor.position.id, "b": cursor.backwards})
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode_cursor(raw: str) -> Cursor:
    try:
        data = json.loads(base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4)))
        position = Position(data["v"], int(data["i"]))
        if position.value is not None and not isinstance(position.value, int | float | str):
            raise TypeError
        if not 0 <= position.id <= MAX_QUERY_INT or (
            isinstance(position.value, int) and abs(position.value) > MAX_QUERY_INT
        ):
            raise ValueError  # a database integer would overflow
        return Cursor(position, bool(data["b"]))
    except (ValueError, TypeError, KeyError, OverflowError, binascii.Error, UnicodeDecodeError):
        raise serializers.ValidationError({"cursor": ["Invalid cursor: use the next or previous link."]}) from None


@dataclass
class KeysetPage:
    rows: list[dict[str, Any]]
    next: str | None
    previous: str | None


@dataclass
class _Parts:
    """The two parts of a sorted list: runs with the value (``valued``, annotated with
    ``sort_value``) and runs without it (``empty``), each read in either direction."""

    valued: QuerySet[Run]
    empty: QuerySet[Run]
    descending: bool
    columns: tuple[str, ...]

    def take_valued(self, p: Position | None, reverse: bool, n: int) -> list[dict[str, Any]]:
        down = self.descending != reverse
        rows = self.valued
        if p is not None:
            op = "lt" if down else "gt"
            rows = rows.filter(Q(**{f"sort_value__{op}": p.value}) | Q(sort_value=p.value, **{f"sort_id__{op}": p.id}))
        # Ties broken by the summary's (or field's) own run_id, the index's last column: ordering
        # by runs_run.id instead made SQLite sort every tie (a parameter with six values).
        order = [F("sort_value").desc() if down else F("sort_value").asc(), "-sort_id" if down else "sort_id"]
        return list(rows.order_by(*order).values(*self.columns, "sort_value")[:n])

    def take_empty(self, p: Position | None, reverse: bool, n: int) -> list[dict[str, Any]]:
        down = self.descending != reverse
        rows = self.empty if p is None else self.empty.filter(**{f"id__{'lt' if down else 'gt'}": p.id})
        return [{**r, "sort_value": None} for r in rows.order_by("-id" if down else "id").values(*self.columns)[:n]]

    def forward(self, start: Position | None, want: int) -> list[dict[str, Any]]:
        rows: list[dict[str, Any]] = []
        if start is None or start.value is not None:
            rows = self.take_valued(start, False, want)
        if len(rows) < want:
            rows += self.take_empty(
                start if start is not None and start.value is None else None, False, want - len(rows)
            )
        return rows

    def backward(self, start: Position, want: int) -> list[dict[str, Any]]:
        """Rows before ``start``, nearest first."""
        if start.value is not None:
            return self.take_valued(start, True, want)
        rows = self.take_empty(start, True, want)
        if len(rows) < want:
            rows += self.take_valued(None, True, want - len(rows))
        return rows


def sorted_page(queryset: QuerySet[Run], key: SortKey, columns: tuple[str, ...], request: Request) -> KeysetPage:
    """One page of ``queryset`` in ``key``'s order (runs without the value last)."""
    limit = int_param(request, "limit", 50, minimum=1, maximum=500)
    raw_cursor = request.query_params.get("cursor")
    cursor = decode_cursor(raw_cursor) if raw_cursor else None

    if key.source == "metric":
        relation = FilteredRelation("metric_summaries", condition=Q(metric_summaries__name=key.name))
        present = Exists(MetricSummary.objects.filter(run=OuterRef("pk"), name=key.name))
    else:
        relation = FilteredRelation("fields", condition=Q(fields__kind=key.kind, fields__key=key.name))
        present = Exists(RunField.objects.filter(run=OuterRef("pk"), kind=key.kind, key=key.name))
    parts = _Parts(
        valued=queryset.annotate(sort_rel=relation)
        .filter(**{f"sort_rel__{key.column}__isnull": False})
        .annotate(sort_value=F(f"sort_rel__{key.column}"), sort_id=F("sort_rel__run_id")),
        empty=queryset.filter(~Q(present)),
        descending=key.descending,
        columns=columns,
    )
    if cursor is None or not cursor.backwards:
        rows = parts.forward(cursor.position if cursor else None, limit + 1)
        more = len(rows) > limit
        rows = rows[:limit]
        after = _position(rows[-1]) if more and rows else None
        before = _position(rows[0]) if cursor is not None and rows else None
    else:
        back = parts.backward(cursor.position, limit + 1)
        more = len(back) > limit
        rows = list(reversed(back[:limit]))
        before = _position(rows[0]) if more and rows else None
        after = _position(rows[-1]) if rows else None
    url = request.build_absolute_uri()
    return KeysetPage(
        rows=rows,
        next=replace_query_param(url, "cursor", encode_cursor(Cursor(after, False))) if after else None,
        previous=_previous_link(url, before),
    )


def _previous_link(url: str, before: Position | None) -> str | None:
    if before is None:
        return None
    return replace_query_param(url, "cursor", encode_cursor(Cursor(before, True)))


def _position(row: dict[str, Any]) -> Position:
    return Position(row["sort_value"], row["id"])
