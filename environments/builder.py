"""Virtualenv builds with uv, keyed by the spec's content hash and built once.

Algorithm: find-or-create the EnvironmentBuild row for (venv, location, hash). A
finished build whose directory still has its completion marker is a cache hit. Else
take an exclusive file lock on ``<hash>.lock`` (so concurrent runs on any process of
this host build once), look again (the lock holder may have just finished), and build
into the final directory: ``uv venv`` then ``uv pip install`` with the server's index
settings and a shared uv cache. The marker file is written last; a failed or canceled
build removes the directory and records the log.

A successful build also writes ``<hash>.pins.json`` next to its directory: the
interpreter it used and what ``uv pip freeze`` says was installed. Rebuilding the same
hash (its directory was removed) then skips both slow parts of a build: interpreter
discovery (uv runs every Python on PATH, pyenv shims included: ~0.3 s) and resolution
against every index. It installs exactly those pins with ``--offline --no-deps`` from
uv's cache, so the rebuilt environment has the same packages as before. When that
fails (the cache was pruned, the index settings changed, a broken pins file) the
directory is recreated and built the ordinary, online way.
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from environments.models import BuildLogLine, EnvironmentBuild, EnvironmentVersion
from environments.spec import pip_requirements_of
from runs.logstore import LogWriter, Pending

MARKER = ".runyard-complete"
PINS_SUFFIX = ".pins.json"
LAST_USED_PRECISION = timedelta(minutes=1)


class BuildFailed(Exception):
    def __init__(self, message: str, log_tail: str) -> None:
        super().__init__(message)
        self.log_tail = log_tail


class BuildCanceled(Exception):
    pass


@contextmanager
def build_lock(path: Path, what: str, say: Callable[[str], None], canceled: Callable[[], bool]) -> Iterator[None]:
    """Hold the per-content-hash build lock: concurrent runs asking for the same
    environment (on this host or another sharing the folder) build it once. Waiting is
    said once in the build log and ends early when the run is canceled."""
    with open(path, "w") as lock:
        waited = False
        while True:
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if not waited:
                    say(f"Waiting for another build of {what} to finish…")
                    waited = True
                if canceled():
                    raise BuildCanceled() from None
                time.sleep(0.1)
        yield


@dataclass(frozen=True)
class BuiltVenv:
    build: EnvironmentBuild
    path: Path
    cache_hit: bool

    @property
    def python(self) -> Path:
        return self.path / "bin" / "python"


def uv_binary() -> str:
    found = shutil.which("uv", path=str(Path(sys.executable).parent) + os.pathsep + os.environ.get("PATH", ""))
    if not found:
        raise BuildFailed("uv is not installed on this worker.", "")
    return found


def index_args() -> list[str]:
    """Package-index settings (private mirrors) from the server configuration."""
    cfg = settings.RUNYARD
    args: list[str] = []
    if cfg["PIP_INDEX_URL"]:
        args += ["--index-url", cfg["PIP_INDEX_URL"]]
    for url in cfg["PIP_EXTRA_INDEX_URLS"]:
        args += ["--extra-index-url", url]
    for link in cfg["PIP_FIND_LINKS"]:
        args += ["--find-links", link]
    if cfg["PIP_EXTRA_INDEX_URLS"] or cfg["PIP_FIND_LINKS"]:
        # pip's behaviour: the best version across all indexes, not the first index's.
        args += ["--index-strategy", "unsafe-best-match"]
    return args


def build_row(content_hash: str, location: str) -> EnvironmentBuild:
    for _ in range(3):
        row = EnvironmentBuild.objects.filter(kind="venv", location=location, content_hash=content_hash).first()
        if row is not None:
            return row
        try:
            with transaction.atomic():
                return EnvironmentBuild.objects.create(kind="venv", location=location, content_hash=content_hash)
        except IntegrityError:
            continue
    raise RuntimeError("could not create the build record")


class BuildLog:
    """Stores a build's lines (numbered) and mirrors them to a callback (the run's log)."""

    def __init__(self, build: EnvironmentBuild, mirror: Callable[[str], None] | None) -> None:
        self.build = build
        self.mirror = mirror
        self.lines: list[str] = []
        self.writer = LogWriter(build.pk, start_seq=0, store=_store_build_lines, group=f"build.{build.pk}")

    def __call__(self, text: str) -> None:
        self.lines.append(text)
        if len(self.lines) > 400:
            del self.lines[:200]
        self.writer.write(0, "stdout", text)
        if self.mirror:
            self.mirror(text)

    def tail(self, n: int = 40) -> str:
        return "\n".join(self.lines[-n:])

    def close(self) -> None:
        self.writer.close()


def _store_build_lines(build_id: int, numbered: list[tuple[int, Pending]]) -> None:
    BuildLogLine.objects.bulk_create(
        [BuildLogLine(build_id=build_id, seq=seq, text=p.text) for seq, p in numbered],
        ignore_conflicts=True,
    )
    EnvironmentBuild.objects.filter(pk=build_id).update(log_seq=numbered[-1][0])


def ensure_venv(
    version: EnvironmentVersion,
    root: Path,
    *,
    log: Callable[[str], None] | None = None,
    canceled: Callable[[], bool] = lambda: False,
) -> BuiltVenv:
    """Return a ready virtualenv for ``version`` under ``root``, building it if needed."""
    root.mkdir(parents=True, exist_ok=True)
    location = str(root)
    content_hash = version.content_hash
    path = root / content_hash
    row = build_row(content_hash, location)
    if _complete(path, content_hash):
        _adopt(row, path)
        return BuiltVenv(row, path, cache_hit=True)
    say = log or (lambda _text: None)
    with build_lock(root / f"{content_hash}.lock", f"environment {content_hash[:12]}", say, canceled):
        row.refresh_from_db()
        if _complete(path, content_hash):
            _adopt(row, path)
            say(f"Environment {content_hash[:12]} was built meanwhile; reusing it.")
            return BuiltVenv(row, path, cache_hit=True)
        return _build(version, row, path, say, canceled)


def _complete(path: Path, content_hash: str) -> bool:
    # The marker is written last, so a directory that has it holds a finished build,
    # even one this database never recorded (a shared env cache, a restored database).
    marker = path / MARKER
    return marker.exists() and marker.read_text().strip() == content_hash


def _adopt(row: EnvironmentBuild, path: Path) -> None:
    now = timezone.now()
    if row.status != EnvironmentBuild.Status.SUCCEEDED:
        EnvironmentBuild.objects.filter(pk=row.pk).update(
            status=EnvironmentBuild.Status.SUCCEEDED, path=str(path), finished_at=now, last_used_at=now
        )
        row.refresh_from_db()
    elif row.last_used_at is None or now - row.last_used_at > LAST_USED_PRECISION:
        # Every cached run passes here, before its launch: a write (a commit, an fsync
        # on PostgreSQL) at most once per LAST_USED_PRECISION, and no read back.
        EnvironmentBuild.objects.filter(pk=row.pk).update(last_used_at=now)
        row.last_used_at = now


def _build(
    version: EnvironmentVersion,
    row: EnvironmentBuild,
    path: Path,
    say: Callable[[str], None],
    canceled: Callable[[], bool],
) -> BuiltVenv:
    EnvironmentBuild.objects.filter(pk=row.pk).update(
        status=EnvironmentBuild.Status.BUILDING, started_at=timezone.now(), finished_at=None, error="", log_seq=0
    )
    BuildLogLine.objects.filter(build=row).delete()
    row.refresh_from_db()
    buildlog = BuildLog(row, say)
    spec = version.spec
    started = time.monotonic()
    pins_file = path.parent / f"{version.content_hash}{PINS_SUFFIX}"
    try:
        shutil.rmtree(path, ignore_errors=True)
        uv = uv_binary()
        cache = Path(settings.RUNYARD["UV_CACHE_DIR"])
        env = {**os.environ, "UV_CACHE_DIR": str(cache), "UV_PYTHON_DOWNLOADS": "never", "NO_COLOR": "1"}
        buildlog(
            # A build is shared by every team whose environment has this hash: its log
            # names the hash, never one team's environment.
            f"Building environment {version.content_hash[:12]} with Python {spec['python_version']}"
        )
        requirements = pip_requirements_of(spec)
        built = _read_pins(pins_file) if requirements else None
        python = built[0] if built else _find_python(uv, spec["python_version"], env)
        _make_venv(uv, python, path, env, buildlog, canceled)
        if built and not _install_pins(uv, path, built[1], env, buildlog, canceled):
            buildlog("Building online instead.")
            shutil.rmtree(path, ignore_errors=True)
            python = _find_python(uv, spec["python_version"], env)
            _make_venv(uv, python, path, env, buildlog, canceled)
            built = None
        if requirements and not built:
            buildlog("Installing: " + ", ".join(requirements))
            _install(uv, path, requirements, env, buildlog, canceled)
            _write_pins(pins_file, python, uv, path, env, buildlog)
        (path / MARKER).write_text(version.content_hash)
        took = time.monotonic() - started
        buildlog(f"Environment ready in {took:.1f}s.")
        EnvironmentBuild.objects.filter(pk=row.pk).update(
            status=EnvironmentBuild.Status.SUCCEEDED,
            path=str(path),
            finished_at=timezone.now(),
            last_used_at=timezone.now(),
        )
        row.refresh_from_db()
        return BuiltVenv(row, path, cache_hit=False)
    except BuildCanceled:
        shutil.rmtree(path, ignore_errors=True)
        buildlog("Build canceled.")
        EnvironmentBuild.objects.filter(pk=row.pk).update(
            status=EnvironmentBuild.Status.FAILED, error="canceled", finished_at=timezone.now()
        )
        raise
    except BuildFailed as exc:
        shutil.rmtree(path, ignore_errors=True)
        tail = buildlog.tail()
        EnvironmentBuild.objects.filter(pk=row.pk).update(
            status=EnvironmentBuild.Status.FAILED, error=f"{exc}\n{tail}", finished_at=timezone.now()
        )
        raise BuildFailed(str(exc), tail) from None
    finally:
        buildlog.close()


_pythons: dict[str, str] = {}


def _find_python(uv: str, python_version: str, env: dict[str, str]) -> str:
    """The system interpreter for ``python_version``, as ``uv venv --python`` would pick
    it; remembered for this process, since uv's discovery runs every Python on PATH."""
    known = _pythons.get(python_version)
    if known and os.access(known, os.X_OK):
        return known
    found = subprocess.run(
        # --system: like uv venv, never the virtualenv uv finds in the working directory.
        [uv, "python", "find", "--system", python_version, "--python-preference", "only-system"],
        env=env,
        capture_output=True,
        text=True,
        errors="replace",
    )
    if found.returncode != 0 or not found.stdout.strip():
        # uv venv repeats the discovery and logs uv's own explanation of the failure.
        return python_version
    _pythons[python_version] = found.stdout.strip()
    return _pythons[python_version]


