"""A private, throw-away two-node Slurm cluster on this host, for tests and developers.

Everything lives under one ``state_dir``: a munged of its own (run as user ``munge``
with its own key and socket), a generated ``slurm.conf`` with free ports picked at
start, one ``slurmctld`` and one ``slurmd -N <node>`` per fake node (all nodes are
127.0.0.1). Nothing in /etc is read or changed, and several clusters (or test runs)
can live side by side.

    cluster = start_cluster(Path("/tmp/ry-slurm"))
    subprocess.run(["sbatch", "-N", "2", "job.sh"], env=cluster.env)
    cluster.stop()

Or from a shell::

    python tests/infra/slurm_cluster.py start --state-dir /tmp/ry-slurm   # prints export SLURM_CONF=...
    python tests/infra/slurm_cluster.py status --state-dir /tmp/ry-slurm
    python tests/infra/slurm_cluster.py stop --state-dir /tmp/ry-slurm

``start_cluster`` is idempotent (a healthy cluster already running from the same
state_dir with the same shape and options is reused) and so is ``stop`` (nothing
running: no-op).
Processes are stopped by the ids in their pid files (checked against /proc so a
recycled pid is never signalled), never by name. Needs root (slurmd launches jobs as
their user) and the Debian packages slurm-wlm, munge (scripts/install-system-deps.sh slurm).

What was checked to work on this cluster (Slurm 22.05, Open MPI 4.1, Debian bookworm):

- Pending vs refused: with EnforcePartLimits=NO (set here) a job asking for more nodes
  or CPUs than the partition has is accepted and stays PENDING (reason PartitionConfig,
  for -N also PartitionNodeLimit after the first scheduling pass); ``-c`` above a
  node's CPUs or ``--mem`` above RealMemory is refused by sbatch ("Requested node
  configuration is not available"). ``--immediate`` exists for srun/salloc only.
  ``squeue -h -t all -j 1,2,3 -o "%i %T %r"`` reads several jobs in one call (unknown
  ids are dropped; only unknown ids: exit 1). ``squeue --json`` ignores -j/-t and dumps
  every job still in memory, ``exit_code`` being the raw wait status (3 -> 768).
- Final state/exit code: no slurmdbd, so plain ``sacct`` says "accounting storage is
  disabled". ``scontrol -o show job ID`` (JobState, Reason, ExitCode=3:0 / 0:SIG) keeps
  finished jobs for MinJobAge (3600 s here); ``sacct -c`` reads jobcomp/filetxt, which
  keeps them for the cluster's life. ``--time=1`` ends as TIMEOUT (Reason=TimeLimit)
  60-90 s after start (slurmctld checks limits every 30 s).
- MPI across the two fake nodes (both 127.0.0.1): ``mpirun --allow-run-as-root
  --oversubscribe --mca btl self,tcp`` inside the allocation needs no hostfile (it
  launches its daemons with srun, 2 ranks per node); ``srun --mpi=pmix`` works only
  with ``OMPI_MCA_btl=self,tcp`` (the shared-memory btl crashes, both "nodes" share
  /dev/shm) and needs TmpFS per node (set here). ``--mpi=pmi2`` does not work with
  Debian's Open MPI. Under mpirun SLURM_PROCID is per node: use OMPI_COMM_WORLD_RANK.
- Rendezvous (torchrun-style): MASTER_ADDR is the first node's NodeAddr
  (``scontrol show node $(scontrol show hostnames $SLURM_JOB_NODELIST | head -1)``),
  never the node name (n1 does not resolve); one process per node with
  node_rank=SLURM_NODEID; ports must be free host-wide since all nodes share one host.

Standard library only; no Django import.
"""

from __future__ import annotations

import argparse
import json
import os
import pwd
import random
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any

__all__ = [
    "TERMINAL_STATES",
    "Cluster",
    "ClusterError",
    "cluster_status",
    "missing_requirements",
    "start_cluster",
    "stop_cluster",
]

