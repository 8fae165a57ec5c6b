"""Which interpreter a venv build uses for the spec's ``python_version``.

The interpreters a worker has are what ``uv python list --only-installed`` finds (uv's
own discovery: every Python on ``PATH`` and uv-managed installs) on ``PATH`` extended
with ``RUNYARD_PYTHON_SEARCH_DIRS`` (glob patterns of ``bin`` folders; by default
pyenv's ``versions/*/bin``, which pyenv's shims hide from uv otherwise). The listing
is made once per process and search path: it runs every interpreter it finds.

Choice, for a request ``X.Y`` or ``X.Y.Z``:

1. what ``uv python find X.Y[.Z]`` finds (the first match on the search path: cheap, and
   the common case); else the newest patch release of ``X.Y`` that the listing has
   (for a missing ``X.Y.Z``, with a warning in the build log);
2. when ``X.Y`` is missing and ``RUNYARD_PYTHON_DOWNLOADS=automatic``, ``uv python
   install X.Y`` (from ``UV_PYTHON_INSTALL_MIRROR`` when the worker sets it), then 1;
3. when it is still missing and ``RUNYARD_PYTHON_FALLBACK=nearest-newer``, the newest
   patch of the nearest newer minor, with a warning;
4. otherwise the build fails naming the requested and the available versions.

The choice is recorded beside the venv (``<hash>`` + ``RECORD_SUFFIX``, kept like the
pins file when the venv is removed); a cached build made by a fallback is
only reused while the fallback would still be chosen, so an admin turning the
fallback off, or installing the requested version, rebuilds it the right way.
"""

from __future__ import annotations

import glob
import json
import os
import subprocess
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

from django.conf import settings

from environments.builds import BuildFailed, Say

RECORD_SUFFIX = ".python.json"
# The in-run SDK (runyard, the azureml namespace) imports on this Python and newer.
SDK_MINIMUM = (3, 10)


@dataclass(frozen=True)
class Interpreter:
    path: str
    version: str  # "3.11.7"

    @property
    def minor(self) -> tuple[int, int]:
        major, minor = self.version.split(".")[:2]
        return int(major), int(minor)

    @property
    def release(self) -> tuple[int, ...]:
        return tuple(int(p) for p in self.version.split(".") if p.isdigit())


@dataclass(frozen=True)
class Choice:
    interpreter: Interpreter
    requested: str
    fallback: bool  # another minor than requested (RUNYARD_PYTHON_FALLBACK)
    warning: str = ""


def search_path(base: str) -> str:
    """``base`` (a PATH) followed by the configured interpreter folders that exist."""
    extra: list[str] = []
    for pattern in settings.RUNYARD["PYTHON_SEARCH_DIRS"]:
        for folder in sorted(glob.glob(os.path.expanduser(pattern))):
            if os.path.isdir(folder) and folder not in extra:
                extra.append(folder)
    return os.pathsep.join([p for p in [base, *extra] if p])


_listed: dict[str, list[Interpreter]] = {}


def available(uv: str, env: dict[str, str], *, fresh: bool = False) -> list[Interpreter]:
    """The worker's interpreters, one per version (newest first): a real file rather
    than a pyenv shim or a symlink where there is a choice."""
    path = search_path(env.get("PATH", os.defpath))
    if path in _listed and not fresh:
        return _listed[path]
    listed = subprocess.run(
        [uv, "python", "list", "--only-installed", "--output-format", "json", "--python-preference", "system"],
        env={**env, "PATH": path},
        capture_output=True,
        text=True,
        errors="replace",
    )
    try:
        entries = json.loads(listed.stdout) if listed.returncode == 0 else []
    except ValueError:
        entries = []
    best: dict[str, tuple[int, Interpreter]] = {}
    for entry in entries:
        if not isinstance(entry, dict) or entry.get("implementation") != "cpython":
            continue
        version, where = str(entry.get("version") or ""), str(entry.get("path") or "")
        if not version or not where or not version.startswith("3.") or not os.access(where, os.X_OK):
            continue
        worse = ("/shims/" in where) * 2 + bool(entry.get("symlink"))
        if version not in best or worse < best[version][0]:
            best[version] = (worse, Interpreter(where, version))
    found = sorted((i for _, i in best.values()), key=lambda i: i.release, reverse=True)
    _listed[path] = found
    return found


_found: dict[tuple[str, str], Interpreter] = {}


def find(uv: str, requested: str, env: dict[str, str]) -> Interpreter | None:
    """The interpreter ``uv python find`` picks for exactly ``requested`` (the first on
    the search path): the common case, far cheaper than listing every interpreter
    (``available``), which only a missing version needs. Remembered for this process."""
    path = search_path(env.get("PATH", os.defpath))
    known = _found.get((requested, path))
    if known and os.access(known.path, os.X_OK):
        return known
    found = subprocess.run(
        # --system: never the virtualenv uv would find in the working directory.
        [uv, "python", "find", "--system", requested, "--python-preference", "system"],
        env={**env, "PATH": path},
        capture_output=True,
        text=True,
        errors="replace",
    )
    where = found.stdout.strip()
    if found.returncode != 0 or not where:
        return None
    asked = subprocess.run(
        [where, "-c", "import platform; print(platform.python_version())"], capture_output=True, text=True
    )
    version = asked.stdout.strip()
    if asked.returncode != 0 or not version:
        return None
    _found[(requested, path)] = Interpreter(where, version)
    return _found[(requested, path)]


