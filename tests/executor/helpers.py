"""Submitting runs and waiting for them, for executor tests."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from runs.models import LogLine, Run
from runs.status import TERMINAL
from tests.conftest import make_tar, wait_for


def submit(actor: Any, files: dict[str, str], script: str = "train.py", **fields: Any) -> dict[str, Any]:
    data: dict[str, Any] = {"snapshot": make_tar(files), "script": script, "experiment": fields.pop("experiment", "e")}
    for key, value in fields.items():
        data[key] = json.dumps(value) if isinstance(value, (list, dict)) else value
    response = actor.client.post("/api/runs/", data, format="multipart")
    assert response.status_code == 201, response.content
    return response.json()


def wait_status(run_id: int, statuses: set[str] | None = None, timeout: float = 120) -> Run:
    wanted = statuses or set(TERMINAL)
    return wait_for(
        lambda: (run := Run.objects.filter(pk=run_id, status__in=wanted).first()) and run,
        timeout=timeout,
        what=f"run {run_id} to reach {sorted(wanted)} (now {Run.objects.get(pk=run_id).status})",
    )


def lines(run_id: int, rank: int | None = None, stream: str | None = None) -> list[str]:
    rows = LogLine.objects.filter(run_id=run_id).order_by("seq")
    if rank is not None:
        rows = rows.filter(rank=rank)
    if stream is not None:
        rows = rows.filter(stream=stream)
    return list(rows.values_list("text", flat=True))


def run_pids(run_id: int) -> list[int]:
    """Host pids of every process carrying the run's id (its ranks, their children and
    the sandbox around them), from the host's /proc: a sandboxed script sees only its
    own PID namespace, so the pids it prints are not these."""
    marker = f"RUNYARD_RUN_ID={run_id}".encode()
    found = []
    for entry in os.scandir("/proc"):
        if entry.name.isdigit() and entry.name != str(os.getpid()):
            try:
                environ = Path(entry.path, "environ").read_bytes()
            except OSError:
                continue
            if marker in environ.split(b"\0"):
                found.append(int(entry.name))
    return found


def alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False
