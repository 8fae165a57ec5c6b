"""Azure ML v1 notebook cells as written, against a live server: the workspace banner,
string metrics, compute clusters, interactive and child runs."""

from __future__ import annotations

import io
import textwrap
from pathlib import Path
from typing import Any

import pytest

from runyard import Experiment, ScriptRunConfig, Workspace

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
