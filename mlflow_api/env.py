"""The MLflow variables every run gets, so ``import mlflow`` in a script logs to its run."""

from __future__ import annotations


def run_variables(url: str, run_id: int, experiment_id: int, token: str) -> dict[str, str]:
    """``mlflow.start_run()`` attaches to MLFLOW_RUN_ID (this run); the client sends the
    run token as ``Authorization: Bearer``, which reaches this run and its children only."""
    return {
        "MLFLOW_TRACKING_URI": url.rstrip("/"),
        "MLFLOW_RUN_ID": str(run_id),
        "MLFLOW_EXPERIMENT_ID": str(experiment_id),
        "MLFLOW_TRACKING_TOKEN": token,
    }
