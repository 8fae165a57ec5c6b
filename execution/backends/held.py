"""Held launches: a local run's sandbox and interpreter, started before the run exists.

A cold start of a one-process run spends most of Starting → first statement outside the
script: forking bubblewrap, building its namespaces and mounts, starting the
environment's interpreter and its ``site``, and the script's first imports (the SDK).
A *hold* is all of that done ahead: the same sandbox (``execution.sandbox``, with
*slots* where the run's directories will go, ``execution.slots``) around the same
interpreter with the same variables, which imports the SDK and then waits on its stdin
(``execution.held_launcher``). Launching a run into it is a few mounts and a write to
a pipe: the run's directory and checkpoint dir are attached into the slots, and the
message (working directory, command line, the run's own variables) tells the launcher
to run the script.

Only what is the same for every run of an environment is fixed at hold time: the
interpreter (and which directory its environment is: a rebuilt one is another), the
sandbox's binds, uid and limits, the memory cgroup's limit, and every variable that is
not one of the run's own (``RUNYARD_*``, ``MLFLOW_*``, ``AZUREML_*``: the run id, its
token, its inputs). A hold serves one launch whose ``Request`` is equal in all of them
(its ``key``), and only one: the next run gets a fresh hold, so nothing of one run (its
/tmp, its processes) reaches another.

Each worker process keeps at most ``MAX_HOLDS`` holds, one per request it launched
last (``Pool``). A hold is started once a run's launch is recorded and, if still
missing, after the run ended (``refill``, from the executor), from the main thread:
the sandbox's --die-with-parent follows the thread that forked it, so the hold dies
with the worker process, as a run's ranks do. A run for which there is no ready hold
starts cold, as before; so do distributed runs, commands, runs whose inputs are links
rather than mounts, and sandboxed runs where ``execution.slots`` cannot work (not root,
an old kernel).
"""

from __future__ import annotations

import atexit
import contextlib
import logging
import os
import secrets
import shutil
import signal
import subprocess
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path

from execution import sandbox, slots
from execution.backends import memcg

log = logging.getLogger(__name__)

# Variables that are a run's own: sent with the launch, never part of a hold.
RUN_OWN = ("RUNYARD_", "MLFLOW_", "AZUREML_")
HOLD_VARIABLE = "RUNYARD_HOLD"  # marks a hold's processes (``LocalBackend.reap_orphans``)
# Room the launcher overwrites with the run's variables and command line, so that
# /proc/<pid>/environ and cmdline show them (``execution.held_launcher``, step 3).
PAD_VARIABLE = "RUNYARD_HOLD_PAD"
PAD_BYTES = 64 * 1024
MAX_HOLDS = 2
# A hold starts up while the previous run still runs and the next one is being submitted
# and claimed: at this niceness its start-up and preload take only idle CPU. The launch
# gives it the worker's own priority back (which needs root: others keep 0).
HOLD_NICE = 15
LAUNCHER_SOURCE = (Path(__file__).resolve().parent.parent / "held_launcher.py").read_text()

Preexec = Callable[[bool, memcg.MemoryGroup | None], Callable[[], None] | None]


def run_own(name: str) -> bool:
    return name.startswith(RUN_OWN)


@dataclass(frozen=True)
class Request:
    """Everything a launch fixes before its run exists; equal requests share holds."""

    python: str
    env: tuple[tuple[str, str], ...]  # the variables that are not the run's own, sorted
    spec: sandbox.SandboxSpec | None  # None: unsandboxed (RUNYARD_SANDBOX=off)
    parents: tuple[Path, ...]  # the directories the run's own ones go in (slots)
    memory: int | None  # the memory cgroup's limit
    preload: tuple[str, ...]  # modules the hold imports ahead
    # The environment directory's identity (device, inode, ctime): a rebuilt environment at
    # the same path is another one, which a hold bound to the old one must not serve.
    venv: tuple[int, int, int] = (0, 0, 0)

    @classmethod
    def of(
        cls,
        python: str,
        env: Mapping[str, str],
        spec: sandbox.SandboxSpec | None,
        parents: tuple[Path, ...],
        memory: int | None,
        preload: tuple[str, ...],
    ) -> Request:
        fixed = tuple(sorted((k, v) for k, v in env.items() if not run_own(k)))
        try:
            st = Path(python).parent.parent.stat()
            venv = (st.st_dev, st.st_ino, st.st_ctime_ns)
        except OSError:
            venv = (0, 0, 0)
        return cls(python, fixed, spec, parents, memory, preload, venv)

    @property
    def key(self) -> str:
        return repr(self)  # the spec holds a dict: not hashable, but its repr is exact


