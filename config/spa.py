"""Serves the built single-page app's index.html for every client-side route."""

from __future__ import annotations

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.views.decorators.csrf import ensure_csrf_cookie


@ensure_csrf_cookie
def index(request: HttpRequest) -> HttpResponse:
    built = settings.FRONTEND_DIST / "index.html"
    if built.exists():
        return HttpResponse(built.read_text(), content_type="text/html")
    return HttpResponse(
        "<!doctype html><title>Runyard</title><h1>Runyard</h1>"
        "<p>The web app is not built yet: run <code>make frontend</code> (or <code>make run</code>). "
        'The <a href="/api/docs/">API</a> and the <a href="/admin/">admin</a> work meanwhile.</p>',
        content_type="text/html",
    )