PARTITION = "debug"
META_FILE = "cluster.json"
# Unix socket paths (munge socket, slurmstepd and PMIx sockets under the state dir)
# must stay below 108 bytes.
MAX_STATE_DIR_LEN = 64
START_TIMEOUT = 30.0
DAEMON_STOP_TIMEOUT = 10.0
TERMINAL_STATES = frozenset(
    {
        "BOOT_FAIL",
        "CANCELLED",
        "COMPLETED",
        "DEADLINE",
        "FAILED",
        "NODE_FAIL",
        "OUT_OF_MEMORY",
        "PREEMPTED",
        "TIMEOUT",
    }
)
_CLIENT_ENV_PREFIXES = ("SLURM_", "SBATCH_", "SALLOC_", "SRUN_", "SQUEUE_", "SACCT_", "SCANCEL_", "SINFO_")
_BINARIES = ("munged", "slurmctld", "slurmd", "slurmstepd", "sbatch", "srun", "squeue", "scancel", "scontrol", "sinfo")


class ClusterError(RuntimeError):
    """The cluster could not be started or used; the message carries the daemons' log tails."""


def missing_requirements() -> list[str]:
    """What this host lacks to run the cluster (empty list: good to go)."""
    missing = [f"binary {b}" for b in _BINARIES if shutil.which(b) is None and not Path("/usr/sbin", b).exists()]
    if os.geteuid() != 0:
        missing.append("root (slurmd must run as root to launch jobs)")
    try:
        pwd.getpwnam("munge")
    except KeyError:
        missing.append("user munge (Debian package munge)")
    return missing


def _which(name: str) -> str:
    found = shutil.which(name)
    if found:
        return found
    for d in ("/usr/sbin", "/usr/bin", "/usr/local/sbin", "/usr/local/bin"):
        if Path(d, name).exists():
            return str(Path(d, name))
    raise ClusterError(f"{name} not found: run scripts/install-system-deps.sh slurm")


# --------------------------------------------------------------------------- layout


@dataclass(frozen=True)
class _Layout:
    root: Path

    @property
    def conf(self) -> Path:
        return self.root / "slurm.conf"

    @property
    def plugstack(self) -> Path:
        return self.root / "plugstack.conf"

    @property
    def meta(self) -> Path:
        return self.root / META_FILE

    @property
    def munge_dir(self) -> Path:
        return self.root / "munge"

    @property
    def munge_key(self) -> Path:
        return self.munge_dir / "munge.key"

    @property
    def munge_socket(self) -> Path:
        return self.munge_dir / "munge.sock"

    @property
    def munge_pid(self) -> Path:
        return self.munge_dir / "munged.pid"

    @property
    def munge_log(self) -> Path:
        return self.munge_dir / "munged.log"

    @property
    def munge_seed(self) -> Path:
        return self.munge_dir / "munged.seed"

    @property
    def ctld_state(self) -> Path:
        return self.root / "ctld"

    @property
    def spool(self) -> Path:
        return self.root / "spool"

    @property
    def tmpfs(self) -> Path:
        return self.root / "tmp"

    @property
    def logs(self) -> Path:
        return self.root / "log"

    @property
    def run(self) -> Path:
        return self.root / "run"

    @property
    def ctld_pid(self) -> Path:
        return self.run / "slurmctld.pid"

    def slurmd_pid(self, node: str) -> Path:
        return self.run / f"slurmd-{node}.pid"

    @property
    def ctld_log(self) -> Path:
        return self.logs / "slurmctld.log"

    def slurmd_log(self, node: str) -> Path:
        return self.logs / f"slurmd-{node}.log"

    @property
    def jobcomp_log(self) -> Path:
        return self.logs / "jobcomp.log"


# --------------------------------------------------------------------------- processes


def _read_pid(path: Path) -> int | None:
    try:
        return int(path.read_text().strip())
    except (OSError, ValueError):
        return None


def _proc_alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    # Field 3 is the state; a zombie (Z) or dead (X) process is gone for our purposes.
    return stat.rsplit(")", 1)[1].split()[0] not in ("Z", "X")


def _proc_cmdline(pid: int) -> list[str]:
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return []
    return [a.decode(errors="replace") for a in raw.split(b"\0") if a]


def _proc_environ(pid: int) -> dict[str, str]:
    try:
        raw = Path(f"/proc/{pid}/environ").read_bytes()
    except OSError:
        return {}
    env: dict[str, str] = {}
    for item in raw.split(b"\0"):
        key, sep, value = item.partition(b"=")
        if sep:
            env[key.decode(errors="replace")] = value.decode(errors="replace")
    return env


def _proc_exe_name(pid: int) -> str:
    try:
        return Path(os.readlink(f"/proc/{pid}/exe")).name
    except OSError:
        return ""