def _make_venv(
    uv: str, python: str, path: Path, env: dict[str, str], say: Callable[[str], None], canceled: Callable[[], bool]
) -> None:
    _stream([uv, "venv", "--python", python, "--python-preference", "only-system", str(path)], env, say, canceled)


def _install(
    uv: str,
    path: Path,
    requirements: list[str],
    env: dict[str, str],
    say: Callable[[str], None],
    canceled: Callable[[], bool],
    options: tuple[str, ...] = (),
) -> None:
    """``uv pip install [options] -r <file of requirements>`` into the venv at ``path``."""
    with tempfile.NamedTemporaryFile("w", suffix=".txt", delete=False) as reqfile:
        reqfile.write("\n".join(requirements) + "\n")
    try:
        python = str(path / "bin" / "python")
        _stream(
            [uv, "pip", "install", "--python", python, *options, "-r", reqfile.name, *index_args()],
            env,
            say,
            canceled,
        )
    finally:
        os.unlink(reqfile.name)


def _read_pins(pins_file: Path) -> tuple[str, list[str]] | None:
    """(interpreter, pinned requirements) of an earlier build of this hash, if usable."""
    try:
        data = json.loads(pins_file.read_text())
        python, pins = data["python"], data["pins"]
    except (OSError, ValueError, TypeError, KeyError):
        return None
    if not isinstance(python, str) or not isinstance(pins, list) or not all(isinstance(p, str) for p in pins):
        return None
    if not pins or not os.access(python, os.X_OK):
        return None
    return python, pins


