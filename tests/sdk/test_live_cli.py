"""The ``runyard`` CLI round trip against a live server: login, submit, list, logs, cancel, env, dataset."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import wait_for

pytestmark = [pytest.mark.worker, pytest.mark.xdist_group("live")]

ROOT = Path(__file__).resolve().parents[2]


def cli(cwd: Path, *args: str, timeout: float = 180) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RUNYARD_")}
    env["PYTHONPATH"] = str(ROOT)
    return subprocess.run(
        [sys.executable, "-m", "runyard", *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout
    )


def test_cli_round_trip(live: Any, world: Any, tmp_path: Path) -> None:
    login = cli(tmp_path, "login", "--url", live.url, "--username", "alice", "--password", "alice-pw-123!")
    assert login.returncode == 0, login.stderr
    config = json.loads((tmp_path / ".runyard" / "config.json").read_text())
    assert config["url"] == live.url and config["token"]

    proj = tmp_path / "proj"
    proj.mkdir()
    (proj / "train.py").write_text("import sys\nprint('cli says', sys.argv[1:])\n")
    (proj / "fail.py").write_text("raise SystemExit('no good')\n")
    (proj / "sleep.py").write_text("import time\nprint('zzz', flush=True)\ntime.sleep(600)\n")

    done = cli(proj, "submit", "--experiment", "cli", "--tag", "via=cli", "--follow", "train.py", "--lr", "0.1")
    assert done.returncode == 0, done.stderr
    assert "cli says ['--lr', '0.1']" in done.stdout and "Completed" in done.stderr

    failed = cli(proj, "submit", "-e", "cli", "--follow", "fail.py")
    assert failed.returncode == 1 and "no good" in failed.stderr

    listed = cli(proj, "runs", "list", "--experiment", "cli", "--json")
    assert listed.returncode == 0, listed.stderr
    runs = json.loads(listed.stdout)
    assert [r["status"] for r in runs] == ["Failed", "Completed"] and runs[1]["tags"] == {"via": "cli"}
    table = cli(proj, "runs", "list")
    assert table.returncode == 0 and "STATUS" in table.stdout and "train.py" in table.stdout

    logs = cli(proj, "logs", str(runs[1]["id"]))
    assert logs.returncode == 0 and "cli says ['--lr', '0.1']" in logs.stdout

    started = cli(proj, "submit", "-e", "cli", "--json", "sleep.py")
    assert started.returncode == 0, started.stderr
    run_id = json.loads(started.stdout)["id"]
    wait_for(lambda: "zzz" in cli(proj, "logs", str(run_id)).stdout, timeout=120, interval=0.5, what="the run")
    canceled = cli(proj, "cancel", str(run_id))
    assert canceled.returncode == 0, canceled.stderr
    followed = cli(proj, "logs", str(run_id), "--follow")
    assert followed.returncode == 3 and "zzz" in followed.stdout

    made = cli(proj, "env", "create", "cli-env", "--var", "A=1", "--json")
    assert made.returncode == 0, made.stderr
    assert json.loads(made.stdout)["version"] == "1"
    envs = json.loads(cli(proj, "env", "list", "--json").stdout)
    assert {"cli-env", "Runyard-Python-3.11"} <= {e["name"] for e in envs}
    shown = cli(proj, "env", "show", "cli-env:1")
    assert shown.returncode == 0 and "environment_variables: {'A': '1'}" in shown.stdout

    data = tmp_path / "data"
    data.mkdir()
    (data / "x.txt").write_text("x")
    uploaded = cli(proj, "dataset", "upload", "cli-data", str(data), "--json")
    assert uploaded.returncode == 0, uploaded.stderr
    assert json.loads(uploaded.stdout)["version"] == 1
    datasets = json.loads(cli(proj, "dataset", "list", "--json").stdout)
    assert [d["name"] for d in datasets] == ["cli-data"]

    missing = cli(proj, "logs", "999999")
    assert missing.returncode == 1 and "404" in missing.stderr


def test_cli_env_build_now_on_a_target(live: Any, world: Any, tmp_path: Path) -> None:
    import uuid

    login = cli(tmp_path, "login", "--url", live.url, "--username", "alice", "--password", "alice-pw-123!")
    assert login.returncode == 0, login.stderr
    pin = f"six!=0.0.{uuid.uuid4().int % 10**9}"
    made = cli(tmp_path, "env", "create", "cli-built", "--pip", pin)
    assert made.returncode == 0, made.stderr
    built = cli(tmp_path, "env", "build", "cli-built:1", "--target", "local", timeout=600)
    assert built.returncode == 0, built.stderr
    out = built.stdout
    assert "Environment build" in out and "Environment ready" in out and "succeeded in" in out
    assert "s] " in out  # each log line carries its elapsed time
    again = cli(tmp_path, "env", "build", "cli-built")
    assert again.returncode == 0 and "succeeded" in again.stdout  # the cached build, at once
    refused = cli(tmp_path, "env", "build", "cli-built", "--target", "nope")
    assert refused.returncode != 0 and "compute_target" in refused.stderr and "nope" in refused.stderr