@dataclass
class Hold:
    """One started, waiting launcher (its sandbox, if any, around it)."""

    request: Request
    proc: subprocess.Popen[bytes]
    nonce: str
    root: Path | None  # the host directory of its slots
    slot_dirs: dict[Path, Path]  # parent (path inside) → host slot
    memory: memcg.MemoryGroup | None
    attached: list[Path] = field(default_factory=list)

    def alive(self) -> bool:
        return self.proc.poll() is None

    def fits(self, argv: list[str], env: Mapping[str, str]) -> bool:
        """Whether the run's variables and command line fit the room the launcher has to
        show them in /proc (else: start cold)."""
        own = sum(len(os.fsencode(f"{k}={v}")) + 1 for k, v in env.items())
        args = sum(len(os.fsencode(a)) + 1 for a in argv)
        return own < PAD_BYTES and args < PAD_BYTES

    def launch(self, argv: list[str], env: Mapping[str, str], cwd: Path, dirs: list[Path]) -> None:
        """Attach the run's directories into the slots, then tell the launcher to run
        ``argv`` in ``cwd`` with the run's own variables ``env`` added."""
        for path in dirs:
            dest = self.slot_dirs[path.parent] / path.name
            slots.attach(path, dest)
            self.attached.append(dest)
        if os.geteuid() == 0:
            from execution.backends.procs import descendants

            mine = os.getpriority(os.PRIO_PROCESS, 0)
            for pid in [self.proc.pid, *descendants(self.proc.pid)]:
                with contextlib.suppress(OSError):
                    os.setpriority(os.PRIO_PROCESS, pid, mine)
        items = [str(cwd), str(len(argv)), *argv, *(f"{k}={v}" for k, v in env.items())]
        payload = b"\0".join(os.fsencode(item) for item in items)
        assert self.proc.stdin is not None
        self.proc.stdin.write(b"%d\n" % len(payload) + payload)
        self.proc.stdin.close()

    def release(self) -> None:
        """Detach what ``launch`` attached and remove the slots (the processes are gone
        or going: bubblewrap's namespace holds its own references)."""
        for dest in self.attached:
            try:
                slots.detach(dest)
            except OSError:
                log.warning("could not detach %s", dest, exc_info=True)
        self.attached.clear()
        _remove_root(self.root)
        self.root = None

    def drop(self) -> None:
        """End an unused hold: closing its stdin ends the launcher; bubblewrap follows."""
        with contextlib.suppress(OSError):
            if self.proc.stdin is not None:
                self.proc.stdin.close()
        try:
            self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()
        for pipe in (self.proc.stdout, self.proc.stderr):
            if pipe is not None:
                pipe.close()
        self.release()
        if self.memory is not None:
            self.memory.remove()


def _remove_root(root: Path | None) -> None:
    if root is None:
        return
    for slot in sorted(p for p in root.iterdir() if p.is_dir()) if root.exists() else []:
        with contextlib.suppress(OSError):
            slots.unshare(slot)
    shutil.rmtree(root, ignore_errors=True)


def holds_dir() -> Path:
    from django.conf import settings

    return Path(settings.DATA_DIR) / "held"