def _install_pins(
    uv: str,
    path: Path,
    pins: list[str],
    env: dict[str, str],
    say: Callable[[str], None],
    canceled: Callable[[], bool],
) -> bool:
    say(f"Installing the {len(pins)} packages of the previous build offline, from uv's cache: " + ", ".join(pins))
    try:
        _install(uv, path, pins, env, say, canceled, options=("--offline", "--no-deps"))
    except BuildFailed as exc:
        say(f"Offline install failed ({exc}).")
        return False
    return True


def _write_pins(
    pins_file: Path, python: str, uv: str, path: Path, env: dict[str, str], say: Callable[[str], None]
) -> None:
    frozen = subprocess.run(
        [uv, "pip", "freeze", "--python", str(path / "bin" / "python")],
        env=env,
        capture_output=True,
        text=True,
        errors="replace",
    )
    pins = [line.strip() for line in frozen.stdout.splitlines() if line.strip() and not line.startswith("#")]
    if frozen.returncode != 0 or not pins:
        # Only a later rebuild gets slower: it resolves online as this build did.
        say(f"Could not record the installed packages ({frozen.stderr.strip()[-300:]}).")
        pins_file.unlink(missing_ok=True)
        return
    if not os.path.isabs(python):
        python = str((path / "bin" / "python").resolve())
    partial = pins_file.with_name(f"{pins_file.name}.{os.getpid()}.tmp")
    partial.write_text(json.dumps({"python": python, "pins": pins}, indent=1) + "\n")
    os.replace(partial, pins_file)


def _stream(cmd: list[str], env: dict[str, str], say: Callable[[str], None], canceled: Callable[[], bool]) -> None:
    """Run a build step, streaming its output; stop it (whole group) on cancel."""
    proc = subprocess.Popen(
        cmd,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        env=env,
        start_new_session=True,
        text=True,
        errors="replace",
        bufsize=1,
    )
    assert proc.stdout is not None
    stop = threading.Event()

    def watch() -> None:
        while not stop.wait(0.2):
            if canceled():
                try:
                    os.killpg(proc.pid, signal.SIGTERM)
                except ProcessLookupError:
                    pass
                return

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    try:
        for line in proc.stdout:
            say(line.rstrip("\n"))
        code = proc.wait()
    finally:
        stop.set()
        watcher.join()
    if canceled():
        raise BuildCanceled()
    if code != 0:
        raise BuildFailed(f"'{Path(cmd[0]).name} {cmd[1]}' exited with code {code}", "")
