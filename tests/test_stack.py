"""The standalone stack (``make run``'s ``runyard_serve``): one instance per data dir,
crashed children restarted, a crash loop ends it with the reason, nothing left behind."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import urllib.request
from pathlib import Path

import psutil
import pytest

from stack.supervisor import Supervisor
from tests.conftest import ROOT, free_port, wait_for


def test_a_crash_loop_stops_the_supervisor_and_names_the_child() -> None:
    said: list[str] = []
    supervisor = Supervisor(dict(os.environ), said.append, max_crashes=2, window=60, max_backoff=0.05)
    supervisor.add("flaky", [sys.executable, "-c", "import sys; sys.exit(3)"])
    reason = supervisor.run()
    assert reason is not None and "flaky crashed 3 times" in reason and "exited with code 3" in reason
    assert sum("restarting it in" in line for line in said) == 2


def test_stop_ends_every_child() -> None:
    supervisor = Supervisor(dict(os.environ), lambda text: None, grace=5)
    supervisor.add("sleeper", [sys.executable, "-c", "import time; time.sleep(600)"])
    done: list[str | None] = []
    thread = threading.Thread(target=lambda: done.append(supervisor.run()))
    thread.start()
    pid = wait_for(lambda: supervisor.pids().get("sleeper"), timeout=30, what="the child to start")
    supervisor.stop()
    thread.join(timeout=30)
    assert done == [None]
    assert not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE


def _healthy(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/health/", timeout=2) as response:
            return bool(response.status == 200)
    except OSError:
        return False


def _children(pid: int, word: str) -> list[int]:
    try:
        found = psutil.Process(pid).children()
    except psutil.NoSuchProcess:
        return []
    pids = []
    for child in found:
        try:
            if word in " ".join(child.cmdline()):
                pids.append(child.pid)
        except psutil.Error:
            continue  # exited (a zombie until the supervisor reaps it)
    return pids


@pytest.fixture
def serve_env(tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL")}
    env.update(RUNYARD_DATA_DIR=str(tmp_path / "data"), RUNYARD_ADMIN_PASSWORD="stack-test-pw", PYTHONUNBUFFERED="1")
    return env


def _serve(env: dict[str, str], port: int, log: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "manage.py", "runyard_serve", "--port", str(port), "--concurrency", "1"],
        cwd=ROOT,
        env=env,
        stdout=open(log, "wb"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )


@pytest.mark.worker
def test_one_instance_per_data_dir_and_crashed_children_come_back(serve_env: dict[str, str], tmp_path: Path) -> None:
    port = free_port()
    first = _serve(serve_env, port, tmp_path / "first.log")
    leftovers: list[int] = []
    try:
        wait_for(lambda: first.poll() is not None or _healthy(port), timeout=180, what="the first instance")
        assert first.poll() is None, (tmp_path / "first.log").read_text()[-3000:]
        worker = wait_for(lambda: _children(first.pid, "worker"), timeout=60, what="its worker")[0]

        # A second start on the same data dir refuses at once and touches nothing.
        second = subprocess.run(
            [sys.executable, "manage.py", "runyard_serve", "--port", str(free_port())],
            cwd=ROOT,
            env=serve_env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert second.returncode != 0
        assert "already running" in second.stderr and f":{port}/" in second.stderr, second.stderr
        assert _healthy(port) and _children(first.pid, "worker") == [worker]

        # SIGKILL of the worker: the supervisor starts a new one; the web stays up.
        os.kill(worker, signal.SIGKILL)
        fresh = wait_for(
            lambda: [p for p in _children(first.pid, "worker") if p != worker], timeout=60, what="a new worker"
        )
        assert _healthy(port)
        # The embedded Redis dies: it is started again on the same socket.
        redis_pid_file = Path(serve_env["RUNYARD_DATA_DIR"]) / "redis" / "redis.pid"
        redis_pid = int(redis_pid_file.read_text())
        os.kill(redis_pid, signal.SIGKILL)
        wait_for(
            lambda: (
                redis_pid_file.exists()
                and redis_pid_file.read_text().strip().isdigit()
                and int(redis_pid_file.read_text()) != redis_pid
                and psutil.pid_exists(int(redis_pid_file.read_text()))
            ),
            timeout=60,
            what="the embedded Redis to be restarted",
        )
        log = (tmp_path / "first.log").read_text()
        assert "worker exited with code -9; restarting it" in log
        # Whoever is first brings it back: the supervisor's check, or a child restarting
        # (a process that loads the settings starts the embedded Redis if it is down).
        assert _healthy(port)
        leftovers = [*fresh, *_children(first.pid, ""), int(redis_pid_file.read_text())]
    finally:
        if first.poll() is None:
            os.kill(first.pid, signal.SIGTERM)
        first.wait(timeout=90)
    assert first.returncode == 0, (tmp_path / "first.log").read_text()[-3000:]
    # Ctrl-C/SIGTERM stops every child and the embedded Redis.
    wait_for(lambda: not any(psutil.pid_exists(p) for p in leftovers), timeout=30, what="children and Redis to exit")


def test_a_data_dir_lock_names_its_holder(tmp_path: Path) -> None:
    from stack import instance

    held = instance.acquire(tmp_path, "http://127.0.0.1:1234/")
    try:
        with pytest.raises(instance.AlreadyRunning, match=r"pid \d+ .*http://127.0.0.1:1234/"):
            instance.acquire(tmp_path, "http://127.0.0.1:9999/")
    finally:
        held.release()
    instance.acquire(tmp_path, "http://127.0.0.1:9999/").release()  # free again once released
