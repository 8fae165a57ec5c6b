"""Environments API. Editing an environment's spec registers a new version."""

from __future__ import annotations

from typing import Any

import django_filters
from django.db import transaction
from django.db.models import Count, Q
from drf_spectacular.utils import (
    OpenApiParameter,
    extend_schema,
    extend_schema_field,
    extend_schema_view,
    inline_serializer,
)
from rest_framework import exceptions, permissions, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from accounts.models import Team
from accounts.permissions import SIGNED_IN, TeamObjectPermission, checked_team, is_admin, team_ids
from audit.mixins import record_move, snapshot
from audit.services import diff, record
from config.api import body
from config.pagination import int_param
from config.responses import NOT_FOUND, VALIDATION_ERROR, documented_json
from environments import spec as specs
from environments.conda import version_info
from environments.models import RESERVED_PREFIX, BuildLogLine, Environment, EnvironmentBuild, EnvironmentVersion
from environments.responses import (
    BuildLogPageSerializer,
    CondaInfoSerializer,
    EnvironmentSpecSerializer,
    EnvironmentVersionCreateSerializer,
)


class EnvironmentVersionSerializer(serializers.ModelSerializer[EnvironmentVersion]):
    environment_name = serializers.CharField(source="environment.name", read_only=True)
    created_by: serializers.SlugRelatedField[Any] = serializers.SlugRelatedField(
        slug_field="username", read_only=True, allow_null=True
    )
    spec = documented_json(EnvironmentSpecSerializer, read_only=True)
    conda = serializers.SerializerMethodField(
        help_text="The conda specification's channels and how its packages are installed from PyPI (null without one)."
    )

    class Meta:
        model = EnvironmentVersion
        fields = [
            "id",
            "environment",
            "environment_name",
            "version",
            "spec",
            "conda",
            "content_hash",
            "description",
            "created_by",
            "created_at",
        ]
        read_only_fields = fields

    @extend_schema_field(CondaInfoSerializer(allow_null=True))
    def get_conda(self, version: EnvironmentVersion) -> Any:
        return version_info(version.spec)


