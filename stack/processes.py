"""The command lines of Runyard's long-running processes, spelled in one place.

``runyard_serve`` (``make run``), the test fixtures, the benchmarks and
docker-compose (through ``manage.py runyard_process``) all start web, worker and beat
from these functions, so a flag added here reaches every way the product runs.
"""

from __future__ import annotations

import secrets
import socket
import sys
from dataclasses import dataclass

DEFAULT_QUEUES = "runyard,compute.local"
# Stands for the worker's node name in a command line built ahead of its starts
# (``stack.supervisor.ChildPlan``): every start gets a fresh one.
NODE = "{node}"


@dataclass(frozen=True)
class WorkerName:
    """A Celery node name unique per worker process start (``runyard-<role>-<nonce>@host``).

    Recovery never trusts names (a restarted worker gets a new one): it works from the
    liveness keys workers refresh and the ownership recorded on each run. The nonce only
    keeps two workers on one host (a second instance, a restart that overlaps its
    predecessor) from answering each other's control messages."""

    role: str = "local"
    nonce: str = ""

    @classmethod
    def new(cls, role: str = "local") -> WorkerName:
        return cls(role, secrets.token_hex(3))

    def node(self, host: str | None = None) -> str:
        return f"runyard-{self.role}-{self.nonce or secrets.token_hex(3)}@{host or socket.gethostname()}"


def web(host: str, port: int, python: str = sys.executable, app: str = "config.asgi:application") -> list[str]:
    """The ASGI server: pages, API and websockets."""
    return [
        python,
        "-m",
        "uvicorn",
        app,
        "--host",
        host,
        "--port",
        str(port),
        "--no-access-log",
        # X-Forwarded-For is read by config.clientip, from RUNYARD_TRUSTED_PROXIES only;
        # uvicorn's own handling would believe any local peer.
        "--no-proxy-headers",
        "--ws",
        "websockets",
    ]


def worker(
    node: str,
    queues: str = DEFAULT_QUEUES,
    concurrency: int = 4,
    python: str = sys.executable,
    quiet: bool = True,
    *,
    autoscale: tuple[int, int] | None = None,
    beat_thread: bool = False,
) -> list[str]:
    """A Celery worker consuming ``queues`` (the default queue plus compute targets').

    ``concurrency`` pool processes, or with ``autoscale=(max, min)`` between ``min``
    (idle) and ``max`` (``stack.pool``). ``beat_thread`` runs beat's scheduler as a thread
    of this worker's main process (``execution.workerboot``): only where this is the one
    worker, as in the standalone stack.

    Mingle and gossip are off: workers share nothing through them (claims go through
    the database) and both make start-up and broker reconnects slower."""
    cmd = [python, "-m", "celery", "-A", "config", "worker", "-Q", queues, "-n", node]
    cmd += ["--autoscale", f"{autoscale[0]},{autoscale[1]}"] if autoscale else ["-c", str(concurrency)]
    if beat_thread:
        cmd += ["--beat-thread"]
    cmd += ["--loglevel", "INFO"]
    if quiet:
        cmd += ["--without-mingle", "--without-gossip"]
    return cmd


def beat(schedule_file: str, python: str = sys.executable, loglevel: str = "WARNING") -> list[str]:
    """Celery beat: the periodic sweeps (heartbeats, lost queue messages)."""
    return [python, "-m", "celery", "-A", "config", "beat", "--loglevel", loglevel, "-s", schedule_file]
