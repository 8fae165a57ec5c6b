"""A self-contained Runyard stack for benchmarks, and the helpers they share.

``Stack`` makes a fresh data directory under /tmp (or uses a given one), migrates and
seeds it, creates a team member with an API token, then starts uvicorn (web, API,
websockets) on a free 127.0.0.1 port and a Celery worker, and waits until both answer.
Everything it started is stopped by pid at the end, also on Ctrl-C, SIGTERM or an
exception. ``DATABASE_URL`` / ``REDIS_URL`` are used when set (else SQLite and the
embedded Redis of the data directory). Built environments and uv's cache are shared
across benchmark runs (``.runyard-data/bench-envs`` and ``.runyard-data/uv-cache``).

Standalone: ``python bench/harness.py [--hold SECONDS] [--data-dir DIR]`` starts the
stack, prints its URL and token, holds it (Ctrl-C stops it) and stops everything.

This module also writes ``bench/RESULTS.md``: one section per benchmark, replaced on
re-run, each stamped with the date, the machine and its load.
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import io
import json
import os
import platform
import re
import shutil
import signal
import socket
import subprocess
import sys
import tarfile
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from types import FrameType
from typing import Any
from urllib.parse import urlencode

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "bench"
RESULTS = BENCH / "RESULTS.md"
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

SHARED_ENV_DIR = ROOT / ".runyard-data" / "bench-envs"
SHARED_UV_CACHE = ROOT / ".runyard-data" / "uv-cache"
# The package index this machine's environment builds need (local mirrors), used only
# when the caller did not set them and the folders exist.
LOCAL_INDEXES = {
    "RUNYARD_PIP_EXTRA_INDEX_URLS": ("file:///opt/pypi/simple file:///opt/pypi-more/simple", "/opt/pypi/simple"),
    "RUNYARD_PIP_FIND_LINKS": ("/opt/wheels", "/opt/wheels"),
}
TERMINAL = {"Completed", "Failed", "Canceled"}


# ---- figures ------------------------------------------------------------------------
def pct(values: list[float], p: float) -> float:
    """The p-th percentile (0-100), linear between closest ranks; nan when empty."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    k = (len(ordered) - 1) * p / 100.0
    lo = int(k)
    hi = min(lo + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (k - lo)


def summary_ms(values_s: list[float]) -> str:
    """'p50 … / p95 … / max …' in milliseconds for a list of seconds."""
    if not values_s:
        return "no samples"
    return (
        f"p50 {pct(values_s, 50) * 1000:.1f} ms / p95 {pct(values_s, 95) * 1000:.1f} ms / "
        f"max {max(values_s) * 1000:.1f} ms (n={len(values_s)})"
    )


def verdict(ok: bool) -> str:
    return "**met**" if ok else "**NOT met**"


# ---- the machine and RESULTS.md ----------------------------------------------------
def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _mem_total() -> str:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return f"{int(line.split()[1]) / 1024 / 1024:.1f} GiB"
    except OSError:
        pass
    return "unknown"


def load() -> str:
    one, five, fifteen = os.getloadavg()
    return f"{one:.2f} {five:.2f} {fifteen:.2f}"


def machine() -> str:
    nproc = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    commit = ""
    with contextlib.suppress(Exception):
        commit = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True, timeout=5
        ).stdout.strip()
    db = database()
    redis = "external" if os.environ.get("REDIS_URL") else "embedded"
    return (
        f"{datetime.now(UTC).strftime('%Y-%m-%d %H:%M UTC')}; nproc {nproc}, memory {_mem_total()}, "
        f"CPU {_cpu_model()}, Python {platform.python_version()}, database {db}, Redis {redis}"
        + (f", commit {commit} (+ uncommitted work of others)" if commit else "")
    )


