"""Loaded with ``-p tests.bootstrap`` before Django is set up: gives each test session
and each pytest-xdist worker its own data dir (so its own SQLite test database and
embedded Redis), and each worker its own Redis database with an external Redis (see
below), so parallel sessions never consume each other's Celery queues. Built environments and
the uv cache are shared."""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from urllib.parse import urlparse, urlunparse

ROOT = Path(__file__).resolve().parent.parent
WORKER = os.environ.get("PYTEST_XDIST_WORKER", "gw0")
INDEX = int(WORKER[2:]) if WORKER[2:].isdigit() else 0

SESSION = (os.environ.get("PYTEST_XDIST_TESTRUNUID") or f"{os.getpid()}")[:10]
DATA_DIR = ROOT / ".runyard-data" / "tests" / f"{SESSION}-{WORKER}"
os.environ["RUNYARD_DATA_DIR"] = str(DATA_DIR)
os.environ.setdefault("RUNYARD_ENV_DIR", str(ROOT / ".runyard-data" / "test-envs"))
os.environ.setdefault("RUNYARD_UV_CACHE_DIR", str(ROOT / ".runyard-data" / "uv-cache"))
os.environ.setdefault("RUNYARD_CANCEL_GRACE_SECONDS", "3")
os.environ.setdefault("RUNYARD_PREEMPT_GRACE_SECONDS", "3")
os.environ.setdefault("RUNYARD_PREEMPT_MIN_RUN_SECONDS", "0")
os.environ.setdefault("RUNYARD_HEARTBEAT_SECONDS", "1")
# Without bubblewrap, local runs would all be refused: the suite runs them unsandboxed
# and the sandbox tests (tests/executor/test_sandbox.py) skip with the install hint.
if shutil.which("bwrap") is None:
    os.environ.setdefault("RUNYARD_SANDBOX", "off")

redis_url = os.environ.get("REDIS_URL")
if redis_url and redis_url.startswith("redis"):
    # Worker N takes database base + N: the base is the one REDIS_URL names, or 10 when it
    # names 0 or none (out of the way of a stack on the default database). Two sessions on
    # one server stay apart when their REDIS_URLs are at least their worker counts apart.
    parsed = urlparse(redis_url)
    named = parsed.path.strip("/")
    base = int(named) if named.isdigit() and int(named) > 0 else 10
    os.environ["REDIS_URL"] = urlunparse(parsed._replace(path=f"/{base + INDEX}"))


def pytest_sessionfinish(session: object, exitstatus: int) -> None:
    """Stop this session's embedded Redis and remove its data dir."""
    from datasets.mounts import unmount_under
    from stack.embedded_redis import stop

    unmount_under(DATA_DIR)
    stop(DATA_DIR)
    shutil.rmtree(DATA_DIR, ignore_errors=True)
