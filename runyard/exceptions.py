"""Errors raised by the SDK, named like Azure ML SDK v1's where one exists."""

from __future__ import annotations

from typing import Any


class RunyardError(Exception):
    """Base class of every SDK error."""


class UserErrorException(RunyardError):
    """Something in the caller's code or configuration is wrong (Azure's name)."""


class WebserviceException(RunyardError):
    """The server answered with an error; ``status`` is the HTTP status (0: unreachable)."""

    def __init__(self, message: str, status: int = 0, detail: Any = None) -> None:
        super().__init__(message)
        self.status = status
        self.detail = detail


class ModelNotFoundException(WebserviceException):
    """No registered model (or local copy) matches (Azure's name)."""


class ActivityFailedException(RunyardError):
    """A run ended Failed while ``wait_for_completion(raise_on_error=True)`` watched it."""

    def __init__(self, message: str, details: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.details = details or {}


class SnapshotTooLargeException(UserErrorException):
    """The source directory is over the snapshot limit."""


class ComputeTargetException(UserErrorException):
    """No compute target of that name."""


def describe_error_body(body: Any) -> str:
    """Flatten DRF's error shapes ({"field": ["msg"]}, {"detail": "msg"}) into one line."""
    if isinstance(body, str):
        return body.strip()
    if isinstance(body, list):
        return "; ".join(describe_error_body(item) for item in body)
    if isinstance(body, dict):
        if set(body) == {"detail"}:
            return describe_error_body(body["detail"])
        parts = []
        for key, value in body.items():
            text = describe_error_body(value)
            parts.append(text if key in ("detail", "non_field_errors") else f"{key}: {text}")
        return "; ".join(parts)
    return str(body)