class Section:
    """Collects a benchmark's lines, echoes them, and writes its RESULTS.md section."""

    def __init__(self, key: str, title: str, quick: bool) -> None:
        self.key = key
        self.title = title
        self.quick = quick
        self.lines: list[str] = []
        self.load_before = load()
        self.started = time.monotonic()

    def add(self, text: str = "") -> None:
        print(text, flush=True)
        self.lines.append(text)

    def extend(self, lines: list[str]) -> None:
        for line in lines:
            self.add(line)

    def write(self) -> None:
        took = time.monotonic() - self.started
        head = [
            f"## {self.title}",
            "",
            f"_{machine()}; load (1/5/15 min) {self.load_before} before, {load()} after; "
            f"{'quick sizes' if self.quick else 'full sizes'}; took {took:.0f} s._",
            "",
        ]
        write_section(self.key, "\n".join(head + self.lines).rstrip() + "\n")
        print(f"[written to {RESULTS.relative_to(ROOT)} section '{self.key}']", flush=True)


HEADER = """# Runyard benchmark results

Written by `bench/*.py` (`make bench`, or `python bench/run_all.py [--quick]`); each
section is replaced when its benchmark runs again. Figures are from a shared 2-core
machine where other engineers run test suites at the same time: read them with the
load figure of their section. Targets are DESIGN.md's "Performance targets".
"""


def database() -> str:
    """The benchmark's database: "sqlite" unless DATABASE_URL names another."""
    return os.environ.get("DATABASE_URL", "").split(":", 1)[0] or "sqlite"


def per_database(key: str) -> str:
    """A section's (and its summary rows') key: SQLite's under ``key``, PostgreSQL's beside
    it under ``key_pg``, so a run on one database does not overwrite the other's figures."""
    db = database()
    return key if db == "sqlite" else f"{key}_{'pg' if db.startswith('postgres') else db}"


# Inside a section, what stands between these markers is written by hand (what changed,
# why, earlier rounds) and survives the next run of the benchmark, below its new figures.
NOTES = re.compile(r"<!-- notes -->.*?<!-- /notes -->\n?", re.S)


def write_section(key: str, body: str) -> None:
    begin, end = f"<!-- bench:{key} -->", f"<!-- /bench:{key} -->"
    text = RESULTS.read_text() if RESULTS.exists() else HEADER
    pattern = re.compile(re.escape(begin) + r".*?" + re.escape(end), re.S)
    old = pattern.search(text)
    notes = NOTES.search(old.group(0)) if old else None
    block = f"{begin}\n{body}{notes.group(0) if notes else ''}{end}"
    if old:
        text = pattern.sub(lambda _m: block, text)
    else:
        text = text.rstrip() + "\n\n" + block + "\n"
    tmp = RESULTS.with_suffix(".tmp")
    tmp.write_text(text)
    tmp.replace(RESULTS)