def _is_ours(pid: int, binary: str, marker: str) -> bool:
    """Is ``pid`` still the daemon we started (not a recycled pid)?"""
    if not _proc_alive(pid):
        return False
    cmd = _proc_cmdline(pid)
    if not cmd or Path(cmd[0]).name != binary:
        return False
    return marker in cmd or any(marker in a for a in cmd) or _proc_environ(pid).get("SLURM_CONF") == marker


def _signal(pid: int, sig: int) -> None:
    try:
        os.kill(pid, sig)
    except ProcessLookupError:
        pass


def _wait_gone(pids: Sequence[int], timeout: float) -> list[int]:
    deadline = time.monotonic() + timeout
    left = [p for p in pids if _proc_alive(p)]
    while left and time.monotonic() < deadline:
        time.sleep(0.1)
        left = [p for p in left if _proc_alive(p)]
    return left


def _terminate(pids: Sequence[int], timeout: float = DAEMON_STOP_TIMEOUT) -> None:
    for pid in pids:
        _signal(pid, signal.SIGTERM)
    for pid in _wait_gone(pids, timeout):
        _signal(pid, signal.SIGKILL)
    _wait_gone(pids, 5.0)


def _stray_step_pids(conf: Path) -> list[int]:
    """slurmstepd processes of this cluster (they inherit SLURM_CONF from slurmd) and all their descendants."""
    children: dict[int, list[int]] = {}
    roots: list[int] = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        pid = int(entry.name)
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        children.setdefault(ppid, []).append(pid)
        if _proc_exe_name(pid).startswith("slurmstepd") and _proc_environ(pid).get("SLURM_CONF") == str(conf):
            roots.append(pid)
    found: list[int] = []
    stack = list(roots)
    while stack:
        pid = stack.pop()
        if pid in found or pid == os.getpid():
            continue
        found.append(pid)
        stack.extend(children.get(pid, []))
    return found


# --------------------------------------------------------------------------- helpers


def _free_ports(count: int) -> list[int]:
    """``count`` distinct TCP ports free on all addresses, outside the ephemeral range."""
    held: list[socket.socket] = []
    ports: list[int] = []
    rng = random.Random(os.getpid() ^ time.monotonic_ns())
    try:
        for _ in range(2000):
            if len(ports) == count:
                break
            port = rng.randrange(20000, 32000)
            if port in ports:
                continue
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            try:
                sock.bind(("", port))
            except OSError:
                sock.close()
                continue
            held.append(sock)
            ports.append(port)
    finally:
        for sock in held:
            sock.close()
    if len(ports) != count:
        raise ClusterError("could not find free TCP ports in 20000-31999")
    return ports


def _tail(path: Path, lines: int = 25) -> str:
    try:
        text = path.read_text(errors="replace").splitlines()
    except OSError:
        return "(no file)"
    return "\n".join(text[-lines:]) or "(empty)"


def _client_env(conf: Path, base: Mapping[str, str] | None = None) -> dict[str, str]:
    env = {k: v for k, v in (os.environ if base is None else base).items() if not k.startswith(_CLIENT_ENV_PREFIXES)}
    env["SLURM_CONF"] = str(conf)
    return env


def _check_state_dir(root: Path) -> None:
    if len(str(root)) > MAX_STATE_DIR_LEN:
        raise ClusterError(
            f"state_dir {root} is too long ({len(str(root))} > {MAX_STATE_DIR_LEN} chars): unix socket paths "
            "under it would pass the 108-byte limit; use a short dir such as tempfile.mkdtemp(prefix='ry-slurm-')"
        )
    # munged (user munge) must reach its key and socket, and every client its socket:
    # every ancestor needs the execute bit for others.
    for parent in root.parents:
        mode = parent.stat().st_mode
        if not mode & 0o001:
            raise ClusterError(
                f"{parent} is not traversable by others (mode {oct(mode & 0o777)}): munged runs as user munge and "
                "needs its socket reachable by all; put state_dir under /tmp (pytest's tmp_path is 0700, so use "
                "tempfile.mkdtemp instead)"
            )


# --------------------------------------------------------------------------- config


