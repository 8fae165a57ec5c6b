"""Submitting runs and waiting for them, for executor tests."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from runs import logstore
from runs.models import Run
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
    rows = logstore.lines(run_id, rank=rank)
    return [line.text for line in rows if stream is None or line.stream == stream]


# A rank whose output tests the line reader end to end: NUL, invalid UTF-8, a character
# split between two writes, CRLF and progress-bar CRs, and last a 10 MB line without a
# newline (cut into 64 KiB pieces by the reader, each stored clipped to LOG_LINE_MAX_CHARS).
NASTY_PIECES = (
    b"nul:\x00:end\n",
    b"bad:\xff\xfe:end\n",
    "split:\u65e5".encode()[:-1],
    "\u65e5".encode()[-1:] + b":end\r\n",
    b"\r 10%\r 50%\r100%\n",
)
NASTY_OUTPUT = f"""
import sys, time
out = sys.stdout.buffer
for piece in {NASTY_PIECES!r}:
    out.write(piece)
    out.flush()
    time.sleep(0.2)
sys.stderr.buffer.write(b"err:\\x00\\n")
sys.stderr.flush()
out.write(b"z" * (10 * 1024 * 1024))
out.flush()
"""
NASTY_STDOUT_BYTES = sum(map(len, NASTY_PIECES)) + 10 * 1024 * 1024
NASTY_STDOUT_HEAD = ["nul:\ufffd:end", "bad:\ufffd\ufffd:end", "split:\u65e5:end", " 10%", " 50%", "100%"]


def assert_nasty_log(run_id: int, rank: int = 0) -> None:
    """What NASTY_OUTPUT leaves in the stored log of ``rank``."""
    from django.conf import settings

    out = lines(run_id, rank=rank, stream="stdout")
    assert out[: len(NASTY_STDOUT_HEAD)] == NASTY_STDOUT_HEAD, out[:8]
    assert lines(run_id, rank=rank, stream="stderr") == ["err:\ufffd"]
    pieces = out[len(NASTY_STDOUT_HEAD) :]
    cut = int(settings.RUNYARD["MAX_LOG_LINE_BYTES"])
    assert len(pieces) == 10 * 1024 * 1024 // cut, [p[-60:] for p in pieces[:3]]
    clip = int(settings.RUNYARD["LOG_LINE_MAX_CHARS"])
    # Stored pieces are clipped: the reader's marker (a further 29 characters) is cut with the rest.
    marked = f" …[{cut - clip + len(f' …[line cut at {cut} bytes]')} more characters cut]"
    assert all(p == "z" * clip + marked for p in pieces[:-1]), {p[clip:] for p in pieces}
    assert pieces[-1] == "z" * clip + f" …[{cut - clip} more characters cut]"  # the last piece: no reader marker
    seqs = [line.seq for line in logstore.lines(run_id)]
    assert seqs == list(range(1, len(seqs) + 1))


def run_pids(run_id: int) -> list[int]:
    """Host pids of every process carrying the run's id (its ranks, their children and
    the sandbox around them), from the host's /proc: a sandboxed script sees only its
    own PID namespace, so the pids it prints are not these. A run launched into a hold
    (execution/backends/held.py): the sandbox around it carries the hold's nonce instead,
    which the run's backend_state names."""
    marker = f"RUNYARD_RUN_ID={run_id}".encode()
    state = Run.objects.filter(pk=run_id).values_list("backend_state", flat=True).first() or {}
    markers = {marker, *(f"RUNYARD_HOLD={nonce}".encode() for nonce in state.get("holds", []))}
    found = []
    for entry in os.scandir("/proc"):
        if entry.name.isdigit() and entry.name != str(os.getpid()):
            try:
                environ = Path(entry.path, "environ").read_bytes()
            except OSError:
                continue
            if markers & set(environ.split(b"\0")):
                found.append(int(entry.name))
    return found


def alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False