# ---- a small HTTP client (stdlib only: `make bench` installs the server extras) -----
class Api:
    """Keep-alive HTTP/1.1 to the stack with ``Authorization: Token``."""

    def __init__(self, host: str, port: int, token: str) -> None:
        self.host, self.port, self.token = host, port, token
        self._conn: http.client.HTTPConnection | None = None

    def _connection(self) -> http.client.HTTPConnection:
        if self._conn is None:
            self._conn = http.client.HTTPConnection(self.host, self.port, timeout=60)
        return self._conn

    def request(
        self, method: str, path: str, body: bytes | None = None, headers: dict[str, str] | None = None
    ) -> tuple[int, bytes]:
        all_headers = {"Authorization": f"Token {self.token}", **(headers or {})}
        for attempt in (1, 2):
            conn = self._connection()
            try:
                conn.request(method, path, body=body, headers=all_headers)
                response = conn.getresponse()
                return response.status, response.read()
            except (http.client.HTTPException, ConnectionError, OSError):
                conn.close()
                self._conn = None
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")

    def get(self, path: str, **params: Any) -> Any:
        query = ("?" + urlencode(params)) if params else ""
        status, data = self.request("GET", path + query)
        if status != 200:
            raise RuntimeError(f"GET {path}{query}: {status} {data[:500]!r}")
        return json.loads(data)

    def post_json(self, path: str, payload: Any) -> Any:
        status, data = self.request("POST", path, json.dumps(payload).encode(), {"Content-Type": "application/json"})
        if status not in (200, 201):
            raise RuntimeError(f"POST {path}: {status} {data[:500]!r}")
        return json.loads(data)

    def submit(self, files: dict[str, str], script: str = "train.py", **fields: Any) -> dict[str, Any]:
        """POST /api/runs/ (multipart: snapshot tar + fields); returns the created run."""
        body, ctype = multipart(fields_of(script, fields), {"snapshot": ("src.tar.gz", make_tar(files))})
        status, data = self.request("POST", "/api/runs/", body, {"Content-Type": ctype})
        if status != 201:
            raise RuntimeError(f"submit: {status} {data[:1000]!r}")
        return dict(json.loads(data))

    def wait_terminal(self, run_id: int, timeout: float = 300, interval: float = 0.1) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while True:
            run = self.get(f"/api/runs/{run_id}/")
            if run["status"] in TERMINAL:
                return dict(run)
            if time.monotonic() > deadline:
                raise TimeoutError(f"run {run_id} still {run['status']} after {timeout}s")
            time.sleep(interval)

    def all_logs(self, run_id: int) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        after = 0
        while True:
            page = self.get(f"/api/runs/{run_id}/logs/", after=after, limit=10000)
            out.extend(page["lines"])
            if not page["lines"]:
                return out
            after = page["next_after"]

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None


def fields_of(script: str, fields: dict[str, Any]) -> dict[str, str]:
    out = {"script": script, "experiment": str(fields.pop("experiment", "bench"))}
    for key, value in fields.items():
        out[key] = json.dumps(value) if isinstance(value, (list, dict)) else str(value)
    return out


