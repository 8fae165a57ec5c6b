"""Gives every request an id (echoed as X-Request-ID) and records where it came from."""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable

from django.http import HttpRequest, HttpResponse

from audit.context import RequestContext, current
from config.clientip import client_ip

_SAFE_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")


class RequestContextMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        incoming = request.headers.get("X-Request-ID", "")
        request_id = incoming if _SAFE_ID.match(incoming) else uuid.uuid4().hex
        path = request.path
        via = "admin" if path.startswith("/admin/") else "api" if path.startswith("/api/") else "web"
        token = current.set(RequestContext(request_id=request_id, ip=client_ip(request.META) or None, via=via))
        try:
            response = self.get_response(request)
        finally:
            current.reset(token)
        response["X-Request-ID"] = request_id
        return response
