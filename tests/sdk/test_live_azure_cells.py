"""Azure ML v1 notebook cells as written, against a live server: the workspace banner,
string metrics, compute clusters, interactive and child runs."""

from __future__ import annotations

import io
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

from runyard import (
    AmlCompute,
    ComputeTarget,
    ComputeTargetException,
    Dataset,
    Experiment,
    OutputFileDatasetConfig,
    Run,
    ScriptRunConfig,
    WebserviceException,
    Workspace,
)

pytestmark = [pytest.mark.worker, pytest.mark.xdist_group("live")]


@pytest.fixture
def ws(live: Any, world: Any) -> Workspace:
    return Workspace(live.url, world.alice.key)


def submit_script(ws: Workspace, tmp_path: Path, script: str, experiment: str = "cells") -> Any:
    src = tmp_path / "src"
    src.mkdir(exist_ok=True)
    (src / "train.py").write_text(textwrap.dedent(script))
    run = Experiment(ws, experiment).submit(ScriptRunConfig(source_directory=src, script="train.py"))
    out = io.StringIO()
    run.wait_for_completion(show_output=True, stream=out)
    return run, out.getvalue()


def test_workspace_banner_is_what_the_server_says(ws: Workspace, live: Any) -> None:
    host = live.url.split("://", 1)[1]
    # print(ws.name, ws.resource_group, ws.location, ws.subscription_id, sep="\n")
    assert (ws.name, ws.resource_group, ws.location, ws.subscription_id) == (host, "", "local", "")
    assert ws.tags == {}
    details = ws.get_details()
    assert details["name"] == host and details["location"] == "local" and details["url"] == live.url
    assert details["user"]["username"] == "alice" and details["version"] == "0.1.0"


STRINGS = """
from azureml.core import Run
run = Run.get_context()
run.log("kernel", "linear")
run.log("penalty", 0.5)
run.log("phase", "warmup")
run.log("phase", "train")
ws = run.experiment.workspace
print("inside", ws.name, ws.location)
"""


def test_string_metrics_read_back_as_strings(ws: Workspace, tmp_path: Path) -> None:
    run, output = submit_script(ws, tmp_path, STRINGS)
    assert run.get_metrics() == {"kernel": "linear", "penalty": 0.5, "phase": ["warmup", "train"]}
    assert run.get_metrics(name="kernel") == {"kernel": "linear"}
    assert f"inside {ws.name} local" in output  # the run token reads the workspace too


def azure_cell(sdk: Path, cwd: Path, url: str, token: str, code: str) -> subprocess.CompletedProcess[str]:
    """Run notebook code as written, with the SDK copy runs get (runyard + azureml) on the path."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("RUNYARD_", "PYTHON"))}
    env.update({"PYTHONPATH": str(sdk), "RUNYARD_URL": url, "RUNYARD_TOKEN": token})
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)], cwd=cwd, env=env, capture_output=True, text=True, timeout=300
    )


@pytest.fixture
def sdk(tmp_path: Path) -> Path:
    from execution.sdkdir import sdk_path

    return sdk_path(tmp_path / "sdk")


CLUSTER_CELL = """
from azureml.core import Workspace
from azureml.core.compute import AmlCompute, ComputeTarget
from azureml.core.compute_target import ComputeTargetException

ws = Workspace.from_config()
cluster_name = "cpu-cluster"
try:
    cluster = ComputeTarget(workspace=ws, name=cluster_name)
    print("Found existing cluster, use it.")
except ComputeTargetException:
    compute_config = AmlCompute.provisioning_configuration(vm_size="STANDARD_D2_V2", max_nodes=4)
    cluster = ComputeTarget.create(ws, cluster_name, compute_config)