def _slurm_conf(
    lay: _Layout,
    cluster_name: str,
    nodes: Sequence[str],
    cpus_per_node: int,
    mem_mb_per_node: int,
    ctld_port: int,
    slurmd_ports: Sequence[int],
    min_job_age: int,
    kill_wait: int,
    mpi_default: str,
    extra_conf: Sequence[str],
) -> str:
    node_lines = "\n".join(
        f"NodeName={n} NodeHostname=localhost NodeAddr=127.0.0.1 Port={p} CPUs={cpus_per_node} "
        f"RealMemory={mem_mb_per_node} State=UNKNOWN"
        for n, p in zip(nodes, slurmd_ports, strict=True)
    )
    node_list = ",".join(nodes)
    extra = "\n".join(extra_conf)
    return f"""\
# Generated by tests/infra/slurm_cluster.py; rewritten on every fresh start.
ClusterName={cluster_name}
SlurmctldHost=localhost
SlurmctldPort={ctld_port}
# Only used by slurmd started without a per-node Port; every node below has its own.
SlurmdPort={slurmd_ports[0]}
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket={lay.munge_socket}
StateSaveLocation={lay.ctld_state}
SlurmdSpoolDir={lay.spool}/%n
SlurmctldPidFile={lay.ctld_pid}
SlurmdPidFile={lay.run}/slurmd-%n.pid
SlurmctldLogFile={lay.ctld_log}
SlurmdLogFile={lay.logs}/slurmd-%n.log
SlurmctldDebug=info
SlurmdDebug=info
# PMIx puts per-step client dirs under TmpFS: it must differ per node, or the second
# node of a step fails with "Cannot create client cli tmpdir: File exists".
TmpFS={lay.tmpfs}/%n
PlugStackConfig={lay.plugstack}
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
# No slurmdbd: finished jobs stay in `scontrol show job`/`squeue -t all` for MinJobAge
# seconds, and for good in the job completion log that `sacct -c` reads.
JobCompType=jobcomp/filetxt
JobCompLoc={lay.jobcomp_log}
MinJobAge={min_job_age}
KillWait={kill_wait}
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
SchedulerType=sched/backfill
# Schedule batch jobs at once (default waits up to 3 s to batch submissions).
SchedulerParameters=batch_sched_delay=0
# Accept jobs asking for more than the partition has; they stay PENDING with a reason.
EnforcePartLimits=NO
# Trust the CPUs= below even where the host has fewer cores.
SlurmdParameters=config_overrides
ReturnToService=2
MpiDefault={mpi_default}
{node_lines}
PartitionName={PARTITION} Nodes={node_list} Default=YES MaxTime=INFINITE State=UP
{extra}
"""


# --------------------------------------------------------------------------- cluster


