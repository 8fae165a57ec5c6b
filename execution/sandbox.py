"""Running user code in a bubblewrap sandbox on the worker's own host.

A run's script is untrusted code started by the worker, which holds the server's
powers (the data dir with ``secret_key`` and the database, the broker socket, every
team's runs and datasets). ``wrap`` turns a command into a ``bwrap`` command line that
starts it in fresh mount, PID, IPC, UTS and cgroup namespaces whose filesystem holds
only what the run needs:

- the system (``/usr`` and the merged-``/usr`` links, an allow-list of ``/etc``,
  ``/sys``) and the interpreter its virtualenv links to, read-only;
- its environment, the SDK copy, its mounted datasets and configured extra paths,
  read-only;
- its run directory, read-write, at its real path (arguments naming it stay valid);
- a private ``/tmp``, ``/proc`` (its own processes only) and ``/dev``.

Inside, the command runs as an unprivileged uid with no supplementary groups and no
capabilities (``setpriv``; bubblewrap's own ``--uid`` would map that uid back to root
on the host). The network is the host's, so the run reaches the API over TCP with
its run token. ``--die-with-parent`` ties the sandbox to the process that started
it: when that dies, even by SIGKILL, the sandbox's init dies and the kernel kills
every process of the PID namespace, so no rank outlives its supervisor.

Sandboxing is on unless ``RUNYARD_SANDBOX=off``; when it is on and bubblewrap is
missing or cannot create namespaces, runs fail with the reason (``require``) rather
than run unsandboxed.
"""

from __future__ import annotations

import enum
import functools
import os
import shutil
import socket
import subprocess
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

# /etc entries a program may need (name resolution, users, TLS roots, the dynamic
# linker, time zones, Debian's alternatives links, MPI defaults). The rest of /etc is
# left out: deployments keep credentials there (env files, pip.conf with index tokens).
ETC_ALLOWED = (
    "alternatives",
    "ca-certificates",
    "ca-certificates.conf",
    "debian_version",
    "gai.conf",
    "group",
    "host.conf",
    "hostname",
    "hosts",
    "ld.so.cache",
    "ld.so.conf",
    "ld.so.conf.d",
    "locale.alias",
    "localtime",
    "mime.types",
    "nsswitch.conf",
    "openmpi",
    "os-release",
    "passwd",
    "pki",
    "protocols",
    "resolv.conf",
    "services",
    "ssl",
    "timezone",
)
# Top-level system directories; on merged-/usr systems most are links into /usr.
SYSTEM_DIRS = ("usr", "bin", "sbin", "lib", "lib32", "lib64", "libx32")
PRIVATE = (Path("/proc"), Path("/dev"), Path("/dev/shm"), Path("/tmp"))


class SandboxUnavailable(Exception):
    """Sandboxing is required but cannot be done here; the message says why and what to do."""


class Mode(enum.StrEnum):
    ON = "on"
    OFF = "off"


@dataclass(frozen=True)
class SandboxSpec:
    """What one sandboxed command may see. Paths are host paths, bound at the same path."""

    run_dir: Path  # read-write; the working directory
    env_dir: Path | None = None  # the virtualenv, read-only (its interpreter too)
    sdk_dir: Path | None = None  # the runs' copy of the SDK, read-only
    # Dataset inputs as (stored source, path in the run): read-only.
    mounts: tuple[tuple[Path, Path], ...] = ()
    extra_ro: tuple[Path, ...] = ()  # operator-configured extra read-only paths
    writable: tuple[Path, ...] = ()  # besides the run dir (a build's cache)
    # None: keep the worker's uid but drop every capability (builds, whose files and
    # shared cache the worker owns); else, when the worker is root, become this uid.
    uid: int | None = 65534
    gid: int = 65534
    network: bool = True
    env: dict[str, str] = field(default_factory=dict)  # set inside (HOME, TMPDIR)
    # A held launch's sandbox (``execution.slots``): (host slot, path inside) pairs bound
    # read-write in place of the run dir, which is attached into them later; ``run_dir``
    # is then only where the command starts.
    slots: tuple[tuple[Path, Path], ...] = ()


