"""The real peers Runyard's benchmarks compare against: installed, started and stopped.

**Where they install.** Each peer gets its own virtual environment, created on first use
with this interpreter's ``venv`` and filled from PyPI by that venv's own ``pip``: a peer's
dependencies (MLflow's SQLAlchemy and Flask, Ray's grpcio and aiohttp, Prefect's pydantic
pins) must never change the versions Runyard runs with. The venvs live in
``RUNYARD_BENCH_PEERS_DIR`` or, by default, ``.runyard-data/bench-peers/<peer>`` of the
*main* checkout (found through ``git rev-parse --git-common-dir``), so every worktree of
the repository shares one install. Versions are pinned (``PEERS`` below: the newest each
index served when they were checked, and none pulls PyTorch; ``ensure`` refuses a venv in
which torch appeared). An install is done once under a file lock, with progress printed;
a venv whose pins changed is reinstalled.

**Where they run.** Each context manager starts its peer as a child process in a new
session (its own process group), bound to 127.0.0.1 on free ports, with all its state
(database, artifacts, Ray's ``--temp-dir``, ``PREFECT_HOME``) under a fresh temporary
directory that is removed afterwards. Stopping is by process id only: the process
group and every descendant found through ``/proc`` (some peers start daemons in sessions
of their own, which a group signal would miss) get SIGTERM, then SIGKILL after a grace
period, and ``stop`` checks that none is left. Nothing is stopped by name (no ``ray
stop``, which would also stop other people's Ray clusters on the machine).

**How benchmarks talk to them.** Through the peers' HTTP APIs from the benchmark
process wherever those are plain JSON (MLflow's REST API, Ray's Job Submission REST
API, Prefect's REST API), so a peer is measured exactly as Runyard is, one keep-alive
HTTP request at a time, and no peer library enters Runyard's venv. Where a peer's own
client library is part of what a user would run (Ray's ``JobSubmissionClient.tail_job_logs``,
Prefect deployments), the benchmark runs a small driver script with the peer's Python
(``PeerEnv.run`` / ``PeerEnv.python``). The shared venv's ``mlflow-skinny`` client (the
same version as the MLflow server below) is the one exception: Runyard serves MLflow's
API too, so one client against both servers is the fair comparison.

**Prefect: the fair "submit → first statement".** Runyard's submit is "run this script
on a worker now". Prefect's equivalent is a deployment (flow code from a local directory)
served by a ``process`` work pool worker: ``POST /deployments/{id}/create_flow_run``, the
worker picks it up and runs the flow in a subprocess, whose first statement is the end
of the measurement. A Prefect worker polls; ``PrefectServer(worker_poll_s=1.0)`` sets
``PREFECT_WORKER_QUERY_SECONDS`` to 1 s (default 10 s) and the prefetch so the figure is
Prefect at a reasonable best, not its default polling delay.

Self-test: ``python bench/peers.py check [mlflow ray prefect]`` installs, starts, uses
and stops each peer and verifies that none of its processes is left;
``python bench/peers.py install`` only installs; ``python bench/peers.py where`` prints
the venvs.
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import http.client
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any, Self

from harness import free_port, wait_for  # bench/ is on sys.path (run as a script or from bench/)

ROOT = Path(__file__).resolve().parent.parent


# ---- what to install ---------------------------------------------------------------
@dataclass(frozen=True)
class PeerSpec:
    """A peer's pinned requirements and the module whose import proves the install."""

    name: str
    requirements: tuple[str, ...]
    module: str


PEERS: dict[str, PeerSpec] = {
    # 3.17.2: the newest MLflow PyPI serves here (3.18.0's mlflow-skinny is not), and the
    # version of the shared venv's mlflow-skinny client, so client and server agree.
    "mlflow": PeerSpec("mlflow", ("mlflow==3.17.2",), "mlflow"),
    # [default] brings the dashboard, which serves the Job Submission API.
    "ray": PeerSpec("ray", ("ray[default]==2.60.0",), "ray"),
    "prefect": PeerSpec("prefect", ("prefect==3.9.1",), "prefect"),
}
FORBIDDEN = ("torch",)  # several GB and irrelevant to what is measured


