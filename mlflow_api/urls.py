"""MLflow's REST routes: the tracking API (served under /api/2.0/mlflow/ and, for
MLflow's own UI code, /ajax-api/2.0/mlflow/) and the artifacts proxy.

The names are the allow-list's keys (accounts.permissions.RUN_TOKEN_ALLOWED): the
ajax-api copies carry the same names, so one entry covers both."""

from __future__ import annotations

from typing import Any

from django.urls import path

from mlflow_api import artifacts, registry, views

tracking_patterns: list[Any] = [
    path("experiments/create", views.CreateExperiment.as_view(), name="mlflow-experiments-create"),
    path("experiments/get", views.GetExperiment.as_view(), name="mlflow-experiments-get"),
    path("experiments/get-by-name", views.GetExperimentByName.as_view(), name="mlflow-experiments-get-by-name"),
    path("experiments/search", views.SearchExperiments.as_view(), name="mlflow-experiments-search"),
    path("runs/create", views.CreateRun.as_view(), name="mlflow-runs-create"),
    path("runs/get", views.GetRun.as_view(), name="mlflow-runs-get"),
    path("runs/update", views.UpdateRun.as_view(), name="mlflow-runs-update"),
    path("runs/delete", views.DeleteRun.as_view(), name="mlflow-runs-delete"),
    path("runs/restore", views.RestoreRun.as_view(), name="mlflow-runs-restore"),
    path("runs/search", views.SearchRuns.as_view(), name="mlflow-runs-search"),
    path("runs/log-metric", views.LogMetric.as_view(), name="mlflow-runs-log-metric"),
    path("runs/log-parameter", views.LogParam.as_view(), name="mlflow-runs-log-parameter"),
    path("runs/log-batch", views.LogBatch.as_view(), name="mlflow-runs-log-batch"),
    path("runs/log-inputs", views.LogInputs.as_view(), name="mlflow-runs-log-inputs"),
    path("runs/set-tag", views.SetTag.as_view(), name="mlflow-runs-set-tag"),
    path("runs/delete-tag", views.DeleteTag.as_view(), name="mlflow-runs-delete-tag"),
    path("metrics/get-history", views.GetMetricHistory.as_view(), name="mlflow-metrics-get-history"),
    path("artifacts/list", artifacts.TrackingListArtifacts.as_view(), name="mlflow-artifacts-list"),
    path("logged-models/search", views.SearchLoggedModels.as_view(), name="mlflow-logged-models-search"),
    # The model registry (registry app).
    path("registered-models/create", registry.CreateRegisteredModel.as_view(), name="mlflow-registered-models-create"),
    path("registered-models/get", registry.GetRegisteredModel.as_view(), name="mlflow-registered-models-get"),
    path("registered-models/search", registry.SearchRegisteredModels.as_view(), name="mlflow-registered-models-search"),
    path(
        "registered-models/get-latest-versions",
        registry.GetLatestVersions.as_view(),
        name="mlflow-registered-models-get-latest-versions",
    ),
    path("model-versions/create", registry.CreateModelVersion.as_view(), name="mlflow-model-versions-create"),
    path("model-versions/get", registry.GetModelVersion.as_view(), name="mlflow-model-versions-get"),
    path("model-versions/search", registry.SearchModelVersions.as_view(), name="mlflow-model-versions-search"),
]

artifact_patterns: list[Any] = [
    path("artifacts", artifacts.ListArtifacts.as_view(), name="mlflow-artifacts-proxy-list"),
    path("artifacts/runs/<int:pk>/<path:path>", artifacts.ArtifactFile.as_view(), name="mlflow-artifacts-proxy-file"),
]
