"""Cross-app API pieces: the error format, health, the workspace, and cursor pagination."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import DataError, IntegrityError, OperationalError, connection
from django.db.models import ProtectedError
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import exceptions, serializers
from rest_framework.decorators import api_view, authentication_classes, permission_classes
from rest_framework.pagination import CursorPagination
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView
from rest_framework.views import exception_handler as drf_exception_handler

from common.errors import InvalidInput
from config.pagination import int_param

DATABASE_BUSY_RETRY_SECONDS = 2


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    """DRF's handler, plus Django model validation errors as 400 with field names, a
    unique constraint hit (two writers racing past a view's own check) as a 409, a
    value the database refuses as a 400, and a database that refused or dropped the
    connection (every pooled connection busy, ``max_connections`` reached, a restart)
    as 503 with Retry-After: a client may retry, and a request that failed this way
    committed nothing."""
    if isinstance(exc, InvalidInput):
        exc = serializers.ValidationError(exc.errors)
    if isinstance(exc, DjangoValidationError):
        detail = exc.message_dict if hasattr(exc, "error_dict") else {"detail": exc.messages}
        exc = serializers.ValidationError(detail)
    if isinstance(exc, ProtectedError):
        # Deleting a row that others still point at (a compute target with runs).
        used = len(exc.protected_objects)
        return Response(
            {"detail": f"It is still used by {used} other record{'s' if used != 1 else ''}; disable it instead."},
            status=409,
        )
    if isinstance(exc, IntegrityError):
        exc = Conflict()
    elif isinstance(exc, DataError):
        # A value the database cannot store or compare (NUL in PostgreSQL text, a time
        # zone offset beyond ±15:59): the input's fault, not the server's.
        first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else "invalid value"
        exc = serializers.ValidationError({"detail": [f"A value in this request cannot be stored: {first_line}"]})
    elif isinstance(exc, OperationalError):
        return Response(
            {"detail": "The database is busy or unreachable; retry shortly."},
            status=503,
            headers={"Retry-After": str(DATABASE_BUSY_RETRY_SECONDS)},
        )
    return drf_exception_handler(exc, context)


class Conflict(exceptions.APIException):
    status_code = 409
    default_detail = "This conflicts with an existing object (a name already taken?); nothing was changed."
    default_code = "conflict"


class NewestFirstCursorPagination(CursorPagination):
    """Keyset pagination: stable under inserts and fast at any depth."""

    page_size = 50
    page_size_query_param = "limit"
    max_page_size = 500
    ordering = ("-created_at", "-id")

    def get_page_size(self, request: Request) -> int:
        return int_param(request, "limit", self.page_size, minimum=1, maximum=self.max_page_size)


@extend_schema(responses={200: inline_serializer("Health", {"status": serializers.CharField()})})
@api_view(["GET"])
@authentication_classes([])
@permission_classes([AllowAny])
def health(request: Request) -> Response:
    """Liveness and database reachability, for load balancers; no authentication."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
    return Response({"status": "ok"})


class WorkspaceSerializer(serializers.Serializer[Any]):
    name = serializers.CharField()
    url = serializers.CharField()
    location = serializers.CharField()
    resource_group = serializers.CharField(allow_blank=True)
    subscription_id = serializers.CharField(allow_blank=True)
    tags = serializers.DictField(child=serializers.CharField())
    version = serializers.CharField()


class WorkspaceView(APIView):
    """This server as an Azure ML workspace (the SDK's ``Workspace`` attributes), from settings."""

    @extend_schema(responses=WorkspaceSerializer)
    def get(self, request: Request) -> Response:
        config = settings.WORKSPACE
        return Response(
            {
                "name": config["NAME"],
                "url": settings.PUBLIC_URL,
                "location": config["REGION"],
                "resource_group": config["RESOURCE_GROUP"],
                "subscription_id": config["SUBSCRIPTION_ID"],
                "tags": {},
                "version": settings.SPECTACULAR_SETTINGS["VERSION"],
            }
        )


def body(request: Request) -> Any:
    """The request body as a mapping (JSON object or form), or a 400 that says so."""
    from collections.abc import Mapping

    if not isinstance(request.data, Mapping):
        raise serializers.ValidationError({"detail": ["The request body must be an object."]})
    return request.data