def enabled() -> bool:
    """Whether benchmarks measure the peers too (``run_all.py --no-peers`` sets
    RUNYARD_BENCH_PEERS=0 for every benchmark it starts)."""
    return os.environ.get("RUNYARD_BENCH_PEERS", "1").lower() not in ("0", "false", "no", "off")


def peers_dir() -> Path:
    """Where the peer venvs live (see the module docstring)."""
    given = os.environ.get("RUNYARD_BENCH_PEERS_DIR")
    if given:
        return Path(given)
    main = ROOT
    with contextlib.suppress(Exception):
        common = subprocess.run(
            ["git", "rev-parse", "--path-format=absolute", "--git-common-dir"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=10,
        ).stdout.strip()
        if common:
            main = Path(common).parent
    return main / ".runyard-data" / "bench-peers"


@dataclass(frozen=True)
class PeerEnv:
    """An installed peer's venv."""

    name: str
    root: Path

    @property
    def python(self) -> Path:
        return self.root / "bin" / "python"

    def bin(self, exe: str) -> Path:
        return self.root / "bin" / exe

    def version(self) -> str:
        out = self.run(["-c", f"import importlib.metadata as m; print(m.version({PEERS[self.name].module!r}))"])
        return out.stdout.strip()

    def run(self, args: list[str], timeout: float = 600, **kwargs: Any) -> subprocess.CompletedProcess[str]:
        """``python ARGS`` in the peer's venv (a driver script, ``-c`` code); raises on failure."""
        out = subprocess.run(
            [str(self.python), *args], capture_output=True, text=True, timeout=timeout, check=False, **kwargs
        )
        if out.returncode != 0:
            raise RuntimeError(f"{self.name} python {' '.join(args)[:200]} failed:\n{out.stderr[-3000:]}")
        return out


def _stamp(spec: PeerSpec) -> str:
    return json.dumps({"requirements": list(spec.requirements), "python": sys.version.split()[0]})


def ensure(name: str, log: Callable[[str], None] = print) -> PeerEnv:
    """The peer's venv, created and installed on first use (progress through ``log``)."""
    spec = PEERS[name]
    base = peers_dir()
    base.mkdir(parents=True, exist_ok=True)
    env = PeerEnv(name, base / name)
    marker = env.root / ".runyard-installed"
    if marker.exists() and marker.read_text() == _stamp(spec):
        return env
    # Several benchmarks (or helpers' worktrees) may ask at once: one installs, the others wait.
    with open(base / f"{name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if marker.exists() and marker.read_text() == _stamp(spec):
            return env
        log(f"[peers] installing {', '.join(spec.requirements)} into {env.root} (first use; a few minutes)")
        t0 = time.monotonic()
        shutil.rmtree(env.root, ignore_errors=True)
        subprocess.run([sys.executable, "-m", "venv", str(env.root)], check=True)
        pip_log = base / f"{name}.install.log"
        with open(pip_log, "w") as out:
            proc = subprocess.Popen(
                [str(env.python), "-m", "pip", "install", "--progress-bar", "off", *spec.requirements],
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
            )
            assert proc.stdout is not None
            for line in proc.stdout:
                out.write(line)
                # pip's "Collecting X" lines are the progress worth showing; the rest goes to the log.
                if line.startswith(("Collecting ", "Installing collected", "Successfully installed")):
                    log(f"[peers] {name}: {line.rstrip()[:160]}")
            code = proc.wait()
        if code != 0:
            raise RuntimeError(f"installing {name} failed (exit {code}); see {pip_log}:\n{pip_log.read_text()[-3000:]}")
        pulled = [mod for mod in FORBIDDEN if list((env.root / "lib").glob(f"python*/site-packages/{mod}"))]
        if pulled:
            raise RuntimeError(f"{name}'s install pulled {', '.join(pulled)}: pin versions that do not")
        env.run(["-c", f"import {spec.module}"], cwd="/")
        marker.write_text(_stamp(spec))
        log(f"[peers] {name} installed in {time.monotonic() - t0:.0f} s")
    return env


# ---- processes -----------------------------------------------------------------------
def _children() -> dict[int, list[int]]:
    """ppid → pids of every live process (one pass over /proc)."""
    kids: dict[int, list[int]] = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            stat = Path(entry.path, "stat").read_text()
        except OSError:
            continue
        ppid = int(stat[stat.rfind(")") + 2 :].split()[1])
        kids.setdefault(ppid, []).append(int(entry.name))
    return kids


def _group(pgid: int) -> set[int]:
    found = set()
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            stat = Path(entry.path, "stat").read_text()
        except OSError:
            continue
        if int(stat[stat.rfind(")") + 2 :].split()[2]) == pgid:
            found.add(int(entry.name))
    return found


def descendants(pid: int) -> set[int]:
    """``pid``'s live descendants, found through parent ids."""
    kids = _children()
    found: set[int] = set()
    todo = [pid]
    while todo:
        for child in kids.get(todo.pop(), []):
            if child not in found:
                found.add(child)
                todo.append(child)
    return found


def alive(pid: int) -> bool:
    """Running (a zombie waiting for its parent's wait() counts as gone)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat[stat.rfind(")") + 2 :].split()[0] != "Z"


def _comm(pid: int) -> str:
    with contextlib.suppress(OSError):
        return Path(f"/proc/{pid}/comm").read_text().strip()
    return "?"


def http_json(url: str, method: str = "GET", body: Any = None, timeout: float = 10) -> tuple[int, Any]:
    """One HTTP request to a loopback peer; (status, decoded JSON or raw text)."""
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port or 80, timeout=timeout)
    try:
        data = json.dumps(body).encode() if body is not None else None
        headers = {"Content-Type": "application/json"} if data is not None else {}
        conn.request(method, parts.path + (f"?{parts.query}" if parts.query else ""), body=data, headers=headers)
        response = conn.getresponse()
        raw = response.read()
        try:
            return response.status, json.loads(raw) if raw else None
        except ValueError:
            return response.status, raw.decode(errors="replace")
    finally:
        conn.close()


@dataclass
class Child:
    """A started peer process (leader of its own process group) and what it spawned."""

    name: str
    proc: subprocess.Popen[bytes]
    log: Path
    seen: set[int] = field(default_factory=set)

    def note_descendants(self) -> None:
        """Remember the whole tree while the leader lives: daemons that re-parent to init
        when the leader exits would otherwise be lost."""
        self.seen |= descendants(self.proc.pid) | _group(self.proc.pid)

    def tail(self, chars: int = 3000) -> str:
        return self.log.read_text(errors="replace")[-chars:] if self.log.exists() else ""


class Peer:
    """Base of the peer context managers: a temp state dir and child processes stopped by pid."""

    name = ""
    grace_s = 20.0

    def __init__(self, log: Callable[[str], None] = print) -> None:
        self.log = log
        self.env = self.install()
        self.state: Path | None = None
        self.children: list[Child] = []
        self.version = ""

    def __enter__(self) -> Self:
        # Short paths: Ray puts Unix sockets under its temp dir (107-byte limit).
        self.state = Path(tempfile.mkdtemp(prefix=f"ry-{self.name}-", dir="/tmp"))
        try:
            t0 = time.monotonic()
            self.version = self.peer_version()
            self.start()
            self.log(f"[peers] {self.name} {self.version} up in {time.monotonic() - t0:.1f} s ({self.describe()})")
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None) -> None:
        self.stop()

    def install(self) -> PeerEnv:
        return ensure(self.name, self.log)

    def peer_version(self) -> str:
        return self.env.version()

    def start(self) -> None:
        raise NotImplementedError

    def describe(self) -> str:
        return ""

    def activated(self) -> dict[str, str]:
        """The peer's venv as if activated: a Ray job's ``python …`` entrypoint, or any
        command a peer runs through PATH, is the peer's Python, as for a user of that venv."""
        return {"VIRTUAL_ENV": str(self.env.root), "PATH": f"{self.env.root / 'bin'}:{os.environ.get('PATH', '')}"}

    def spawn(self, name: str, cmd: list[str], env: dict[str, str] | None = None) -> Child:
        assert self.state is not None
        log = self.state / f"{name}.log"
        with open(log, "ab") as out:
            proc = subprocess.Popen(
                cmd,
                cwd=self.state,
                env={**os.environ, **self.activated(), **(env or {})},
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        child = Child(name, proc, log)
        self.children.append(child)
        return child

    def check_alive(self, child: Child) -> None:
        if child.proc.poll() is not None:
            raise RuntimeError(f"{self.name}: {child.name} exited with {child.proc.returncode}:\n{child.tail()}")
        child.note_descendants()

    def pids(self) -> set[int]:
        """Every process of this peer still running."""
        found: set[int] = set()
        for child in self.children:
            if child.proc.poll() is None:
                child.note_descendants()
            found |= {pid for pid in child.seen | {child.proc.pid} if alive(pid)}
        return found

    def _signal(self, pids: set[int], sig: int) -> None:
        for pid in pids:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, sig)

    def stop(self) -> None:
        """SIGTERM every process of the peer (leaders last-in first), SIGKILL what is left
        after the grace period, reap the leaders, and fail loudly if any process survived."""
        for child in reversed(self.children):
            if child.proc.poll() is None:
                child.note_descendants()
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(child.proc.pid, signal.SIGTERM)
                self._signal(child.seen, signal.SIGTERM)
        deadline = time.monotonic() + self.grace_s
        while self.pids() and time.monotonic() < deadline:
            for child in self.children:
                with contextlib.suppress(subprocess.TimeoutExpired):
                    child.proc.wait(timeout=0.1)
            time.sleep(0.1)
        left = self.pids()
        if left:
            names = ", ".join(sorted({_comm(pid) for pid in left}))
            self.log(f"[peers] {self.name}: {len(left)} still up after {self.grace_s:g} s ({names}): SIGKILL")
            self._signal(left, signal.SIGKILL)
            for child in self.children:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(child.proc.pid, signal.SIGKILL)
        for child in self.children:
            with contextlib.suppress(subprocess.TimeoutExpired):
                child.proc.wait(timeout=10)
        with contextlib.suppress(TimeoutError):
            wait_for(lambda: not self.pids(), 10, f"{self.name}'s processes to exit")
        survivors = self.pids()
        if self.state is not None and not os.environ.get("RUNYARD_BENCH_KEEP_PEER_STATE"):
            shutil.rmtree(self.state, ignore_errors=True)
        if survivors:
            raise RuntimeError(f"{self.name}: processes {sorted(survivors)} survived SIGKILL")


# ---- MLflow ------------------------------------------------------------------------------
class MlflowServer(Peer):
    """``mlflow server`` (SQLite backend store, local artifacts, one worker, no job runner)
    on loopback.

    ``tracking_uri`` is what an ``MlflowClient`` takes; ``url`` + ``/api/2.0/mlflow/…``
    is its REST API."""

    name = "mlflow"

    def __init__(self, workers: int = 1, log: Callable[[str], None] = print) -> None:
        super().__init__(log)
        self.workers = workers
        self.port = 0
        self.url = ""

    @property
    def tracking_uri(self) -> str:
        return self.url

    @property
    def db_path(self) -> Path:
        assert self.state is not None
        return self.state / "mlflow.db"

    def describe(self) -> str:
        return f"{self.url}, sqlite {self.db_path}"

    def start(self) -> None:
        assert self.state is not None
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        cmd = [
            str(self.env.bin("mlflow")),
            "server",
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--workers",
            str(self.workers),
            "--backend-store-uri",
            f"sqlite:///{self.db_path}",
            "--artifacts-destination",
            str(self.state / "artifacts"),
        ]
        env = {
            "MLFLOW_DISABLE_TELEMETRY": "true",
            "DO_NOT_TRACK": "true",
            # Off: the job runner and its 7 huey consumers serve MLflow's GenAI jobs (scorers,
            # trace roll-ups), not tracking; on 2 cores they would only take CPU from the server
            # being measured.
            "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false",
        }
        child = self.spawn("mlflow-server", cmd, env)

        def up() -> bool:
            self.check_alive(child)
            with contextlib.suppress(OSError):
                return http_json(f"{self.url}/health", timeout=2)[0] == 200
            return False

        wait_for(up, 180, "mlflow server /health")


# ---- Ray -----------------------------------------------------------------------------------
class RayHead(Peer):
    """A Ray head node, ``ray start --head --block`` as our child, every port chosen free.

    ``jobs_url`` is the dashboard's Job Submission API (``/api/jobs/``; what
    ``JobSubmissionClient(jobs_url)`` takes), ``gcs_address`` what ``ray.init`` takes."""

    name = "ray"
    # As `ray stop` does (SIGTERM to each process, SIGKILL after its --grace-period): here
    # gcs_server and `ray start --block` itself outlast SIGTERM by 30 s and more, so waiting
    # longer only delays the next benchmark.
    grace_s = 10.0

    def __init__(self, num_cpus: int = 2, object_store_mb: int = 200, log: Callable[[str], None] = print) -> None:
        super().__init__(log)
        self.num_cpus = num_cpus
        self.object_store_mb = object_store_mb
        self.gcs_port = 0
        self.dashboard_port = 0
        self.jobs_url = ""

    @property
    def gcs_address(self) -> str:
        return f"127.0.0.1:{self.gcs_port}"

    def describe(self) -> str:
        return f"GCS {self.gcs_address}, Job API {self.jobs_url}, temp dir {self.temp_dir}"

    @property
    def temp_dir(self) -> Path:
        assert self.state is not None
        return self.state / "ray"

    def start(self) -> None:
        ports = {
            "--port": free_port(),
            "--dashboard-port": free_port(),
            "--node-manager-port": free_port(),
            "--object-manager-port": free_port(),
            "--ray-client-server-port": free_port(),
            "--dashboard-agent-listen-port": free_port(),
            "--dashboard-agent-grpc-port": free_port(),
            "--runtime-env-agent-port": free_port(),
            "--metrics-export-port": free_port(),
        }
        self.gcs_port, self.dashboard_port = ports["--port"], ports["--dashboard-port"]
        self.jobs_url = f"http://127.0.0.1:{self.dashboard_port}"
        cmd = [
            str(self.env.bin("ray")),
            "start",
            "--head",
            "--block",
            "--node-ip-address",
            "127.0.0.1",
            "--dashboard-host",
            "127.0.0.1",
            "--include-dashboard",
            "true",
            "--temp-dir",
            str(self.temp_dir),
            "--num-cpus",
            str(self.num_cpus),
            "--object-store-memory",
            str(self.object_store_mb * 1024 * 1024),
            "--disable-usage-stats",
            # Workers on random free ports (not the default 10002-19999 that another
            # Ray on the machine would also use).
            "--min-worker-port",
            "0",
            "--max-worker-port",
            "0",
        ]
        for flag, port in ports.items():
            cmd += [flag, str(port)]
        env = {
            "RAY_USAGE_STATS_ENABLED": "0",
            "RAY_TMPDIR": str(self.temp_dir),
            # Without it Ray swaps a loopback --node-ip-address for the machine's outward
            # address (services.resolve_ip_for_localhost) and its client server, agents and
            # workers then listen on and connect to that: everything must stay on 127.0.0.1.
            "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0",
        }
        child = self.spawn("ray-head", cmd, env)

        def up() -> bool:
            self.check_alive(child)
            with contextlib.suppress(OSError, http.client.HTTPException):
                status, body = http_json(f"{self.jobs_url}/api/version", timeout=2)
                return status == 200 and isinstance(body, dict)
            return False

        wait_for(up, 180, "Ray's dashboard (Job Submission API)")

    def submit(self, entrypoint: str, runtime_env: dict[str, Any] | None = None) -> str:
        """POST /api/jobs/ (the REST call ``JobSubmissionClient.submit_job`` makes); the job id."""
        body: dict[str, Any] = {"entrypoint": entrypoint}
        if runtime_env:
            body["runtime_env"] = runtime_env
        status, reply = http_json(f"{self.jobs_url}/api/jobs/", "POST", body, timeout=60)
        if status != 200:
            raise RuntimeError(f"ray job submit: {status} {reply}")
        return str(reply["submission_id"])

    def job(self, job_id: str) -> dict[str, Any]:
        status, reply = http_json(f"{self.jobs_url}/api/jobs/{job_id}", timeout=30)
        if status != 200:
            raise RuntimeError(f"ray job {job_id}: {status} {reply}")
        return dict(reply)

    def wait_job(self, job_id: str, timeout: float = 300, interval: float = 0.1) -> dict[str, Any]:
        return dict(
            wait_for(
                lambda: (j := self.job(job_id))["status"] in ("SUCCEEDED", "FAILED", "STOPPED") and j,
                timeout,
                f"ray job {job_id}",
                interval,
            )
        )

    def logs(self, job_id: str) -> str:
        status, reply = http_json(f"{self.jobs_url}/api/jobs/{job_id}/logs", timeout=60)
        if status != 200:
            raise RuntimeError(f"ray job logs {job_id}: {status} {reply}")
        return str(reply["logs"])


# ---- Prefect -------------------------------------------------------------------------------
DEPLOY_DRIVER = """
import sys
from prefect import flow
source, entrypoint, name, pool = sys.argv[1:5]
dep = flow.from_source(source=source, entrypoint=entrypoint).deploy(
    name=name, work_pool_name=pool, print_next_steps=False, build=False, push=False
)
print(dep)
"""


class PrefectServer(Peer):
    """``prefect server start`` (SQLite, its own PREFECT_HOME) on loopback, plus, with
    ``worker_pool``, a ``process`` work pool and a worker polling it every ``worker_poll_s``.

    ``api_url`` is Prefect's REST API (what PREFECT_API_URL takes); ``client_env`` is the
    environment a Prefect client or driver script needs to talk to this server."""

    name = "prefect"

    def __init__(
        self, worker_pool: str | None = "bench", worker_poll_s: float = 1.0, log: Callable[[str], None] = print
    ) -> None:
        super().__init__(log)
        self.worker_pool = worker_pool
        self.worker_poll_s = worker_poll_s
        self.port = 0
        self.api_url = ""

    def describe(self) -> str:
        pool = f", process worker on pool '{self.worker_pool}' polling every {self.worker_poll_s:g} s"
        return f"{self.api_url}{pool if self.worker_pool else ''}"

    @property
    def client_env(self) -> dict[str, str]:
        assert self.state is not None
        return {
            "PREFECT_HOME": str(self.state / "home"),
            "PREFECT_API_URL": self.api_url,
            "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
            "PREFECT_CLI_PROMPT": "false",
            "DO_NOT_TRACK": "1",
            "PREFECT_WORKER_QUERY_SECONDS": f"{self.worker_poll_s:g}",
            "PREFECT_WORKER_PREFETCH_SECONDS": f"{max(self.worker_poll_s, 1):g}",
        }

    def start(self) -> None:
        assert self.state is not None
        self.port = free_port()
        self.api_url = f"http://127.0.0.1:{self.port}/api"
        env = {
            **self.client_env,
            "PREFECT_API_DATABASE_CONNECTION_URL": f"sqlite+aiosqlite:///{self.state / 'prefect.db'}",
            "PREFECT_UI_ENABLED": "false",
        }
        env.pop("PREFECT_API_URL")  # the server itself is not a client of an API
        cmd = [str(self.env.bin("prefect")), "server", "start", "--host", "127.0.0.1", "--port", str(self.port)]
        child = self.spawn("prefect-server", cmd, env)

        def up() -> bool:
            self.check_alive(child)
            with contextlib.suppress(OSError, http.client.HTTPException):
                return http_json(f"{self.api_url}/health", timeout=2)[0] == 200
            return False

        wait_for(up, 180, "prefect server /api/health")
        if self.worker_pool:
            status, reply = http_json(
                f"{self.api_url}/work_pools/", "POST", {"name": self.worker_pool, "type": "process"}
            )
            if status not in (201, 409):
                raise RuntimeError(f"prefect work pool: {status} {reply}")
            worker = self.spawn(
                "prefect-worker",
                [str(self.env.bin("prefect")), "worker", "start", "--pool", self.worker_pool, "--type", "process"],
                self.client_env,
            )

            def polling() -> bool:
                self.check_alive(worker)
                status, reply = http_json(f"{self.api_url}/work_pools/{self.worker_pool}/workers/filter", "POST", {})
                return status == 200 and bool(reply)

            wait_for(polling, 120, "the prefect worker to register")

    def deploy(self, source: Path, entrypoint: str, name: str = "bench") -> str:
        """Deploy the flow ``entrypoint`` ("file.py:function") from the local directory
        ``source`` to the work pool (a driver in Prefect's venv); returns the deployment id."""
        assert self.worker_pool, "deploy needs a work pool"
        out = self.env.run(
            ["-c", DEPLOY_DRIVER, str(source), entrypoint, name, self.worker_pool],
            env={**os.environ, **self.client_env},
            cwd=str(source),
        )
        return out.stdout.strip().splitlines()[-1]

    def create_flow_run(self, deployment_id: str, parameters: dict[str, Any] | None = None) -> str:
        """POST /deployments/{id}/create_flow_run; the flow run's id."""
        status, reply = http_json(
            f"{self.api_url}/deployments/{deployment_id}/create_flow_run",
            "POST",
            {"parameters": parameters or {}},
            timeout=60,
        )
        if status != 201:
            raise RuntimeError(f"prefect create_flow_run: {status} {reply}")
        return str(reply["id"])

    def flow_run(self, flow_run_id: str) -> dict[str, Any]:
        status, reply = http_json(f"{self.api_url}/flow_runs/{flow_run_id}", timeout=30)
        if status != 200:
            raise RuntimeError(f"prefect flow run {flow_run_id}: {status} {reply}")
        return dict(reply)

    def wait_flow_run(self, flow_run_id: str, timeout: float = 300, interval: float = 0.1) -> dict[str, Any]:
        def done() -> dict[str, Any] | None:
            run = self.flow_run(flow_run_id)
            return (
                run if (run.get("state") or {}).get("type") in ("COMPLETED", "FAILED", "CRASHED", "CANCELLED") else None
            )

        return dict(wait_for(done, timeout, f"prefect flow run {flow_run_id}", interval))


# ---- self-test -----------------------------------------------------------------------------
def _check_mlflow() -> str:
    with MlflowServer() as srv:
        api = f"{srv.url}/api/2.0/mlflow"
        status, exp = http_json(f"{api}/experiments/create", "POST", {"name": "check"})
        assert status == 200, (status, exp)
        status, run = http_json(f"{api}/runs/create", "POST", {"experiment_id": exp["experiment_id"]})
        assert status == 200, (status, run)
        status, found = http_json(f"{api}/runs/search", "POST", {"experiment_ids": [exp["experiment_id"]]})
        assert status == 200 and len(found["runs"]) == 1, (status, found)
        pids = srv.pids()
    return f"mlflow {srv.version}: created and searched a run; {len(pids)} processes while up"


def _check_ray() -> str:
    with RayHead() as head:
        job = head.submit("python -c \"import ray; print('hello from ray', ray.__version__)\"")
        final = head.wait_job(job, timeout=180)
        assert final["status"] == "SUCCEEDED", final
        assert "hello from ray" in head.logs(job)
        pids = head.pids()
    return f"ray {head.version}: a job ran and its log was read; {len(pids)} processes while up"


def _check_prefect() -> str:
    flows = Path(tempfile.mkdtemp(prefix="ry-prefect-flow-", dir="/tmp"))
    try:
        (flows / "flow.py").write_text(
            "from prefect import flow\n\n@flow\ndef bench(x: int = 1) -> int:\n    print('hello from prefect', x)\n"
            "    return x\n"
        )
        with PrefectServer() as srv:
            dep = srv.deploy(flows, "flow.py:bench")
            t = time.monotonic()
            run_id = srv.create_flow_run(dep, {"x": 2})
            final = srv.wait_flow_run(run_id, timeout=180)
            took = time.monotonic() - t
            assert final["state"]["type"] == "COMPLETED", final["state"]
            pids = srv.pids()
    finally:
        shutil.rmtree(flows, ignore_errors=True)
    return f"prefect {srv.version}: a deployed flow ran to Completed in {took:.1f} s; {len(pids)} processes while up"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("action", choices=["install", "check", "where"])
    parser.add_argument("peers", nargs="*", choices=[*PEERS, []], default=[])
    args = parser.parse_args()
    names = args.peers or list(PEERS)
    if args.action == "where":
        for name in names:
            print(f"{name}: {peers_dir() / name} ({', '.join(PEERS[name].requirements)})")
        return
    if args.action == "install":
        for name in names:
            env = ensure(name)
            print(f"{name}: {env.root} ({env.version()})")
        return
    checks = {"mlflow": _check_mlflow, "ray": _check_ray, "prefect": _check_prefect}
    for name in names:
        print(checks[name](), flush=True)
    print("all stopped; no process left")


if __name__ == "__main__":
    main()
