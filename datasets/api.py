"""REST API: datastores (admins write), team-owned datasets and their versions.

Uploads (``/datastores/{id}/upload/``, ``/datasets/{id}/versions/``) stream every file
part to disk (``datasets.uploads``); a part's filename is its relative path.
"""

from __future__ import annotations

import json
import re
from typing import Any

from django.db import transaction
from django.db.models import Q
from django.http import FileResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_field, extend_schema_view
from rest_framework import exceptions, mixins, parsers, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from accounts.models import Team
from accounts.permissions import (
    SIGNED_IN,
    AdminWriteOrReadOnly,
    TeamObjectPermission,
    checked_team,
    default_team,
    is_admin,
    scope_to_teams,
    team_ids,
)
from audit.mixins import AuditedViewSetMixin, snapshot
from audit.services import diff, record
from config.responses import CONFLICT, STRING_MAP, VALIDATION_ERROR, documented_json
from datasets import services, storage
from datasets.models import Dataset, DatasetFile, DatasetVersion, Datastore
from datasets.responses import DatastoreListingSerializer, DatastoreUploadedSerializer, UploadConflictSerializer
from datasets.uploads import StreamingMultiPartParser

UPLOAD_PARSERS = [StreamingMultiPartParser, parsers.JSONParser, parsers.FormParser]


def _error(exc: services.DatasetError) -> serializers.ValidationError:
    return serializers.ValidationError({exc.field: [str(exc)]})


def _conflict(exc: services.InUse) -> Response:
    return Response({"detail": str(exc), "runs": exc.runs}, status=status.HTTP_409_CONFLICT)


def _bool(value: Any, field: str = "overwrite") -> bool:
    if isinstance(value, bool):
        return value
    text = str(value or "").strip().lower()
    if text in ("1", "true", "yes", "on"):
        return True
    if text in ("", "0", "false", "no", "off"):
        return False
    raise serializers.ValidationError({field: ["Must be true or false."]})


def _json_field(value: Any, name: str) -> Any:
    if isinstance(value, str):
        try:
            return json.loads(value) if value.strip() else None
        except json.JSONDecodeError:
            raise serializers.ValidationError({name: ["Must be valid JSON."]}) from None
    return value


def _data(request: Request) -> Any:
    data = request.data
    if not hasattr(data, "get"):
        raise serializers.ValidationError({"detail": ["Send a JSON object or a multipart form."]})
    return data


class _Spool:
    """Runs a view body and always removes the upload's leftover temp files."""

    def __init__(self, request: Request) -> None:
        self.request = request

    def __enter__(self) -> _Spool:
        self.request.data  # noqa: B018 - parse now, inside the guard
        spool = getattr(self.request, "spool", None)
        if spool is not None and spool.interrupted:
            spool.cleanup()
            raise serializers.ValidationError({"files": ["The upload was interrupted; nothing was stored."]})
        return self

    def __exit__(self, *exc: object) -> None:
        spool = getattr(self.request, "spool", None)
        if spool is not None:
            spool.cleanup()


# ---- datastores -----------------------------------------------------------------------
_SLUG = re.compile(r"[-a-zA-Z0-9_]{1,100}")


class DatastoreSerializer(serializers.ModelSerializer[Datastore]):
    created_by: Any = serializers.SlugRelatedField(slug_field="username", read_only=True, allow_null=True)
    team = serializers.SlugRelatedField(
        slug_field="slug",
        queryset=Team.objects.all(),
        required=False,
        allow_null=True,
        help_text="The owning team; null: shared by all teams (only admins upload, but into the default "
        "datastore every team uploads to its own folder).",
    )

    class Meta:
        model = Datastore
        fields = [
            "id",
            "name",
            "team",
            "root_path",
            "read_only",
            "is_default",
            "description",
            "created_by",
            "created_at",
        ]
        validators: list[Any] = []  # one default: handled in perform_create/update
        extra_kwargs: dict[str, Any] = {"is_default": {"validators": []}}

    def validate_root_path(self, value: str) -> str:
        try:
            return services.check_root_path(value)
        except services.DatasetError as exc:
            raise serializers.ValidationError(str(exc)) from None

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        team = attrs.get("team", self.instance.team if self.instance else None)
        if attrs.get("is_default", self.instance.is_default if self.instance else False) and team is not None:
            raise serializers.ValidationError({"team": ["The default datastore is shared: it has no team."]})
        if self.instance is not None and self.instance.is_default and attrs.get("is_default") is False:
            raise serializers.ValidationError(
                {"is_default": ["There must be a default datastore: make another one the default instead."]}
            )
        return attrs


