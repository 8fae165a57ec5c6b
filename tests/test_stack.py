"""The standalone stack (``make run``'s ``runyard_serve``): one instance per data dir,
crashed children restarted, a crash loop ends it with the reason, nothing left behind."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import sysconfig
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


def _modules_after(statement: str) -> set[str]:
    out = subprocess.run(
        [sys.executable, "-c", f"import json, sys; {statement}; print(json.dumps(sorted(sys.modules)))"],
        cwd=ROOT,
        env={k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"},
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return {name.partition(".")[0] for name in json.loads(out.stdout)}


def test_the_supervisor_imports_nothing_but_the_standard_library() -> None:
    """What ``python -m stack.supervisor`` loads beyond the interpreter's start-up (site's
    .pth hooks): no Django, Celery, redis-py or psutil."""
    added = _modules_after("import stack.supervisor") - _modules_after("pass")
    assert added - set(sys.stdlib_module_names) == {"stack", "common"}, added - set(sys.stdlib_module_names)


def _third_party_mapped(pid: int) -> list[str]:
    """Files from site-packages (extension modules, their libraries) a process maps."""
    roots = {os.path.realpath(sysconfig.get_paths()[key]) for key in ("purelib", "platlib")}
    maps = Path(f"/proc/{pid}/maps").read_text().splitlines()
    files = {line.split(maxsplit=5)[5] for line in maps if len(line.split(maxsplit=5)) == 6}
    return sorted(f for f in files if any(f.startswith(root) for root in roots))


def _tree(pid: int) -> list[psutil.Process]:
    try:
        return psutil.Process(pid).children(recursive=True)
    except psutil.NoSuchProcess:
        return []


def _cmdline(proc: psutil.Process) -> str:
    try:
        return " ".join(proc.cmdline())
    except psutil.Error:
        return ""


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

        # The process set: a lean supervisor (the same pid, exec'd: no Django, no
        # third-party extension module mapped), web, and one worker running beat as a
        # thread; no beat process anywhere (the worker's children are its pool).
        assert "stack.supervisor" in _cmdline(psutil.Process(first.pid))
        assert _third_party_mapped(first.pid) == []
        # The check sees what a process holding Django maps (once the worker has loaded it).
        wait_for(lambda: _third_party_mapped(worker), timeout=60, what="the worker to load its extension modules")
        kinds = sorted("web" if "uvicorn" in _cmdline(p) else _cmdline(p) for p in psutil.Process(first.pid).children())
        assert len(kinds) == 2 and kinds[1] == "web" and " worker " in kinds[0] and "--beat-thread" in kinds[0], kinds
        assert not [c for p in _tree(first.pid) if " beat " in (c := _cmdline(p) + " ") and " worker " not in c]
        wait_for(
            lambda: "sweeps.tasks.tick[" in (tmp_path / "first.log").read_text(),
            timeout=60,
            what="beat (in the worker) to send its periodic sweep",
        )

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


@pytest.mark.django_db
def test_the_pool_is_sized_to_the_targets_it_serves(monkeypatch: pytest.MonkeyPatch) -> None:
    from compute.models import ComputeTarget
    from stack import pool, processes

    ComputeTarget.objects.create(name="p1", kind="local", max_concurrent_runs=3)
    ComputeTarget.objects.create(name="p2", kind="local", max_concurrent_runs=2)
    ComputeTarget.objects.create(name="off", kind="local", max_concurrent_runs=9, enabled=False)
    size = pool.for_queues("runyard,compute.p1,compute.p2,compute.off")
    assert (size.max, size.min, size.capacity) == (3 + 2 + pool.SPARE, 1, 5)
    argv = processes.worker(processes.NODE, autoscale=size.autoscale(), beat_thread=True)
    assert argv[argv.index("--autoscale") + 1] == f"{size.max},1" and "-c" not in argv and "--beat-thread" in argv
    monkeypatch.setenv("RUNYARD_WORKER_MAX_CONCURRENCY", "2")
    monkeypatch.setenv("RUNYARD_WORKER_MIN_CONCURRENCY", "3")
    assert pool.for_queues("compute.p1").autoscale() == (2, 2)  # the minimum never exceeds the maximum