@dataclass
class Cluster:
    """A running private cluster. ``env`` is a full environment for Slurm client commands."""

    state_dir: Path
    conf_path: Path
    cluster_name: str
    nodes: list[str]
    cpus_per_node: int
    ctld_port: int
    slurmd_ports: list[int]
    partition: str = PARTITION
    env: dict[str, str] = field(default_factory=dict)
    started_seconds: float = 0.0
    options: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.env:
            self.env = _client_env(self.conf_path)

    # -- life cycle
    def stop(self, timeout: float = 30.0) -> None:
        """Cancel all jobs, stop the daemons this cluster started (by pid), kill stray job steps. Idempotent."""
        stop_cluster(self.state_dir, timeout=timeout)

    def is_running(self) -> bool:
        return _daemons_alive(_Layout(self.state_dir), self.nodes) and self._ctld_up()

    def __enter__(self) -> Cluster:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    @property
    def env_overrides(self) -> dict[str, str]:
        """Just what must be added to a caller's environment: SLURM_CONF."""
        return {"SLURM_CONF": str(self.conf_path)}

    # -- client helpers
    def run(
        self, args: Sequence[str], *, check: bool = True, timeout: float = 60.0
    ) -> subprocess.CompletedProcess[str]:
        """Run a Slurm client command (``["sbatch", ...]``) against this cluster."""
        proc = subprocess.run(list(args), env=self.env, capture_output=True, text=True, timeout=timeout)
        if check and proc.returncode != 0:
            raise ClusterError(
                f"{' '.join(args)} exited {proc.returncode}: {proc.stderr.strip() or proc.stdout.strip()}"
            )
        return proc

    def sbatch(self, *args: str, cwd: Path | None = None) -> int:
        """Submit with ``sbatch --parsable ARGS``; returns the job id."""
        proc = subprocess.run(
            ["sbatch", "--parsable", *args], env=self.env, capture_output=True, text=True, timeout=60, cwd=cwd
        )
        if proc.returncode != 0:
            raise ClusterError(f"sbatch {' '.join(args)} exited {proc.returncode}: {proc.stderr.strip()}")
        return int(proc.stdout.strip().split(";")[0])

    def job_info(self, job_id: int) -> dict[str, str]:
        """``scontrol show job`` fields (JobState, Reason, ExitCode, NodeList, ...).

        Finished jobs are kept there for MinJobAge seconds; after that the job
        completion log is read via ``sacct -c`` (JobState, ExitCode, NodeList only).
        """
        proc = self.run(["scontrol", "-o", "show", "job", str(job_id)], check=False)
        if proc.returncode == 0 and proc.stdout.strip():
            info: dict[str, str] = {}
            for token in proc.stdout.split():
                key, sep, value = token.partition("=")
                if sep and key not in info:
                    info[key] = value
            return info
        acct = self.run(
            ["sacct", "-c", "-n", "-P", "-j", str(job_id), "-o", "jobid,state,exitcode,nodelist"], check=False
        )
        for line in acct.stdout.splitlines():
            jid, state, exit_code, nodelist = [*line.split("|"), "", "", ""][:4]
            if jid == str(job_id):
                return {"JobId": jid, "JobState": state.split()[0], "ExitCode": exit_code, "NodeList": nodelist}
        raise ClusterError(f"job {job_id} unknown to slurmctld and to the job completion log")

    def wait_job(self, job_id: int, timeout: float = 60.0, states: frozenset[str] = TERMINAL_STATES) -> dict[str, str]:
        """Poll until the job's state is in ``states`` (default: any final state); returns job_info."""
        deadline = time.monotonic() + timeout
        info = self.job_info(job_id)
        while info.get("JobState") not in states:
            if time.monotonic() > deadline:
                raise ClusterError(f"job {job_id} still {info.get('JobState')} after {timeout}s: {info}")
            time.sleep(0.3)
            info = self.job_info(job_id)
        return info

    def node_states(self) -> dict[str, str]:
        proc = self.run(["sinfo", "-h", "-N", "-o", "%N %T"], check=False)
        states: dict[str, str] = {}
        for line in proc.stdout.splitlines():
            parts = line.split()
            if len(parts) == 2:
                states[parts[0]] = parts[1]
        return states

    def log_tails(self, lines: int = 25) -> str:
        return _log_tails(_Layout(self.state_dir), self.nodes, lines)

    def _ctld_up(self) -> bool:
        try:
            proc = subprocess.run(["scontrol", "ping"], env=self.env, capture_output=True, text=True, timeout=15)
        except subprocess.TimeoutExpired:
            return False
        return proc.returncode == 0 and "UP" in proc.stdout

    # -- persistence
    def _save(self) -> None:
        meta = {
            "cluster_name": self.cluster_name,
            "nodes": self.nodes,
            "cpus_per_node": self.cpus_per_node,
            "ctld_port": self.ctld_port,
            "slurmd_ports": self.slurmd_ports,
            "partition": self.partition,
            "options": self.options,
            "conf_path": str(self.conf_path),
        }
        _Layout(self.state_dir).meta.write_text(json.dumps(meta, indent=2) + "\n")

    @classmethod
    def _load(cls, state_dir: Path) -> Cluster | None:
        try:
            meta: dict[str, Any] = json.loads(_Layout(state_dir).meta.read_text())
        except (OSError, ValueError):
            return None
        return cls(
            state_dir=state_dir,
            conf_path=Path(meta["conf_path"]),
            cluster_name=str(meta["cluster_name"]),
            nodes=[str(n) for n in meta["nodes"]],
            cpus_per_node=int(meta["cpus_per_node"]),
            ctld_port=int(meta["ctld_port"]),
            slurmd_ports=[int(p) for p in meta["slurmd_ports"]],
            partition=str(meta.get("partition", PARTITION)),
            options=dict(meta.get("options", {})),
        )


def _log_tails(lay: _Layout, nodes: Sequence[str], lines: int = 25) -> str:
    files = [lay.munge_log, lay.ctld_log, *(lay.slurmd_log(n) for n in nodes)]
    files += sorted(lay.logs.glob("*.out")) if lay.logs.exists() else []
    return "\n".join(f"--- {f}\n{_tail(f, lines)}" for f in files)


