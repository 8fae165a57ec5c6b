from typing import Any

from django.contrib import admin
from django.urls import include, path, re_path
from drf_spectacular.views import SpectacularAPIView, SpectacularRedocView, SpectacularSwaggerView

from config import api, spa

api_patterns: list[Any] = [
    path("health/", api.health, name="health"),
    path("workspace/", api.WorkspaceView.as_view(), name="workspace"),
    path("auth/", include("accounts.urls")),
    path("audit/", include("audit.urls")),
    path("", include("environments.urls")),
    path("", include("compute.urls")),
    path("", include("datasets.urls")),
    path("", include("registry.urls")),
    path("", include("runs.urls")),
    path("", include("sweeps.urls")),
    path("", include("notifications.urls")),
    path("schema/", SpectacularAPIView.as_view(), name="schema"),
    path("docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="api-docs"),
    path("redoc/", SpectacularRedocView.as_view(url_name="schema"), name="api-redoc"),
]

urlpatterns = [
    path("admin/", admin.site.urls),
    path("api/", include(api_patterns)),
    # Client-side routes get the app; built files (assets/) are WhiteNoise's or a real 404.
    re_path(r"^(?!api/|admin/|static/|ws/|assets/).*$", spa.index, name="spa"),
]