def _same_minor(requested: str, interpreters: list[Interpreter]) -> list[Interpreter]:
    major, minor = requested.split(".")[:2]
    return [i for i in interpreters if i.minor == (int(major), int(minor))]


def _pick(requested: str, interpreters: list[Interpreter]) -> Choice | None:
    same = _same_minor(requested, interpreters)
    if not same:
        return None
    exact = [i for i in same if i.version == requested]
    if exact or requested.count(".") == 1:
        return Choice((exact or same)[0], requested, fallback=False)
    return Choice(
        same[0],
        requested,
        fallback=False,
        warning=f"warning: Python {requested} is not on this worker; using {same[0].version} (same minor version).",
    )


def _download(uv: str, requested: str, env: dict[str, str], say: Say) -> bool:
    say(f"Python {requested} is not on this worker: asking uv to install it (RUNYARD_PYTHON_DOWNLOADS=automatic).")
    done = subprocess.run(
        [uv, "python", "install", requested],
        env={**env, "UV_PYTHON_DOWNLOADS": "automatic"},
        capture_output=True,
        text=True,
        errors="replace",
    )
    for line in (done.stdout + done.stderr).splitlines():
        if line.strip():
            say(line)
    return done.returncode == 0


def choose(uv: str, requested: str, env: dict[str, str], say: Say) -> Choice:
    """The interpreter for ``requested`` (see the module docstring); BuildFailed when none."""
    exact = find(uv, requested, env)
    if exact is not None:
        return _checked(Choice(exact, requested, fallback=False), say)
    interpreters = available(uv, env)
    choice = _pick(requested, interpreters)
    if choice is None and settings.RUNYARD["PYTHON_DOWNLOADS"] == "automatic" and _download(uv, requested, env, say):
        interpreters = available(uv, env, fresh=True)
        choice = _pick(requested, interpreters)
    if choice is None and settings.RUNYARD["PYTHON_FALLBACK"] == "nearest-newer":
        choice = _nearest_newer(requested, interpreters)
    if choice is None:
        have = ", ".join(i.version for i in sorted(interpreters, key=lambda i: i.release)) or "none"
        hint = (
            "Choose one of those (python_version, or python=X.Y in the conda specification)"
            + (
                ""
                if settings.RUNYARD["PYTHON_FALLBACK"] == "nearest-newer"
                else ", or ask an admin to allow the nearest newer version (RUNYARD_PYTHON_FALLBACK=nearest-newer)"
            )
            + "."
        )
        raise BuildFailed(f"Python {requested} is not available on this worker (it has: {have}). {hint}", "")
    return _checked(choice, say)


def _checked(choice: Choice, say: Say) -> Choice:
    if choice.warning:
        say(choice.warning)
    if choice.interpreter.minor < SDK_MINIMUM:
        say(
            f"warning: Python {choice.interpreter.version}: scripts run, but the in-run SDK (runyard, "
            f"azureml.core) needs Python {'.'.join(map(str, SDK_MINIMUM))} or newer, so importing it fails."
        )
    return choice


def _nearest_newer(requested: str, interpreters: list[Interpreter]) -> Choice | None:
    major, minor = (int(p) for p in requested.split(".")[:2])
    newer = sorted({i.minor for i in interpreters if i.minor[0] == major and i.minor[1] > minor})
    if not newer:
        return None
    picked = next(i for i in interpreters if i.minor == newer[0])
    return Choice(
        picked,
        requested,
        fallback=True,
        warning=(
            f"warning: Python {requested} is not available on this worker; using {picked.version}, the nearest "
            "newer version (RUNYARD_PYTHON_FALLBACK=nearest-newer). Your code and packages may behave differently."
        ),
    )


def record(path: Path, choice: Choice) -> None:
    data = {**asdict(choice.interpreter), "requested": choice.requested, "fallback": choice.fallback}
    partial = path.with_name(f"{path.name}.{os.getpid()}.tmp")
    partial.write_text(json.dumps(data) + "\n")
    os.replace(partial, path)


def still_chosen(path: Path, uv_env: Callable[[], tuple[str, dict[str, str]]]) -> bool:
    """Whether the interpreter recorded at ``path`` is still the one a build would choose.
    Cheap for an exact choice (its file still exists); a fallback is checked again."""
    try:
        data = json.loads(path.read_text())
        python, requested, fallback = str(data["path"]), str(data["requested"]), bool(data["fallback"])
    except (OSError, ValueError, KeyError, TypeError):
        return True  # a build from before the record existed: its interpreter was an exact match
    if not os.access(python, os.X_OK):
        return False
    if not fallback:
        return True
    if settings.RUNYARD["PYTHON_FALLBACK"] != "nearest-newer":
        return False
    uv, env = uv_env()
    return find(uv, requested, env) is None