def multipart(fields: dict[str, str], files: dict[str, tuple[str, bytes]]) -> tuple[bytes, str]:
    boundary = "----runyard-bench-" + uuid.uuid4().hex
    buf = io.BytesIO()
    for name, value in fields.items():
        buf.write(f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'.encode())
    for name, (filename, content) in files.items():
        buf.write(
            f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"; filename="{filename}"\r\n'
            "Content-Type: application/octet-stream\r\n\r\n".encode()
        )
        buf.write(content + b"\r\n")
    buf.write(f"--{boundary}--\r\n".encode())
    return buf.getvalue(), f"multipart/form-data; boundary={boundary}"


def make_tar(files: dict[str, str]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tf:
        for name, content in files.items():
            data = content.encode()
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mode = 0o644
            tf.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def parse_at(value: str) -> float:
    """An API timestamp (ISO 8601, 'Z' or offset) as a Unix time."""
    return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()


_TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def cpu_seconds(pgid: int) -> float:
    """CPU time (user + system) of the live processes of a process group."""
    total = 0
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            stat = Path(entry.path, "stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rfind(")") + 2 :].split()
        if int(fields[2]) == pgid:  # fields[2] is pgrp; utime, stime are fields[11], fields[12]
            total += int(fields[11]) + int(fields[12])
    return total / _TICKS


class CpuMeter:
    """CPU seconds used by the stack's web and worker process groups over a span."""

    def __init__(self, stack: Stack) -> None:
        self.pids = stack.pids()
        self.start = {name: cpu_seconds(pid) for name, pid in self.pids.items()}
        self.t = time.monotonic()

    def report(self) -> str:
        wall = time.monotonic() - self.t
        used = {name: cpu_seconds(pid) - self.start[name] for name, pid in self.pids.items()}
        own = time.process_time()
        parts = [f"{name} {cpu:.1f} s ({cpu / wall * 100:.0f}% of one core)" for name, cpu in used.items()]
        return f"CPU over {wall:.1f} s: " + ", ".join(parts) + f"; this client process {own:.1f} s in total"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for(predicate: Callable[[], Any], timeout: float, what: str, interval: float = 0.1) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout:g}s waiting for {what}")
        time.sleep(interval)


# ---- the stack ---------------------------------------------------------------------
class Stack:
    """uvicorn + Celery worker on a fresh (or given) data dir; use as a context manager."""

    def __init__(
        self,
        data_dir: str | Path | None = None,
        *,
        worker: bool = True,
        concurrency: int = 4,
        env: dict[str, str] | None = None,
        keep: bool = False,
        admin: bool = False,
        asgi_app: str = "config.asgi:application",
    ) -> None:
        self.given_dir = data_dir is not None
        self.data_dir = Path(data_dir) if data_dir else Path(tempfile.mkdtemp(prefix="runyard-bench-", dir="/tmp"))
        self.with_worker = worker
        self.concurrency = concurrency
        self.extra_env = env or {}
        self.keep = keep or self.given_dir
        self.admin = admin
        self.asgi_app = asgi_app
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.procs: dict[str, subprocess.Popen[bytes]] = {}
        self.token = ""
        self.user_id = 0
        self.worker_name = f"bench{os.getpid()}@{socket.gethostname()}"
        self._old_handlers: dict[int, Any] = {}
        self.env: dict[str, str] = {}

    # -- life cycle
    def __enter__(self) -> Stack:
        self._old_handlers = {s: signal.signal(s, self._on_signal) for s in (signal.SIGTERM, signal.SIGHUP)}
        try:
            self.start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
        for sig, handler in self._old_handlers.items():
            signal.signal(sig, handler)

    def _on_signal(self, signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt(f"signal {signum}")

    def start(self) -> None:
        t0 = time.monotonic()
        self.data_dir.mkdir(parents=True, exist_ok=True)
        env = {
            "RUNYARD_DATA_DIR": str(self.data_dir),
            "RUNYARD_ENV_DIR": str(SHARED_ENV_DIR),
            "RUNYARD_UV_CACHE_DIR": str(SHARED_UV_CACHE),
            "RUNYARD_PUBLIC_URL": self.url,
            "DJANGO_SETTINGS_MODULE": "config.settings",
            "PYTHONUNBUFFERED": "1",
        }
        for name, (value, probe) in LOCAL_INDEXES.items():
            if not os.environ.get(name) and Path(probe).exists():
                env[name] = value
        env.update(self.extra_env)
        # Settings are read from the environment when Django starts: this process (which
        # uses the ORM to create the user, seed rows and read results) and its children
        # must agree.
        os.environ.update(env)
        self.env = dict(os.environ)
        print(f"[stack] data dir {self.data_dir}", flush=True)
        self._manage("migrate", "--no-input", "--verbosity", "0")
        self._manage("runyard_seed")
        self._setup_django()
        self._make_user()
        self._start_web()
        if self.with_worker:
            self._start_worker()
        print(f"[stack] up at {self.url} in {time.monotonic() - t0:.1f}s", flush=True)

    def _manage(self, *args: str) -> None:
        out = subprocess.run(
            [sys.executable, "manage.py", *args], cwd=ROOT, env=self.env, capture_output=True, text=True, timeout=600
        )
        if out.returncode != 0:
            raise RuntimeError(f"manage.py {' '.join(args)} failed:\n{out.stdout[-2000:]}\n{out.stderr[-4000:]}")

    def _setup_django(self) -> None:
        import django
        from django.conf import settings

        if not settings.configured:
            django.setup()
        elif str(settings.DATA_DIR) != str(self.data_dir):
            raise RuntimeError("Django is already set up for another data dir; use one Stack per process")

    def _make_user(self) -> None:
        self.token, self.user_id = self.user_token("bench-admin" if self.admin else "bench", admin=self.admin)

    def user_token(self, name: str, *, admin: bool = False) -> tuple[str, int]:
        """A user (member of the default team; staff + superuser if ``admin``) and a new API token."""
        from django.contrib.auth import get_user_model

        from accounts.models import ApiToken, Membership, Team

        users = get_user_model()
        user = users.objects.filter(username=name).first()
        if user is None:
            user = users.objects.create_user(
                username=name, password=uuid.uuid4().hex, is_staff=admin, is_superuser=admin
            )
        Membership.objects.get_or_create(user=user, team=Team.objects.get(slug="default"))
        _, key = ApiToken.issue(user, name=f"bench-{os.getpid()}")
        return key, int(user.pk)

    def _log(self, name: str) -> Any:
        logdir = self.data_dir / "bench-logs"
        logdir.mkdir(exist_ok=True)
        return open(logdir / f"{name}.log", "ab")

    def _start_web(self) -> None:
        from stack import processes

        cmd = processes.web("127.0.0.1", self.port, app=self.asgi_app)
        self.procs["web"] = subprocess.Popen(
            cmd, cwd=ROOT, env=self.env, stdout=self._log("web"), stderr=subprocess.STDOUT, start_new_session=True
        )

        def up() -> bool:
            if self.procs["web"].poll() is not None:
                raise RuntimeError("uvicorn exited:\n" + self.log_tail("web"))
            try:
                conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=1)
                conn.request("GET", "/api/health/")
                ok = conn.getresponse().status == 200
                conn.close()
                return ok
            except OSError:
                return False

        wait_for(up, 90, "uvicorn to answer /api/health/")

    def _start_worker(self) -> None:
        from stack import processes

        cmd = processes.worker(self.worker_name, concurrency=self.concurrency)
        self.procs["worker"] = subprocess.Popen(
            cmd, cwd=ROOT, env=self.env, stdout=self._log("worker"), stderr=subprocess.STDOUT, start_new_session=True
        )
        from config.celery import app

        def up() -> bool:
            if self.procs["worker"].poll() is not None:
                raise RuntimeError("celery worker exited:\n" + self.log_tail("worker"))
            return bool(app.control.ping(destination=[self.worker_name], timeout=0.5))

        wait_for(up, 90, "the Celery worker to answer a ping", interval=0.2)

    def log_tail(self, name: str, chars: int = 3000) -> str:
        path = self.data_dir / "bench-logs" / f"{name}.log"
        return path.read_text(errors="replace")[-chars:] if path.exists() else ""

    def pids(self) -> dict[str, int]:
        return {name: proc.pid for name, proc in self.procs.items()}

    def stop(self) -> None:
        for name in ("worker", "web"):
            proc = self.procs.pop(name, None)
            if proc is None or proc.poll() is not None:
                continue
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGTERM)  # its own session: pgid == pid
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=10)
        if not os.environ.get("REDIS_URL"):
            from stack.embedded_redis import stop as stop_redis

            stop_redis(self.data_dir)  # by the pid it recorded when it was started for this dir
        with contextlib.suppress(Exception):
            from django.db import connections

            connections.close_all()
        if not self.keep:
            shutil.rmtree(self.data_dir, ignore_errors=True)
        print("[stack] stopped", flush=True)

    # -- clients
    def api(self) -> Api:
        return Api("127.0.0.1", self.port, self.token)

    def ws_url(self, run_id: int, after: int = 0) -> str:
        return f"ws://127.0.0.1:{self.port}/ws/runs/{run_id}/?after={after}"


@contextlib.contextmanager
def stack(**kwargs: Any) -> Iterator[Stack]:
    with Stack(**kwargs) as s:
        yield s


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-dir", help="use (and keep) this data directory instead of a fresh one under /tmp")
    parser.add_argument("--hold", type=float, default=0, help="keep the stack up this many seconds (Ctrl-C stops)")
    parser.add_argument("--no-worker", action="store_true")
    args = parser.parse_args()
    with Stack(args.data_dir, worker=not args.no_worker) as s:
        print(f"URL   {s.url}\nTOKEN {s.token}\nPIDS  {s.pids()}\nDATA  {s.data_dir}", flush=True)
        api = s.api()
        print("health:", api.get("/api/health/"), flush=True)
        if args.hold:
            with contextlib.suppress(KeyboardInterrupt):
                time.sleep(args.hold)


if __name__ == "__main__":
    main()