class EnvironmentSerializer(serializers.ModelSerializer[Environment]):
    team = serializers.SlugRelatedField(slug_field="slug", queryset=Team.objects.all(), required=False, allow_null=True)
    spec = serializers.JSONField(write_only=True, required=False, help_text="Creates a new version when given.")
    version_description = serializers.CharField(write_only=True, required=False, allow_blank=True)
    latest_version = serializers.SerializerMethodField()
    version_count = serializers.IntegerField(read_only=True)
    created_by: serializers.SlugRelatedField[Any] = serializers.SlugRelatedField(
        slug_field="username", read_only=True, allow_null=True
    )

    class Meta:
        model = Environment
        validators: list[Any] = []  # uniqueness per team is checked in validate()
        fields = [
            "id",
            "name",
            "team",
            "curated",
            "description",
            "spec",
            "version_description",
            "failure_policy",
            "latest_version",
            "version_count",
            "created_by",
            "created_at",
        ]

    def validate_failure_policy(self, value: Any) -> dict[str, Any]:
        # Default retries per cause and hang watchdog for runs in this environment
        # (runs.policy); a run's own keys win, the target's fill what is left.
        from runs import policy

        return policy.parse(value).as_json()

    @extend_schema_field(EnvironmentVersionSerializer(allow_null=True))
    def get_latest_version(self, env: Environment) -> dict[str, Any] | None:
        latest = env.latest_version()
        return EnvironmentVersionSerializer(latest).data if latest else None

    def validate_name(self, name: str) -> str:
        import re

        if not re.match(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$", name):
            raise serializers.ValidationError("Use letters, digits, '.', '-' and '_' (max 128).")
        return name

    def validate_spec(self, value: Any) -> dict[str, Any]:
        if not isinstance(value, dict):
            raise serializers.ValidationError("Must be an object.")
        try:
            return specs.normalize(value)
        except Exception as exc:
            detail = getattr(exc, "message_dict", None)
            raise serializers.ValidationError(detail or str(exc)) from None

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        request = self.context["request"]
        instance = self.instance
        curated = attrs.get("curated", instance.curated if instance else False)
        name = attrs.get("name", instance.name if instance else "")
        if instance is not None and "curated" in attrs and attrs["curated"] != instance.curated:
            raise serializers.ValidationError({"curated": ["Cannot change whether an environment is curated."]})
        if curated:
            if not is_admin(request.user):
                raise exceptions.PermissionDenied("Only admins create or edit curated environments.")
            if not name.startswith(RESERVED_PREFIX):
                raise serializers.ValidationError(
                    {"name": [f"Curated environment names begin with '{RESERVED_PREFIX}'."]}
                )
            attrs["team"] = None
        elif name.startswith(RESERVED_PREFIX):
            raise serializers.ValidationError(
                {"name": [f"Names beginning with '{RESERVED_PREFIX}' are reserved for curated environments."]}
            )
        else:
            attrs["team"] = checked_team(request, instance, attrs)
        others = Environment.objects.exclude(pk=instance.pk) if instance else Environment.objects.all()
        if curated and others.filter(curated=True, name=name).exists():
            raise serializers.ValidationError({"name": [f"A curated environment '{name}' already exists."]})
        if not curated and others.filter(team=attrs["team"], name=name).exists():
            raise serializers.ValidationError({"name": [f"An environment '{name}' already exists in this team."]})
        return attrs


class CuratedWritePermission(permissions.BasePermission):
    message = "Curated environments are read-only; only admins can change them."

    def has_object_permission(self, request: Request, view: Any, obj: Environment) -> bool:
        if request.method in permissions.SAFE_METHODS:
            return True
        if obj.curated:
            return is_admin(request.user)
        return is_admin(request.user) or obj.team_id in team_ids(request)


class EnvironmentFilter(django_filters.FilterSet):
    team = django_filters.CharFilter(field_name="team__slug")

    class Meta:
        model = Environment
        fields = ["name", "curated", "team"]


@extend_schema_view(destroy=extend_schema(responses={204: None, 400: VALIDATION_ERROR}))
class EnvironmentViewSet(viewsets.ModelViewSet[Environment]):
    """Curated environments are visible to all; custom ones to their team."""

    serializer_class = EnvironmentSerializer
    permission_classes = [*SIGNED_IN, CuratedWritePermission]
    filterset_class = EnvironmentFilter
    search_fields = ["name", "description"]
    ordering_fields = ["name", "created_at"]

    def get_queryset(self) -> Any:
        envs = Environment.objects.select_related("team", "created_by").annotate(version_count=Count("versions"))
        if not is_admin(self.request.user):
            envs = envs.filter(Q(curated=True) | Q(team__in=team_ids(self.request)))
        return envs.order_by("-curated", "name")

    @transaction.atomic
    def perform_create(self, serializer: Any) -> None:
        spec = serializer.validated_data.pop("spec", None) or specs.normalize({})
        note = serializer.validated_data.pop("version_description", "")
        env = serializer.save(created_by=self.request.user)
        version = env.add_version(spec, self.request.user, note)
        record(
            "environments.environment.created",
            actor=self.request.user,
            obj=env,
            changes={"curated": env.curated, "spec": version.spec, "version": version.version},
            secret_values=version.secret_values.values(),
        )

    @transaction.atomic
    def perform_update(self, serializer: Any) -> None:
        spec = serializer.validated_data.pop("spec", None)
        note = serializer.validated_data.pop("version_description", "")
        before, old_team = snapshot(serializer.instance), serializer.instance.team
        env = serializer.save()
        changes = diff(before, snapshot(env))
        if spec is not None:
            version = env.add_version(spec, self.request.user, note)
            changes["version"] = version.version
            changes["spec"] = version.spec
        latest = env.latest_version()
        secret_values = list(latest.secret_values.values()) if latest else []
        changes["curated"] = env.curated
        record(
            "environments.environment.updated",
            actor=self.request.user,
            obj=env,
            changes=changes,
            secret_values=secret_values,
        )
        record_move(self.request.user, env, old_team)

    def perform_destroy(self, instance: Environment) -> None:
        if EnvironmentVersion.objects.filter(environment=instance, runs__isnull=False).exists():
            raise exceptions.ValidationError({"detail": "Runs use this environment; it cannot be deleted."})
        record(
            "environments.environment.deleted",
            actor=self.request.user,
            object_repr=instance.name,
            team=instance.team,
            changes={"curated": instance.curated},
        )
        instance.delete()

    @extend_schema(methods=["GET"], responses=EnvironmentVersionSerializer(many=True), filters=False)
    @extend_schema(
        methods=["POST"],
        request=EnvironmentVersionCreateSerializer,
        responses={201: EnvironmentVersionSerializer, 400: VALIDATION_ERROR},
    )
    @action(detail=True, methods=["get", "post"], pagination_class=None)
    def versions(self, request: Request, pk: str | None = None) -> Response:
        """GET lists versions, newest first; POST {"spec": {...}} registers a new one."""
        env = self.get_object()
        if request.method == "GET":
            return Response(EnvironmentVersionSerializer(env.versions.order_by("-version"), many=True).data)
        serializer = self.get_serializer(
            env,
            data={"spec": body(request).get("spec"), "version_description": body(request).get("description", "")},
            partial=True,
        )
        serializer.is_valid(raise_exception=True)
        if "spec" not in serializer.validated_data:
            raise serializers.ValidationError({"spec": ["This field is required."]})
        self.perform_update(serializer)
        latest = env.latest_version()
        return Response(EnvironmentVersionSerializer(latest).data, status=status.HTTP_201_CREATED)


class EnvironmentBuildSerializer(serializers.ModelSerializer[EnvironmentBuild]):
    duration_seconds = serializers.FloatField(read_only=True, allow_null=True)

    class Meta:
        model = EnvironmentBuild
        fields = [
            "id",
            "content_hash",
            "kind",
            "location",
            "status",
            "path",
            "error",
            "log_seq",
            "created_at",
            "started_at",
            "finished_at",
            "last_used_at",
            "duration_seconds",
        ]
        read_only_fields = fields


class EnvironmentVersionViewSet(viewsets.ReadOnlyModelViewSet[EnvironmentVersion]):
    serializer_class = EnvironmentVersionSerializer
    permission_classes = [*SIGNED_IN, TeamObjectPermission]
    filterset_fields = ["environment", "version", "content_hash"]

    @extend_schema(
        request=inline_serializer("BuildRequest", {"compute_target": serializers.CharField(required=False)}),
        responses={202: EnvironmentBuildSerializer, 400: VALIDATION_ERROR},
    )
    @action(detail=True, methods=["post"])
    def build(self, request: Request, pk: str | None = None) -> Response:
        """Queue a build of this version on a compute target (default ``local``);
        follow it with ``/api/environment-builds/{id}/`` and its ``log/``."""
        from compute.configs import ConfigError
        from compute.models import ComputeTarget
        from environments.tasks import build_environment
        from execution.backends import get_backend

        version = self.get_object()
        name = body(request).get("compute_target") or "local"
        target = ComputeTarget.objects.filter(name=name).first()
        if target is None:
            raise serializers.ValidationError({"compute_target": [f"No compute target named '{name}'."]})
        try:
            config = target.typed_config
        except ConfigError as exc:  # a row saved before configs were validated
            raise serializers.ValidationError(
                {"compute_target": [f"Compute target '{name}' has an invalid config: {exc}"]}
            ) from None
        record_ = get_backend(target.kind).build_record(version, config)
        transaction.on_commit(lambda: build_environment.apply_async(args=[version.pk, target.pk], queue=target.queue))
        record(
            "environments.environmentversion.build",
            actor=request.user,
            obj=version,
            changes={"compute_target": target.name},
        )
        return Response(EnvironmentBuildSerializer(record_).data, status=status.HTTP_202_ACCEPTED)

    def get_queryset(self) -> Any:
        versions = EnvironmentVersion.objects.select_related("environment", "created_by")
        if not is_admin(self.request.user):
            versions = versions.filter(Q(environment__curated=True) | Q(environment__team__in=team_ids(self.request)))
        return versions.order_by("environment__name", "-version")


class EnvironmentBuildViewSet(viewsets.ReadOnlyModelViewSet[EnvironmentBuild]):
    """Builds are shared by content hash; anyone who can see an environment sees its builds."""

    serializer_class = EnvironmentBuildSerializer
    filterset_fields = ["content_hash", "kind", "status"]

    def get_queryset(self) -> Any:
        builds = EnvironmentBuild.objects.all()
        if not is_admin(self.request.user):
            visible = EnvironmentVersion.objects.filter(
                Q(environment__curated=True) | Q(environment__team__in=team_ids(self.request))
            ).values("content_hash")
            builds = builds.filter(content_hash__in=visible)
        return builds.order_by("-created_at")

    @extend_schema(
        parameters=[OpenApiParameter("after", int), OpenApiParameter("limit", int)],
        responses={200: BuildLogPageSerializer, 400: VALIDATION_ERROR, 404: NOT_FOUND},
    )
    @action(detail=True, methods=["get"])
    def log(self, request: Request, pk: str | None = None) -> Response:
        """Lines after ``?after=<seq>`` (default 0), at most ``?limit=`` (default 1000)."""
        build = self.get_object()
        after = int_param(request, "after", 0)
        limit = min(int_param(request, "limit", 1000), 10000)
        lines = BuildLogLine.objects.filter(build=build, seq__gt=after).order_by("seq")[:limit]
        return Response(
            {
                "build": build.pk,
                "status": build.status,
                "lines": [{"seq": ln.seq, "text": ln.text, "at": ln.at} for ln in lines],
            }
        )
