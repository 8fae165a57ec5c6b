"""Virtualenv builds with uv: the uv steps of the one build lifecycle (``environments.builds``).

A venv build lives in ``<root>/<content hash>``; its lock is ``<root>/<hash>.lock``. A
directory holding the completion marker (written last) with the hash is a finished
build. The steps: ``uv venv`` with the interpreter ``environments.pythons`` chooses,
then ``uv pip install`` of ``pip_requirements_of(spec)`` (a conda specification
translated by ``environments.conda``) with the build's package sources
(``environments.indexes``: the host's pip configuration and the spec's allowed indexes)
and a shared uv cache; with ``user_managed_dependencies`` the venv sees the base
interpreter's packages and nothing is installed. A failed or canceled build removes the
directory.

A successful build also writes ``<hash>.pins.json`` next to its directory: the
interpreter it used and what ``uv pip freeze`` says was installed. Rebuilding the same
hash (its directory was removed) then skips both slow parts of a build: interpreter
discovery (uv runs every Python it finds: ~0.3-1 s) and resolution
against every index. It installs exactly those pins with ``--offline --no-deps`` from
uv's cache, so the rebuilt environment has the same packages as before. When that
fails (the cache was pruned, the index settings changed, a broken pins file) the
directory is recreated and built the ordinary, online way.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings

from config.masking import Masker
from environments import indexes, pythons
from environments.builds import BuildCanceled, Builder, BuildFailed, Canceled, Say, ensure
from environments.conda import build_notes
from environments.models import EnvironmentBuild, EnvironmentVersion
from environments.spec import pip_requirements_of
from execution import sandbox
from execution.lines import read_lines

__all__ = ["BuildCanceled", "BuildFailed", "BuiltVenv", "build_row", "ensure_venv"]

MARKER = ".runyard-complete"
PINS_SUFFIX = ".pins.json"


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


def build_row(content_hash: str, location: str) -> EnvironmentBuild:
    return EnvironmentBuild.for_content(EnvironmentBuild.Kind.VENV, location, content_hash)


def ensure_venv(
    version: EnvironmentVersion,
    root: Path,
    *,
    log: Say | None = None,
    canceled: Canceled = lambda: False,
    row: EnvironmentBuild | None = None,
) -> BuiltVenv:
    """Return a ready virtualenv for ``version`` under ``root``, building it if needed
    (``row``: its build row, when the caller just read it)."""
    builder = VenvBuilder(version, root)
    ensured = ensure(builder, log=log, canceled=canceled, row=row)
    return BuiltVenv(ensured.build, builder.path, ensured.cache_hit)


@dataclass(frozen=True)
class VenvBuilder(Builder):
    version: EnvironmentVersion
    root: Path

    kind = EnvironmentBuild.Kind.VENV
    failure = "the environment build failed"

    @property
    def content_hash(self) -> str:
        return self.version.content_hash

    @property
    def path(self) -> Path:
        return self.root / self.content_hash

    @property
    def location(self) -> str:
        return str(self.root)

    @property
    def artifact(self) -> str:
        return str(self.path)

    @property
    def lock_path(self) -> Path:
        return self.root / f"{self.content_hash}.lock"

    @property
    def what(self) -> str:
        return f"environment {self.content_hash[:12]}"

    def ready(self) -> bool:
        # The marker is written last, so a directory that has it holds a finished build,
        # even one this database never recorded (a shared env cache, a restored database).
        marker = self.path / MARKER
        if not (marker.exists() and marker.read_text().strip() == self.content_hash):
            return False
        return pythons.still_chosen(self.python_record, _uv_env)

    @property
    def python_record(self) -> Path:
        return self.root / f"{self.content_hash}{pythons.RECORD_SUFFIX}"

    def ready_message(self, seconds: float) -> str:
        return f"Environment ready in {seconds:.1f}s."

    def discard(self) -> None:
        shutil.rmtree(self.path, ignore_errors=True)

    def build(self, log: Say, canceled: Canceled) -> None:
        version, path, spec = self.version, self.path, self.version.spec
        pins_file = self.root / f"{version.content_hash}{PINS_SUFFIX}"
        shutil.rmtree(path, ignore_errors=True)
        uv, base_env = _uv_env()
        # A build is shared by every team whose environment has this hash: its log names
        # the hash, never one team's environment.
        log(f"Building environment {version.content_hash[:12]} with Python {spec['python_version']}")
        for line in build_notes(spec):
            log(line)
        requirements = pip_requirements_of(spec)
        sources = _sources(spec, log) if requirements else indexes.BuildSources()
        masker = Masker(sources.secrets())

        def say(text: str) -> None:
            # uv may echo an index URL with its credentials in an error.
            log(masker(text) if masker else text)

        env = {**base_env, **sources.uv_env()}
        system_site = bool(spec.get("user_managed_dependencies"))
        reusable = requirements and pythons.still_chosen(self.python_record, _uv_env)
        built = _read_pins(pins_file) if reusable else None
        python = built[0] if built else self._choose(uv, spec["python_version"], env, say)
        _make_venv(uv, python, path, env, say, canceled, system_site)
        if built and not _install_pins(uv, path, built[1], env, say, canceled, sources):
            say("Building online instead.")
            shutil.rmtree(path, ignore_errors=True)
            python = self._choose(uv, spec["python_version"], env, say)
            _make_venv(uv, python, path, env, say, canceled, system_site)
            built = None
        if requirements and not built:
            say("Installing: " + ", ".join(requirements))
            _install(uv, path, requirements, env, say, canceled, sources)
            _write_pins(pins_file, python, uv, path, env, say)
        (path / MARKER).write_text(version.content_hash)

    def _choose(self, uv: str, requested: str, env: dict[str, str], say: Say) -> str:
        choice = pythons.choose(uv, requested, env, say)
        pythons.record(self.python_record, choice)
        say(f"Using Python {choice.interpreter.version} at {choice.interpreter.path}")
        return choice.interpreter.path


def _sources(spec: dict[str, object], say: Say) -> indexes.BuildSources:
    """The build's package sources, said in its log; allowed extra indexes this worker
    cannot reach are left out (environments.indexes)."""
    try:
        sources = indexes.without_unreachable(indexes.sources_for(spec), say)
    except indexes.IndexUnavailable as exc:
        raise BuildFailed(str(exc), "") from None
    for line in sources.describe():
        say(line)
    return sources


def _uv_env() -> tuple[str, dict[str, str]]:
    """uv and the environment its build steps run with."""
    cache = Path(settings.RUNYARD["UV_CACHE_DIR"])
    return uv_binary(), {**os.environ, "UV_CACHE_DIR": str(cache), "UV_PYTHON_DOWNLOADS": "never", "NO_COLOR": "1"}


def _make_venv(
    uv: str, python: str, path: Path, env: dict[str, str], say: Say, canceled: Canceled, system_site: bool = False
) -> None:
    # user_managed_dependencies: the base interpreter's own packages, nothing of ours.
    site = ["--system-site-packages"] if system_site else []
    cmd = [uv, "venv", "--python", python, "--python-preference", "system", *site, str(path)]
    _stream(cmd, env, say, canceled)


def _install(
    uv: str,
    path: Path,
    requirements: list[str],
    env: dict[str, str],
    say: Say,
    canceled: Canceled,
    sources: indexes.BuildSources,
    options: tuple[str, ...] = (),
) -> None:
    """``uv pip install [options] -r <file of requirements>`` into the venv at ``path``.

    Sandboxed like runs where bubblewrap works: package build scripts are user code."""
    with tempfile.NamedTemporaryFile("w", suffix=".txt", delete=False) as reqfile:
        reqfile.write("\n".join(requirements) + "\n")
    try:
        python = str(path / "bin" / "python")
        cmd = [uv, "pip", "install", "--python", python, *options, "-r", reqfile.name, *sources.uv_args()]
        readable = [Path(uv), Path(reqfile.name), *sources.local_paths()]
        confined = sandbox.build_spec(path, readable=readable)
        _stream(sandbox.wrap(cmd, confined) if confined else cmd, env, say, canceled)
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
    say: Say,
    canceled: Canceled,
    sources: indexes.BuildSources,
) -> bool:
    say(f"Installing the {len(pins)} packages of the previous build offline, from uv's cache: " + ", ".join(pins))
    try:
        _install(uv, path, pins, env, say, canceled, sources, options=("--offline", "--no-deps"))
    except BuildFailed as exc:
        say(f"Offline install failed ({exc}).")
        return False
    return True


def _write_pins(pins_file: Path, python: str, uv: str, path: Path, env: dict[str, str], say: Say) -> None:
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


def _stream(cmd: list[str], env: dict[str, str], say: Say, canceled: Canceled) -> None:
    """Run a build step, streaming its output; stop it (whole group) on cancel."""
    proc = subprocess.Popen(
        cmd,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        env=env,
        start_new_session=True,
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
        for line in read_lines(proc.stdout):
            say(line)
        code = proc.wait()
    finally:
        stop.set()
        watcher.join()
    if canceled():
        raise BuildCanceled()
    if code != 0:
        shown = sandbox.unwrap(cmd)
        raise BuildFailed(f"'{Path(shown[0]).name} {shown[1]}' exited with code {code}", "")