def _daemon_pids(lay: _Layout, nodes: Sequence[str]) -> Iterator[tuple[str, int | None, bool]]:
    """(name, pid from pid file, pid is still our daemon) for munged, slurmctld and each slurmd."""
    conf = str(lay.conf)
    yield (
        "munged",
        (pid := _read_pid(lay.munge_pid)),
        pid is not None and _is_ours(pid, "munged", str(lay.munge_socket)),
    )
    yield "slurmctld", (pid := _read_pid(lay.ctld_pid)), pid is not None and _is_ours(pid, "slurmctld", conf)
    for node in nodes:
        pid = _read_pid(lay.slurmd_pid(node))
        yield f"slurmd {node}", pid, pid is not None and _is_ours(pid, "slurmd", conf) and node in _proc_cmdline(pid)


def _daemons_alive(lay: _Layout, nodes: Sequence[str]) -> bool:
    return all(ours for _, _, ours in _daemon_pids(lay, nodes))


def _nodes_of(state_dir: Path) -> list[str]:
    existing = Cluster._load(state_dir)
    if existing is not None:
        return existing.nodes
    run = _Layout(state_dir).run
    return sorted(p.name[len("slurmd-") : -len(".pid")] for p in run.glob("slurmd-*.pid")) if run.exists() else []


# --------------------------------------------------------------------------- start / stop


