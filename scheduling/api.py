"""Scheduling API: team quotas (admins write), a target's queue board and timeline, usage."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.http import HttpResponse
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers, viewsets
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from accounts.models import Team
from accounts.permissions import SIGNED_IN, AdminWriteOrReadOnly, is_admin, scope_to_teams, team_ids
from audit.services import record
from common.errors import InvalidInput
from compute.models import ComputeTarget
from config.pagination import int_param
from runs.models import Run
from scheduling import accounting, board, quotas
from scheduling.models import TeamQuota
from scheduling.priority import NAMES, label, parse

PRIORITY_NAMES = list(NAMES)


class PriorityNameField(serializers.ChoiceField):
    """A priority as its name on the wire, its number in the database."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(choices=PRIORITY_NAMES, **kwargs)

    def to_representation(self, value: Any) -> str:
        return label(int(value))

    def to_internal_value(self, data: Any) -> int:  # type: ignore[override]
        return parse(super().to_internal_value(data), self.field_name or "priority")


class TeamQuotaSerializer(serializers.ModelSerializer[TeamQuota]):
    team = serializers.SlugRelatedField(slug_field="slug", queryset=Team.objects.all())
    compute_target = serializers.SlugRelatedField(slug_field="name", queryset=ComputeTarget.objects.all())
    max_priority = PriorityNameField(required=False, help_text="The highest priority the team's runs may use.")

    class Meta:
        model = TeamQuota
        fields = [
            "id",
            "team",
            "compute_target",
            "share",
            "max_runs",
            "max_nodes",
            "max_processes",
            "max_gpus",
            "max_priority",
            "updated_at",
        ]
        read_only_fields = ["id", "updated_at"]

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        share = attrs.get("share", getattr(self.instance, "share", 0))
        limit = attrs.get("max_runs", getattr(self.instance, "max_runs", None))
        if limit is not None and share > limit:
            raise serializers.ValidationError(
                {"share": [f"The guaranteed share ({share}) exceeds max_runs ({limit})."]}
            )
        target = attrs.get("compute_target", getattr(self.instance, "compute_target", None))
        if target is not None and share > target.max_concurrent_runs:
            raise serializers.ValidationError(
                {"share": [f"{target.name} runs at most {target.max_concurrent_runs} runs at once; share is {share}."]}
            )
        return attrs


class TeamQuotaViewSet(viewsets.ModelViewSet[TeamQuota]):
    """Per team and target: guaranteed share, limits and the max priority. Members read
    their teams' quotas; admins read all and write (audited)."""

    serializer_class = TeamQuotaSerializer
    permission_classes = [*SIGNED_IN, AdminWriteOrReadOnly]

    def get_queryset(self) -> Any:
        return scope_to_teams(self.request, TeamQuota.objects.select_related("team", "compute_target"))

    def perform_create(self, serializer: Any) -> None:
        quota = serializer.save()
        record(
            "scheduling.quota.created", actor=self.request.user, obj=quota, changes=quotas.quota_changes(None, quota)
        )

    def perform_update(self, serializer: Any) -> None:
        before = {f: getattr(serializer.instance, f) for f in quotas.QUOTA_FIELDS}
        quota = serializer.save()
        record(
            "scheduling.quota.updated", actor=self.request.user, obj=quota, changes=quotas.quota_changes(before, quota)
        )

    def perform_destroy(self, instance: TeamQuota) -> None:
        record(
            "scheduling.quota.deleted",
            actor=self.request.user,
            obj=instance,
            changes=quotas.quota_changes(None, instance),
        )
        instance.delete()


class TeamCapacitySerializer(serializers.Serializer[Any]):
    team = serializers.CharField()
    share = serializers.IntegerField()
    max_runs = serializers.IntegerField(allow_null=True)
    running = serializers.IntegerField()
    borrowed = serializers.IntegerField(help_text="Running beyond the guaranteed share.")
    queued = serializers.IntegerField()
    gpus = serializers.IntegerField()
    usage_hours = serializers.FloatField(help_text="Decayed run-hours (GPU-hours where runs have GPUs).")


class QueuedRunSerializer(serializers.Serializer[Any]):
    id = serializers.IntegerField()
    team = serializers.CharField()
    priority = serializers.CharField()
    position = serializers.IntegerField()
    starts_now = serializers.BooleanField()
    waiting_reason = serializers.CharField()


class BoardSerializer(serializers.Serializer[Any]):
    target = serializers.CharField()
    capacity_runs = serializers.IntegerField()
    capacity_nodes = serializers.IntegerField(allow_null=True)
    capacity_gpus = serializers.IntegerField(allow_null=True)
    used_runs = serializers.IntegerField()
    used_nodes = serializers.IntegerField()
    used_gpus = serializers.IntegerField()
    served = serializers.BooleanField(allow_null=True, help_text="A live worker consumes the target's queue.")
    teams = TeamCapacitySerializer(many=True)
    runs = QueuedRunSerializer(many=True, help_text="Waiting runs of your teams, in scheduling order.")


