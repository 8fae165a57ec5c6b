"""Offline: environments, conda specs, distributed configs, arguments and the Estimator bridge."""

from __future__ import annotations

import json
import warnings
from pathlib import Path
from typing import Any

import pytest

from runyard import CondaDependencies, Environment, ScriptRunConfig
from runyard.dataset import FileDataset
from runyard.datastore import Datastore
from runyard.exceptions import UserErrorException
from runyard.runconfig import MpiConfiguration, PyTorchConfiguration, RunConfiguration, TensorflowConfiguration
from runyard.script_run_config import arguments_for_api
from runyard.train.distributed import Gloo, Mpi, Nccl, ParameterServer
from runyard.train.estimator import Estimator, PyTorch, script_params_to_arguments

CONDA_YML = """\
name: project_environment
channels:
  - conda-forge
dependencies:
  - python=3.10
  - pip
  - pip:
    - numpy==2.1.0
    - "requests>=2"  # a comment
"""


def fake_datastore(name: str = "workspaceblobstore") -> Datastore:
    store = Datastore.__new__(Datastore)
    store._load(None, {"name": name, "id": 1, "is_default": True})  # type: ignore[arg-type]
    return store


def test_conda_specification_sends_python_conda_packages_channels_and_pip(tmp_path: Path) -> None:
    spec_file = tmp_path / "env.yml"
    spec_file.write_text(CONDA_YML.replace("  - pip\n", "  - pip\n  - cudatoolkit=11.8\n  - scikit-learn=1.5\n"))
    env = Environment.from_conda_specification("my-env", spec_file)
    spec = env.to_spec()
    assert spec["python_version"] == "3.10"
    assert spec["pip_requirements"] == ["numpy==2.1.0", "requests>=2"]
    # The server translates (and refuses cudatoolkit, naming the fix): the SDK sends the conda part as is.
    assert spec["conda_specification"] == (
        "channels:\n  - conda-forge\ndependencies:\n  - pip\n  - cudatoolkit=11.8\n  - scikit-learn=1.5\n"
    )
    # Read back from the server, the same spec comes out: an unchanged environment is not re-registered.
    again = Environment("my-env")
    again._load_spec(spec)
    assert again.to_spec() == spec and again.python.conda_dependencies.channels == ["conda-forge"]
    deps = CondaDependencies.create(conda_packages=["scikit-learn"], python_version="3.10.4")
    deps.add_conda_package("scikit-learn==0.22.1")
    assert deps.get_python_version() == "3.10.4"
    assert deps.conda_specification() == "channels:\n  - conda-forge\ndependencies:\n  - scikit-learn==0.22.1\n"
    assert CondaDependencies.create(pip_packages=["six"]).conda_specification() == ""
    env.python.user_managed_dependencies = True
    assert env.to_spec()["user_managed_dependencies"] is True


def test_environment_spec_from_azure_style_attributes(tmp_path: Path) -> None:
    (tmp_path / "requirements.txt").write_text("# deps\ntorch==2.13.0\n-r more.txt\n")
    (tmp_path / "more.txt").write_text("six\n")
    env = Environment.from_pip_requirements("train-env", tmp_path / "requirements.txt")
    env.docker.base_image = "python:3.11-slim"
    env.environment_variables = {"LR": 0.1}  # type: ignore[dict-item]
    env.python.conda_dependencies.add_pip_package("torch==2.13.1")
    spec = env.to_spec()
    assert spec == {
        "python_version": "3.11",
        "pip_requirements": ["six", "torch==2.13.1"],
        "conda_specification": "",
        "docker_base_image": "python:3.11-slim",
        "dockerfile": "",
        "environment_variables": {"LR": "0.1"},
    }
    other = Environment("x")
    other.python.conda_dependencies = CondaDependencies.create(pip_packages=["a", "b"], python_version="3.12")
    assert other.to_spec()["pip_requirements"] == ["a", "b"] and other.to_spec()["python_version"] == "3.12"
    assert "pip:" in other.python.conda_dependencies.serialize_to_string()


def test_dockerfile_from_text_or_path(tmp_path: Path) -> None:
    (tmp_path / "Dockerfile").write_text("FROM python:3.11\n")
    assert Environment.from_dockerfile("d", tmp_path / "Dockerfile").docker.base_dockerfile == "FROM python:3.11\n"
    assert Environment.from_dockerfile("d", "FROM x\nRUN y").docker.base_dockerfile == "FROM x\nRUN y"


def test_unchanged_environment_is_pinned_and_changes_are_noticed() -> None:
    env = Environment._from_api(
        {"id": 3, "name": "e", "curated": False}, {"id": 9, "version": 2, "spec": {"pip_requirements": ["six"]}}, None
    )  # type: ignore[arg-type]
    assert env.version == "2" and env.is_unchanged()
    env.environment_variables["A"] = "1"
    assert not env.is_unchanged()
    clone = env.clone("f")
    assert clone.version is None and clone.name == "f"


def test_distributed_configs_have_azures_names_and_defaults() -> None:
    assert MpiConfiguration().to_api() == {"type": "mpi", "node_count": 1, "process_count_per_node": 1}
    assert PyTorchConfiguration().communication_backend == "Nccl"
    assert PyTorchConfiguration(communication_backend="Gloo", process_count=4, node_count=2).to_api() == {
        "type": "pytorch",
        "node_count": 2,
        "process_count": 4,
        "communication_backend": "gloo",
    }
    assert TensorflowConfiguration().to_api() == {"type": "tensorflow", "worker_count": 1, "parameter_server_count": 1}
    old_style = RunConfiguration()
    old_style.communicator = "IntelMpi"
    old_style.mpi.process_count_per_node = 2
    assert old_style.distributed().to_api()["process_count_per_node"] == 2  # type: ignore[union-attr]