def _prepare_munge(lay: _Layout) -> None:
    munge = pwd.getpwnam("munge")
    lay.munge_dir.mkdir(parents=True, exist_ok=True)
    # 0711: munged insists that others can traverse the socket's directory.
    os.chown(lay.munge_dir, munge.pw_uid, munge.pw_gid)
    os.chmod(lay.munge_dir, 0o711)
    if not lay.munge_key.exists():
        fd = os.open(lay.munge_key, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as fh:
            fh.write(os.urandom(1024))
    os.chown(lay.munge_key, munge.pw_uid, munge.pw_gid)
    os.chmod(lay.munge_key, 0o600)


def _spawn(args: Sequence[str], out: Path, env: Mapping[str, str]) -> None:
    """Run a self-daemonizing program; its stdout/stderr go to ``out`` (never a pipe we'd block on)."""
    with out.open("ab") as fh:
        proc = subprocess.run(
            list(args),
            stdin=subprocess.DEVNULL,
            stdout=fh,
            stderr=fh,
            env=dict(env),
            timeout=30,
            start_new_session=True,
        )
    if proc.returncode != 0:
        raise ClusterError(f"{' '.join(args)} exited {proc.returncode}")


def _wait_for(what: str, check: Any, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise ClusterError(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(0.1)


def start_cluster(
    state_dir: Path,
    nodes: int = 2,
    cpus_per_node: int = 4,
    *,
    mem_mb_per_node: int = 2048,
    min_job_age: int = 3600,
    kill_wait: int = 5,
    mpi_default: str = "none",
    extra_conf: Sequence[str] = (),
    timeout: float = START_TIMEOUT,
) -> Cluster:
    """Start (or reuse) a private cluster of ``nodes`` fake nodes n1..nN under ``state_dir``.

    Returns once every node is idle. A cluster already running from ``state_dir`` with
    the same node count, CPUs and options is returned as is; anything else there is
    stopped and a fresh cluster (new ports, empty job state, job ids from 1) is started.
    On failure everything started is stopped and ClusterError carries the daemons' log
    tails.

    ``kill_wait``: seconds between scancel's SIGTERM and SIGKILL (Slurm's KillWait).
    ``min_job_age``: seconds finished jobs stay visible to scontrol/squeue.
    ``mpi_default``: srun's --mpi default ("pmix" works; see the module doc for Open MPI).
    ``extra_conf``: lines appended to slurm.conf (a later line overrides an earlier one).
    """
    missing = missing_requirements()
    if missing:
        raise ClusterError("cannot run a Slurm cluster here, missing: " + ", ".join(missing))
    if nodes < 1 or cpus_per_node < 1:
        raise ValueError("nodes and cpus_per_node must be >= 1")
    state_dir = Path(state_dir).absolute()
    state_dir.mkdir(parents=True, exist_ok=True)
    os.chmod(state_dir, 0o755)
    _check_state_dir(state_dir)
    lay = _Layout(state_dir)
    node_names = [f"n{i}" for i in range(1, nodes + 1)]

    options: dict[str, Any] = {
        "mem_mb_per_node": mem_mb_per_node,
        "min_job_age": min_job_age,
        "kill_wait": kill_wait,
        "mpi_default": mpi_default,
        "extra_conf": list(extra_conf),
    }
    existing = Cluster._load(state_dir)
    same_shape = existing is not None and (existing.nodes, existing.cpus_per_node) == (node_names, cpus_per_node)
    if existing is not None and same_shape and existing.options == options:
        bad = ("down", "drain", "fail", "inval", "unk", "not_responding")
        if existing.is_running() and not any(b in s for s in existing.node_states().values() for b in bad):
            return existing
    stop_cluster(state_dir)

    last_error: ClusterError | None = None
    for _attempt in range(3):  # retry only a lost race for a port
        try:
            return _start_fresh(lay, node_names, cpus_per_node, options, timeout)
        except ClusterError as exc:
            last_error = exc
            if "Address already in use" not in str(exc):
                raise
    assert last_error is not None
    raise last_error


def _start_fresh(
    lay: _Layout, node_names: list[str], cpus_per_node: int, options: dict[str, Any], timeout: float
) -> Cluster:
    t0 = time.monotonic()
    # Fresh job state: job ids restart at 1, so the old completion log must go too.
    for d in (lay.ctld_state, lay.spool, lay.tmpfs, lay.run):
        shutil.rmtree(d, ignore_errors=True)
    lay.logs.mkdir(parents=True, exist_ok=True)
    for old in lay.logs.iterdir():  # keep the previous run's logs, one generation
        if old.is_file() and not old.name.endswith(".prev"):
            old.replace(old.with_name(old.name + ".prev"))
    for d in (lay.ctld_state, lay.run, *(lay.spool / n for n in node_names), *(lay.tmpfs / n for n in node_names)):
        d.mkdir(parents=True, exist_ok=True)
    lay.plugstack.write_text("# empty: keep the system's /etc/slurm/plugstack.conf.d out of this cluster\n")
    if lay.munge_log.exists():
        lay.munge_log.replace(lay.munge_log.with_name("munged.log.prev"))
    _prepare_munge(lay)

    ports = _free_ports(1 + len(node_names))
    cluster_name = "ry" + "".join(random.choice("abcdefghijklmnopqrstuvwxyz") for _ in range(6))
    lay.conf.write_text(
        _slurm_conf(
            lay, cluster_name, node_names, cpus_per_node, options["mem_mb_per_node"], ports[0], ports[1:],
            options["min_job_age"], options["kill_wait"], options["mpi_default"], options["extra_conf"],
        )
    )  # fmt: skip
    cluster = Cluster(
        state_dir=lay.root,
        conf_path=lay.conf,
        cluster_name=cluster_name,
        nodes=node_names,
        cpus_per_node=cpus_per_node,
        ctld_port=ports[0],
        slurmd_ports=ports[1:],
        options=options,
    )
    cluster._save()
    daemon_env = cluster.env
    try:
        _spawn(
            [
                "runuser", "-u", "munge", "--", _which("munged"),
                f"--key-file={lay.munge_key}", f"--socket={lay.munge_socket}", f"--pid-file={lay.munge_pid}",
                f"--log-file={lay.munge_log}", f"--seed-file={lay.munge_seed}",
            ],
            lay.logs / "munged.out",
            daemon_env,
        )  # fmt: skip
        _wait_for("munged's socket", lambda: lay.munge_socket.exists() and lay.munge_pid.exists(), timeout)
        _spawn([_which("slurmctld"), "-i", "-f", str(lay.conf)], lay.logs / "slurmctld.out", daemon_env)
        _wait_for("slurmctld to answer `scontrol ping`", cluster._ctld_up, timeout)
        for node in node_names:
            _spawn([_which("slurmd"), "-N", node, "-f", str(lay.conf)], lay.logs / f"slurmd-{node}.out", daemon_env)

        def all_idle() -> bool:
            states = cluster.node_states()
            return sorted(states) == sorted(node_names) and all(s == "idle" for s in states.values())

        _wait_for("all nodes idle in sinfo", all_idle, timeout)
        if not _daemons_alive(lay, node_names):
            raise ClusterError("a daemon exited right after starting")
    except (ClusterError, OSError, subprocess.SubprocessError) as exc:
        tails = _log_tails(lay, node_names)
        stop_cluster(lay.root)
        raise ClusterError(f"starting the Slurm cluster in {lay.root} failed: {exc}\n{tails}") from exc
    cluster.started_seconds = time.monotonic() - t0
    return cluster


def stop_cluster(state_dir: Path, timeout: float = 30.0) -> bool:
    """Stop whatever a cluster under ``state_dir`` left running. Returns True if anything was running."""
    state_dir = Path(state_dir).absolute()
    lay = _Layout(state_dir)
    if not lay.root.exists():
        return False
    nodes = _nodes_of(state_dir)
    daemons = list(_daemon_pids(lay, nodes))
    ours = {name: pid for name, pid, alive in daemons if alive and pid is not None}
    env = _client_env(lay.conf)
    did_something = bool(ours)

    if "slurmctld" in ours:
        # Cancel every job so slurmd/slurmstepd kill their tasks cleanly, then wait (bounded).
        try:
            jobs = subprocess.run(
                ["squeue", "-h", "-o", "%i"], env=env, capture_output=True, text=True, timeout=15
            ).stdout.split()
            if jobs:
                subprocess.run(["scancel", *jobs], env=env, capture_output=True, text=True, timeout=15)
                deadline = time.monotonic() + timeout
                while time.monotonic() < deadline:
                    left = subprocess.run(
                        ["squeue", "-h", "-o", "%i"], env=env, capture_output=True, text=True, timeout=15
                    ).stdout.split()
                    if not left:
                        break
                    time.sleep(0.3)
        except (OSError, subprocess.SubprocessError):
            pass

    slurmds = [pid for name, pid in ours.items() if name.startswith("slurmd ")]
    _terminate(slurmds)
    if "slurmctld" in ours:
        _terminate([ours["slurmctld"]])
    strays = _stray_step_pids(lay.conf)
    if strays:
        did_something = True
        _terminate(strays, timeout=5.0)
    if "munged" in ours:
        _terminate([ours["munged"]])
    for path in (lay.munge_pid, lay.ctld_pid, *(lay.slurmd_pid(n) for n in nodes)):
        try:
            path.unlink()
        except FileNotFoundError:
            pass
    return did_something


def cluster_status(state_dir: Path) -> dict[str, Any]:
    state_dir = Path(state_dir).absolute()
    lay = _Layout(state_dir)
    nodes = _nodes_of(state_dir)
    daemons = {name: {"pid": pid, "running": alive} for name, pid, alive in _daemon_pids(lay, nodes)}
    status: dict[str, Any] = {"state_dir": str(state_dir), "conf": str(lay.conf), "daemons": daemons}
    cluster = Cluster._load(state_dir)
    if cluster is not None:
        status["ctld_port"] = cluster.ctld_port
        status["slurmd_ports"] = cluster.slurmd_ports
        status["running"] = cluster.is_running()
        status["nodes"] = cluster.node_states() if daemons.get("slurmctld", {}).get("running") else {}
    else:
        status["running"] = False
    return status


# --------------------------------------------------------------------------- CLI


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Private multi-node Slurm cluster on this host (tests, development).")
    parser.add_argument("action", choices=["start", "stop", "status"])
    parser.add_argument("--state-dir", required=True, type=Path)
    parser.add_argument("--nodes", type=int, default=2)
    parser.add_argument("--cpus-per-node", type=int, default=4)
    args = parser.parse_args(argv)
    try:
        if args.action == "start":
            cluster = start_cluster(args.state_dir, nodes=args.nodes, cpus_per_node=args.cpus_per_node)
            print(f"export SLURM_CONF={cluster.conf_path}")
            print(
                f"# cluster {cluster.cluster_name}: nodes {','.join(cluster.nodes)} x {cluster.cpus_per_node} CPUs, "
                f"partition {cluster.partition}, slurmctld port {cluster.ctld_port}",
                file=sys.stderr,
            )
            return 0
        if args.action == "stop":
            ran = stop_cluster(args.state_dir)
            print("stopped" if ran else "nothing was running", file=sys.stderr)
            return 0
        status = cluster_status(args.state_dir)
        print(json.dumps(status, indent=2))
        return 0 if status["running"] else 3
    except ClusterError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