cluster.wait_for_completion(show_output=True)
print("status", cluster.get_status().serialize())
print("listed", [t.name for t in ComputeTarget.list(ws)])
"""


def test_cluster_cell_registers_a_target_for_an_admin(live: Any, world: Any, sdk: Path, tmp_path: Path) -> None:
    first = azure_cell(sdk, tmp_path, live.url, world.admin.key, CLUSTER_CELL)
    assert first.returncode == 0, first.stdout + first.stderr
    assert "Found existing" not in first.stdout
    assert 'operation finished, operation "Succeeded"' in first.stdout
    assert "'provisioningState': 'Succeeded'" in first.stdout and "'maxNodeCount': 1" in first.stdout
    assert "listed ['cpu-cluster', 'local']" in first.stdout
    target = ComputeTarget(Workspace(live.url, world.alice.key), "cpu-cluster")  # members see it
    # The default cluster kind is local: one node, and max_nodes=4 runs at once.
    assert (target.type, target.max_nodes, target.max_concurrent_runs) == ("local", 1, 4)
    assert "STANDARD_D2_V2" in target.description

    again = azure_cell(sdk, tmp_path, live.url, world.admin.key, CLUSTER_CELL)
    assert again.returncode == 0 and "Found existing cluster, use it." in again.stdout, again.stderr

    run = Experiment(Workspace(live.url, world.alice.key), "on-cluster").submit(
        ScriptRunConfig(source_directory=project(tmp_path), script="train.py", compute_target=target)
    )
    # No worker serves compute.cpu-cluster here: the run waits in its queue until canceled.
    assert run.get_details()["target"] == "cpu-cluster"
    run.cancel()
    with pytest.raises(ComputeTargetException, match="still used by 1 other record"):
        target_as_admin = ComputeTarget(Workspace(live.url, world.admin.key), "cpu-cluster")
        target_as_admin.delete()


def test_cluster_cell_tells_a_member_it_needs_an_admin(live: Any, world: Any, sdk: Path, tmp_path: Path) -> None:
    done = azure_cell(sdk, tmp_path, live.url, world.alice.key, CLUSTER_CELL)
    assert done.returncode == 1
    said = "Cannot create compute target 'cpu-cluster': registering or deleting a compute target is an admin action"
    assert said in done.stderr
    assert "ComputeTargetException" in done.stderr
    admin_ws = Workspace(live.url, world.admin.key)
    made = ComputeTarget.create(admin_ws, "spare", AmlCompute.provisioning_configuration(max_nodes=2))
    with pytest.raises(ComputeTargetException, match="admin action"):
        ComputeTarget(Workspace(live.url, world.alice.key), "spare").delete()
    made.delete()
    with pytest.raises(ComputeTargetException, match="No compute target named 'spare'"):
        ComputeTarget(admin_ws, "spare")


def project(root: Path) -> Path:
    src = root / "proj"
    src.mkdir(exist_ok=True)
    (src / "train.py").write_text("print('on the cluster')\n")
    return src


def test_interactive_run_children_and_properties(ws: Workspace) -> None:
    experiment = Experiment(workspace=ws, name="notebook-logging")
    run = experiment.start_logging()
    assert run.get_status() == "Running"
    run.log("alpha", 0.1)
    run.log("solver", "lbfgs")
    run.add_properties({"algorithm": "ridge"})
    with pytest.raises(WebserviceException, match="cannot be changed"):
        run.add_properties({"algorithm": "lasso"})
    child = run.child_run("fold-1")
    child.log("acc", 0.8)
    child.complete()
    more = run.create_children(tag_key="fold", tag_values=["2", "3"])
    for kid in more:
        kid.log("acc", 0.9)
        kid.complete()
    children = run.get_children()
    assert [c.id for c in children] == [child.id, *(k.id for k in more)]
    assert [c.get_tags() for c in children] == [{}, {"fold": "2"}, {"fold": "3"}]
    assert child.parent is not None and child.parent.id == run.id and run.parent is None
    assert {c.get_status() for c in children} == {"Completed"}
    assert child.get_metrics() == {"acc": 0.8}
    run.complete()
    assert run.get_status() == "Completed" and run.get_metrics() == {"alpha": 0.1, "solver": "lbfgs"}
    assert run.get_properties() == {"algorithm": "ridge"}
    assert [r.id for r in experiment.get_runs(properties={"algorithm": "ridge"})] == [run.id]
    assert [r.id for r in experiment.get_runs()] == [run.id]  # children are not top-level runs

    with experiment.start_logging() as failing:
        failing.log("x", 1)
    assert failing.get_status() == "Completed"
    broken = experiment.start_logging()
    broken.fail(error_details="diverged")
    assert broken.get_status() == "Failed" and broken.get_details()["error"] == "diverged"


CHILDREN_SCRIPT = """
from azureml.core import Run
run = Run.get_context()
for fold in range(2):
    child = run.child_run(name=f"fold-{fold}")
    child.log("acc", 0.5 + fold / 10)
    child.complete()
