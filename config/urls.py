from typing import Any

from django.contrib import admin
from django.urls import include, path, re_path
from drf_spectacular.views import SpectacularAPIView, SpectacularRedocView, SpectacularSwaggerView

from config import api, spa
from config.limits_api import LimitsView
from mlflow_api import urls as mlflow_urls

api_patterns: list[Any] = [
    path("health/", api.health, name="health"),
    path("workspace/", api.WorkspaceView.as_view(), name="workspace"),
    path("limits/", LimitsView.as_view(), name="limits"),
    path("auth/", include("accounts.urls")),
    path("audit/", include("audit.urls")),
    path("", include("environments.urls")),
    path("", include("compute.urls")),
    path("", include("datasets.urls")),
    path("", include("registry.urls")),
    path("", include("runs.urls")),
    path("", include("scheduling.urls")),
    path("", include("sweeps.urls")),
    path("2.0/mlflow/", include(mlflow_urls.tracking_patterns)),
    path("2.0/mlflow-artifacts/", include(mlflow_urls.artifact_patterns)),
    path("", include("notifications.urls")),
    path("schema/", SpectacularAPIView.as_view(), name="schema"),
    path("docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="api-docs"),
    path("redoc/", SpectacularRedocView.as_view(url_name="schema"), name="api-redoc"),
]

urlpatterns = [
    path("admin/", admin.site.urls),
    path("api/", include(api_patterns)),
    # MLflow's UI code calls the tracking API here; the same views (mlflow_api.schema drops the copies).
    path("ajax-api/2.0/mlflow/", include(mlflow_urls.tracking_patterns)),
    # Client-side routes get the app; built files (assets/) are WhiteNoise's or a real 404.
    re_path(r"^(?!api/|ajax-api/|admin/|static/|ws/|assets/).*$", spa.index, name="spa"),
]
