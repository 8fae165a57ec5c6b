"""A private Podman service speaking the Docker Engine API, plus the Runyard base image.

For the pytest suite and for developers. Everything lives under one ``state_dir``:
its own containers.conf / storage.conf / registries.conf, image storage, network
configs, logs and the API socket ``<state_dir>/podman.sock``; volatile run state
(runroot, libpod tmp, runc, netavark) is in the engine's private /run. The system's
default Podman state (/var/lib/containers/storage, /etc/containers/networks,
/run/containers, /run/libpod, /run/runc) is never used.

    engine = start_engine(Path("/tmp/ry-podman"))       # idempotent: reuses a healthy one
    ensure_base_image(engine)                          # "runyard/base:py311"
    client = engine.client()                           # docker.DockerClient
    client.containers.run("runyard/base:py311", ["python3", "-V"], remove=True)
    engine.stop()                                      # idempotent

Or from a shell::

    python tests/infra/podman_engine.py start --state-dir /tmp/ry-podman [--base-image]
        # progress on stderr, "export DOCKER_HOST=unix:///tmp/ry-podman/podman.sock" on stdout
    python tests/infra/podman_engine.py status --state-dir /tmp/ry-podman
    python tests/infra/podman_engine.py stop --state-dir /tmp/ry-podman

Isolation: the service runs under ``unshare --net --mount`` in a network and mount
namespace of its own. Its bridges, netavark's iptables rules, IPAM database
(/run/containers/networks, hard-wired for root), runc state and every overlay mount
stay in that namespace and vanish with it, so several engines (xdist workers, a
developer's) never collide and nothing leaks to the host. Egress (pip in builds) goes
through a ``slirp4netns`` process (user-mode NAT, ``--disable-host-loopback``)
attached to that namespace. The price: a port a
container publishes is published inside the namespace, not on the host's loopback;
reach containers through the API (logs, exec, archives, volumes) or from other
containers. Inside the namespace /run is a fresh tmpfs, and /var/lib/containers and
/var/cache/containers (Podman's blob-info cache and short-name alias lock, whose paths
are fixed for root) are bind-mounted from the state dir; those two directories are
created empty on the host if missing, as mount points, and nothing is written there.
(Without this, rootful Podman puts bridges, iptables chains and its IPAM database in
the host's namespaces, shared by every engine, and leaves overlay mounts behind.)

What was checked on Debian bookworm (podman 4.3.1, runc 1.1.5, netavark 1.4,
slirp4netns 1.2, mmdebstrap 1.3.5, docker SDK 7.x), root, no systemd, cgroup v1:

- containers.conf: ``cgroup_manager = "cgroupfs"`` (no systemd), ``runtime = "runc"``,
  ``events_logger = "file"`` (no journald), ``log_driver = "k8s-file"``,
  ``default_ulimits`` nofile/nproc; ``network_config_dir`` and ``image_copy_tmp_dir``
  point into state_dir. ``--root/--runroot`` are passed too. Podman refuses a runroot
  longer than 50 characters ("the specified runroot is longer than 50 characters"),
  so it is /run/runyard-podman inside the private /run tmpfs (gone with the engine,
  as storage expects of a runroot), not a path under a possibly long state_dir.
  Kernel overlay works here (probed per state dir, else vfs).
- The compat image import (``POST /images/create?fromSrc=-``) ignores ``tag`` (it
  names the image ``<repo>:latest``) and leaves its upload as ``$TMPDIR/api_load.tar*``
  (250 MB) behind: TMPDIR is pointed into state_dir, the image is tagged afterwards,
  the stray ``:latest`` removed and the leftover upload deleted.
- pip inside a build (``client.images.build``): no proxy variables are needed here
  (HTTPS leaves through a transparent intercepting proxy; none of HTTP(S)_PROXY is
  set), and the host's pip.conf (file:// indexes under /opt, a constraints file) must
  not go in (those paths don't exist in the container); the default index answers.
  What is needed is the proxy's CA: a plain Debian rootfs fails with
  ``CERTIFICATE_VERIFY_FAILED ... self-signed certificate in certificate chain``.
  Debian's pip (and the pip that ``python3 -m venv`` puts in a venv) uses the system
  bundle /etc/ssl/certs/ca-certificates.crt, so adding the host's
  /usr/local/share/ca-certificates/*.crt to the image and running
  ``update-ca-certificates`` fixes it. ``ensure_base_image`` does that while building
  the rootfs (``trust_host_cas=True``), so ``FROM runyard/base:py311`` builds need
  nothing more; for other bases, ``COPY *.crt /usr/local/share/ca-certificates/`` +
  ``RUN update-ca-certificates`` (``host_ca_files()`` lists what to copy).
  ``host_build_args()`` passes on proxy / index variables from the environment, for
  machines that have them (none here).
- Containers on a user-defined network (``client.networks.create(name)``) resolve
  each other by container name (aardvark-dns).

Standard library + the ``docker`` SDK only; no Django import.
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import hashlib
import json
import os
import select
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import docker
import docker.errors
from docker.utils import parse_repository_tag

BASE_TAG = "runyard/base:py311"
BASE_SUITE = "bookworm"
BASE_PACKAGES = ("python3", "python3-venv", "python3-pip", "ca-certificates")
DEFAULT_CACHE_DIR = Path.home() / ".cache" / "runyard" / "base-image"
HOST_CA_DIR = Path("/usr/local/share/ca-certificates")
BASE_CHANGES = (
    "ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
    "ENV LANG=C.UTF-8",
    "ENV PYTHONUNBUFFERED=1",
    'CMD ["python3"]',
)
# Paths whose location is fixed for root; shadowed from the state dir inside the namespace.
SHADOWED_DIRS = ("/var/lib/containers", "/var/cache/containers")
# Inside the engine's private /run tmpfs (podman caps runroot at 50 characters).
RUNROOT = "/run/runyard-podman"

# Runs inside `unshare --net --mount`, then execs podman (same pid). $1 = state dir.
_NS_SETUP = r"""
set -eu
state="$1"; shift
ip link set lo up
resolv="$(readlink -f /etc/resolv.conf)"
case "$resolv" in /run/*) cp "$resolv" "$state/resolv.conf" ;; esac
mount -t tmpfs -o mode=755,nosuid,nodev runyard-run /run
mkdir -p /run/lock
case "$resolv" in /run/*) mkdir -p "$(dirname "$resolv")"; cp "$state/resolv.conf" "$resolv" ;; esac
for d in /var/lib/containers /var/cache/containers; do
    mkdir -p "$d" "$state/shadow$d"
    mount --bind "$state/shadow$d" "$d"
done
exec "$@"
"""

_CHILDREN: dict[int, subprocess.Popen[bytes]] = {}


class EngineError(RuntimeError):
    """The engine could not be started, reached or built for."""


def _progress(msg: str) -> None:
    print(f"[podman-engine] {msg}", file=sys.stderr, flush=True)


# --------------------------------------------------------------------------- processes


def _cmdline(pid: int) -> list[str]:
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return []
    return [part.decode(errors="replace") for part in raw.split(b"\0") if part]


def _alive(pid: int) -> bool:
    proc = _CHILDREN.get(pid)
    if proc is not None and proc.poll() is not None:
        return False
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[-1].split()[0] not in ("Z", "X")


def _ns_id(pid: int, kind: str) -> str:
    try:
        return os.readlink(f"/proc/{pid}/ns/{kind}")
    except OSError:
        return ""


def _terminate(pid: int, timeout: float, sig: int = signal.SIGTERM) -> None:
    """Signal one pid (already verified as ours) and wait; SIGKILL after timeout."""
    if not _alive(pid):
        return
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, sig)
    deadline = time.monotonic() + timeout
    while _alive(pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    if _alive(pid):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
        deadline = time.monotonic() + 5
        while _alive(pid) and time.monotonic() < deadline:
            time.sleep(0.05)
    proc = _CHILDREN.pop(pid, None)
    if proc is not None:
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=1)


def _tail(path: Path, lines: int = 30) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return f"(no {path.name})"
    return "\n".join(text.splitlines()[-lines:]) or f"({path.name} is empty)"


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


# --------------------------------------------------------------------------- the engine


@dataclass
class Engine:
    """A running private Podman service; ``stop()`` ends it and everything it ran."""

    state_dir: Path
    pid: int
    slirp_pid: int | None = None
    driver: str = "overlay"
    netns: str = ""
    mntns: str = ""

    @property
    def socket_path(self) -> Path:
        return self.state_dir / "podman.sock"

    @property
    def base_url(self) -> str:
        return f"unix://{self.socket_path}"

    @property
    def env(self) -> dict[str, str]:
        """Environment for a docker CLI / SDK user: ``DOCKER_HOST``."""
        return {"DOCKER_HOST": self.base_url}

    def client(self, timeout: int = 600) -> docker.DockerClient:
        return docker.DockerClient(base_url=self.base_url, timeout=timeout)

    def ping(self) -> bool:
        if not self.socket_path.exists():
            return False
        try:
            client = docker.DockerClient(base_url=self.base_url, timeout=3)
            try:
                return bool(client.ping())
            finally:
                client.close()
        except Exception:
            return False

    def is_running(self) -> bool:
        return _is_engine_process(self.pid, self.state_dir) and self.ping()

    def podman(self, *args: str, check: bool = True, timeout: float = 600) -> subprocess.CompletedProcess[str]:
        """Run the podman CLI on this engine's storage, inside its namespaces."""
        cmd = ["nsenter", "-t", str(self.pid), "-m", "-n", "--", *_podman_argv(self.state_dir, list(args))]
        return subprocess.run(
            cmd, env=_service_env(self.state_dir), capture_output=True, text=True, check=check, timeout=timeout
        )

    def stop(self, timeout: float = 30.0) -> None:
        """Remove all containers, end the service, slirp4netns and any leftover process.

        Only pids this engine started (verified against /proc) or processes inside its
        private namespaces are signalled. Safe to call twice."""
        if _is_engine_process(self.pid, self.state_dir) and self.ping():
            with contextlib.suppress(Exception):
                client = docker.DockerClient(base_url=self.base_url, timeout=60)
                try:
                    for container in client.containers.list(all=True):
                        with contextlib.suppress(docker.errors.APIError):
                            container.remove(force=True)
                finally:
                    client.close()
        if _is_engine_process(self.pid, self.state_dir):
            _terminate(self.pid, timeout)
        if self.netns and self.mntns:
            _kill_namespace_leftovers(self.netns, self.mntns)
        if self.slirp_pid and "slirp4netns" in " ".join(_cmdline(self.slirp_pid)[:1]):
            _terminate(self.slirp_pid, 5)
        for pid in (self.pid, self.slirp_pid):
            # One killed with the namespace's leftovers may still be exiting (state D, its
            # cmdline already gone): wait for it, so stop() returns with both ended.
            deadline = time.monotonic() + 5
            while pid and _alive(pid) and time.monotonic() < deadline:
                time.sleep(0.05)
        for pid in (self.pid, self.slirp_pid):  # reap our own children (no zombies)
            proc = _CHILDREN.pop(pid, None) if pid else None
            if proc is not None:
                proc.poll()
        for name in ("podman.pid", "slirp4netns.pid", "engine.json"):
            with contextlib.suppress(FileNotFoundError):
                (self.state_dir / name).unlink()
        with contextlib.suppress(FileNotFoundError):
            self.socket_path.unlink()
        _progress(f"stopped engine in {self.state_dir}")


def _is_engine_process(pid: int, state_dir: Path) -> bool:
    argv = _cmdline(pid)
    if pid <= 0 or not argv or not _alive(pid):
        return False
    url = f"unix://{state_dir / 'podman.sock'}"
    # Right after spawn the pid is still unshare / sh (before exec of podman).
    return url in argv


def _kill_namespace_leftovers(netns: str, mntns: str) -> None:
    """SIGKILL every process still in the engine's private net+mount namespaces
    (conmon, aardvark-dns) and all their descendants (the containers' processes, which
    live in namespaces of their own); only matters if the service died on its own."""
    for _ in range(5):
        parents: dict[int, int] = {}
        roots = []
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit() or int(entry.name) == os.getpid():
                continue
            pid = int(entry.name)
            with contextlib.suppress(OSError, IndexError, ValueError):
                parents[pid] = int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[-1].split()[1])
            if _ns_id(pid, "net") == netns and _ns_id(pid, "mnt") == mntns:
                roots.append(pid)
        doomed = set(roots)
        frontier = list(roots)
        while frontier:
            children = [pid for pid, ppid in parents.items() if ppid in frontier and pid not in doomed]
            doomed.update(children)
            frontier = children
        doomed = {pid for pid in doomed if _alive(pid)}
        if not doomed:
            return
        for pid in doomed:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        time.sleep(0.3)


# --------------------------------------------------------------------------- config


def _podman_argv(state_dir: Path, args: list[str]) -> list[str]:
    return ["podman", "--root", str(state_dir / "storage"), "--runroot", RUNROOT, *args]


def _service_env(state_dir: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("DOCKER_HOST", "CONTAINER_HOST", "XDG_RUNTIME_DIR")}
    env.update(
        CONTAINERS_CONF=str(state_dir / "containers.conf"),
        CONTAINERS_STORAGE_CONF=str(state_dir / "storage.conf"),
        CONTAINERS_REGISTRIES_CONF=str(state_dir / "registries.conf"),
        TMPDIR=str(state_dir / "tmp"),
    )
    return env


def _overlay_works(state_dir: Path) -> bool:
    """Try a kernel overlay mount in a throw-away mount namespace under state_dir."""
    probe = state_dir / ".overlay-probe"
    shutil.rmtree(probe, ignore_errors=True)
    for sub in ("lower", "upper", "work", "merged"):
        (probe / sub).mkdir(parents=True)
    (probe / "lower" / "f").write_text("x")
    script = (
        f"mount -t overlay overlay -o lowerdir={probe}/lower,upperdir={probe}/upper,workdir={probe}/work "
        f"{probe}/merged && echo y > {probe}/merged/f && test -c {probe}/upper/f -o -f {probe}/upper/f"
    )
    try:
        result = subprocess.run(
            ["unshare", "--mount", "--propagation", "private", "sh", "-c", script], capture_output=True, timeout=30
        )
        return result.returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False
    finally:
        shutil.rmtree(probe, ignore_errors=True)


def _pick_driver(state_dir: Path) -> str:
    storage = state_dir / "storage"
    for driver in ("overlay", "vfs"):  # keep whatever an existing store was made with
        if (storage / f"{driver}-images").exists():
            return driver
    return "overlay" if _overlay_works(state_dir) else "vfs"


def _write_configs(state_dir: Path, driver: str) -> None:
    s = state_dir
    (s / "containers.conf").write_text(
        f"""# Written by tests/infra/podman_engine.py; regenerated on every start.
[containers]
default_ulimits = ["nofile=1024:1024", "nproc=4096:4096"]
log_driver = "k8s-file"

[engine]
cgroup_manager = "cgroupfs"
runtime = "runc"
events_logger = "file"
events_logfile_path = "{s}/events.log"
image_copy_tmp_dir = "{s}/tmp"
static_dir = "{s}/storage/libpod"
volume_path = "{s}/storage/volumes"

[network]
network_backend = "netavark"
network_config_dir = "{s}/networks"
"""
    )
    (s / "storage.conf").write_text(
        f"""# Written by tests/infra/podman_engine.py; regenerated on every start.
[storage]
driver = "{driver}"
graphroot = "{s}/storage"
runroot = "{RUNROOT}"
"""
    )
    # No registry is reachable: short names resolve to local images only.
    (s / "registries.conf").write_text(
        'unqualified-search-registries = ["docker.io"]\nshort-name-mode = "permissive"\n'
    )


def _load_engine(state_dir: Path) -> Engine | None:
    try:
        data = json.loads((state_dir / "engine.json").read_text())
    except (OSError, ValueError):
        return None
    return Engine(
        state_dir=state_dir,
        pid=int(data["pid"]),
        slirp_pid=data.get("slirp_pid"),
        driver=str(data.get("driver", "overlay")),
        netns=str(data.get("netns", "")),
        mntns=str(data.get("mntns", "")),
    )


def running_engine(state_dir: Path) -> Engine | None:
    """The healthy engine of this state dir, if one is running."""
    state_dir = Path(state_dir).resolve()
    engine = _load_engine(state_dir)
    if engine is not None and engine.is_running():
        return engine
    return None


def _start_slirp(state_dir: Path, pid: int, exit_fd: int, timeout: float) -> int:
    ready_r, ready_w = os.pipe()
    log = (state_dir / "slirp4netns.log").open("ab")
    try:
        proc = subprocess.Popen(
            [
                "slirp4netns",
                "--configure",
                "--mtu=65520",
                "--disable-host-loopback",
                f"--ready-fd={ready_w}",
                f"--exit-fd={exit_fd}",
                str(pid),
                "tap0",
            ],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            pass_fds=(ready_w, exit_fd),
            start_new_session=True,
        )
    finally:
        os.close(ready_w)
        log.close()
    _CHILDREN[proc.pid] = proc
    try:
        ready, _, _ = select.select([ready_r], [], [], timeout)
        if not ready or os.read(ready_r, 1) != b"1":
            _terminate(proc.pid, 2)
            raise EngineError(f"slirp4netns did not come up:\n{_tail(state_dir / 'slirp4netns.log')}")
    finally:
        os.close(ready_r)
    return proc.pid


def start_engine(state_dir: Path, *, timeout: float = 300.0, log_level: str = "warn") -> Engine:
    """Start (or reuse) the private Podman service of ``state_dir``; wait until it answers.

    Raises EngineError, with the tail of the service's log, if it does not answer a
    Docker API ping within ``timeout`` seconds."""
    state_dir = Path(state_dir).resolve()
    if any(state_dir == Path(p) or Path(p) in state_dir.parents for p in ("/run", "/var/run", *SHADOWED_DIRS)):
        raise ValueError(f"state_dir {state_dir} would be hidden by the engine's private mounts")
    if len(str(state_dir / "podman.sock")) > 100:  # AF_UNIX paths are limited to 107 bytes
        raise ValueError(f"state_dir {state_dir} is too long for a unix socket path")
    state_dir.mkdir(parents=True, exist_ok=True)
    with _locked(state_dir / ".start.lock"):
        existing = _load_engine(state_dir)
        if existing is not None:
            if existing.is_running():
                _progress(f"reusing engine pid {existing.pid} at {existing.base_url}")
                return existing
            _progress("cleaning up a stale engine record")
            existing.stop(timeout=10)
        with contextlib.suppress(FileNotFoundError):
            (state_dir / "podman.sock").unlink()
        for sub in ("storage", "tmp", "networks"):
            (state_dir / sub).mkdir(exist_ok=True)
        driver = _pick_driver(state_dir)
        _write_configs(state_dir, driver)

        url = f"unix://{state_dir / 'podman.sock'}"
        argv = _podman_argv(state_dir, [f"--log-level={log_level}", "system", "service", "--time=0", url])
        missing = [t for t in ("podman", "runc", "unshare", "slirp4netns", "ip", "nsenter") if not shutil.which(t)]
        if missing:
            raise EngineError(f"missing {missing}: run scripts/install-system-deps.sh containers")
        argv = ["unshare", "--net", "--mount", "--propagation", "private", "--",
                "sh", "-c", _NS_SETUP, "runyard-podman-ns", str(state_dir), *argv]  # fmt: skip
        # slirp4netns exits when the service (holding the write end) is gone.
        exit_r, exit_w = os.pipe()
        log_path = state_dir / "podman.log"
        log = log_path.open("ab")
        log.write(f"\n--- start {time.strftime('%Y-%m-%d %H:%M:%S')} ---\n".encode())
        log.flush()
        t0 = time.monotonic()
        try:
            proc = subprocess.Popen(
                argv,
                env=_service_env(state_dir),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                pass_fds=(exit_w,),
                start_new_session=True,
                cwd=state_dir,
            )
        finally:
            log.close()
            os.close(exit_w)
        _CHILDREN[proc.pid] = proc
        (state_dir / "podman.pid").write_text(f"{proc.pid}\n")
        engine = Engine(state_dir=state_dir, pid=proc.pid, driver=driver)
        try:
            own_netns = _ns_id(os.getpid(), "net")
            deadline = time.monotonic() + 10
            while _ns_id(proc.pid, "net") in ("", own_netns):
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise EngineError(f"unshare failed:\n{_tail(log_path)}")
                time.sleep(0.02)
            engine.netns, engine.mntns = _ns_id(proc.pid, "net"), _ns_id(proc.pid, "mnt")
            engine.slirp_pid = _start_slirp(state_dir, proc.pid, exit_r, timeout=15)
            (state_dir / "slirp4netns.pid").write_text(f"{engine.slirp_pid}\n")
            deadline = time.monotonic() + timeout
            while not engine.ping():
                if proc.poll() is not None:
                    raise EngineError(f"podman service exited with {proc.returncode}:\n{_tail(log_path)}")
                if time.monotonic() > deadline:
                    raise EngineError(f"podman service did not answer within {timeout:.0f}s:\n{_tail(log_path)}")
                time.sleep(0.2)
        except BaseException:
            engine.stop(timeout=10)
            raise
        finally:
            os.close(exit_r)
        (state_dir / "engine.json").write_text(
            json.dumps(
                {
                    "pid": engine.pid,
                    "slirp_pid": engine.slirp_pid,
                    "driver": driver,
                    "netns": engine.netns,
                    "mntns": engine.mntns,
                    "base_url": engine.base_url,
                },
                indent=2,
            )
        )
        _progress(
            f"engine pid {engine.pid} ({driver} storage, private netns + slirp4netns) "
            f"answering at {engine.base_url} after {time.monotonic() - t0:.1f}s"
        )
        return engine


def stop_engine(state_dir: Path, timeout: float = 30.0) -> bool:
    """Stop the engine recorded in ``state_dir``; False if none was recorded."""
    engine = _load_engine(Path(state_dir).resolve())
    if engine is None:
        return False
    engine.stop(timeout=timeout)
    return True


# --------------------------------------------------------------------------- images


def host_ca_files() -> list[Path]:
    """Extra CA certificates this machine trusts (update-ca-certificates input)."""
    if not HOST_CA_DIR.is_dir():
        return []
    return sorted(p for p in HOST_CA_DIR.rglob("*.crt") if p.is_file())


def host_build_args() -> dict[str, str]:
    """Proxy and pip-index variables of this environment worth passing as build args
    (``client.images.build(buildargs=...)``); file:// indexes and local paths are left
    out since they do not exist inside a build. Empty on this machine."""
    keys = ("HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY", "http_proxy", "https_proxy", "no_proxy",
            "PIP_INDEX_URL", "PIP_EXTRA_INDEX_URL", "UV_INDEX_URL", "UV_EXTRA_INDEX_URL")  # fmt: skip
    out = {}
    for key in keys:
        value = os.environ.get(key, "")
        if "INDEX_URL" in key:
            value = " ".join(u for u in value.split() if not u.startswith("file:"))
        if value:
            out[key] = value
    return out


def _rootfs_key(trust_host_cas: bool) -> tuple[str, list[Path]]:
    cas = host_ca_files() if trust_host_cas else []
    spec = {
        "suite": BASE_SUITE,
        "variant": "minbase",
        "include": list(BASE_PACKAGES),
        "cas": {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in cas},
    }
    return hashlib.sha256(json.dumps(spec, sort_keys=True).encode()).hexdigest()[:16], cas


def base_rootfs(cache_dir: Path | None = None, *, trust_host_cas: bool = True, timeout: float = 1500) -> Path:
    """The cached mmdebstrap tarball (built on first use; ~70 s and ~250 MB here)."""
    cache_dir = Path(cache_dir or DEFAULT_CACHE_DIR)
    key, cas = _rootfs_key(trust_host_cas)
    tarball = cache_dir / f"{BASE_SUITE}-minbase-py3-{key}.tar"
    with _locked(cache_dir / ".lock"):
        if tarball.exists():
            _progress(f"rootfs cached: {tarball}")
            return tarball
        if shutil.which("mmdebstrap") is None:
            raise EngineError("mmdebstrap is not installed: run scripts/install-system-deps.sh containers")
        partial = tarball.with_suffix(".partial.tar")
        cmd = ["mmdebstrap", "--variant=minbase", f"--include={','.join(BASE_PACKAGES)}"]
        if cas:
            # Trust what the host trusts (e.g. an intercepting proxy's CA) so pip works in builds.
            cmd += [f"--customize-hook=copy-in {' '.join(str(p) for p in cas)} /usr/local/share/ca-certificates/",
                    '--customize-hook=chroot "$1" update-ca-certificates']  # fmt: skip
        cmd += [BASE_SUITE, str(partial)]
        _progress(f"building rootfs with mmdebstrap ({', '.join(BASE_PACKAGES)}; {len(cas)} host CA(s))")
        t0 = time.monotonic()
        proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        assert proc.stdout is not None
        tail: list[str] = []
        for raw in proc.stdout:
            line = raw.decode(errors="replace").rstrip()
            tail = [*tail[-40:], line]
            if line.startswith(("I: ", "E: ", "W: ")):
                _progress(f"mmdebstrap: {line}")
            if time.monotonic() - t0 > timeout:
                proc.kill()
        if proc.wait() != 0:
            partial.unlink(missing_ok=True)
            raise EngineError(f"mmdebstrap failed ({proc.returncode}):\n" + "\n".join(tail))
        partial.rename(tarball)
        for old in cache_dir.glob(f"{BASE_SUITE}-minbase-py3-*.tar"):
            if old != tarball:
                old.unlink(missing_ok=True)
        _progress(f"rootfs built in {time.monotonic() - t0:.0f}s: {tarball}")
        return tarball


def _image_exists(client: docker.DockerClient, name: str) -> bool:
    try:
        client.images.get(name)
        return True
    except docker.errors.ImageNotFound:
        return False


def ensure_base_image(
    engine: Engine | docker.DockerClient,
    tag: str = BASE_TAG,
    cache_dir: Path | None = None,
    *,
    trust_host_cas: bool = True,
) -> str:
    """Make sure ``tag`` exists in the engine (a Debian bookworm minbase + python3 3.11,
    venv, pip, ca-certificates); return the tag. Imported from the cached rootfs tarball
    through the Engine API, with ENV PATH/LANG and CMD ["python3"]."""
    client = engine.client() if isinstance(engine, Engine) else engine
    if _image_exists(client, tag):
        _progress(f"image {tag} present")
        return tag
    tarball = base_rootfs(cache_dir, trust_host_cas=trust_host_cas)
    key = tarball.stem.rsplit("-", 1)[-1]
    repo, ref = parse_repository_tag(tag)
    ref = ref or "latest"
    with _locked(tarball.parent / ".lock"):
        if _image_exists(client, tag):  # another process imported it meanwhile
            return tag
        had_latest = _image_exists(client, f"{repo}:latest")
        _progress(f"importing {tarball.name} as {tag}")
        t0 = time.monotonic()
        changes = [*BASE_CHANGES, f"LABEL io.runyard.base.rootfs={key}"]
        result: Any = client.api.import_image_from_file(str(tarball), repository=repo, tag=ref, changes=changes)
        image_id = ""
        for line in str(result).splitlines():
            with contextlib.suppress(ValueError):
                msg = json.loads(line)
                if msg.get("error"):
                    raise EngineError(f"image import failed: {msg['error']}")
                image_id = msg.get("id") or msg.get("status") or image_id
        if not image_id.startswith("sha256:"):
            raise EngineError(f"image import returned no image id: {result!r}")
        client.images.get(image_id).tag(repo, ref)
        if ref != "latest" and not had_latest and _image_exists(client, f"{repo}:latest"):
            client.images.remove(f"{repo}:latest")  # Podman's compat import ignores tag=
        if isinstance(engine, Engine):  # Podman 4.3 leaves the upload in $TMPDIR
            for leftover in (engine.state_dir / "tmp").glob("api_load.tar*"):
                leftover.unlink(missing_ok=True)
        _progress(f"image {tag} imported in {time.monotonic() - t0:.1f}s")
    return tag


# --------------------------------------------------------------------------- CLI


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Private Podman service speaking the Docker Engine API.")
    parser.add_argument("command", choices=("start", "stop", "status"))
    parser.add_argument("--state-dir", type=Path, required=True)
    parser.add_argument("--base-image", action="store_true", help="start: also ensure " + BASE_TAG)
    parser.add_argument("--cache-dir", type=Path, default=None, help=f"rootfs cache (default {DEFAULT_CACHE_DIR})")
    parser.add_argument("--timeout", type=float, default=300.0)
    args = parser.parse_args(argv)
    state_dir: Path = args.state_dir.resolve()
    if args.command == "start":
        try:
            engine = start_engine(state_dir, timeout=args.timeout)
            if args.base_image:
                ensure_base_image(engine, cache_dir=args.cache_dir)
        except EngineError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 1
        print(f"export DOCKER_HOST={engine.base_url}")
        return 0
    if args.command == "stop":
        if not stop_engine(state_dir):
            _progress(f"no engine recorded in {state_dir}")
        return 0
    running = running_engine(state_dir)
    if running is None:
        print(f"stopped ({state_dir})")
        return 1
    print(f"running pid={running.pid} slirp4netns={running.slirp_pid} driver={running.driver}")
    print(f"export DOCKER_HOST={running.base_url}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