run.add_properties({"best_fold": "1"})
print("children", len(run.get_children()))
"""


def test_script_creates_child_runs_with_its_run_token(ws: Workspace, tmp_path: Path) -> None:
    run, output = submit_script(ws, tmp_path, CHILDREN_SCRIPT)
    assert run.get_status() == "Completed", output
    assert "children 2" in output
    children = run.get_children()
    assert [(c.display_name, c.get_metrics(), c.get_status()) for c in children] == [
        ("fold-0", {"acc": 0.5}, "Completed"),
        ("fold-1", {"acc": 0.6}, "Completed"),
    ]
    assert run.get_properties() == {"best_fold": "1"}


def test_offline_context_has_a_usable_id() -> None:
    first, second = Run.get_context(), Run.get_context()
    assert first.id.startswith("OfflineRun_") and first.id != second.id
    child = first.child_run()
    child.complete()
    assert first.get_children() == [] and first.parent is None


OUTPUT_SCRIPT = """
import argparse, os
parser = argparse.ArgumentParser()
parser.add_argument("--output-folder")
args = parser.parse_args()
os.makedirs(args.output_folder, exist_ok=True)
with open(os.path.join(args.output_folder, "model.txt"), "w") as f:
    f.write("weights")
print("wrote to", args.output_folder)
"""


def test_output_file_dataset_config_uploads_and_registers(ws: Workspace, tmp_path: Path) -> None:
    from datasets import services
    from datasets.models import DatasetVersion
    from runs.models import Run as RunModel

    store = ws.get_default_datastore()
    output = OutputFileDatasetConfig(destination=(store, "models/{run-id}")).register_on_complete("trained-model")
    src = tmp_path / "out-src"
    src.mkdir()
    (src / "train.py").write_text(textwrap.dedent(OUTPUT_SCRIPT))
    config = ScriptRunConfig(source_directory=src, script="train.py", arguments=["--output-folder", output.as_upload()])
    run = Experiment(ws, "outputs").submit(config)
    log = io.StringIO()
    run.wait_for_completion(show_output=True, stream=log)
    assert run.get_status() == "Completed", log.getvalue()
    # In the team's own folder of the default datastore, as every path a member gives.
    team = RunModel.objects.get(pk=run.id).team
    stored = services.store_path(services.default_datastore(), f"models/{run.id}/model.txt", team)
    assert stored.read_text() == "weights"
    version = DatasetVersion.objects.get(dataset__name="trained-model")
    assert (version.source_path, version.file_count) == (f"models/{run.id}", 1)
    assert "registered as dataset trained-model:1" in log.getvalue()


DIABETES_SCRIPT = """
import os, sys
from azureml.core import Run
run = Run.get_context()
folder = run.input_datasets["diabetes"]
print("rows", open(os.path.join(folder, "diabetes.csv")).read().count("\\n"), "arg", sys.argv[2] == folder)
"""


def test_dataset_name_with_spaces(ws: Workspace, tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    (data / "diabetes.csv").write_text("age,bmi\n50,31\n61,22\n")
    Dataset.File.from_files(str(data)).register(ws, "diabetes dataset", show_progress=False)
    dataset = Dataset.get_by_name(ws, name="diabetes dataset")
    src = tmp_path / "ds-src"
    src.mkdir()
    (src / "train.py").write_text(textwrap.dedent(DIABETES_SCRIPT))
    arguments = ["--input-data", dataset.as_named_input("diabetes").as_mount()]
    run = Experiment(ws, "diabetes").submit(
        ScriptRunConfig(source_directory=src, script="train.py", arguments=arguments)
    )
    log = io.StringIO()
    run.wait_for_completion(show_output=True, stream=log)
    assert "rows 3 arg True" in log.getvalue(), log.getvalue()
