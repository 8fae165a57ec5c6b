"""A real sweep of a small script end to end through the SDK (Azure's HyperDrive code,
unchanged but for the workspace) and the CLI, on the live stack."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pytest

from runyard import Experiment, Run, ScriptRunConfig, Workspace
from runyard.train.hyperdrive import (
    HyperDriveConfig,
    HyperDriveRun,
    MedianStoppingPolicy,
    PrimaryMetricGoal,
    RandomParameterSampling,
    choice,
    loguniform,
)
from tests.sdk.test_live_cli import cli
from tests.sdk.test_live_sdk import project

pytestmark = [pytest.mark.worker, pytest.mark.xdist_group("live")]

TRAIN = """
import argparse
from azureml.core.run import Run

parser = argparse.ArgumentParser()
parser.add_argument("--epochs", type=int)
parser.add_argument("--learning_rate", type=float)
parser.add_argument("--batch_size", type=int)
args = parser.parse_args()
run = Run.get_context()
for epoch in range(args.epochs):
    run.log("accuracy", 1 - abs(args.learning_rate - 0.05) - args.batch_size / 1000 + epoch / 100)
run.log("batch_size", args.batch_size)
"""


@pytest.fixture
def ws(live: Any, world: Any) -> Workspace:
    return Workspace(live.url, world.alice.key)


def test_a_sweep_through_the_sdk(ws: Workspace, tmp_path: Path) -> None:
    src = ScriptRunConfig(
        source_directory=project(tmp_path / "src", {"train.py": TRAIN}),
        script="train.py",
        arguments=["--epochs", 3],
        compute_target="local",
    )
    sampling = RandomParameterSampling(
        {"learning_rate": loguniform(-5, -1), "batch_size": choice(8, 16, 32)}, properties={"seed": 11}
    )
    hd_config = HyperDriveConfig(
        run_config=src,
        hyperparameter_sampling=sampling,
        policy=MedianStoppingPolicy(evaluation_interval=1, delay_evaluation=5),
        primary_metric_name="accuracy",
        primary_metric_goal=PrimaryMetricGoal.MAXIMIZE,
        max_total_runs=4,
        max_concurrent_runs=2,
    )
    run = Experiment(ws, "hd-sdk").submit(hd_config)
    assert isinstance(run, HyperDriveRun)
    out = io.StringIO()
    run.wait_for_completion(show_output=True, stream=out)
    shown = out.getvalue()
    assert "accuracy" in shown and "parameters" in shown and "Best run" in shown
    assert run.get_status() == "Completed"

    children = run.get_children()
    assert len(children) == 4 and all(c.get_status() == "Completed" for c in children)
    ranked = run.get_children_sorted_by_primary_metric(top=2)
    assert len(ranked) == 2 and ranked[0]["best_primary_metric"] >= ranked[1]["best_primary_metric"]
    everything = run.get_children_sorted_by_primary_metric()
    best = run.get_best_run_by_primary_metric()
    assert best is not None and best.id == everything[0]["run_id"]
    metrics = run.get_metrics()
    assert set(metrics) == {c.id for c in children}
    top = max(max(m["accuracy"]) for m in metrics.values())
    assert max(metrics[best.id]["accuracy"]) == top
    for child in children:
        params = json.loads(run.get_hyperparameters()[child.id])
        # The child ran with Azure's arguments and recorded the point it got.
        assert child.get_details()["runDefinition"]["arguments"][-4:] == [
            "--learning_rate",
            str(params["learning_rate"]),
            "--batch_size",
            str(params["batch_size"]),
        ]
        assert metrics[child.id]["batch_size"] == params["batch_size"]
    # Run.get rehydrates the parent as a HyperDriveRun, as Azure's does.
    again = Run.get(ws, run.id)
    assert isinstance(again, HyperDriveRun) and again.get_best_run_by_primary_metric().id == best.id


SLEEPER = "import time\nfrom azureml.core.run import Run\nRun.get_context().log('acc', 1)\ntime.sleep(600)\n"


def test_sweep_cli_submit_show_cancel(live: Any, world: Any, tmp_path: Path) -> None:
    login = cli(tmp_path, "login", "--url", live.url, "--username", "alice", "--password", "alice-pw-123!")
    assert login.returncode == 0, login.stderr
    proj = project(tmp_path / "proj", {"train.py": TRAIN, "sleep.py": SLEEPER})
    config = {
        "hyperparameter_sampling": {
            "name": "GRID",
            "parameter_space": {"learning_rate": ["choice", [[0.05, 0.5]]], "batch_size": ["choice", [[8]]]},
        },
        "primary_metric_config": {"name": "accuracy", "goal": "maximize"},
        "max_total_runs": 10,
        "max_concurrent_runs": 2,
    }
    (proj / "grid.json").write_text(json.dumps(config))
    done = cli(
        proj, "sweep", "submit", "--sweep-config", "grid.json", "-e", "hd-cli", "--follow", "train.py", "--epochs", "2"
    )
    assert done.returncode == 0, done.stderr
    assert "Best run" in done.stdout and "learning_rate=0.05" in done.stdout
    sweep_id = done.stdout.split("Submitted sweep ")[1].split(":")[0]
    shown = cli(proj, "sweep", "show", sweep_id, "--json")
    assert shown.returncode == 0, shown.stderr
    body = json.loads(shown.stdout)
    assert body["status"] == "Completed" and len(body["children"]) == 2
    assert body["best_child"]["parameters"] == {"learning_rate": 0.05, "batch_size": 8}
    table = cli(proj, "sweep", "show", sweep_id)
    assert "PARAMETERS" in table.stdout and "GRID sampling" in table.stdout

    (proj / "random.json").write_text(
        json.dumps(
            {**config, "hyperparameter_sampling": {"name": "RANDOM", "parameter_space": {"x": ["uniform", [0, 1]]}}}
        )
    )
    started = cli(proj, "sweep", "submit", "--sweep-config", "random.json", "-e", "hd-cli", "--json", "sleep.py")
    assert started.returncode == 0, started.stderr
    running_id = str(json.loads(started.stdout)["id"])
    canceled = cli(proj, "sweep", "cancel", running_id)
    assert canceled.returncode == 0 and "Canceled" in canceled.stdout, canceled.stderr
    bad = cli(proj, "sweep", "submit", "--sweep-config", "missing.json", "train.py")
    assert bad.returncode == 1 and "missing.json" in bad.stderr