class TeamSeriesSerializer(serializers.Serializer[Any]):
    team = serializers.CharField()
    running = serializers.ListField(child=serializers.IntegerField())
    queued = serializers.ListField(child=serializers.IntegerField())
    borrowed = serializers.ListField(
        child=serializers.IntegerField(), help_text="Running beyond the team's guaranteed share (its share today)."
    )


class TimelineSerializer(serializers.Serializer[Any]):
    at = serializers.ListField(child=serializers.DateTimeField())
    series = TeamSeriesSerializer(many=True)


class ScheduleViewSet(viewsets.GenericViewSet[ComputeTarget]):
    """A compute target's queue as the scheduler sees it (targets are shared: every
    signed-in user reads them; runs are listed for the caller's teams only)."""

    permission_classes = [*SIGNED_IN]
    queryset = ComputeTarget.objects.all()
    serializer_class = BoardSerializer

    def retrieve(self, request: Request, pk: str | None = None) -> Response:
        target = self.get_object()
        visible = None if is_admin(request.user) else team_ids(request)
        return Response(BoardSerializer(board.board(target, visible)).data)

    @extend_schema(
        parameters=[
            OpenApiParameter("hours", OpenApiTypes.INT, description="How far back (default 24, at most 720)."),
            OpenApiParameter("points", OpenApiTypes.INT, description="Samples (default 48, at most 500)."),
        ],
        responses=TimelineSerializer,
    )
    @action(detail=True, methods=["get"])
    def timeline(self, request: Request, pk: str | None = None) -> Response:
        target = self.get_object()
        hours = int_param(request, "hours", 24, minimum=1, maximum=720)
        points = int_param(request, "points", 48, minimum=2, maximum=500)
        return Response(TimelineSerializer(board.timeline(target, hours, points)).data)


class UsageRowSerializer(serializers.Serializer[Any]):
    key = serializers.CharField()
    team = serializers.CharField()
    runs = serializers.IntegerField()
    run_hours = serializers.FloatField()
    gpu_hours = serializers.FloatField()
    queue_wait_hours = serializers.FloatField()
    cpu_percent = serializers.FloatField(
        allow_null=True,
        help_text="Mean CPU per rank (% of one core) from system metrics, weighted by run-hours; null: not sampled.",
    )
    gpu_utilization = serializers.FloatField(
        allow_null=True, help_text="Mean GPU utilization (%) from system metrics; null: no GPU sampled."
    )


USAGE_PARAMETERS = [
    OpenApiParameter("group_by", OpenApiTypes.STR, enum=list(accounting.GROUPS), description="Default team."),
    OpenApiParameter("since", OpenApiTypes.DATETIME, description="Default: 30 days ago."),
    OpenApiParameter("until", OpenApiTypes.DATETIME, description="Default: now."),
]


def usage_query(request: Request) -> tuple[str, list[accounting.UsageRow]]:
    group_by = request.query_params.get("group_by", "team")
    if group_by not in accounting.GROUPS:
        raise InvalidInput({"group_by": [f"Use one of {', '.join(accounting.GROUPS)}."]})
    bounds = {}
    for name, default in (("since", timezone.now() - timedelta(days=30)), ("until", timezone.now())):
        raw = request.query_params.get(name)
        value = parse_datetime(raw) if raw else default
        if value is None:
            raise InvalidInput({name: ["Use an ISO 8601 date and time, e.g. 2026-01-31T00:00:00Z."]})
        if timezone.is_naive(value):
            value = timezone.make_aware(value, timezone.get_current_timezone())
        bounds[name] = value
    runs = scope_to_teams(request, Run.objects.all())
    return group_by, accounting.usage(runs, group_by, bounds["since"], bounds["until"])


class UsageViewSet(viewsets.ViewSet):
    """Usage of your teams' runs (admins: every team's), grouped by team, user, experiment or target."""

    permission_classes = [*SIGNED_IN]

    @extend_schema(parameters=USAGE_PARAMETERS, responses=UsageRowSerializer(many=True))
    def list(self, request: Request) -> Response:
        _, rows = usage_query(request)
        return Response(UsageRowSerializer(rows, many=True).data)

    @extend_schema(parameters=USAGE_PARAMETERS, responses={(200, "text/csv"): OpenApiTypes.STR})
    @action(detail=False, methods=["get"])
    def csv(self, request: Request) -> HttpResponse:
        group_by, rows = usage_query(request)
        response = HttpResponse(accounting.to_csv(rows, group_by), content_type="text/csv")
        response["Content-Disposition"] = f'attachment; filename="runyard-usage-by-{group_by}.csv"'
        return response
