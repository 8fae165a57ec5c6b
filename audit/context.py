"""Per-request context (request id, client IP, channel) for audit entries."""

from __future__ import annotations

import contextvars
from dataclasses import dataclass


@dataclass(frozen=True)
class RequestContext:
    request_id: str = ""
    ip: str | None = None
    via: str = ""


NO_REQUEST = RequestContext()  # frozen, so sharing it as the default is safe
current: contextvars.ContextVar[RequestContext] = contextvars.ContextVar("audit_context", default=NO_REQUEST)
