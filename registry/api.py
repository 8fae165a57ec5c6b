"""REST API of the model registry: model names, their versions, files and lineage.

``POST /api/models/register/`` registers uploaded files (``Model.register``);
``POST /api/runs/{id}/register-model/`` registers a run's stored artifacts
(``run.register_model``; a run token may call it on its own run only).
"""

from __future__ import annotations

from typing import Any

import django_filters
from django.db.models import Count, Max, OuterRef, Prefetch, Subquery
from django.db.models.fields.json import KeyTransform
from django.http import FileResponse, StreamingHttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_field, extend_schema_view
from rest_framework import exceptions, generics, mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from accounts.authentication import RunScope
from accounts.models import Team
from accounts.permissions import SIGNED_IN, TeamObjectPermission, default_team, scope_to_teams
from common.archives import UnsafeArchive, clean_path
from config.responses import CONFLICT, NOT_FOUND, STRING_LIST, STRING_MAP, VALIDATION_ERROR, documented_json

# One upload path for datasets and models: streamed to disk, temp files always removed.
from datasets.api import UPLOAD_PARSERS, _data, _json_field, _Spool
from datasets.services import InUse
from registry import downloads, services
from registry.models import ModelFile, ModelVersion, RegisteredModel
from runs.models import Run


def _conflict(exc: InUse) -> Response:
    return Response({"detail": str(exc), "runs": exc.runs}, status=status.HTTP_409_CONFLICT)


# ---- serializers ----------------------------------------------------------------------------
class ModelFileSerializer(serializers.ModelSerializer[ModelFile]):
    class Meta:
        model = ModelFile
        fields = ["path", "size", "sha256"]


class LineageDatasetSerializer(serializers.Serializer[Any]):
    id = serializers.IntegerField(help_text="The dataset version's id.")
    dataset = serializers.IntegerField(help_text="The dataset's id.")
    name = serializers.CharField()
    version = serializers.IntegerField()


class ModelVersionSerializer(serializers.ModelSerializer[ModelVersion]):
    name = serializers.CharField(source="model.name", read_only=True)
    team = serializers.CharField(source="model.team.slug", read_only=True)
    created_by: Any = serializers.SlugRelatedField(slug_field="username", read_only=True, allow_null=True)
    tags = documented_json(STRING_MAP, required=False)
    properties = documented_json(STRING_MAP, read_only=True)
    metrics = documented_json({"type": "object", "additionalProperties": {}}, read_only=True)
    run = serializers.SerializerMethodField(help_text="The producing run's id, while the run exists.")
    environment = serializers.SerializerMethodField(help_text="The producing run's environment, name:version.")
    environment_id = serializers.SerializerMethodField(help_text="That environment's id (its page).")
    datasets = serializers.SerializerMethodField()

    class Meta:
        model = ModelVersion
        fields = [
            "id",
            "model",
            "name",
            "team",
            "version",
            "description",
            "tags",
            "properties",
            "framework",
            "framework_version",
            "run",
            "run_number",
            "experiment_name",
            "source_path",
            "environment",
            "environment_id",
            "datasets",
            "metrics",
            "total_size",
            "file_count",
            "created_by",
            "created_at",
        ]
        read_only_fields = [f for f in fields if f not in ("description", "tags")]

    def get_run(self, version: ModelVersion) -> int | None:
        return version.run_id

    def get_environment(self, version: ModelVersion) -> str | None:
        env = version.environment_version
        return f"{env.environment.name}:{env.version}" if env else None

    def get_environment_id(self, version: ModelVersion) -> int | None:
        env = version.environment_version
        return env.environment_id if env else None

    @extend_schema_field(LineageDatasetSerializer(many=True))
    def get_datasets(self, version: ModelVersion) -> list[dict[str, Any]]:
        return [
            {"id": d.pk, "dataset": d.dataset_id, "name": d.dataset.name, "version": d.version}
            for d in sorted(version.datasets.all(), key=lambda d: (d.dataset.name, d.version))
        ]

    def validate_tags(self, value: Any) -> dict[str, str]:
        try:
            return services.string_map(value, "tags")
        except services.InvalidInput as exc:
            raise serializers.ValidationError(exc.errors["tags"]) from None


class ModelVersionDetailSerializer(ModelVersionSerializer):
    files = ModelFileSerializer(many=True, read_only=True)

    class Meta(ModelVersionSerializer.Meta):
        fields = [*ModelVersionSerializer.Meta.fields, "files"]