@extend_schema_view(destroy=extend_schema(responses={204: None, 400: VALIDATION_ERROR, 409: CONFLICT}))
class DatastoreViewSet(AuditedViewSetMixin, viewsets.ModelViewSet[Datastore]):
    """Shared datastores and the user's teams' (admins: all); admins register and edit.
    Members upload to their team's datastores and to their team's folder of the default
    one; other shared datastores are read-only for them."""

    serializer_class = DatastoreSerializer
    permission_classes = [*SIGNED_IN, AdminWriteOrReadOnly]
    filterset_fields = ["name", "is_default", "read_only"]
    search_fields = ["name", "description"]

    def get_queryset(self) -> Any:
        stores = Datastore.objects.select_related("created_by", "team")
        if not is_admin(self.request.user):
            stores = stores.filter(Q(team__isnull=True) | Q(team__in=team_ids(self.request)))
        return stores.order_by("name")

    def get_permissions(self) -> list[Any]:
        if self.action == "upload":
            return [p() for p in SIGNED_IN]
        return list(super().get_permissions())

    def _acting_team(self, request: Request) -> Team | None:
        """Whose folder of the default datastore a request sees: ``team`` if given, else
        the user's first team (an admin with no team sees the whole datastore)."""
        slug = str(_data(request).get("team") or request.query_params.get("team") or "")
        requested = Team.objects.filter(slug=slug).first() if _SLUG.fullmatch(slug) else None
        if slug and requested is None:
            raise serializers.ValidationError({"team": [f"No team '{slug}'."]})
        if requested is None and is_admin(request.user) and not team_ids(request):
            return None
        return default_team(request, requested)

    @transaction.atomic
    def perform_create(self, serializer: Any) -> None:
        if serializer.validated_data.get("is_default"):
            Datastore.objects.filter(is_default=True).update(is_default=False)
        serializer.validated_data["created_by"] = self.request.user
        super().perform_create(serializer)

    @transaction.atomic
    def perform_update(self, serializer: Any) -> None:
        if serializer.validated_data.get("is_default") and not serializer.instance.is_default:
            Datastore.objects.filter(is_default=True).update(is_default=False)
        super().perform_update(serializer)

    def destroy(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        store = self.get_object()
        if store.is_default:
            raise serializers.ValidationError({"detail": ["The default datastore cannot be deleted."]})
        versions, runs = services.datastore_users(store)
        if versions or runs:
            parts = ([f"dataset versions {', '.join(versions)}"] if versions else []) + (
                [f"runs {', '.join(str(r) for r in runs[:20])}"] if runs else []
            )
            return Response(
                {
                    "detail": f"Datastore '{store.name}' is used by {' and '.join(parts)}.",
                    "runs": runs,
                    "versions": versions,
                },
                status=status.HTTP_409_CONFLICT,
            )
        self.perform_destroy(store)
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(
        request={
            "multipart/form-data": {
                "type": "object",
                "properties": {
                    "files": {"type": "array", "items": {"type": "string", "format": "binary"}},
                    "target_path": {"type": "string"},
                    "overwrite": {"type": "boolean"},
                    "team": {"type": "string", "description": "Whose folder of the default datastore."},
                },
            }
        },
        responses={200: DatastoreUploadedSerializer, 400: VALIDATION_ERROR, 409: UploadConflictSerializer},
    )
    @action(detail=True, methods=["post"], parser_classes=UPLOAD_PARSERS)
    def upload(self, request: Request, pk: str | None = None) -> Response:
        """Upload files (each part's filename is its path) under ``target_path``."""
        store = self.get_object()
        if store.team_id is None and not store.is_default and not is_admin(request.user):
            raise exceptions.PermissionDenied(f"Datastore '{store.name}' is shared: only admins upload to it.")
        with _Spool(request):
            try:
                done = services.upload_to_datastore(
                    store,
                    request.FILES.getlist("files"),
                    str(_data(request).get("target_path") or ""),
                    _bool(_data(request).get("overwrite")),
                    request.user,
                    self._acting_team(request),
                )
            except services.DatasetError as exc:
                if exc.field == "overwrite":
                    return Response({"detail": str(exc), "overwrite": [str(exc)]}, status=status.HTTP_409_CONFLICT)
                raise _error(exc) from None
        return Response({"uploaded": done})

    @extend_schema(
        parameters=[OpenApiParameter("path", str), OpenApiParameter("team", str)],
        responses={200: DatastoreListingSerializer, 400: VALIDATION_ERROR},
    )
    @action(detail=True, methods=["get"])
    def files(self, request: Request, pk: str | None = None) -> Response:
        """One folder of the datastore: its files and subfolders (at most 1000 entries)."""
        store = self.get_object()
        try:
            return Response(
                services.list_datastore(store, request.query_params.get("path", ""), team=self._acting_team(request))
            )
        except services.DatasetError as exc:
            raise _error(exc) from None


# ---- datasets -------------------------------------------------------------------------
class DatasetFileSerializer(serializers.ModelSerializer[DatasetFile]):
    class Meta:
        model = DatasetFile
        fields = ["path", "size", "sha256", "url"]


class DatasetVersionSerializer(serializers.ModelSerializer[DatasetVersion]):
    created_by: Any = serializers.SlugRelatedField(slug_field="username", read_only=True, allow_null=True)
    datastore: Any = serializers.SlugRelatedField(slug_field="name", read_only=True, allow_null=True)
    tags = documented_json(STRING_MAP, required=False)
    dataset_name = serializers.CharField(source="dataset.name", read_only=True)

    class Meta:
        model = DatasetVersion
        fields = [
            "id",
            "dataset",
            "dataset_name",
            "version",
            "description",
            "tags",
            "datastore",
            "source_path",
            "total_size",
            "file_count",
            "single_file",
            "created_by",
            "created_at",
        ]
        read_only_fields = ["dataset", "version", "source_path", "total_size", "file_count", "single_file"]

    def validate_tags(self, value: Any) -> dict[str, str]:
        try:
            return services.clean_tags(value)
        except services.DatasetError as exc:
            raise serializers.ValidationError(str(exc)) from None


class DatasetVersionDetailSerializer(DatasetVersionSerializer):
    files = DatasetFileSerializer(many=True, read_only=True)

    class Meta(DatasetVersionSerializer.Meta):
        fields = [*DatasetVersionSerializer.Meta.fields, "files"]


class DatasetSerializer(serializers.ModelSerializer[Dataset]):
    team = serializers.SlugRelatedField(slug_field="slug", queryset=Team.objects.all(), required=False)
    created_by: Any = serializers.SlugRelatedField(slug_field="username", read_only=True, allow_null=True)
    latest_version = serializers.SerializerMethodField()
    version_count = serializers.SerializerMethodField()

    class Meta:
        model = Dataset
        validators: list[Any] = []  # uniqueness per team is checked in validate()
        fields = ["id", "name", "team", "description", "latest_version", "version_count", "created_by", "created_at"]

    @extend_schema_field(DatasetVersionSerializer(allow_null=True))
    def get_latest_version(self, dataset: Dataset) -> dict[str, Any] | None:
        latest = dataset.versions.select_related("datastore", "created_by").order_by("-version").first()
        return DatasetVersionSerializer(latest).data if latest else None

    def get_version_count(self, dataset: Dataset) -> int:
        return dataset.versions.count()

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if self.instance is not None and "name" in attrs and attrs["name"] != self.instance.name:
            raise serializers.ValidationError({"name": ["A dataset's name cannot change (runs refer to it)."]})
        attrs["team"] = checked_team(self.context["request"], self.instance, attrs)
        name = attrs.get("name", self.instance.name if self.instance else "")
        taken = Dataset.objects.filter(team=attrs["team"], name=name)
        if self.instance is not None:
            taken = taken.exclude(pk=self.instance.pk)
        if taken.exists():
            raise serializers.ValidationError({"name": [f"A dataset '{name}' already exists in this team."]})
        return attrs


VERSION_UPLOAD_SCHEMA = {
    "multipart/form-data": {
        "type": "object",
        "properties": {
            "files": {"type": "array", "items": {"type": "string", "format": "binary"}},
            "archive": {"type": "string", "format": "binary"},
            "description": {"type": "string"},
            "tags": {"type": "string", "description": "JSON object"},
            "single_file": {"type": "boolean", "description": "One file was named (not a folder)."},
        },
    },
    "application/json": {
        "type": "object",
        "properties": {
            "datastore": {"type": "string"},
            "path": {"type": "string"},
            "urls": {"type": "array", "items": {"type": "string"}, "description": "http(s) URLs of web files."},
            "from_version": {"type": "integer", "description": "A version whose files to reference again."},
            "files": {"type": "array", "items": {"type": "string"}, "description": "With from_version: a subset."},
            "description": {"type": "string"},
            "tags": {"type": "object"},
        },
    },
}


def _source(request: Request, team: Team) -> services.Source:
    data = _data(request)
    uploads = list(request.FILES.getlist("files")) if hasattr(request.FILES, "getlist") else []
    archives = list(request.FILES.getlist("archive")) if hasattr(request.FILES, "getlist") else []
    if len(archives) > 1:
        raise serializers.ValidationError({"archive": ["Send one archive per version."]})
    store = None
    if data.get("datastore"):
        store = services.visible_datastores(team).filter(name=str(data["datastore"])).first()
        if store is None:
            raise serializers.ValidationError({"datastore": [f"No datastore named '{data['datastore']}'."]})
    elif data.get("path"):
        raise serializers.ValidationError({"datastore": ["Name the datastore that 'path' is in."]})
    return services.Source(
        uploads=uploads or None,
        archive=archives[0] if archives else None,
        datastore=store,
        path=str(data.get("path") or ""),
        urls=_list_field(data.get("urls"), "urls"),
        from_version=_from_version(data.get("from_version"), team),
        # With from_version, "files" is a list of paths; otherwise it names the uploaded parts.
        files=_list_field(data.get("files"), "files") if data.get("from_version") not in (None, "") else None,
        single_file=_bool(data.get("single_file"), "single_file"),
    )


def _list_field(value: Any, name: str) -> Any:
    """A JSON list (a multipart field holds it as JSON text); one bare string is a list of one."""
    if value is None:
        return None
    if isinstance(value, str) and not value.strip().startswith("["):
        return [value]
    return _json_field(value, name)


def _from_version(value: Any, team: Team) -> DatasetVersion | None:
    if value in (None, ""):
        return None
    number = value if isinstance(value, int) and not isinstance(value, bool) else None
    if number is None and isinstance(value, str) and value.isdigit():
        number = int(value)
    found = (
        DatasetVersion.objects.filter(pk=number, dataset__team=team).select_related("dataset").first()
        if number is not None
        else None
    )
    if found is None:
        raise serializers.ValidationError({"from_version": [f"No dataset version {value!r} in this team."]})
    return found


def _register(dataset: Dataset, request: Request) -> DatasetVersion:
    tags = _json_field(_data(request).get("tags"), "tags")
    try:
        return services.create_version(
            dataset,
            _source(request, dataset.team),
            actor=request.user,
            description=str(_data(request).get("description") or ""),
            tags=services.clean_tags(tags),
        )
    except services.DatasetError as exc:
        raise _error(exc) from None


@extend_schema_view(destroy=extend_schema(responses={204: None, 409: CONFLICT}))
class DatasetViewSet(AuditedViewSetMixin, viewsets.ModelViewSet[Dataset]):
    """File datasets of the user's teams; each registration adds an immutable version."""

    serializer_class = DatasetSerializer
    permission_classes = [*SIGNED_IN, TeamObjectPermission]
    filterset_fields = ["name"]
    search_fields = ["name", "description"]

    def get_queryset(self) -> Any:
        return scope_to_teams(self.request, Dataset.objects.select_related("team", "created_by")).order_by("name")

    def perform_create(self, serializer: Any) -> None:
        serializer.validated_data["created_by"] = self.request.user
        super().perform_create(serializer)

    def destroy(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        dataset = self.get_object()
        try:
            services.delete_dataset(dataset, actor=request.user)
        except services.InUse as exc:
            return _conflict(exc)
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(methods=["GET"], responses=DatasetVersionSerializer(many=True), filters=False)
    @extend_schema(
        methods=["POST"],
        request=VERSION_UPLOAD_SCHEMA,
        responses={201: DatasetVersionSerializer, 400: VALIDATION_ERROR},
    )
    @action(detail=True, methods=["get", "post"], parser_classes=UPLOAD_PARSERS)
    def versions(self, request: Request, pk: str | None = None) -> Response:
        """GET: the versions, newest first. POST: register a new version from ``files``
        (filename = relative path), one ``archive`` (zip/tar, unpacked safely) or JSON
        ``{"datastore": name, "path": "folder/"}``; optional ``description``, ``tags``."""
        dataset = self.get_object()
        if request.method == "GET":
            qs = dataset.versions.select_related("dataset", "datastore", "created_by").order_by("-version")
            page: Any = self.paginate_queryset(qs)  # type: ignore[arg-type]
            if page is not None:
                return self.get_paginated_response(DatasetVersionSerializer(page, many=True).data)
            return Response(DatasetVersionSerializer(qs, many=True).data)
        with _Spool(request):
            version = _register(dataset, request)
        return Response(DatasetVersionSerializer(version).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=VERSION_UPLOAD_SCHEMA, responses={201: DatasetVersionSerializer, 400: VALIDATION_ERROR})
    @action(detail=False, methods=["post"], parser_classes=UPLOAD_PARSERS)
    def register(self, request: Request) -> Response:
        """Azure's ``dataset.register(ws, name)``: create the dataset named ``name`` if it
        does not exist yet, then register a new version (same sources as ``versions``)."""
        with _Spool(request):
            name = str(_data(request).get("name") or "")
            team_slug = _data(request).get("team")
            team = Team.objects.filter(slug=team_slug).first() if team_slug else None
            if team_slug and team is None:
                raise serializers.ValidationError({"team": [f"No team '{team_slug}'."]})
            team = default_team(request, team)
            dataset = Dataset.objects.filter(team=team, name=name).first()
            made = False
            if dataset is None:
                serializer = DatasetSerializer(
                    data={"name": name, "team": team.slug, "description": _data(request).get("description") or ""},
                    context=self.get_serializer_context(),
                )
                serializer.is_valid(raise_exception=True)
                self.perform_create(serializer)
                dataset, made = serializer.instance, True
            assert dataset is not None
            try:
                version = _register(dataset, request)
            except BaseException:
                if made and not dataset.versions.exists():
                    dataset.delete()  # no empty dataset left behind by a failed first registration
                raise
        return Response(DatasetVersionSerializer(version).data, status=status.HTTP_201_CREATED)


@extend_schema_view(
    partial_update=extend_schema(responses={200: DatasetVersionSerializer, 400: VALIDATION_ERROR}),
    destroy=extend_schema(responses={204: None, 409: CONFLICT}),
)
class DatasetVersionViewSet(
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.UpdateModelMixin,
    mixins.DestroyModelMixin,
    viewsets.GenericViewSet[DatasetVersion],
):
    """Versions are immutable: only ``description`` and ``tags`` can change. A version
    that a run uses cannot be deleted (409 names the runs)."""

    serializer_class = DatasetVersionSerializer
    permission_classes = [*SIGNED_IN, TeamObjectPermission]
    filterset_fields = ["dataset", "version"]
    http_method_names = ["get", "patch", "delete", "head", "options"]

    def get_queryset(self) -> Any:
        qs = DatasetVersion.objects.select_related("dataset", "datastore", "created_by")
        if self.action == "retrieve":
            qs = qs.prefetch_related("files")
        return scope_to_teams(self.request, qs, "dataset__team").order_by("-created_at", "-id")

    def get_serializer_class(self) -> Any:
        return DatasetVersionDetailSerializer if self.action == "retrieve" else DatasetVersionSerializer

    def perform_update(self, serializer: Any) -> None:
        before = snapshot(serializer.instance)
        version = serializer.save()
        record(
            "datasets.datasetversion.updated",
            actor=self.request.user,
            obj=version,
            changes=diff(before, snapshot(version)),
        )

    @extend_schema(
        parameters=[OpenApiParameter("path", str, required=True)],
        responses={(200, "application/octet-stream"): OpenApiTypes.BINARY, 400: VALIDATION_ERROR},
    )
    @action(detail=True, methods=["get"])
    def download(self, request: Request, pk: str | None = None) -> FileResponse:
        """One stored file of the version (``FileDataset.download()``); a web file's
        content is not stored here: fetch it from its ``url``."""
        version = self.get_object()
        path = request.query_params.get("path", "")
        item = version.files.filter(path=path).first()
        if item is None:
            raise serializers.ValidationError({"path": [f"Version {version} has no file {path!r}."]})
        if item.url:
            raise serializers.ValidationError({"path": [f"'{path}' is a web file: fetch it from {item.url}."]})
        blob = storage.blob_path(item.sha256)
        if not blob.exists():
            raise serializers.ValidationError({"path": [f"The stored content of '{path}' is missing."]})
        return FileResponse(open(blob, "rb"), as_attachment=True, filename=path.rsplit("/", 1)[-1])

    def destroy(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        version = self.get_object()
        try:
            services.delete_version(version, actor=request.user)
        except services.InUse as exc:
            return _conflict(exc)
        return Response(status=status.HTTP_204_NO_CONTENT)