@dataclass(frozen=True)
class Status:
    """Whether local runs are sandboxed here, for startup banners and the Compute page."""

    mode: Mode
    available: bool
    detail: str  # why it is unavailable, or which bubblewrap

    @property
    def sandboxed(self) -> bool:
        return self.mode is Mode.ON and self.available

    def describe(self) -> str:
        if self.sandboxed:
            return f"sandboxed ({self.detail})"
        if self.mode is Mode.OFF:
            return (
                "UNSANDBOXED (RUNYARD_SANDBOX=off): run scripts act as the worker's OS user and can read "
                "the data dir, the database and other runs"
            )
        return (
            f"REFUSED: the sandbox is required but {self.detail}; local runs fail until bubblewrap works "
            "or RUNYARD_SANDBOX=off is set"
        )


def mode() -> Mode:
    from django.conf import settings

    return Mode(settings.RUNYARD["SANDBOX"])


def bwrap_path() -> str | None:
    from django.conf import settings

    return shutil.which(settings.RUNYARD["SANDBOX_BWRAP"])


def _missing() -> str:
    from django.conf import settings

    return f"bubblewrap ({settings.RUNYARD['SANDBOX_BWRAP']}) is not installed (apt-get install bubblewrap)"


@functools.lru_cache(maxsize=4)
def _probe(bwrap: str) -> str | None:
    """Start a trivial sandbox once: bubblewrap may be installed yet unable to create
    namespaces (an unprivileged container, user namespaces disabled)."""
    argv = [bwrap, *_namespaces(), "--ro-bind", "/", "/", "--proc", "/proc", "--dev", "/dev", "--", "true"]
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=30, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"bubblewrap ({bwrap}) could not start: {exc}"
    if done.returncode:
        return f"bubblewrap ({bwrap}) cannot create a sandbox here: {done.stderr.strip()[:300]}"
    return None


def status() -> Status:
    current = mode()
    bwrap = bwrap_path()
    if bwrap is None:
        return Status(current, False, _missing())
    if current is Mode.OFF:
        return Status(current, True, bwrap)
    from django.conf import settings

    problem = _probe(bwrap)
    if problem is None and os.geteuid() == 0 and shutil.which("setpriv") is None:
        problem = "setpriv is not installed (apt-get install util-linux); it drops root inside the sandbox"
    uid, gid = settings.RUNYARD["SANDBOX_UID"], settings.RUNYARD["SANDBOX_GID"]
    who = f"uid {uid}:{gid}" if os.geteuid() == 0 else f"the worker's uid {os.geteuid()}"
    return Status(current, problem is None, problem or f"bubblewrap {bwrap}, as {who}")


def require() -> bool:
    """True when commands must be wrapped; False when sandboxing is explicitly off.

    Raises ``SandboxUnavailable`` when it is required but cannot be done.
    """
    current = status()
    if current.mode is Mode.OFF:
        return False
    if not current.available:
        raise SandboxUnavailable(
            f"local compute refuses to run unsandboxed: {current.detail}. Install bubblewrap, "
            "or set RUNYARD_SANDBOX=off to run scripts with the worker's own powers."
        )
    return True


def build_spec(venv: Path, *, readable: Iterable[Path] = ()) -> SandboxSpec | None:
    """For a build step that runs package code (``uv pip install`` runs build backends):
    its virtualenv and uv's cache writable, ``readable`` (uv, the requirements file)
    read-only. None where the sandbox is off or unavailable: builds then run as before,
    and local runs are refused before their build (``require``)."""
    from django.conf import settings

    if not status().sandboxed:
        return None
    return SandboxSpec(
        run_dir=venv,
        extra_ro=tuple(readable),
        writable=(Path(settings.RUNYARD["UV_CACHE_DIR"]),),
        uid=None,
        env={"HOME": "/tmp", "TMPDIR": "/tmp"},
    )


def spec_for(
    run_dir: Path,
    *,
    env_dir: Path | None = None,
    sdk_dir: Path | None = None,
    mounts: Iterable[tuple[Path, Path]] = (),
    writable: Iterable[Path] = (),
) -> SandboxSpec:
    """A spec with the configured uid/gid and extra paths."""
    from django.conf import settings

    conf = settings.RUNYARD
    return SandboxSpec(
        run_dir=run_dir,
        env_dir=env_dir,
        sdk_dir=sdk_dir,
        mounts=tuple(mounts),
        extra_ro=tuple(Path(p) for p in conf["SANDBOX_RO_PATHS"]),
        writable=tuple(writable),
        uid=int(conf["SANDBOX_UID"]),
        gid=int(conf["SANDBOX_GID"]),
        env={"HOME": "/tmp", "TMPDIR": "/tmp", **_user(int(conf["SANDBOX_UID"]))},
    )


