"""The real ``mlflow`` client against a live Runyard: notebook-style logging with a user's
API token, and a submitted run whose script logs with ``import mlflow`` and nothing else."""

from __future__ import annotations

import io
import textwrap
from pathlib import Path
from typing import Any

import pytest

mlflow = pytest.importorskip("mlflow")
from mlflow.exceptions import MlflowException  # noqa: E402
from mlflow.tracking import MlflowClient  # noqa: E402

from runs import metricstore  # noqa: E402
from runs.models import Run  # noqa: E402
from runyard import Experiment, ScriptRunConfig, Workspace  # noqa: E402

pytestmark = [pytest.mark.worker, pytest.mark.xdist_group("live")]


@pytest.fixture
def tracking(live: Any, world: Any, monkeypatch: pytest.MonkeyPatch) -> MlflowClient:
    """What a notebook does: MLFLOW_TRACKING_URI + MLFLOW_TRACKING_TOKEN (alice's API token)."""
    for name in ("MLFLOW_RUN_ID", "MLFLOW_EXPERIMENT_ID", "MLFLOW_EXPERIMENT_NAME"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", live.url)
    monkeypatch.setenv("MLFLOW_TRACKING_TOKEN", world.alice.key)
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    mlflow.set_tracking_uri(live.url)
    yield MlflowClient(live.url)
    while mlflow.active_run():
        mlflow.end_run()


def test_fluent_logging_lands_on_an_interactive_run(tracking: MlflowClient, tmp_path: Path, world: Any) -> None:
    mlflow.set_experiment("notebook")
    (tmp_path / "notes.txt").write_text("hello artifacts\n")
    with mlflow.start_run(run_name="first") as active:
        mlflow.log_param("lr", "0.01")
        mlflow.log_params({"epochs": 3, "optimizer": "adam"})
        for step in range(5):
            mlflow.log_metric("loss", 1.0 / (step + 1), step=step)
        mlflow.log_metrics({"acc": 0.93, "f1": 0.8}, step=4)
        mlflow.set_tag("stage", "dev")
        mlflow.log_artifact(str(tmp_path / "notes.txt"))
        mlflow.log_artifact(str(tmp_path / "notes.txt"), artifact_path="deep/dir")
        run_id = active.info.run_id

    run = Run.objects.get(pk=int(run_id))
    assert run.interactive and run.status == "Completed" and run.display_name == "first"
    assert run.experiment.name == "notebook" and run.team == world.team_a
    assert run.properties == {"lr": "0.01", "epochs": "3", "optimizer": "adam"}
    assert run.tags["stage"] == "dev"
    assert [p.step for p in metricstore.scalar_points(run.pk, "loss")] == [0, 1, 2, 3, 4]
    assert set(run.artifacts.values_list("path", flat=True)) == {"notes.txt", "deep/dir/notes.txt"}

    got = tracking.get_run(run_id)
    assert got.info.status == "FINISHED" and got.info.run_name == "first"
    assert got.data.params == {"lr": "0.01", "epochs": "3", "optimizer": "adam"}
    assert got.data.metrics == {"loss": 0.2, "acc": 0.93, "f1": 0.8}
    assert got.data.tags["stage"] == "dev"
    history = tracking.get_metric_history(run_id, "loss")
    assert [(m.step, m.value) for m in history] == [(s, 1.0 / (s + 1)) for s in range(5)]
    assert all(m.timestamp > 0 for m in history)

    listed = {f.path: f.is_dir for f in tracking.list_artifacts(run_id)}
    assert listed == {"notes.txt": False, "deep": True}
    assert [f.path for f in tracking.list_artifacts(run_id, "deep/dir")] == ["deep/dir/notes.txt"]
    local = tracking.download_artifacts(run_id, "deep/dir/notes.txt", str(tmp_path / "down"))
    assert Path(local).read_text() == "hello artifacts\n"

    # Params are add-only, as MLflow's are immutable.
    with pytest.raises(MlflowException) as changed:
        tracking.log_param(run_id, "lr", "0.1")
    assert changed.value.error_code == "INVALID_PARAMETER_VALUE"


def test_log_batch_search_and_nested_runs(tracking: MlflowClient) -> None:
    from mlflow.entities import Metric as MMetric
    from mlflow.entities import Param, RunTag

    exp_id = tracking.create_experiment("sweep")
    ids = []
    for lr, acc in (("0.01", 0.95), ("0.1", 0.7), ("0.01", 0.85)):
        run = tracking.create_run(exp_id)
        tracking.log_batch(
            run.info.run_id,
            metrics=[MMetric("acc", acc, 1700000000000 + i, i) for i in range(3)]
            + [MMetric("loss", 1 - acc, 1700000000000, 0)],
            params=[Param("lr", lr)],
            tags=[RunTag("family", "cnn")],
        )
        tracking.set_terminated(run.info.run_id)
        ids.append(run.info.run_id)

    found = tracking.search_runs([exp_id], "metrics.acc > 0.9 and params.lr = '0.01'")
    assert [r.info.run_id for r in found] == [ids[0]]
    found = tracking.search_runs([exp_id], "params.lr = '0.01'", order_by=["metrics.acc ASC"])
    assert [r.info.run_id for r in found] == [ids[2], ids[0]]
    found = tracking.search_runs([exp_id], "tags.family LIKE 'c%' and attributes.status = 'FINISHED'")
    assert len(found) == 3
    with pytest.raises(MlflowException) as bad:
        tracking.search_runs([exp_id], "metrics.acc >> 1")
    assert bad.value.error_code == "INVALID_PARAMETER_VALUE"

    mlflow.set_experiment(experiment_id=exp_id)
    with mlflow.start_run(run_name="outer") as outer, mlflow.start_run(run_name="inner", nested=True) as inner:
        mlflow.log_metric("x", 1.0)
    child = Run.objects.get(pk=int(inner.info.run_id))
    assert child.parent_id == int(outer.info.run_id) and child.interactive
    assert tracking.get_run(inner.info.run_id).data.tags["mlflow.parentRunId"] == outer.info.run_id
    nested = tracking.search_runs([exp_id], f"tags.mlflow.parentRunId = '{outer.info.run_id}'")
    assert [r.info.run_id for r in nested] == [inner.info.run_id]


def test_unknown_run_and_other_teams_runs(tracking: MlflowClient, live: Any, world: Any) -> None:
    with pytest.raises(MlflowException) as unknown:
        tracking.get_run("987654")
    assert unknown.value.error_code == "RESOURCE_DOES_NOT_EXIST"
    assert "987654" in unknown.value.message

    run_id = tracking.create_run(tracking.create_experiment("alice-only")).info.run_id
    bob = MlflowClient(live.url)
    import os

    os.environ["MLFLOW_TRACKING_TOKEN"] = world.bob.key  # the fixture's monkeypatch restores it
    for call in (
        lambda: bob.get_run(run_id),
        lambda: bob.log_metric(run_id, "stolen", 1.0),
        lambda: bob.set_tag(run_id, "x", "y"),
    ):
        with pytest.raises(MlflowException) as hidden:
            call()
        assert hidden.value.error_code == "RESOURCE_DOES_NOT_EXIST"
    assert bob.search_runs([], "") == [] or all(r.info.run_id != run_id for r in bob.search_runs([]))
    assert not metricstore.has_points(int(run_id))
    os.environ["MLFLOW_TRACKING_TOKEN"] = "ry_not-a-token"
    with pytest.raises(MlflowException) as anon:
        bob.get_run(run_id)
    assert anon.value.error_code == "UNAUTHENTICATED"


SCRIPT = """
import mlflow, os
with mlflow.start_run() as run:
    assert run.info.run_id == os.environ["RUNYARD_RUN_ID"], (run.info.run_id, os.environ["RUNYARD_RUN_ID"])
    mlflow.log_param("alpha", 0.5)
    mlflow.log_metric("rmse", 0.25, step=7)
    mlflow.set_tag("from", "script")
    with open("model.txt", "w") as f:
        f.write("weights")
    mlflow.log_artifact("model.txt")
    with mlflow.start_run(nested=True, run_name="fold-1") as child:
        mlflow.log_metric("rmse", 0.3)
    print("child", child.info.run_id)
print("logged with mlflow")
"""


def test_a_submitted_script_logs_to_its_own_run(live: Any, world: Any, tmp_path: Path) -> None:
    ws = Workspace(live.url, world.alice.key)
    src = tmp_path / "src"
    src.mkdir()
    (src / "train.py").write_text(textwrap.dedent(SCRIPT))
    from runyard import Environment

    (tmp_path / "requirements.txt").write_text("mlflow-skinny==3.17.2\n")
    env = Environment.from_pip_requirements("mlflow-client", str(tmp_path / "requirements.txt"))
    run = Experiment(ws, "mlflow-script").submit(
        ScriptRunConfig(source_directory=src, script="train.py", environment=env)
    )
    out = io.StringIO()
    run.wait_for_completion(show_output=True, stream=out)
    assert run.get_status() == "Completed", out.getvalue()[-4000:]
    ours = Run.objects.get(pk=int(run.id))
    assert ours.properties == {"alpha": "0.5"} and ours.tags["from"] == "script"
    assert [(m.value, m.step) for m in metricstore.scalar_points(ours.pk, "rmse")] == [(0.25, 7)]
    assert ours.artifacts.filter(path="model.txt").exists()
    child = Run.objects.get(parent=ours)
    assert child.display_name == "fold-1" and child.status == "Completed"
    assert f"child {child.pk}" in out.getvalue()


AUTOLOG = """
import mlflow
from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression

# Models are not logged: MLflow 3 stores them as "logged models", which Runyard does not serve.
mlflow.sklearn.autolog(log_models=False)
X, y = load_iris(return_X_y=True)
with mlflow.start_run():
    LogisticRegression(C=0.5, max_iter=300).fit(X, y)
print("autologged")
"""


def test_sklearn_autolog_in_a_submitted_run(live: Any, world: Any, tmp_path: Path) -> None:
    from runyard import Environment

    ws = Workspace(live.url, world.alice.key)
    src = tmp_path / "src"
    src.mkdir()
    (src / "train.py").write_text(AUTOLOG)
    (tmp_path / "requirements.txt").write_text("mlflow-skinny==3.17.2\nscikit-learn\npandas\n")
    env = Environment.from_pip_requirements("mlflow-sklearn", str(tmp_path / "requirements.txt"))
    run = Experiment(ws, "mlflow-autolog").submit(
        ScriptRunConfig(source_directory=src, script="train.py", environment=env)
    )
    out = io.StringIO()
    run.wait_for_completion(show_output=True, stream=out)
    assert run.get_status() == "Completed", out.getvalue()[-4000:]
    ours = Run.objects.get(pk=int(run.id))
    assert ours.properties["C"] == "0.5" and ours.properties["max_iter"] == "300"
    names = set(metricstore.points(ours.pk))
    assert {"training_accuracy_score", "training_f1_score"} <= names, names
    assert ours.tags["estimator_name"] == "LogisticRegression"
    assert ours.mlflow_inputs.exists()  # the training set, as log_inputs described it


def test_register_model_lands_in_the_model_registry(tracking: MlflowClient, tmp_path: Path, world: Any) -> None:
    from registry.models import ModelVersion

    model_dir = tmp_path / "model"
    model_dir.mkdir()
    (model_dir / "weights.bin").write_bytes(b"\x00\x01weights")
    (model_dir / "MLmodel").write_text("flavors: {}\n")
    mlflow.set_experiment("registry")
    with mlflow.start_run() as active:
        mlflow.log_artifacts(str(model_dir), artifact_path="model")
    run_id = active.info.run_id

    first = mlflow.register_model(f"runs:/{run_id}/model", "mlflow-model")
    second = mlflow.register_model(f"runs:/{run_id}/model", "mlflow-model")
    assert (first.version, second.version, first.status) == ("1", "2", "READY")
    version = ModelVersion.objects.get(model__name="mlflow-model", version=1)
    assert version.model.team == world.team_a and version.run_number == int(run_id)
    assert sorted(version.files.values_list("path", flat=True)) == ["model/MLmodel", "model/weights.bin"]
    assert tracking.get_registered_model("mlflow-model").latest_versions[0].version == "2"
    assert [v.version for v in tracking.search_model_versions("name = 'mlflow-model'")] == ["2", "1"]
    with pytest.raises(MlflowException) as unknown:
        tracking.get_model_version("mlflow-model", "9")
    assert unknown.value.error_code == "RESOURCE_DOES_NOT_EXIST"