def test_script_run_config_exposes_run_config(tmp_path: Path) -> None:
    src = ScriptRunConfig(
        tmp_path,
        "train.py",
        arguments=["--lr", 0.1],
        compute_target="gpu",
        distributed_job_config=MpiConfiguration(process_count_per_node=2, node_count=1),
    )
    assert src.run_config.script == "train.py" and src.run_config.target == "gpu"
    assert src.run_config.node_count == 1 and src.run_config.max_run_duration_seconds == 2592000
    assert src.api_arguments() == ["--lr", 0.1] and src.api_target() == "gpu"
    with pytest.raises(UserErrorException):
        ScriptRunConfig(tmp_path)


def test_arguments_turn_inputs_into_input_objects() -> None:
    store = fake_datastore()
    ref = store.path("raw/2024").as_download()
    mounted = store.path("images").as_mount()
    dataset = FileDataset()
    dataset.name, dataset.version = "mnist", 3
    args = [
        "--a",
        ref,
        "--b",
        str(mounted),
        "--c",
        dataset.as_named_input("train").as_mount(),
        "--d",
        dataset.as_download(),
        5,
        True,
    ]
    out = arguments_for_api(args, {mounted.data_reference_name: mounted})
    assert out == [
        "--a",
        {
            "datastore": "workspaceblobstore",
            "path": "raw/2024/",
            "mode": "download",
            "name": "workspaceblobstore_raw_2024",
        },
        "--b",
        {"datastore": "workspaceblobstore", "path": "images/", "mode": "mount", "name": "workspaceblobstore_images"},
        "--c",
        {"dataset": "mnist", "version": 3, "mode": "mount", "name": "train"},
        "--d",
        {"dataset": "mnist", "version": 3, "mode": "download", "name": "mnist"},
        5,
        "True",
    ]
    json.dumps(out)
    assert str(mounted) == "$AZUREML_DATAREFERENCE_workspaceblobstore_images"
    with pytest.raises(UserErrorException, match="own argument"):
        arguments_for_api([f"--data={mounted}"], {mounted.data_reference_name: mounted})
    with pytest.warns(UserWarning, match="not in the run's arguments"):
        arguments_for_api([], {"x": store.path("x")})


def test_estimator_maps_old_parameters_and_writes_runnable_migration_code(tmp_path: Path) -> None:
    store = fake_datastore()
    est = Estimator(
        str(tmp_path),
        entry_script="train.py",
        compute_target="local",
        script_params={"--data": store.path("d").as_mount(), "--epochs": 3, "--verbose": ""},
        pip_packages=["six"],
        conda_packages=["scikit-learn=1.5"],
        custom_docker_image="python:3.11",
        environment_variables={"A": "1"},
        node_count=1,
        process_count_per_node=2,
        distributed_training=Mpi(),
        max_run_duration_seconds=600,
    )
    src = est.to_script_run_config()
    assert src.run_config.distributed().to_api() == {  # type: ignore[union-attr]
        "type": "mpi",
        "node_count": 1,
        "process_count_per_node": 2,
    }
    env = src.run_config.environment
    assert isinstance(env, Environment)
    assert env.to_spec()["pip_requirements"] == ["six"]
    assert "  - scikit-learn=1.5\n" in env.to_spec()["conda_specification"]
    assert env.docker.base_image == "python:3.11" and env.environment_variables == {"A": "1"}
    code = est.migration_code("exp")
    compile(code, "<migration>", "exec")
    for expected in (
        "from runyard import",
        "ScriptRunConfig(",
        "script='train.py'",
        "CondaDependencies.create(",
        "MpiConfiguration(process_count_per_node=2, node_count=1)",
        "Datastore.get(ws,",
        "env.docker.base_image = 'python:3.11'",
        "Experiment(ws, 'exp').submit(src)",
    ):
        assert expected in code, (expected, code)
    assert script_params_to_arguments({"--a": 1, "--flag": ""}) == ["--a", 1, "--flag"]


@pytest.mark.parametrize(
    ("helper", "expected"),
    [
        (Mpi(process_count_per_node=2), {"type": "mpi", "node_count": 2, "process_count_per_node": 2}),
        (ParameterServer(worker_count=2), {"type": "tensorflow", "worker_count": 2, "parameter_server_count": 1}),
        (Gloo(), {"type": "pytorch", "node_count": 2, "process_count": 2, "communication_backend": "gloo"}),
        (Nccl(), {"type": "pytorch", "node_count": 2, "process_count": 2, "communication_backend": "nccl"}),
    ],
)
def test_distributed_helpers_map_to_new_configs(tmp_path: Path, helper: Any, expected: dict[str, Any]) -> None:
    est = Estimator(str(tmp_path), entry_script="t.py", node_count=2, distributed_training=helper)
    assert est.distributed_job_config().to_api() == expected  # type: ignore[union-attr]


def test_pytorch_estimator_uses_the_curated_environment(tmp_path: Path) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        est = PyTorch(str(tmp_path), entry_script="t.py", distributed_training=Gloo(), process_count_per_node=2)
    assert est.environment() == "Runyard-PyTorch-2.13-CPU"
    assert "env = Environment.get(ws, name='Runyard-PyTorch-2.13-CPU')" in est.migration_code()
    custom = PyTorch(str(tmp_path), entry_script="t.py", framework_version="2.12", pip_packages=["six"])
    env = custom.environment()
    assert isinstance(env, Environment) and env.to_spec()["pip_requirements"] == ["torch==2.12.*", "six"]