class RegisteredModelSerializer(serializers.ModelSerializer[RegisteredModel]):
    team: Any = serializers.SlugRelatedField(slug_field="slug", read_only=True)
    created_by: Any = serializers.SlugRelatedField(slug_field="username", read_only=True, allow_null=True)
    latest_version = serializers.SerializerMethodField()
    version_count = serializers.SerializerMethodField()

    class Meta:
        model = RegisteredModel
        fields = ["id", "name", "team", "description", "latest_version", "version_count", "created_by", "created_at"]
        read_only_fields = ["name"]

    @extend_schema_field(ModelVersionSerializer(allow_null=True))
    def get_latest_version(self, model: RegisteredModel) -> dict[str, Any] | None:
        latest = getattr(model, "latest", None)
        if latest is None:
            latest = _versions().filter(model=model).order_by("-version")[:1]
        latest = list(latest)
        return ModelVersionSerializer(latest[0]).data if latest else None

    def get_version_count(self, model: RegisteredModel) -> int:
        count = getattr(model, "version_total", None)
        return int(count) if count is not None else model.versions.count()


def _versions() -> Any:
    return ModelVersion.objects.select_related(
        "model__team", "created_by", "environment_version__environment"
    ).prefetch_related("datasets__dataset")


# ---- requests ---------------------------------------------------------------------------------
REGISTER_FIELDS: dict[str, Any] = {
    "model_name": {"type": "string"},
    "description": {"type": "string"},
    "tags": {"type": "string", "description": "JSON object"},
    "properties": {"type": "string", "description": "JSON object (add-only afterwards)"},
    "model_framework": {"type": "string"},
    "model_framework_version": {"type": "string"},
    "datasets": {"type": "string", "description": 'JSON list of {"name": dataset, "version": n}'},
}
REGISTER_SCHEMA = {
    "multipart/form-data": {
        "type": "object",
        "properties": {
            **REGISTER_FIELDS,
            "files": {"type": "array", "items": {"type": "string", "format": "binary"}},
            "team": {"type": "string", "description": "The team's slug (default: your first team)."},
        },
        "required": ["model_name", "files"],
    }
}
FROM_RUN_SCHEMA = {
    "application/json": {
        "type": "object",
        "properties": {
            **REGISTER_FIELDS,
            "model_path": {"type": "string", "description": "A file or folder of the run's artifacts."},
            "tags": {"type": "object", "additionalProperties": {"type": "string"}},
            "properties": {"type": "object", "additionalProperties": {"type": "string"}},
            "datasets": {"type": "array", "items": {"type": "object"}},
        },
        "required": ["model_name"],
    }
}


def _registration(data: Any, team: Team, lineage: services.Lineage) -> services.Registration:
    framework = str(data.get("model_framework") or "")
    framework_version = str(data.get("model_framework_version") or "")
    if framework_version and not framework:
        # Azure refuses the same: a framework version means nothing without its framework.
        raise serializers.ValidationError({"model_framework": ["Give the framework of model_framework_version."]})
    lineage.datasets = services.named_datasets(team, _json_field(data.get("datasets"), "datasets"))
    return services.Registration(
        name=str(data.get("model_name") or data.get("name") or ""),
        team=team,
        description=str(data.get("description") or ""),
        tags=services.string_map(_json_field(data.get("tags"), "tags"), "tags"),
        properties=services.string_map(_json_field(data.get("properties"), "properties"), "properties"),
        framework=framework[:64],
        framework_version=framework_version[:64],
        lineage=lineage,
    )


