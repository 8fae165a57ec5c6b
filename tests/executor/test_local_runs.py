"""Runs really execute on the local compute kind: lifecycle, logs, outputs, errors."""

from __future__ import annotations

from typing import Any

import pytest

from runs import logstore
from runs.models import Artifact, RunStatusChange
from runs.status import Status
from tests.executor.helpers import NASTY_OUTPUT, assert_nasty_log, lines, submit, wait_status

pytestmark = [pytest.mark.worker, pytest.mark.xdist_group("live")]

HELLO = """
import os, sys
print("hello from", os.environ["RUNYARD_RUN_ID"], "args", sys.argv[1:])
print("to stderr", file=sys.stderr)
os.makedirs("outputs/sub", exist_ok=True)
open("outputs/sub/result.txt", "w").write("42")
assert "DATABASE_URL" not in os.environ and "SECRET_KEY" not in os.environ
print("LR", os.environ.get("LR"))
"""


def test_run_completes_with_logs_outputs_and_history(live: Any, world: Any) -> None:
    made = submit(world.alice, {"train.py": HELLO}, arguments=["--epochs", 3])
    run = wait_status(made["id"])
    assert run.status == Status.COMPLETED, run.error
    out = lines(run.pk, rank=0, stream="stdout")
    assert out[0] == f"hello from {run.pk} args ['--epochs', '3']"
    assert lines(run.pk, rank=0, stream="stderr") == ["to stderr"]
    seqs = [line.seq for line in logstore.lines(run.pk)]
    assert seqs == list(range(1, len(seqs) + 1))
    assert run.log_seq == seqs[-1]
    art = Artifact.objects.get(run=run)
    assert art.path == "outputs/sub/result.txt" and art.size == 2
    download = world.alice.client.get(f"/api/runs/{run.pk}/artifacts/download/", {"path": art.path})
    assert b"".join(download.streaming_content) == b"42"
    moves = list(RunStatusChange.objects.filter(run=run).order_by("id").values_list("to_status", flat=True))
    assert moves == ["Queued", "Preparing", "Starting", "Running", "Finalizing", "Completed"]
    assert run.exit_code == 0 and run.ended_at >= run.running_at
    text = b"".join(world.alice.client.get(f"/api/runs/{run.pk}/logs/download/").streaming_content).decode()
    assert f"[rank 0] hello from {run.pk}" in text and "[rank 0 !] to stderr" in text


def test_failing_script_fails_with_exit_code_and_stderr_tail(live: Any, world: Any) -> None:
    made = submit(world.alice, {"train.py": "import sys\nprint('about to fail')\nraise SystemExit('boom: bad data')\n"})
    run = wait_status(made["id"])
    assert run.status == Status.FAILED
    assert run.exit_code == 1
    assert "boom: bad data" in run.error


def test_environment_variables_reach_the_script(live: Any, world: Any) -> None:
    env = world.alice.client.post(
        "/api/environments/", {"name": "with-vars", "spec": {"environment_variables": {"LR": "0.25"}}}, format="json"
    )
    assert env.status_code == 201
    made = submit(world.alice, {"train.py": HELLO}, environment="with-vars")
    run = wait_status(made["id"])
    assert run.status == Status.COMPLETED, run.error
    assert "LR 0.25" in lines(run.pk, rank=0)


def test_submission_validation_names_fields(live: Any, world: Any) -> None:
    from tests.conftest import make_tar

    client = world.alice.client
    bad = client.post("/api/runs/", {"snapshot": make_tar({"a.py": ""}), "script": "missing.py"}, format="multipart")
    assert bad.status_code == 400 and "script" in bad.json() and "a.py" in str(bad.json())
    bad = client.post(
        "/api/runs/",
        {"snapshot": make_tar({"a.py": ""}), "script": "a.py", "distributed": '{"type": "mpi", "node_count": 2}'},
        format="multipart",
    )
    assert bad.status_code == 400 and "docker" in str(bad.json()["distributed"])
    bad = client.post(
        "/api/runs/",
        {
            "snapshot": make_tar({"a.py": ""}),
            "script": "a.py",
            "distributed": '{"type": "pytorch", "node_count": 1, "process_count": 0}',
        },
        format="multipart",
    )
    assert bad.status_code == 400 and "process_count" in str(bad.json())
    bad = client.post(
        "/api/runs/", {"snapshot": make_tar({"a.py": ""}), "script": "a.py", "environment": "nope"}, format="multipart"
    )
    assert "environment" in bad.json()
    bad = client.post(
        "/api/runs/",
        {"snapshot": make_tar({"a.py": ""}), "script": "a.py", "compute_target": "moon"},
        format="multipart",
    )
    assert "compute_target" in bad.json()
    bad = client.post("/api/runs/", {"script": "a.py"}, format="multipart")
    assert "snapshot" in bad.json()
    bad = client.post(
        "/api/runs/", {"snapshot": make_tar({"a.py": ""}), "script": "a.py", "tags": "[1"}, format="multipart"
    )
    assert "tags" in bad.json()


def test_nul_invalid_utf8_and_a_10_mb_line_reach_the_log(live: Any, world: Any) -> None:
    run = wait_status(submit(world.alice, {"train.py": NASTY_OUTPUT})["id"])
    assert run.status == Status.COMPLETED, run.error
    assert_nasty_log(run.pk)
