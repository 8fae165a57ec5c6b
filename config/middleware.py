"""Query strings the database cannot hold are refused before any view sees them."""

from __future__ import annotations

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse, JsonResponse


class RejectNulInQueryMiddleware:
    """A NUL character in an API query parameter is a 400 naming the parameter.

    PostgreSQL text cannot hold NUL: any filter, search or path parameter carrying one
    would reach the database and fail there as a 500 (SQLite just stores it)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if request.path.startswith("/api/"):
            bad = sorted(
                {key for key, values in request.GET.lists() if "\x00" in key or any("\x00" in v for v in values)}
            )
            if bad:
                return JsonResponse({name or "query": ["Must not contain NUL characters."] for name in bad}, status=400)
        return self.get_response(request)