def _sweep_stale(base: Path) -> None:
    """Slots a dead worker process left mounted (named ``<pid>-<nonce>``)."""
    from datasets.mounts import unmount_under

    for entry in base.iterdir() if base.exists() else []:
        pid = entry.name.partition("-")[0]
        if not pid.isdigit() or pid == str(os.getpid()):
            continue
        try:
            os.kill(int(pid), 0)
            continue  # still alive: its own
        except ProcessLookupError:
            pass
        except PermissionError:
            continue
        unmount_under(entry)
        shutil.rmtree(entry, ignore_errors=True)


def start(request: Request, preexec: Preexec) -> Hold:
    """Start a hold for ``request`` (from the thread the hold should die with)."""
    nonce = secrets.token_hex(6)
    env = {**dict(request.env), HOLD_VARIABLE: nonce, PAD_VARIABLE: "x" * PAD_BYTES}
    command = [request.python, "-c", LAUNCHER_SOURCE, "x" * PAD_BYTES, *request.preload]
    root: Path | None = None
    slot_dirs: dict[Path, Path] = {}
    if request.spec is not None:
        base = holds_dir()
        base.mkdir(parents=True, exist_ok=True)
        root = base / f"{os.getpid()}-{nonce}"
        root.mkdir()
        try:
            for index, parent in enumerate(request.parents):
                slot = root / str(index)
                slot.mkdir(mode=0o755)
                slots.share(slot)
                slot_dirs[parent] = slot
        except BaseException:
            _remove_root(root)
            raise
        spec = replace(request.spec, slots=tuple((slot, parent) for parent, slot in slot_dirs.items()))
        command = sandbox.wrap(command, spec)
    memory = memcg.create_group(f"runyard-hold-{nonce}", request.memory) if request.memory else None
    try:
        proc = subprocess.Popen(
            command,
            cwd="/",
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            start_new_session=True,
            preexec_fn=_niced(preexec(request.spec is not None, memory)),
        )
    except BaseException:
        _remove_root(root)
        if memory is not None:
            memory.remove()
        raise
    return Hold(request, proc, nonce, root, slot_dirs, memory)


def _niced(inner: Callable[[], None] | None) -> Callable[[], None] | None:
    if os.geteuid() != 0:
        return inner  # could not be given its priority back at the launch

    def prepare() -> None:
        if inner is not None:
            inner()
        os.nice(HOLD_NICE)

    return prepare


class Pool:
    """This process's holds, by request key, and the requests to keep holds for."""

    def __init__(self) -> None:
        self.holds: dict[str, Hold] = {}
        self.wanted: dict[str, Request] = {}  # the last MAX_HOLDS requests launched, oldest first
        self.swept = False

    def take(self, request: Request) -> Hold | None:
        """The ready hold for ``request`` (it is no longer the pool's), or None; either
        way one is started again for it at the next ``refill``."""
        self.wanted.pop(request.key, None)
        self.wanted[request.key] = request
        while len(self.wanted) > MAX_HOLDS:
            self.wanted.pop(next(iter(self.wanted)))
        hold = self.holds.pop(request.key, None)
        if hold is None and self.holds:
            log.info("no hold for this launch among %d (another request)", len(self.holds))
        if hold is not None and not hold.alive():
            log.warning("held launcher %s had exited (%s): starting cold", hold.nonce, hold.proc.returncode)
            hold.drop()
            hold = None
        return hold

    def refill(self, preexec: Preexec) -> None:
        """Start a hold for each wanted request without one; drop the others."""
        if threading.current_thread() is not threading.main_thread():
            return  # a hold must not die with a passing thread
        for key in [k for k in self.holds if k not in self.wanted]:
            self.holds.pop(key).drop()
        if not self.swept:
            self.swept = True
            _sweep_stale(holds_dir())
        for key, request in self.wanted.items():
            if key not in self.holds:
                try:
                    self.holds[key] = start(request, preexec)
                except Exception:
                    log.warning("could not start a held launcher", exc_info=True)

    def close(self) -> None:
        while self.holds:
            _, hold = self.holds.popitem()
            hold.drop()


POOL = Pool()
atexit.register(POOL.close)
