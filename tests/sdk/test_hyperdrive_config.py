"""HyperDrive's SDK objects serialise to what the server reads (sweeps.config parses it
back), under both runyard.train.hyperdrive and the azureml namespace."""

from __future__ import annotations

import math
import os
import subprocess
import sys
from pathlib import Path

import pytest

from runyard import ScriptRunConfig
from runyard.train.hyperdrive import (
    BanditPolicy,
    BayesianParameterSampling,
    GridParameterSampling,
    HyperDriveConfig,
    HyperDriveConfigException,
    MedianStoppingPolicy,
    NoTerminationPolicy,
    PrimaryMetricGoal,
    RandomParameterSampling,
    TruncationSelectionPolicy,
    choice,
    lognormal,
    loguniform,
    normal,
    qlognormal,
    qloguniform,
    qnormal,
    quniform,
    randint,
    uniform,
)
from sweeps.config import parse_config


def test_expressions_are_azures_json() -> None:
    assert choice(1, 2, 3) == ["choice", [[1, 2, 3]]]
    assert choice([16, 32]) == ["choice", [[16, 32]]]
    assert choice(range(3)) == ["choice", [[0, 1, 2]]]
    assert randint(5) == ["randint", [5]]
    assert uniform(0.1, 1) == ["uniform", [0.1, 1]]
    assert quniform(0, 10, 2) == ["quniform", [0, 10, 2]]
    assert loguniform(-6, -1) == ["loguniform", [-6, -1]]
    assert qloguniform(0, 5, 1) == ["qloguniform", [0, 5, 1]]
    assert normal(0, 1) == ["normal", [0, 1]]
    assert qnormal(0, 1, 1) == ["qnormal", [0, 1, 1]]
    assert lognormal(0, 1) == ["lognormal", [0, 1]]
    assert qlognormal(0, 1, 1) == ["qlognormal", [0, 1, 1]]
    for bad in (lambda: choice(), lambda: randint(0), lambda: uniform(1, 1), lambda: quniform(0, 1, 0.5)):
        with pytest.raises(HyperDriveConfigException):
            bad()


def test_policies_and_samplings_are_azures_json() -> None:
    assert BanditPolicy(slack_factor=0.1, evaluation_interval=2, delay_evaluation=4).to_json() == {
        "name": "Bandit",
        "properties": {"evaluation_interval": 2, "delay_evaluation": 4, "slack_factor": 0.1},
    }
    assert MedianStoppingPolicy().to_json()["name"] == "MedianStopping"
    assert TruncationSelectionPolicy(20).to_json()["properties"]["truncation_percentage"] == 20
    assert NoTerminationPolicy().to_json() == {"name": "Default"}
    with pytest.raises(HyperDriveConfigException):
        BanditPolicy(slack_factor=0.1, slack_amount=0.2)
    with pytest.raises(HyperDriveConfigException):
        GridParameterSampling({"lr": uniform(0, 1)})
    with pytest.raises(HyperDriveConfigException):
        BayesianParameterSampling({"lr": loguniform(-3, -1)})


def test_a_config_reaches_the_server_as_it_reads_it() -> None:
    src = ScriptRunConfig(source_directory=".", script="train.py", arguments=["--epochs", 3])
    hd = HyperDriveConfig(
        run_config=src,
        hyperparameter_sampling=RandomParameterSampling({"lr": loguniform(-6, -1), "bs": choice(16, 32)}),
        policy=BanditPolicy(slack_amount=0.05),
        primary_metric_name="accuracy",
        primary_metric_goal=PrimaryMetricGoal.MAXIMIZE,
        max_total_runs=8,
        max_concurrent_runs=2,
    )
    config = parse_config(hd.to_json())
    assert config.primary_metric == "accuracy" and config.maximize
    assert config.max_total_runs == 8 and config.max_concurrent_runs == 2
    assert config.policy.slack_amount == 0.05
    lr = dict(config.sampling.space.parameters)["lr"]
    assert lr.kind == "loguniform" and lr.args == (-6, -1)
    assert math.exp(-6) <= float(lr.sample(__import__("random").Random(1)) or 0) <= math.exp(-1)
    with pytest.raises(HyperDriveConfigException):
        HyperDriveConfig(
            hyperparameter_sampling=RandomParameterSampling({"lr": uniform(0, 1)}),
            primary_metric_name="a",
            primary_metric_goal=PrimaryMetricGoal.MAXIMIZE,
            max_total_runs=2,
        )


NAMESPACE_CHECK = """
import azureml.train.hyperdrive as hd
import runyard.train.hyperdrive as ours
from azureml.train.hyperdrive.parameter_expressions import uniform
from azureml.train.hyperdrive.policy import BanditPolicy
from azureml.train.hyperdrive.run import HyperDriveRun
from azureml.train.hyperdrive.runconfig import HyperDriveConfig, PrimaryMetricGoal
from azureml.train.hyperdrive.sampling import RandomParameterSampling
assert hd.HyperDriveConfig is HyperDriveConfig is ours.HyperDriveConfig
assert uniform is ours.uniform and BanditPolicy is ours.BanditPolicy and HyperDriveRun is ours.HyperDriveRun
assert RandomParameterSampling is ours.RandomParameterSampling and PrimaryMetricGoal is ours.PrimaryMetricGoal
assert set(hd.__all__) == set(ours.__all__)
print("ok")
"""


def test_the_azureml_namespace_has_the_same_names(tmp_path: Path) -> None:
    """As a run sees it: this tree's runyard/_azureml as the top-level ``azureml``."""
    root = Path(__file__).resolve().parents[2]
    (tmp_path / "azureml").symlink_to(root / "runyard" / "_azureml")
    env = {**os.environ, "PYTHONPATH": f"{tmp_path}{os.pathsep}{root}"}
    done = subprocess.run(
        [sys.executable, "-c", NAMESPACE_CHECK], env=env, capture_output=True, text=True, cwd=tmp_path
    )
    assert done.returncode == 0 and done.stdout.strip() == "ok", done.stderr
