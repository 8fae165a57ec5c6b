"""The run list's workbench endpoints: bulk actions on a selection, the column chooser's
saved columns and the keys it offers, and the compare view's data.

Routed before ``RunViewSet`` (``runs/urls.py``): its detail route would take ``bulk`` or
``compare`` for a run id."""

from __future__ import annotations

import re
from typing import Any

from django.http import HttpResponse
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers, viewsets
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from accounts.permissions import SIGNED_IN, scope_to_teams, user_pk
from config.api import body
from config.pagination import MAX_QUERY_INT, int_param
from config.responses import STRING_LIST, STRING_MAP, VALIDATION_ERROR, documented_json
from runs import bulk
from runs import compare as comparison
from runs.models import Experiment, MetricSummary, Run, RunColumnPreference, RunField
from runs.serializers import MetricSummaryMapSerializer

COLUMN = re.compile(r"^(metrics|metrics_min|metrics_max|params|tags|properties)\..{1,255}$", re.DOTALL)
MAX_COLUMNS = 100
MAX_KEYS = 500
KEYS_FROM_RUNS = 2000


class BulkSerializer(serializers.Serializer[Any]):
    action = serializers.ChoiceField(choices=bulk.ACTIONS)
    ids = serializers.ListField(
        child=serializers.IntegerField(min_value=1, max_value=MAX_QUERY_INT), min_length=1, max_length=bulk.MAX_IDS
    )
    tags = documented_json(STRING_MAP, required=False, help_text="tag: tags to set (merged)")
    remove_tags = serializers.ListField(child=serializers.CharField(), required=False, help_text="tag: keys to remove")
    reason = serializers.CharField(required=False, allow_blank=True, help_text="cancel: the reason recorded")

    def validate_tags(self, value: Any) -> dict[str, str]:
        if not isinstance(value, dict) or not all(isinstance(k, str) and k for k in value):
            raise serializers.ValidationError("Must be an object of name: value.")
        return {k: "" if v is None else str(v) for k, v in value.items()}

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if attrs["action"] == "tag" and not attrs.get("tags") and not attrs.get("remove_tags"):
            raise serializers.ValidationError({"tags": ["Give tags to set or remove_tags to remove."]})
        return attrs


class RefusalSerializer(serializers.Serializer[Any]):
    id = serializers.IntegerField()
    reason = serializers.CharField()


class BulkResultSerializer(serializers.Serializer[Any]):
    action = serializers.CharField()
    done = serializers.ListField(child=serializers.IntegerField())
    refused = RefusalSerializer(many=True)


class ColumnsSerializer(serializers.Serializer[Any]):
    experiment = serializers.IntegerField(
        allow_null=True, required=False, min_value=1, max_value=MAX_QUERY_INT, help_text="null: the all-runs list"
    )
    columns = serializers.ListField(
        child=serializers.CharField(max_length=270),
        max_length=MAX_COLUMNS,
        help_text="metrics.NAME, metrics_min.NAME, metrics_max.NAME, params.KEY, tags.KEY, properties.KEY",
    )

    def validate_columns(self, value: list[str]) -> list[str]:
        bad = [c for c in value if not COLUMN.match(c)]
        if bad:
            raise serializers.ValidationError(f"Unknown column {bad[0]!r}: use e.g. metrics.acc or params.lr.")
        return list(dict.fromkeys(value))


class RunKeysSerializer(serializers.Serializer[Any]):
    metrics = serializers.ListField(child=serializers.CharField())
    params = serializers.ListField(child=serializers.CharField())
    tags = serializers.ListField(child=serializers.CharField())
    properties = serializers.ListField(child=serializers.CharField())


class CompareEnvironmentSerializer(serializers.Serializer[Any]):
    name = serializers.CharField()
    version = serializers.IntegerField()
    spec = serializers.JSONField()


class CompareRunSerializer(serializers.Serializer[Any]):
    id = serializers.IntegerField()
    display_name = serializers.CharField()
    status = serializers.CharField()
    experiment = serializers.CharField()
    script = serializers.CharField()
    command = documented_json(STRING_LIST)
    arguments = serializers.JSONField()
    params = documented_json(STRING_MAP)
    tags = documented_json(STRING_MAP)
    properties = documented_json(STRING_MAP)
    metrics = MetricSummaryMapSerializer()
    compute_target = serializers.CharField()
    distributed = serializers.JSONField(allow_null=True)
    environment = CompareEnvironmentSerializer(allow_null=True)
    snapshot_sha256 = serializers.CharField()
    created_at = serializers.DateTimeField()
    duration_seconds = serializers.FloatField(allow_null=True)

    def get_fields(self) -> dict[str, serializers.Field[Any, Any, Any, Any]]:
        # "parent" is a Serializer attribute, so the field cannot be a class attribute.
        return {**super().get_fields(), "parent": serializers.IntegerField(allow_null=True)}


