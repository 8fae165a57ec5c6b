"""Parsed MLflow filters and orderings applied to Runyard's runs.

params are run properties, tags are run tags (both JSON objects on the run, compared as
text through KeyTextTransform, which takes a key literally), a metric is its latest
point (MLflow's rule: the highest step, then the latest timestamp)."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

from django.db.models import F, Q, QuerySet, Subquery, TextField
from django.db.models.fields.json import KeyTextTransform
from django.db.models.functions import Cast

from mlflow_api.search import Comparison, OrderBy
from mlflow_api.shapes import DELETED_TAG, PARENT_TAG, RUN_NAME_TAG, statuses_for
from runs import metricstore
from runs.models import Run

ATTRIBUTE_FIELDS = {
    "start_time": "created_at",
    "end_time": "ended_at",
    "status": "status",
    "run_name": "display_name",
    "run_id": "pk",
    "user_id": "submitted_by__username",
    "experiment_id": "experiment_id",
    "parent_id": "parent_id",
}


COLUMN_TAGS = {PARENT_TAG: "parent_id", RUN_NAME_TAG: "run_name"}


def json_text(key: str, column: str) -> Cast:
    """A JSON key's value as plain text: compared as text, not re-read as JSON (where
    SQLite would turn the string '0.01' on the right into the number 0.01)."""
    return Cast(KeyTextTransform(key, column), output_field=TextField())


def latest_metric(key: str) -> Subquery:
    return metricstore.latest_subquery(key)


def like_regex(pattern: str) -> str:
    """SQL LIKE (% any run, _ one character) as an anchored regex."""
    parts = [".*" if c == "%" else "." if c == "_" else re.escape(c) for c in pattern]
    return "^" + "".join(parts) + "$"


def _ms(value: float) -> datetime:
    return datetime.fromtimestamp(value / 1000, tz=UTC)


def apply_filter(runs: QuerySet[Run], clauses: list[Comparison]) -> QuerySet[Run]:
    for index, clause in enumerate(clauses):
        runs = _apply_one(runs, index, clause)
    return runs


def _apply_one(runs: QuerySet[Run], index: int, c: Comparison) -> QuerySet[Run]:
    alias = f"mlf_{index}"
    if c.entity == "metric":
        runs = runs.alias(**{alias: latest_metric(c.key)})
        return _numeric(runs, alias, c.op, c.value)
    if c.entity == "tag" and c.key in COLUMN_TAGS:
        # Tags MLflow sets that Runyard keeps as the run's own columns (shapes.run_tags).
        return _attribute(runs, alias, Comparison("attribute", COLUMN_TAGS[c.key], c.op, c.value))
    if c.entity in ("param", "tag"):
        column = "properties" if c.entity == "param" else "tags"
        if c.op == "IS NULL":
            return runs.exclude(**{f"{column}__has_key": c.key})
        present = runs.filter(**{f"{column}__has_key": c.key})
        if c.op == "IS NOT NULL":
            return present
        return _string(present.alias(**{alias: json_text(c.key, column)}), alias, c.op, c.value)
    return _attribute(runs, alias, c)


def _attribute(runs: QuerySet[Run], alias: str, c: Comparison) -> QuerySet[Run]:
    field = ATTRIBUTE_FIELDS.get(c.key)
    if field is None:  # artifact_uri: derived from the run id, no column to compare
        return runs.none() if c.op in ("=", "LIKE", "ILIKE", "IN") else runs
    if c.key in ("start_time", "end_time"):
        assert isinstance(c.value, float)
        lookups = {"=": "exact", ">": "gt", ">=": "gte", "<": "lt", "<=": "lte"}
        if c.op == "!=":
            return runs.exclude(**{field: _ms(c.value)})
        return runs.filter(**{f"{field}__{lookups[c.op]}": _ms(c.value)})
    if c.key == "status":
        wanted = _strings(c.value)
        if c.op in ("LIKE", "ILIKE"):
            flags = re.IGNORECASE if c.op == "ILIKE" else 0
            wanted = [
                s
                for s in ("RUNNING", "SCHEDULED", "FINISHED", "FAILED", "KILLED")
                if re.match(like_regex(str(c.value)), s, flags)
            ]
        statuses = [s for name in wanted for s in statuses_for(str(name))]
        return runs.exclude(status__in=statuses) if c.op in ("!=", "NOT IN") else runs.filter(status__in=statuses)
    if c.key in ("run_id", "experiment_id", "parent_id"):
        ids = _strings(c.value)
        numbers = [int(v) for v in ids if isinstance(v, str) and v.isascii() and v.isdigit()]
        if c.op in ("=", "IN"):
            return runs.filter(**{f"{field}__in": numbers})
        if c.op in ("!=", "NOT IN"):
            return runs.exclude(**{f"{field}__in": numbers})
        if c.op == "IS NULL" or c.op == "IS NOT NULL":
            return runs.filter(**{f"{field}__isnull": c.op == "IS NULL"})
    return _string(runs.alias(**{alias: F(field)}), alias, c.op, c.value)


def _strings(value: Any) -> list[str]:
    return [value] if isinstance(value, str) else [str(v) for v in value or ()]


def _numeric(runs: QuerySet[Run], alias: str, op: str, value: Any) -> QuerySet[Run]:
    lookups = {"=": "exact", ">": "gt", ">=": "gte", "<": "lt", "<=": "lte"}
    if op == "!=":
        return runs.filter(**{f"{alias}__isnull": False}).exclude(**{alias: value})
    return runs.filter(**{f"{alias}__{lookups[op]}": value})


def _string(runs: QuerySet[Run], alias: str, op: str, value: Any) -> QuerySet[Run]:
    if op == "=":
        return runs.filter(**{alias: value})
    if op == "!=":
        return runs.exclude(**{alias: value})
    if op == "LIKE":
        return runs.filter(**{f"{alias}__regex": like_regex(value)})
    if op == "ILIKE":
        return runs.filter(**{f"{alias}__iregex": like_regex(value)})
    if op == "IN":
        return runs.filter(**{f"{alias}__in": list(value)})
    return runs.exclude(**{f"{alias}__in": list(value)})  # NOT IN


def apply_order(runs: QuerySet[Run], order: list[OrderBy]) -> QuerySet[Run]:
    """MLflow's default is newest first; ties are broken by id as MLflow breaks them by run id."""
    keys: list[Any] = []
    for index, o in enumerate(order):
        alias = f"mlf_order_{index}"
        if o.entity == "metric":
            runs = runs.alias(**{alias: latest_metric(o.key)})
            expr = F(alias)
        elif o.entity in ("param", "tag"):
            runs = runs.alias(**{alias: json_text(o.key, "properties" if o.entity == "param" else "tags")})
            expr = F(alias)
        else:
            expr = F(ATTRIBUTE_FIELDS.get(o.key, "created_at"))
        keys.append(expr.asc(nulls_last=True) if o.ascending else expr.desc(nulls_last=True))
    if not order:
        keys.append(F("created_at").desc())
    keys.append(F("id").desc())
    return runs.order_by(*keys)


def lifecycle(runs: QuerySet[Run], view_type: str) -> QuerySet[Run]:
    """MLflow's run_view_type: ACTIVE_ONLY (default), DELETED_ONLY or ALL."""
    deleted = Q(tags__has_key=DELETED_TAG)
    if view_type in ("", "ACTIVE_ONLY", "1"):
        return runs.exclude(deleted)
    if view_type in ("DELETED_ONLY", "2"):
        return runs.filter(deleted)
    return runs
