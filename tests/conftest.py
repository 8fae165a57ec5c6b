"""Shared fixtures: users in two teams, API clients, and a live stack (ASGI server +
real Celery worker as subprocesses on the test database) for end-to-end tests."""

from __future__ import annotations

import io
import os
import signal
import socket
import subprocess
import tarfile
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from rest_framework.test import APIClient

from accounts.models import ApiToken, Membership, Team
from stack import processes
from stack.seed import seed

ROOT = Path(__file__).resolve().parent.parent


@dataclass
class Actor:
    user: Any
    client: APIClient
    key: str


def _actor(username: str, team: Team | None, *, admin: bool = False) -> Actor:
    users = get_user_model()
    user = users.objects.create_user(
        username=username, password=f"{username}-pw-123!", is_staff=admin, is_superuser=admin
    )
    if team is not None:
        Membership.objects.create(user=user, team=team)
    _, key = ApiToken.issue(user)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    return Actor(user, client, key)


@dataclass
class World:
    team_a: Team
    team_b: Team
    alice: Actor  # member of team A
    bob: Actor  # member of team B
    admin: Actor
    anon: APIClient


@pytest.fixture
def world(db: Any) -> World:
    seed()
    team_a = Team.objects.get(slug="default")
    team_b = Team.objects.create(name="Other", slug="other")
    return World(
        team_a, team_b, _actor("alice", team_a), _actor("bob", team_b), _actor("root", team_a, admin=True), APIClient()
    )


def make_tar(files: dict[str, str | bytes]) -> io.BytesIO:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tf:
        for name, content in files.items():
            data = content.encode() if isinstance(content, str) else content
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mode = 0o644
            tf.addfile(info, io.BytesIO(data))
    buf.seek(0)
    buf.name = "snapshot.tar.gz"
    return buf


def wait_for(predicate: Callable[[], Any], timeout: float = 60, interval: float = 0.05, what: str = "") -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what or predicate}")
        time.sleep(interval)


@contextmanager
def target_row_locked(name: str = "local") -> Iterator[None]:
    """Inside the block, another session's transaction holds compute target ``name``'s row
    lock, as a stuck transaction would (PostgreSQL: claims wait on it)."""
    from django.db import connection, transaction

    from compute.models import ComputeTarget

    locked, release = threading.Event(), threading.Event()

    def hold() -> None:
        try:
            with transaction.atomic():
                # NO KEY: new runs still reference the row (their foreign-key checks pass).
                ComputeTarget.objects.select_for_update(no_key=True).get(name=name)
                locked.set()
                release.wait(120)
        finally:
            connection.close()

    holder = threading.Thread(target=hold)
    holder.start()
    try:
        assert locked.wait(30), "the target's row lock was not taken"
        yield
    finally:
        release.set()
        holder.join(timeout=30)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def database_url() -> str:
    from django.db import connection

    db = connection.settings_dict
    if db["ENGINE"].endswith("sqlite3"):
        return f"sqlite:///{db['NAME']}"
    auth = db["USER"] + (f":{db['PASSWORD']}" if db.get("PASSWORD") else "")
    return f"postgres://{auth}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"


@dataclass
class Stack:
    url: str
    env: dict[str, str]
    procs: dict[str, subprocess.Popen[bytes]]
    logdir: Path

    def start_worker(
        self,
        name: str,
        queues: str = "runyard,compute.local",
        concurrency: int = 4,
        wrap: Sequence[str] = (),
        *,
        autoscale: tuple[int, int] | None = None,
        env: dict[str, str] | None = None,
    ) -> subprocess.Popen[bytes]:
        """``wrap``: a command prefix the worker runs under (a bwrap changing what it sees);
        ``autoscale``: (max, min) pool processes instead of a fixed ``concurrency``."""
        log = open(self.logdir / f"worker-{name}.log", "ab")  # noqa: SIM115 - owned by the child process
        proc = subprocess.Popen(
            [*wrap, *processes.worker(f"{name}@%h", queues, concurrency, autoscale=autoscale)],
            cwd=ROOT,
            env={**self.env, **(env or {})},
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self.procs[name] = proc
        from config.celery import app

        host = socket.gethostname()
        wait_for(
            lambda: proc.poll() is not None or app.control.ping(destination=[f"{name}@{host}"], timeout=0.5),
            timeout=60,
            what=f"worker {name} to answer",
        )
        assert proc.poll() is None, (self.logdir / f"worker-{name}.log").read_text()[-3000:]
        return proc

    def start_web(self, port: int) -> None:
        log = open(self.logdir / "web.log", "ab")  # noqa: SIM115 - owned by the child process
        self.procs["web"] = subprocess.Popen(
            processes.web("127.0.0.1", port),
            cwd=ROOT,
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

        def web_up() -> bool:
            if self.procs["web"].poll() is not None:
                raise AssertionError((self.logdir / "web.log").read_text()[-3000:])
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                    return True
            except OSError:
                return False

        wait_for(web_up, timeout=60, what="the ASGI server")

    def stop(self, name: str, sig: int = signal.SIGTERM) -> None:
        proc = self.procs.pop(name)
        if proc.poll() is None:
            os.killpg(proc.pid, sig)
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()


@pytest.fixture(scope="session")
def live_stack(
    django_db_setup: Any, django_db_blocker: Any, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Stack]:
    port = free_port()
    logdir = tmp_path_factory.mktemp("stack-logs")
    env = {
        # config.asgi marks its importer as the web process (a test that imported it did):
        # the stack's worker must not inherit that and take the web's connection pool.
        **{k: v for k, v in os.environ.items() if k != "RUNYARD_PROCESS"},
        "DATABASE_URL": database_url(),
        "RUNYARD_PUBLIC_URL": f"http://127.0.0.1:{port}",
        "PYTHONUNBUFFERED": "1",
        # Web-URL dataset tests serve their files from 127.0.0.1 (tests/datasets/webserver.py).
        "RUNYARD_DATASET_URL_ALLOWED_HOSTS": "127.0.0.1",
    }
    stack = Stack(f"http://127.0.0.1:{port}", env, {}, logdir)
    stack.start_web(port)
    stack.start_worker("runner")
    try:
        yield stack
    finally:
        for name in list(stack.procs):
            stack.stop(name)


@pytest.fixture
def live(live_stack: Stack, transactional_db: Any) -> Stack:
    """The live stack, with a database the subprocesses can see (committed data)."""
    return live_stack


@pytest.fixture(scope="session")
def slurm_cluster() -> Iterator[Any]:
    """A private two-node Slurm cluster on this host (tests/infra/slurm_cluster.py)."""
    import shutil
    import tempfile

    from tests.infra.slurm_cluster import missing_requirements, start_cluster

    missing = missing_requirements()
    if missing:
        pytest.skip("no Slurm test cluster here: missing " + ", ".join(missing))
    # Not pytest's tmp_path: it is 0700, and munged (user munge) must reach its socket dir.
    state_dir = Path(tempfile.mkdtemp(prefix="ry-slurm-", dir="/tmp"))
    cluster = start_cluster(state_dir, nodes=2, cpus_per_node=4)
    try:
        yield cluster
    finally:
        cluster.stop()
        shutil.rmtree(state_dir, ignore_errors=True)
