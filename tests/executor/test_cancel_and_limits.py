"""Cancel kills every rank, the time limit stops runs, capacity is enforced, a dead
worker never leaves a run Running, and a malicious snapshot is refused."""

from __future__ import annotations

import io
import os
import signal
import tarfile
import zipfile
from pathlib import Path
from typing import Any

import pytest

from compute.models import ComputeTarget
from runs.models import Run, RunProcess, RunStatusChange
from runs.status import Status
from tests.conftest import wait_for
from tests.executor.helpers import alive, lines, run_pids, submit, wait_status

pytestmark = [pytest.mark.worker, pytest.mark.xdist_group("live")]

SLEEPER = """
import os, signal, subprocess, sys, time
child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
print("pids", os.getpid(), child.pid, flush=True)
ignore = len(sys.argv) > 1 and sys.argv[1] == "ignore-term"
if ignore:
    # One write per signal: the stop signals the process and its group, and a print() interrupted
    # by the second handler may raise (reentrant call) instead of ignoring the signal.
    signal.signal(signal.SIGTERM, lambda *a: os.write(1, b"ignoring SIGTERM\\n"))
time.sleep(600)
"""


def printed_pids(run_id: int) -> list[int]:
    for text in lines(run_id, rank=0):
        if text.startswith("pids "):
            return [int(p) for p in text.split()[1:]]
    return []


def pids_of(run_id: int) -> list[int]:
    """Once the script printed its two pids: the host pids of every process of the run
    (the printed ones are PID-namespace pids inside the sandbox)."""
    wait_for(lambda: len(printed_pids(run_id)) == 2, timeout=60, what="the script to start")
    pids = run_pids(run_id)
    assert len(pids) >= 2, pids
    return pids


@pytest.mark.parametrize("mode", ["polite", "ignore-term"])
def test_cancel_kills_every_process(live: Any, world: Any, mode: str) -> None:
    made = submit(world.alice, {"train.py": SLEEPER}, arguments=[mode])
    pids = pids_of(made["id"])
    wait_status(made["id"], {Status.RUNNING})
    response = world.alice.client.post(f"/api/runs/{made['id']}/cancel/")
    assert response.status_code == 200 and response.json()["status"] == Status.CANCEL_REQUESTED
    run = wait_status(made["id"])
    assert run.status == Status.CANCELED
    assert not any(alive(p) for p in pids), "a process outlived the cancel"
    history = list(RunStatusChange.objects.filter(run=run).values_list("to_status", flat=True))
    assert history[-2:] == ["CancelRequested", "Canceled"]
    if mode == "ignore-term":
        assert "Grace period over: SIGKILL." in lines(run.pk, rank=-1)
    assert world.alice.client.post(f"/api/runs/{run.pk}/cancel/").status_code == 400


def test_cancel_while_environment_builds(live: Any, world: Any) -> None:
    import uuid

    # A unique requirement makes a fresh build; `sleep` keeps it busy long enough.
    spec = {"pip_requirements": [f"six!=0.0.{uuid.uuid4().int % 10**8}"]}
    world.alice.client.post("/api/environments/", {"name": "slowbuild", "spec": spec}, format="json")
    made = submit(world.alice, {"train.py": "print('never')"}, environment="slowbuild")
    wait_status(made["id"], {Status.PREPARING, Status.STARTING, Status.RUNNING, Status.COMPLETED})
    world.alice.client.post(f"/api/runs/{made['id']}/cancel/")
    run = wait_status(made["id"])
    assert run.status in (Status.CANCELED, Status.COMPLETED)  # a fast build may win the race
    if run.status == Status.CANCELED:
        assert "never" not in lines(run.pk, rank=0)


def test_time_limit_fails_the_run(live: Any, world: Any) -> None:
    # Long enough for the test to see the processes before the limit stops them.
    made = submit(world.alice, {"train.py": SLEEPER}, max_run_duration_seconds=10)
    pids = pids_of(made["id"])
    run = wait_status(made["id"], timeout=60)
    assert run.status == Status.FAILED
    assert "max_run_duration_seconds=10" in run.status_reason
    assert "time limit" in run.error
    assert not any(alive(p) for p in pids)


