"""MLflow's error shape: ``{"error_code": ..., "message": ...}`` with its HTTP statuses.

The ``mlflow`` client turns these into ``MlflowException``s with the same code (and
retries only what MLflow's own server would make it retry), so every failure of this
app's views, DRF's own included, leaves in that shape."""

from __future__ import annotations

from typing import Any

from rest_framework.response import Response

INVALID_PARAMETER_VALUE = "INVALID_PARAMETER_VALUE"
RESOURCE_DOES_NOT_EXIST = "RESOURCE_DOES_NOT_EXIST"
RESOURCE_ALREADY_EXISTS = "RESOURCE_ALREADY_EXISTS"
PERMISSION_DENIED = "PERMISSION_DENIED"
UNAUTHENTICATED = "UNAUTHENTICATED"
ENDPOINT_NOT_FOUND = "ENDPOINT_NOT_FOUND"
INVALID_STATE = "INVALID_STATE"

HTTP_STATUS = {
    INVALID_PARAMETER_VALUE: 400,
    INVALID_STATE: 400,
    RESOURCE_DOES_NOT_EXIST: 404,
    ENDPOINT_NOT_FOUND: 404,
    RESOURCE_ALREADY_EXISTS: 400,
    PERMISSION_DENIED: 403,
    UNAUTHENTICATED: 401,
}


class MlflowError(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def invalid(message: str) -> MlflowError:
    return MlflowError(INVALID_PARAMETER_VALUE, message)


def missing(message: str) -> MlflowError:
    return MlflowError(RESOURCE_DOES_NOT_EXIST, message)


def _flatten(detail: Any, prefix: str = "") -> list[str]:
    if isinstance(detail, dict):
        return [
            m for k, v in detail.items() for m in _flatten(v, f"{prefix}{k}: " if k != "non_field_errors" else prefix)
        ]
    if isinstance(detail, list):
        return [m for v in detail for m in _flatten(v, prefix)]
    return [f"{prefix}{detail}"]


BY_STATUS = {
    400: INVALID_PARAMETER_VALUE,
    401: UNAUTHENTICATED,
    403: PERMISSION_DENIED,
    404: RESOURCE_DOES_NOT_EXIST,
    405: ENDPOINT_NOT_FOUND,
    409: RESOURCE_ALREADY_EXISTS,
    413: INVALID_PARAMETER_VALUE,
    429: "REQUEST_LIMIT_EXCEEDED",
    503: "TEMPORARILY_UNAVAILABLE",
}


def handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    """MlflowErrors as they are; anything else as Runyard's handler answers it (statuses,
    Retry-After), its body rewritten into MLflow's shape."""
    from config.api import exception_handler

    if isinstance(exc, MlflowError):
        return Response({"error_code": exc.code, "message": exc.message}, status=HTTP_STATUS.get(exc.code, 400))
    response = exception_handler(exc, context)
    if response is None:
        return None  # a real bug: Django's 500 (and its log), not a disguised 400
    code = BY_STATUS.get(
        response.status_code, "INTERNAL_ERROR" if response.status_code >= 500 else INVALID_PARAMETER_VALUE
    )
    detail = response.data.get("detail", response.data) if isinstance(response.data, dict) else response.data
    response.data = {"error_code": code, "message": "; ".join(_flatten(detail))}
    return response
