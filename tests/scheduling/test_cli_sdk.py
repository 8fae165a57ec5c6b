"""Priorities and quotas from the SDK and the CLI against a live server (the target holds
every run back, so they stay Queued and explain why)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from compute.models import ComputeTarget
from runs.models import Run
from runyard import Experiment, ScriptRunConfig, Workspace
from runyard.exceptions import WebserviceException
from tests.sdk.test_live_cli import cli

pytestmark = [pytest.mark.worker, pytest.mark.xdist_group("live")]


def test_sdk_and_cli_priorities_quotas_queue_and_usage(live: Any, world: Any, tmp_path: Path) -> None:
    ComputeTarget.objects.filter(name="local").update(max_concurrent_runs=0)
    proj = tmp_path / "proj"
    proj.mkdir()
    (proj / "train.py").write_text("print('hi')\n")

    ws = Workspace(live.url, world.alice.key)
    exp = Experiment(ws, "sched")
    run = exp.submit(ScriptRunConfig(source_directory=proj, script="train.py", priority="high"))
    assert Run.objects.get(pk=run.id).priority == 2
    with pytest.raises(WebserviceException, match="up to high on local"):
        exp.submit(ScriptRunConfig(source_directory=proj, script="train.py", priority="urgent"))
    assert run.set_priority("low") == "low"
    assert "the target is full (0/0 runs)" in run.refresh()["waiting_reason"]

    home = tmp_path / "home-root"
    home.mkdir()
    root = cli(home, "login", "--url", live.url, "--username", "root", "--password", "root-pw-123!")
    assert root.returncode == 0, root.stderr
    made = cli(home, "quota", "set", "default", "local", "--max-runs", "3", "--max-priority", "urgent", "--json")
    assert made.returncode == 0, made.stderr
    assert json.loads(made.stdout)["max_priority"] == "urgent"
    listed = cli(home, "quota", "list")
    assert "default" in listed.stdout and "urgent" in listed.stdout

    home_a = tmp_path / "home-alice"
    (home_a / "proj").mkdir(parents=True)
    (home_a / "proj" / "train.py").write_text("print('hi')\n")
    alice = cli(home_a, "login", "--url", live.url, "--username", "alice", "--password", "alice-pw-123!")
    assert alice.returncode == 0, alice.stderr
    refused = cli(home_a, "quota", "set", "default", "local", "--share", "1")
    assert refused.returncode == 1 and "admin" in refused.stderr.lower()
    urgent = cli(home_a / "proj", "submit", "-e", "sched", "--priority", "urgent", "--json", "train.py")
    assert urgent.returncode == 0, urgent.stderr
    urgent_id = json.loads(urgent.stdout)["id"]
    assert json.loads(urgent.stdout)["priority"] == "urgent"
    bumped = cli(home_a, "priority", str(run.id), "normal")
    assert bumped.returncode == 0 and "priority normal" in bumped.stdout, bumped.stderr

    queue = cli(home_a, "queue", "local")
    assert queue.returncode == 0, queue.stderr
    assert "0/0 runs" in queue.stdout and "Default" in queue.stdout
    first = next(line for line in queue.stdout.splitlines() if line.strip().startswith("1 "))
    assert str(urgent_id) in first and "urgent" in first

    usage = cli(home_a, "usage", "--by", "experiment", "--csv")
    assert usage.returncode == 0, usage.stderr
    assert usage.stdout.splitlines()[0] == (
        "experiment,team,runs,run_hours,gpu_hours,queue_wait_hours,cpu_percent,gpu_utilization"
    )
    assert usage.stdout.splitlines()[1].startswith("sched,Default,2,")
    assert cli(home, "quota", "delete", "default", "local").returncode == 0