# ---- model names --------------------------------------------------------------------------------
@extend_schema_view(destroy=extend_schema(responses={204: None, 409: CONFLICT}))
class RegisteredModelViewSet(
    mixins.ListModelMixin, mixins.RetrieveModelMixin, mixins.DestroyModelMixin, viewsets.GenericViewSet[RegisteredModel]
):
    """Model names of the user's teams, each with its latest version."""

    serializer_class = RegisteredModelSerializer
    permission_classes = [*SIGNED_IN, TeamObjectPermission]
    filterset_fields = ["name"]
    search_fields = ["name", "description"]

    def get_queryset(self) -> Any:
        models = RegisteredModel.objects.select_related("team", "created_by").annotate(version_total=Count("versions"))
        # Each model's latest version (numbers grow with ids), prefetched for the whole page.
        latest_ids = ModelVersion.objects.values("model").annotate(top=Max("id")).values_list("top", flat=True)
        latest = Prefetch("versions", queryset=_versions().filter(id__in=latest_ids), to_attr="latest")
        return scope_to_teams(self.request, models.prefetch_related(latest)).order_by("name")

    def destroy(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        try:
            services.delete_model(self.get_object(), actor=request.user)
        except InUse as exc:
            return _conflict(exc)
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(responses=ModelVersionSerializer(many=True), filters=False)
    @action(detail=True, methods=["get"])
    def versions(self, request: Request, pk: str | None = None) -> Response:
        """The model's versions, newest first."""
        qs = _versions().filter(model=self.get_object()).order_by("-version")
        page: Any = self.paginate_queryset(qs)  # type: ignore[arg-type]
        if page is not None:
            return self.get_paginated_response(ModelVersionSerializer(page, many=True).data)
        return Response(ModelVersionSerializer(qs, many=True).data)

    @extend_schema(request=REGISTER_SCHEMA, responses={201: ModelVersionSerializer, 400: VALIDATION_ERROR})
    @action(detail=False, methods=["post"], parser_classes=UPLOAD_PARSERS)
    def register(self, request: Request) -> Response:
        """Azure's ``Model.register``: upload files (each part's filename is its path in the
        model) as a new version of ``model_name`` (created on first use)."""
        with _Spool(request):
            data = _data(request)
            slug = data.get("team")
            team = Team.objects.filter(slug=slug).first() if slug else None
            if slug and team is None:
                raise serializers.ValidationError({"team": [f"No team '{slug}'."]})
            team = default_team(request, team)
            reg = _registration(data, team, services.Lineage())
            uploads = list(request.FILES.getlist("files")) if hasattr(request.FILES, "getlist") else []
            version = services.register(reg, services.from_uploads(uploads), actor=request.user)
        return Response(ModelVersionSerializer(_versions().get(pk=version.pk)).data, status=status.HTTP_201_CREATED)


# ---- versions -----------------------------------------------------------------------------------
class ModelVersionFilter(django_filters.FilterSet):
    name = django_filters.CharFilter(field_name="model__name")
    run = django_filters.NumberFilter(field_name="run_number", help_text="versions the run produced")
    framework = django_filters.CharFilter(field_name="framework", lookup_expr="iexact")
    tag = django_filters.CharFilter(method="filter_tag", help_text="key or key=value (repeat for several)")
    property = django_filters.CharFilter(method="filter_property", help_text="key or key=value (repeat)")
    latest = django_filters.BooleanFilter(method="filter_latest", help_text="only each model's latest version")

    class Meta:
        model = ModelVersion
        fields = ["model", "version"]

    def _pairs(self, queryset: Any, name: str, column: str) -> Any:
        wanted = self.data.getlist(name) if hasattr(self.data, "getlist") else [self.data.get(name)]
        for index, item in enumerate(w for w in wanted if w):
            key, sep, value = str(item).partition("=")
            if not sep:
                queryset = queryset.filter(**{f"{column}__has_key": key})
                continue
            # KeyTransform takes the key literally (SQLite has no JSON containment).
            alias = f"{column}_{index}"
            queryset = queryset.alias(**{alias: KeyTransform(key, column)}).filter(**{alias: value})
        return queryset

    def filter_tag(self, queryset: Any, name: str, value: str) -> Any:
        return self._pairs(queryset, name, "tags")

    def filter_property(self, queryset: Any, name: str, value: str) -> Any:
        return self._pairs(queryset, name, "properties")

    def filter_latest(self, queryset: Any, name: str, value: bool) -> Any:
        if not value:
            return queryset
        top = ModelVersion.objects.filter(model=OuterRef("model")).order_by("-version").values("version")[:1]
        return queryset.filter(version=Subquery(top))


@extend_schema_view(
    partial_update=extend_schema(responses={200: ModelVersionSerializer, 400: VALIDATION_ERROR}),
    destroy=extend_schema(responses={204: None, 409: CONFLICT}),
)
class ModelVersionViewSet(
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.UpdateModelMixin,
    mixins.DestroyModelMixin,
    viewsets.GenericViewSet[ModelVersion],
):
    """Versions are immutable but for ``description``, ``tags`` and add-only
    ``properties``. A version a run consumes cannot be deleted (409 names the runs)."""

    serializer_class = ModelVersionSerializer
    permission_classes = [*SIGNED_IN, TeamObjectPermission]
    filterset_class = ModelVersionFilter
    http_method_names = ["get", "post", "patch", "delete", "head", "options"]

    def get_queryset(self) -> Any:
        qs = _versions()
        if self.action == "retrieve":
            qs = qs.prefetch_related("files")
        return scope_to_teams(self.request, qs, "model__team").order_by("-created_at", "-id")

    def get_serializer_class(self) -> Any:
        return ModelVersionDetailSerializer if self.action == "retrieve" else ModelVersionSerializer

    def perform_update(self, serializer: Any) -> None:
        version: ModelVersion = serializer.instance
        data = serializer.validated_data
        if "tags" in data:
            removed = [k for k in version.tags if k not in data["tags"]]
            version = services.update_tags(version, actor=self.request.user, add_tags=data["tags"], remove_tags=removed)
        if "description" in data and data["description"] != version.description:
            from audit.services import record

            old = version.description
            version.description = data["description"]
            version.save(update_fields=["description"])
            record(
                "registry.modelversion.updated",
                actor=self.request.user,
                obj=version,
                team=version.model.team,
                changes={"description": [old, version.description]},
            )
        serializer.instance = _versions().get(pk=version.pk)

    def destroy(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        try:
            services.delete_version(self.get_object(), actor=request.user)
        except InUse as exc:
            return _conflict(exc)
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(
        request={
            "application/json": {
                "type": "object",
                "properties": {
                    "add_tags": STRING_MAP,
                    "remove_tags": STRING_LIST,
                    "add_properties": STRING_MAP,
                },
            }
        },
        responses={200: ModelVersionSerializer, 400: VALIDATION_ERROR},
    )
    @action(detail=True, methods=["post"], url_path="tags")
    def update_tags(self, request: Request, pk: str | None = None) -> Response:
        """Azure's ``update_tags_properties``: merge ``add_tags``, drop ``remove_tags``,
        add ``add_properties`` (a property already set to another value: 400)."""
        version = self.get_object()
        data = _data(request)
        remove = data.get("remove_tags") or []
        if isinstance(remove, str):
            remove = [remove]
        if not isinstance(remove, list) or not all(isinstance(k, str) for k in remove):
            raise serializers.ValidationError({"remove_tags": ["Must be a list of tag names."]})
        version = services.update_tags(
            version,
            actor=request.user,
            add_tags=services.string_map(data.get("add_tags"), "add_tags"),
            remove_tags=remove,
            add_properties=services.string_map(data.get("add_properties"), "add_properties"),
        )
        return Response(ModelVersionSerializer(_versions().get(pk=version.pk)).data)

    @extend_schema(
        parameters=[OpenApiParameter("path", str, description="One file; without it, the whole version as a tar.")],
        responses={(200, "application/octet-stream"): OpenApiTypes.BINARY, 404: NOT_FOUND, 400: VALIDATION_ERROR},
    )
    @action(detail=True, methods=["get"])
    def download(self, request: Request, pk: str | None = None) -> FileResponse | StreamingHttpResponse:
        """One file (``?path=``), or every file of the version as one tar archive."""
        version = self.get_object()
        wanted = request.query_params.get("path")
        if wanted:
            try:
                path = clean_path(wanted, "Path", field="path")
            except UnsafeArchive as exc:
                raise serializers.ValidationError({exc.field: [str(exc)]}) from None
            item = version.files.filter(path=path).first()
            if item is None:
                raise exceptions.NotFound(f"Model {version} has no file '{path}'.")
            return downloads.one_file(item)
        return downloads.tar_response(version)

    @extend_schema(
        parameters=[OpenApiParameter("path", str, description="The file (default: the version's first).")],
        responses={200: downloads.ModelFilePreviewSerializer, 404: NOT_FOUND, 400: VALIDATION_ERROR},
    )
    @action(detail=True, methods=["get"])
    def preview(self, request: Request, pk: str | None = None) -> Response:
        """The start of a text or JSON file, for the dashboard (binary files: no text)."""
        version = self.get_object()
        files = version.files.order_by("path")
        wanted = request.query_params.get("path")
        if wanted:
            try:
                files = files.filter(path=clean_path(wanted, "Path", field="path"))
            except UnsafeArchive as exc:
                raise serializers.ValidationError({exc.field: [str(exc)]}) from None
        path = wanted or ""
        item = files.first()
        if item is None:
            raise exceptions.NotFound(f"Model {version} has no file '{path}'.")
        return Response(downloads.preview(item))


# ---- registering a run's artifacts ------------------------------------------------------------------
class RegisterFromRunView(generics.GenericAPIView[Run]):
    """Azure's ``run.register_model``: the run's stored artifacts under ``model_path``
    become a new model version, with the run's lineage. Nothing is uploaded again."""

    permission_classes = SIGNED_IN
    serializer_class: Any = ModelVersionSerializer

    def get_queryset(self) -> Any:
        runs = Run.objects.select_related("team", "experiment", "environment_version")
        if isinstance(self.request.auth, RunScope):
            return runs  # the allow-list already limited the token to its own run
        return scope_to_teams(self.request, runs)

    @extend_schema(
        operation_id="runs_register_model",
        request=FROM_RUN_SCHEMA,
        responses={201: ModelVersionSerializer, 400: VALIDATION_ERROR, 404: NOT_FOUND},
    )
    def post(self, request: Request, pk: str) -> Response:
        run = self.get_object()
        data = _data(request)
        model_path = str(data.get("model_path") or data.get("model_name") or "")
        reg = _registration(data, run.team, services.Lineage(run=run, source_path=model_path))
        if not reg.name:
            raise serializers.ValidationError({"model_name": ["Give the model's name."]})
        # A run token's user is the run's submitter: in-run code registers on their behalf.
        version = services.register(reg, services.from_artifacts(run, model_path), actor=request.user)
        return Response(ModelVersionSerializer(_versions().get(pk=version.pk)).data, status=status.HTTP_201_CREATED)
