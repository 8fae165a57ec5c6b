"""Runyard's experiments and runs in MLflow's JSON shapes (its REST API's protobuf JSON).

One mapping, used by every view: MLflow's run is a Runyard run (``run_id`` is the
run's id as a string), params are its properties, tags its tags (plus the system tags
MLflow's client reads: run name, parent run, user), metrics its scalar metric points,
its artifacts are served by ``mlflow_api.artifacts`` under ``mlflow-artifacts:/runs/<id>``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Protocol, TypedDict

from runs import metricstore
from runs.models import Experiment, Run
from runs.status import Status

# MLflow soft-deletes runs (delete_run / restore_run); Runyard keeps them and marks them so.
DELETED_TAG = "mlflow.runyard.deleted"
PARENT_TAG = "mlflow.parentRunId"
RUN_NAME_TAG = "mlflow.runName"
DEFAULT_EXPERIMENT = "default"  # interactive.start's default; MLflow's experiment "0"

TO_MLFLOW = {
    Status.NOT_STARTED: "SCHEDULED",
    Status.QUEUED: "SCHEDULED",
    Status.PREPARING: "SCHEDULED",
    Status.STARTING: "SCHEDULED",
    Status.RUNNING: "RUNNING",
    Status.FINALIZING: "RUNNING",
    Status.CANCEL_REQUESTED: "RUNNING",
    Status.NOT_RESPONDING: "RUNNING",
    Status.COMPLETED: "FINISHED",
    Status.FAILED: "FAILED",
    Status.CANCELED: "KILLED",
}


def statuses_for(mlflow_status: str) -> list[str]:
    return [str(ours) for ours, theirs in TO_MLFLOW.items() if theirs == mlflow_status.upper()]


def ms(at: datetime | None) -> int | None:
    return None if at is None else int(at.timestamp() * 1000)


class KeyValue(TypedDict):
    key: str
    value: str


class MetricJson(TypedDict):
    key: str
    value: float
    timestamp: int
    step: int


def artifact_uri(run_id: int) -> str:
    return f"mlflow-artifacts:/runs/{run_id}"


def experiment_json(exp: Experiment) -> dict[str, Any]:
    created = ms(exp.created_at) or 0
    tags: list[KeyValue] = [{"key": "runyard.team", "value": exp.team.slug}]
    if exp.description:
        tags.append({"key": "mlflow.note.content", "value": exp.description})
    return {
        "experiment_id": str(exp.pk),
        "name": exp.name,
        "artifact_location": "mlflow-artifacts:/runs",
        "lifecycle_stage": "active",
        "creation_time": created,
        "last_update_time": created,
        "tags": tags,
    }


class PointLike(Protocol):
    """A stored scalar point (``metricstore.ScalarPoint``, ``metricstore.Latest``)."""

    @property
    def name(self) -> str: ...
    @property
    def value(self) -> float: ...
    @property
    def step(self) -> int | None: ...
    @property
    def at(self) -> datetime: ...


def metric_json(m: PointLike) -> MetricJson:
    return {"key": m.name, "value": float(m.value or 0.0), "timestamp": ms(m.at) or 0, "step": m.step or 0}


def latest_metrics(run_id: int) -> list[MetricJson]:
    """Each scalar metric's latest point: highest step, then latest timestamp, then last logged."""
    return [metric_json(m) for m in metricstore.mlflow_latest(run_id)]


def run_info(run: Run) -> dict[str, Any]:
    info: dict[str, Any] = {
        "run_id": str(run.pk),
        "run_uuid": str(run.pk),
        "run_name": run.display_name or f"run-{run.pk}",
        "experiment_id": str(run.experiment_id),
        "user_id": run.submitted_by.get_username() if run.submitted_by_id else "",
        "status": TO_MLFLOW.get(Status(run.status), "RUNNING"),
        "start_time": ms(run.running_at or run.created_at),
        "artifact_uri": artifact_uri(run.pk),
        "lifecycle_stage": "deleted" if DELETED_TAG in run.tags else "active",
    }
    if run.ended_at is not None:
        info["end_time"] = ms(run.ended_at)
    return info


def run_tags(run: Run) -> list[KeyValue]:
    tags = {k: str(v) for k, v in run.tags.items() if k != DELETED_TAG}
    tags[RUN_NAME_TAG] = run.display_name or f"run-{run.pk}"
    if run.parent_id is not None:
        tags[PARENT_TAG] = str(run.parent_id)
    tags.setdefault("mlflow.user", run.submitted_by.get_username() if run.submitted_by_id else "")
    return [{"key": k, "value": v} for k, v in sorted(tags.items())]


def run_json(run: Run, *, with_metrics: bool = True) -> dict[str, Any]:
    from mlflow_api.models import DatasetInput

    data: dict[str, Any] = {
        "params": [{"key": k, "value": str(v)} for k, v in sorted(run.properties.items())],
        "tags": run_tags(run),
    }
    if with_metrics:
        data["metrics"] = latest_metrics(run.pk)
    inputs = [d.as_json() for d in DatasetInput.objects.filter(run_id=run.pk).order_by("id")]
    return {"info": run_info(run), "data": data, "inputs": {"dataset_inputs": inputs}}