class CompareSerializer(serializers.Serializer[Any]):
    runs = CompareRunSerializer(many=True)
    missing = serializers.ListField(child=serializers.IntegerField(), help_text="ids not found in your teams")


class SeriesSerializer(serializers.Serializer[Any]):
    run = serializers.IntegerField()
    name = serializers.CharField()
    steps = serializers.ListField(child=serializers.FloatField(), help_text="x: the step, or the point's index")
    values = serializers.ListField(child=serializers.FloatField())
    total = serializers.IntegerField(help_text="Points logged; more than len(values) when thinned")


class SeriesPageSerializer(serializers.Serializer[Any]):
    series = SeriesSerializer(many=True)


class SnapshotFileSerializer(serializers.Serializer[Any]):
    path = serializers.CharField()
    changed = serializers.BooleanField()
    sha256 = documented_json({"type": "object", "additionalProperties": {"type": "string", "nullable": True}})
    size = documented_json({"type": "object", "additionalProperties": {"type": "integer", "nullable": True}})


class SnapshotDiffSerializer(serializers.Serializer[Any]):
    files = SnapshotFileSerializer(many=True)
    texts = documented_json(
        {
            "type": "object",
            "description": "changed files' text by path, then by run id (null: absent, binary or too large)",
            "additionalProperties": {"type": "object", "additionalProperties": {"type": "string", "nullable": True}},
        }
    )
    error = serializers.CharField()


IDS = OpenApiParameter("ids", str, required=True, description="run ids, comma-separated (2 to 20)")


def ids_param(request: Request, *, least: int = 1) -> list[int]:
    raw = request.query_params.get("ids", "")
    try:
        ids = list(dict.fromkeys(int(part) for part in raw.split(",") if part.strip()))
        if any(not 1 <= i <= MAX_QUERY_INT for i in ids):
            raise ValueError
    except ValueError:
        raise serializers.ValidationError({"ids": ["Must be run ids separated by commas."]}) from None
    if len(ids) < least or len(ids) > comparison.MAX_RUNS:
        raise serializers.ValidationError({"ids": [f"Give {least} to {comparison.MAX_RUNS} run ids."]})
    return ids


