"""The ``azureml`` compatibility namespace on a client: installed with the runyard wheel,
notebook cells keep ``from azureml.core import …`` and drive a live server."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
import tomllib
from pathlib import Path
from typing import Any

import pytest

from environments.builder import uv_binary

ROOT = Path(__file__).resolve().parents[2]
BANNER = "azureml: Runyard's compatibility layer"


def source_packages() -> set[str]:
    """Every package of the SDK as it is shipped (runyard/_azureml is shipped as ``azureml``)."""
    found = set()
    for init in (ROOT / "runyard").rglob("__init__.py"):
        parts = init.parent.relative_to(ROOT).parts
        if "__pycache__" in parts:
            continue
        found.add(".".join(("azureml", *parts[2:]) if parts[1:2] == ("_azureml",) else parts))
    return found


def test_pyproject_ships_every_sdk_package() -> None:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    assert set(config["packages"]) == source_packages()
    assert config["package-dir"] == {"azureml": "runyard/_azureml"}


def client_venv(tmp_path: Path) -> Path:
    """A fresh virtualenv with only the runyard wheel built from this tree installed."""
    uv = uv_binary()
    env = {**os.environ, "UV_PYTHON_DOWNLOADS": "never", "NO_COLOR": "1"}
    tree = tmp_path / "tree"
    tree.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, tree / name)
    shutil.copytree(ROOT / "runyard", tree / "runyard", ignore=shutil.ignore_patterns("__pycache__"))
    wheels = tmp_path / "wheels"
    subprocess.run(
        [uv, "build", "--wheel", "--out-dir", str(wheels), str(tree)], env=env, check=True, capture_output=True
    )
    venv = tmp_path / "venv"
    subprocess.run([uv, "venv", "--python", sys.executable, str(venv)], env=env, check=True, capture_output=True)
    wheel = next(wheels.glob("runyard-*.whl"))
    subprocess.run(
        [uv, "pip", "install", "--python", str(venv / "bin" / "python"), "--no-deps", str(wheel)],
        env=env,
        check=True,
        capture_output=True,
    )
    return venv


NOTEBOOK = """
import azureml.core
from azureml.core import Experiment, ScriptRunConfig, Workspace
from azureml.core.compute_target import ComputeTargetException
from azureml.exceptions import UserErrorException

print("SDK version:", azureml.core.VERSION)
ws = Workspace.from_config()
experiment = Experiment(workspace=ws, name="notebook")
src = ScriptRunConfig(source_directory="src", script="train.py", compute_target="local")
run = experiment.submit(src)
run.wait_for_completion(show_output=True)
print("metrics", json.dumps(run.get_metrics(), sort_keys=True))
print("served from", azureml.__file__)
"""

TRAIN = """
from azureml.core.run import Run
run = Run.get_context()
run.log("accuracy", 0.91)
for step in range(3):
    run.log("loss", 1.0 / (step + 1))
"""


@pytest.mark.worker
@pytest.mark.xdist_group("live")
def test_notebook_cells_unchanged_from_an_installed_wheel(live: Any, world: Any, tmp_path: Path) -> None:
    venv = client_venv(tmp_path)
    work = tmp_path / "notebook"
    (work / "src").mkdir(parents=True)
    (work / "src" / "train.py").write_text(textwrap.dedent(TRAIN))
    (work / ".runyard").mkdir()
    (work / ".runyard" / "config.json").write_text(json.dumps({"url": live.url, "token": world.alice.key}))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("RUNYARD_", "PYTHON"))}
    done = subprocess.run(
        [str(venv / "bin" / "python"), "-c", "import json\n" + textwrap.dedent(NOTEBOOK)],
        cwd=work,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "SDK version: 0.1.0" in done.stdout
    assert 'metrics {"accuracy": 0.91, "loss": [1.0, 0.5, 0.3333333333333333]}' in done.stdout
    assert f"served from {venv}" in done.stdout  # the installed wheel, not this source tree
    assert done.stderr.count(BANNER) == 1, done.stderr
    assert BANNER in done.stdout  # and the run's own log says it too (streamed by show_output)