def _user(uid: int) -> dict[str, str]:
    """USER/LOGNAME for the uid (getpass.getuser() reads them first): not the worker's."""
    import pwd

    try:
        name = pwd.getpwuid(uid).pw_name if os.geteuid() == 0 else pwd.getpwuid(os.geteuid()).pw_name
    except KeyError:
        name = "runyard"
    return {"USER": name, "LOGNAME": name}


def _namespaces() -> list[str]:
    return ["--unshare-pid", "--unshare-ipc", "--unshare-uts", "--unshare-cgroup-try"]


def interpreter_prefixes(env_dir: Path) -> list[Path]:
    """The installations a virtualenv's interpreter lives in (pyvenv.cfg's ``home`` and
    where ``bin/python`` resolves to): they may sit in a private home directory."""
    found: list[Path] = []
    cfg = env_dir / "pyvenv.cfg"
    try:
        for line in cfg.read_text().splitlines():
            key, _, value = line.partition("=")
            if key.strip() == "home" and value.strip():
                found.append(Path(value.strip()).resolve().parent)
    except OSError:
        pass
    python = env_dir / "bin" / "python"
    if python.is_symlink():
        found.append(python.resolve().parent.parent)
    out: list[Path] = []
    for prefix in found:
        # /usr is bound anyway; a prefix inside another one adds nothing.
        if prefix.is_dir() and not _under(prefix, Path("/usr")) and prefix not in out:
            out.append(prefix)
    return [p for p in out if not any(p != q and _under(p, q) for q in out)]


def under(path: Path, root: Path) -> bool:
    """Whether ``path`` is ``root`` or below it (on the strings: no resolving)."""
    return _under(path, root)


def _under(path: Path, root: Path) -> bool:
    # On the strings: ``root in path.parents`` built every parent (2.5 ms of CPU per
    # wrapped command, on the path from Starting to the script's first statement).
    inner, outer = str(path), str(root)
    return inner == outer or inner.startswith(outer if outer.endswith("/") else outer + "/")


class _Args:
    """Builds the bind list, creating each destination's missing parents as 0755 (by
    default bubblewrap makes them 0700, which would hide everything below from the
    sandbox uid), except inside a bound host directory, where they exist already."""

    def __init__(self) -> None:
        self.argv: list[str] = []
        self.mounted: list[Path] = []
        self.dirs: set[Path] = set(PRIVATE)  # fresh ones, made by --proc, --dev and --tmpfs

    def _parents(self, dest: Path) -> None:
        for parent in reversed(dest.parents):
            if parent == Path("/") or parent in self.dirs:
                continue
            if any(_under(parent, m) for m in self.mounted):
                continue
            self.argv += ["--perms", "0755", "--dir", str(parent)]
            self.dirs.add(parent)

    def bind(self, source: Path, dest: Path, *, writable: bool = False, dev: bool = False) -> None:
        self._parents(dest)
        flag = "--dev-bind" if dev else "--bind" if writable else "--ro-bind"
        self.argv += [flag, str(source), str(dest)]
        self.mounted.append(dest)


def wrap(argv: Sequence[str], spec: SandboxSpec, bwrap: str | None = None) -> list[str]:
    """``argv`` as a bubblewrap command that runs it inside ``spec``'s sandbox."""
    bwrap = bwrap or bwrap_path()
    if bwrap is None:
        raise SandboxUnavailable(_missing())
    out = [bwrap, *_namespaces(), "--die-with-parent", "--new-session", "--hostname", socket.gethostname()]
    if not spec.network:
        out.append("--unshare-net")
    # Private /proc (this PID namespace only), /dev, and shared-memory and temp dirs
    # every uid may write (torch and MPI put shared memory in /dev/shm).
    out += ["--proc", "/proc", "--dev", "/dev"]
    out += ["--perms", "1777", "--tmpfs", "/dev/shm", "--perms", "1777", "--tmpfs", "/tmp"]
    args = _Args()
    out += _system_binds(args)
    _run_binds(args, spec)
    out += args.argv
    for key, value in spec.env.items():
        out += ["--setenv", key, value]
    out += ["--chdir", str(spec.run_dir)]
    out += _drop_user(spec)
    out += ["--", *argv]
    return out