def test_capacity_is_enforced_and_queue_positions_shown(live: Any, world: Any) -> None:
    ComputeTarget.objects.filter(name="local").update(max_concurrent_runs=1)
    first = submit(world.alice, {"train.py": SLEEPER})
    pids_of(first["id"])
    second = submit(world.alice, {"train.py": "print('second ran')"})
    third = submit(world.alice, {"train.py": "print('third ran')"})
    detail = world.alice.client.get(f"/api/runs/{third['id']}/").json()
    assert detail["status"] == Status.QUEUED and detail["queue_position"] == 2
    assert world.alice.client.get(f"/api/runs/{second['id']}/").json()["queue_position"] == 1
    assert Run.objects.get(pk=second["id"]).status == Status.QUEUED
    world.alice.client.post(f"/api/runs/{first['id']}/cancel/")
    assert wait_status(second["id"]).status == Status.COMPLETED
    assert wait_status(third["id"]).status == Status.COMPLETED
    assert Run.objects.get(pk=third["id"]).running_at > Run.objects.get(pk=second["id"]).running_at


def test_cancel_queued_run_is_immediate(live: Any, world: Any) -> None:
    ComputeTarget.objects.filter(name="local").update(max_concurrent_runs=1)
    first = submit(world.alice, {"train.py": SLEEPER})
    pids_of(first["id"])
    queued = submit(world.alice, {"train.py": "print('must not run')"})
    response = world.alice.client.post(f"/api/runs/{queued['id']}/cancel/")
    assert response.json()["status"] == Status.CANCELED
    world.alice.client.post(f"/api/runs/{first['id']}/cancel/")
    wait_status(first["id"])
    assert lines(queued["id"]) == []


def test_killed_worker_leaves_run_failed_never_running(live: Any, world: Any, settings: Any) -> None:
    """SIGKILL the worker executing a run: the sweep marks it NotResponding, then
    Failed (worker lost); a restarted worker reaps the orphaned processes."""
    from execution.tasks import sweep_heartbeats

    live.stop("runner")
    live.start_worker("doomed", queues="compute.local", concurrency=1)
    try:
        made = submit(world.alice, {"train.py": SLEEPER})
        pids = pids_of(made["id"])
        live.stop("doomed", signal.SIGKILL)
        settings.RUNYARD = {**settings.RUNYARD, "HEARTBEAT_TIMEOUT_SECONDS": 1.0}
        wait_for(lambda: sweep_heartbeats()["not_responding"] == 1, timeout=30, what="NotResponding")
        assert Run.objects.get(pk=made["id"]).status == Status.NOT_RESPONDING
        wait_for(lambda: sweep_heartbeats()["failed"] == 1, timeout=30, what="Failed")
        run = Run.objects.get(pk=made["id"])
        assert run.status == Status.FAILED and run.status_reason == "worker lost"
        # The same worker name restarting reaps what the dead worker left behind.
        live.start_worker("doomed", queues="compute.local", concurrency=1)
        wait_for(lambda: not any(alive(p) for p in pids), timeout=30, what="orphans to be reaped")
    finally:
        if "doomed" in live.procs:
            live.stop("doomed")
        live.start_worker("runner")


def test_restarted_worker_fails_its_abandoned_runs(live: Any, world: Any) -> None:
    live.stop("runner")
    live.start_worker("phoenix", queues="runyard,compute.local", concurrency=1)
    try:
        made = submit(world.alice, {"train.py": SLEEPER})
        pids = pids_of(made["id"])
        live.stop("phoenix", signal.SIGKILL)
        live.start_worker("phoenix", queues="runyard,compute.local", concurrency=1)
        run = wait_status(made["id"], timeout=30)
        assert run.status == Status.FAILED and "restarted" in run.error
        wait_for(lambda: not any(alive(p) for p in pids), timeout=30, what="orphans to be reaped")
        assert RunStatusChange.objects.filter(run=run, to_status=Status.PREPARING).count() == 1
    finally:
        if "phoenix" in live.procs:
            live.stop("phoenix")
        live.start_worker("runner")