class RunWorkbenchViewSet(viewsets.GenericViewSet[Run]):
    """Selections of runs: bulk actions, saved columns, comparisons."""

    permission_classes = [*SIGNED_IN]
    pagination_class = None
    filter_backends: list[Any] = []

    def get_queryset(self) -> Any:
        return scope_to_teams(self.request, Run.objects.all())

    def _visible(self, ids: list[int]) -> tuple[list[Run], list[int]]:
        found = {
            r.pk: r
            for r in self.get_queryset()
            .filter(pk__in=ids)
            .select_related("experiment", "compute_target", "environment_version__environment")
        }
        return [found[i] for i in ids if i in found], [i for i in ids if i not in found]

    @extend_schema(request=BulkSerializer, responses={200: BulkResultSerializer, 400: VALIDATION_ERROR})
    @action(detail=False, methods=["post"])
    def bulk(self, request: Request) -> Response:
        """Cancel, tag, archive or restore the given runs. Runs outside your teams (or missing)
        and runs the action does not fit are refused with the reason; the rest are done."""
        incoming = BulkSerializer(data=body(request))
        incoming.is_valid(raise_exception=True)
        data = incoming.validated_data
        result = bulk.apply(
            self.get_queryset(),
            bulk.BulkRequest(
                action=data["action"],
                ids=data["ids"],
                tags=data.get("tags") or {},
                remove_tags=data.get("remove_tags") or [],
                reason=data.get("reason", ""),
            ),
            request.user,
        )
        return Response(
            {
                "action": data["action"],
                "done": result.done,
                "refused": [{"id": r.id, "reason": r.reason} for r in result.refused],
            }
        )

    def _experiment(self, raw: Any) -> Experiment | None:
        if raw in (None, "", "null"):
            return None
        try:
            pk = int(raw)
            if not 1 <= pk <= MAX_QUERY_INT:
                raise ValueError
        except (TypeError, ValueError):
            raise serializers.ValidationError({"experiment": ["Must be an experiment id."]}) from None
        experiment = scope_to_teams(self.request, Experiment.objects.filter(pk=pk)).first()
        if experiment is None:
            raise serializers.ValidationError({"experiment": ["No such experiment in your teams."]})
        return experiment

    @extend_schema(
        methods=["GET"],
        parameters=[OpenApiParameter("experiment", int, description="the experiment's list; absent: all runs")],
        responses=ColumnsSerializer,
    )
    @extend_schema(
        methods=["PUT"], request=ColumnsSerializer, responses={200: ColumnsSerializer, 400: VALIDATION_ERROR}
    )
    @action(detail=False, methods=["get", "put"])
    def columns(self, request: Request) -> Response:
        """The run list columns you chose (per experiment, or for all runs); saved on the server,
        so they follow you to every browser."""
        if request.method == "PUT":
            incoming = ColumnsSerializer(data=body(request))
            incoming.is_valid(raise_exception=True)
            experiment = self._experiment(incoming.validated_data.get("experiment"))
            columns = incoming.validated_data["columns"]
            RunColumnPreference.objects.update_or_create(
                user_id=user_pk(request), experiment=experiment, defaults={"columns": columns}
            )
        else:
            experiment = self._experiment(request.query_params.get("experiment"))
            saved = RunColumnPreference.objects.filter(user_id=user_pk(request), experiment=experiment).first()
            if saved is None and experiment is not None:  # an experiment not set up yet starts as the all-runs list
                saved = RunColumnPreference.objects.filter(user_id=user_pk(request), experiment=None).first()
            columns = saved.columns if saved else []
        return Response({"experiment": experiment.pk if experiment else None, "columns": columns})

    @extend_schema(
        parameters=[OpenApiParameter("experiment", int, description="only this experiment's runs")],
        responses=RunKeysSerializer,
    )
    @action(detail=False, methods=["get"])
    def keys(self, request: Request) -> Response:
        """The metric names, parameter, tag and property keys of your newest runs (of the
        experiment, when given): the column chooser's choices."""
        runs = self.get_queryset().filter(archived_at__isnull=True)
        experiment = self._experiment(request.query_params.get("experiment"))
        if experiment is not None:
            runs = runs.filter(experiment=experiment)
        # The newest runs only: a team's 100k runs took 0.4 s to scan for distinct keys, and
        # what a column chooser should offer is what recent runs log.
        run_ids = list(runs.order_by("-created_at", "-id").values_list("pk", flat=True)[:KEYS_FROM_RUNS])
        metrics = MetricSummary.objects.filter(run_id__in=run_ids).order_by().values_list("name", flat=True)
        out: dict[str, list[str]] = {"metrics": sorted(set(metrics))[:MAX_KEYS]}
        fields = RunField.objects.filter(run_id__in=run_ids).order_by().values_list("kind", "key")
        by_kind: dict[str, set[str]] = {kind: set() for kind in RunField.Kind.values}
        for kind, key in fields:
            by_kind[kind].add(key)
        for label, kind in (
            ("params", RunField.Kind.PARAM),
            ("tags", RunField.Kind.TAG),
            ("properties", RunField.Kind.PROPERTY),
        ):
            out[label] = sorted(by_kind[kind])[:MAX_KEYS]
        return Response(out)

    @extend_schema(parameters=[IDS], responses={200: CompareSerializer, 400: VALIDATION_ERROR})
    @action(detail=False, methods=["get"])
    def compare(self, request: Request) -> Response:
        """Runs side by side: arguments, parameters, tags, environment, final metrics."""
        from runs.summaries import summaries_of

        runs, missing = self._visible(ids_param(request))
        metrics = summaries_of([r.pk for r in runs])
        return Response(
            {"runs": [{**comparison.describe(r), "metrics": metrics.get(r.pk, {})} for r in runs], "missing": missing}
        )

    @extend_schema(
        parameters=[
            IDS,
            OpenApiParameter("names", str, description="metric names, comma-separated; absent: all"),
            OpenApiParameter("max_points", int, description=f"per series (default {comparison.DEFAULT_POINTS})"),
        ],
        responses={200: SeriesPageSerializer, 400: VALIDATION_ERROR},
    )
    @action(detail=False, methods=["get"], url_path="compare/series")
    def compare_series(self, request: Request) -> HttpResponse:
        """Each run's scalar metrics as columns (x: step), thinned to ``max_points`` per series
        keeping each bucket's extremes."""
        runs, _missing = self._visible(ids_param(request))
        raw_names = request.query_params.get("names")
        names = {n for n in raw_names.split(",") if n} if raw_names else None
        limit = int_param(request, "max_points", comparison.DEFAULT_POINTS, minimum=10, maximum=comparison.MAX_POINTS)
        found = comparison.series([r.pk for r in runs], names, limit)
        # Built as text: the kept columns are spliced in without decoding (see MetricSketch).
        return HttpResponse(comparison.series_json(found), content_type="application/json")

    @extend_schema(parameters=[IDS], responses={200: SnapshotDiffSerializer, 400: VALIDATION_ERROR})
    @action(detail=False, methods=["get"], url_path="compare/snapshots")
    def compare_snapshots(self, request: Request) -> Response:
        """The runs' code snapshots file by file: each run's hash and size, and the text of
        the files that differ (UTF-8, up to 256 KiB, the first 50)."""
        runs, _missing = self._visible(ids_param(request))
        return Response(comparison.snapshot_diff(runs))