def _system_binds(args: _Args) -> list[str]:
    """Bind the system read-only into ``args``; return the merged-/usr links to recreate."""
    links: list[str] = []
    root = Path("/")
    for name in SYSTEM_DIRS:
        path = root / name
        if path.is_symlink():
            links += ["--symlink", os.readlink(path), str(path)]
        elif path.is_dir():
            args.bind(path, path)
    for name in ETC_ALLOWED:
        path = root / "etc" / name
        if path.exists():  # a link to /run (resolv.conf) is bound as what it points to
            args.bind(path, path)
    if Path("/sys").is_dir():
        args.bind(Path("/sys"), Path("/sys"))  # CPU topology for hwloc (MPI) and torch
    for device in sorted(Path("/dev").glob("nvidia*")):
        args.bind(device, device, dev=True)
    return links


def _run_binds(args: _Args, spec: SandboxSpec) -> None:
    """The interpreter, environment, SDK and inputs read-only; the run dir (or the slots
    it will be attached into) writable."""
    binds: list[tuple[Path, Path, bool]] = []
    # A build's run dir is the virtualenv it fills: its interpreter is needed too.
    prefixes = interpreter_prefixes(spec.env_dir or spec.run_dir)
    ro = [*prefixes, spec.env_dir, spec.sdk_dir, *spec.extra_ro]
    binds += [(p, p, False) for p in ro if p is not None]
    if spec.slots:
        binds += [(slot, inside, True) for slot, inside in spec.slots]
    else:
        binds += [(spec.run_dir, spec.run_dir, True)]
    binds += [(p, p, True) for p in spec.writable]
    for source, target in spec.mounts:
        # A link (no bind mount was possible on the host) resolves to the stored tree:
        # that tree, and only it, is bound where the link points.
        binds.append((source, source if target.is_symlink() else target, False))
    # Parents before children: a dataset mounted inside the run dir goes on top of it.
    for source, dest, writable in sorted(binds, key=lambda b: len(b[1].parts)):
        args.bind(source, dest, writable=writable)


def _drop_user(spec: SandboxSpec) -> list[str]:
    if spec.uid is None:
        return ["--cap-drop", "ALL"]
    if os.geteuid() != 0:
        return []
    # Bubblewrap keeps root inside when started by root: drop it, with every group and capability.
    setpriv = shutil.which("setpriv") or "/usr/bin/setpriv"
    return [
        "--",
        setpriv,
        "--reuid",
        str(spec.uid),
        "--regid",
        str(spec.gid),
        "--clear-groups",
        "--inh-caps=-all",
        "--bounding-set=-all",
    ]


def unwrap(argv: Sequence[str]) -> list[str]:
    """The command a ``wrap``ped command line runs (``argv`` itself if not wrapped)."""
    if not is_wrapper(argv) or "--" not in argv:
        return list(argv)
    inner = list(argv[argv.index("--") + 1 :])
    if inner and os.path.basename(inner[0]) == "setpriv" and "--" in inner:
        inner = inner[inner.index("--") + 1 :]
    return inner


def is_wrapper(args: Sequence[str]) -> bool:
    """Whether a command line (from /proc) is bubblewrap's own (its outer process and
    the PID namespace's init, which runs no user code)."""
    return bool(args) and os.path.basename(args[0]) == "bwrap"


def hand_over(run_dir: Path, spec: SandboxSpec) -> None:
    """Give the run dir (snapshot, outputs/, downloaded inputs) to the sandbox uid so the
    script can write where it could before. Mount points (read-only datasets) and links
    are left alone; the worker later reads outputs as root."""
    if os.geteuid() != 0 or spec.uid is None:
        return
    from datasets.mounts import mounts_under

    uid, gid = spec.uid, spec.gid
    run_dir = run_dir.resolve()
    # Bind mounts of the same filesystem are invisible to os.path.ismount.
    mounted = {str(p) for p in mounts_under(run_dir)}
    os.lchown(run_dir, uid, gid)
    for top, dirs, files in os.walk(run_dir):
        keep = []
        for name in dirs:
            path = os.path.join(top, name)
            if path in mounted or os.path.ismount(path) or os.path.islink(path):
                continue
            os.lchown(path, uid, gid)
            keep.append(name)
        dirs[:] = keep
        for name in files:
            path = os.path.join(top, name)
            if path not in mounted:  # a single-file dataset input is a mount point too
                os.lchown(path, uid, gid)


__all__ = [
    "Mode",
    "SandboxSpec",
    "SandboxUnavailable",
    "Status",
    "build_spec",
    "hand_over",
    "is_wrapper",
    "require",
    "spec_for",
    "status",
    "unwrap",
    "wrap",
]