def _tar_with(member: tarfile.TarInfo, data: bytes = b"") -> io.BytesIO:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tf:
        ok = tarfile.TarInfo("train.py")
        ok.size = 5
        tf.addfile(ok, io.BytesIO(b"print"))
        tf.addfile(member, io.BytesIO(data) if data else None)
    buf.seek(0)
    buf.name = "evil.tar"
    return buf


def _evil_archives() -> list[tuple[str, io.BytesIO]]:
    out = []
    up = tarfile.TarInfo("../escape.py")
    up.size = 1
    out.append(("..", _tar_with(up, b"x")))
    absolute = tarfile.TarInfo("/etc/cron.d/x")
    absolute.size = 1
    out.append(("absolute", _tar_with(absolute, b"x")))
    link = tarfile.TarInfo("data")
    link.type = tarfile.SYMTYPE
    link.linkname = "/etc"
    out.append(("link", _tar_with(link)))
    dev = tarfile.TarInfo("disk")
    dev.type = tarfile.CHRTYPE
    out.append(("regular file", _tar_with(dev)))
    zbuf = io.BytesIO()
    with zipfile.ZipFile(zbuf, "w") as zf:
        zf.writestr("train.py", "print(1)")
        info = zipfile.ZipInfo("evil")
        info.external_attr = 0o120777 << 16
        zf.writestr(info, "/etc/passwd")
    zbuf.seek(0)
    zbuf.name = "evil.zip"
    out.append(("link", zbuf))
    junk = io.BytesIO(b"this is not an archive")
    junk.name = "junk.tar"
    out.append(("neither", junk))
    return out


@pytest.mark.parametrize("expected,archive", _evil_archives())
def test_malicious_snapshots_are_refused(world: Any, expected: str, archive: io.BytesIO) -> None:
    response = world.alice.client.post("/api/runs/", {"snapshot": archive, "script": "train.py"}, format="multipart")
    assert response.status_code == 400
    assert expected in " ".join(response.json()["snapshot"])
    assert not Run.objects.exists()


def test_snapshot_size_limit_names_the_limit(world: Any, settings: Any) -> None:
    from tests.conftest import make_tar

    settings.RUNYARD = {**settings.RUNYARD, "SNAPSHOT_MAX_BYTES": 1000}
    response = world.alice.client.post(
        "/api/runs/", {"snapshot": make_tar({"train.py": "x" * 5000}), "script": "train.py"}, format="multipart"
    )
    assert response.status_code == 400 and "1000 bytes" in str(response.json())


WAIT_FOR_GO = """
import os, time
print(os.getpid(), flush=True)
deadline = time.monotonic() + 120
while not os.path.exists("go") and time.monotonic() < deadline:
    time.sleep(0.05)
"""


def test_processes_are_recorded(live: Any, world: Any) -> None:
    """The recorded pid is the rank's host pid: in the sandbox's PID namespace the
    script knows itself by another number, the last one of the host's NSpid."""
    from django.conf import settings

    made = submit(world.alice, {"train.py": WAIT_FOR_GO})
    printed = int(wait_for(lambda: lines(made["id"], rank=0), timeout=60, what="the script to start")[0])
    proc = wait_for(lambda: RunProcess.objects.filter(run_id=made["id"], pid__isnull=False).first(), timeout=60)
    status = Path(f"/proc/{proc.pid}/status").read_text()
    assert status.split("NSpid:")[1].split("\n")[0].split()[-1] == str(printed)
    assert "train.py" in Path(f"/proc/{proc.pid}/cmdline").read_bytes().decode()
    (Path(settings.RUNYARD["WORK_DIR"]) / str(made["id"]) / "go").touch()
    run = wait_status(made["id"])
    proc = RunProcess.objects.get(run=run)
    assert proc.rank == 0 and proc.status == "ended"
    assert proc.exit_code == 0
    assert os.uname().nodename == proc.host or proc.host
