"""The private two-node Slurm cluster (tests/infra/slurm_cluster.py) really schedules,
launches, reports and cancels jobs the way Runyard's Slurm backend will rely on.

Run: .venv/bin/python -m pytest -p no:django tests/infra/test_slurm_cluster.py
Needs root and the Debian packages slurm-wlm, munge, openmpi-bin (scripts/install-system-deps.sh slurm).
"""

from __future__ import annotations

import shutil
import socket
import sys
import textwrap
import time
from pathlib import Path

import pytest

from tests.infra.slurm_cluster import Cluster, start_cluster

pytestmark = pytest.mark.slurm

NODES = 2
CPUS_PER_NODE = 4


def _script(path: Path, body: str) -> Path:
    path.write_text("#!/bin/bash\nset -u\n" + textwrap.dedent(body))
    path.chmod(0o755)
    return path


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


RENDEZVOUS = '''\
"""Rank 0 listens on MASTER_ADDR:MASTER_PORT, every other rank connects; all print the world size."""
import json, os, socket, time
env = os.environ
rank = int(env.get("OMPI_COMM_WORLD_RANK") or env["SLURM_PROCID"])
world = int(env.get("OMPI_COMM_WORLD_SIZE") or env["SLURM_NTASKS"])
addr, port = env["MASTER_ADDR"], int(env["MASTER_PORT"])
me = {"rank": rank, "node": env["SLURMD_NODENAME"]}
if rank == 0:
    srv = socket.create_server((addr, port))
    srv.settimeout(30)
    peers, conns = [me], []
    while len(peers) < world:
        conn, _ = srv.accept()
        peers.append(json.loads(conn.makefile().readline()))
        conns.append(conn)
    reply = (json.dumps(peers) + "\\n").encode()
    for conn in conns:
        conn.sendall(reply)
    seen = peers
else:
    deadline = time.monotonic() + 30
    while True:
        try:
            sock = socket.create_connection((addr, port), timeout=5)
            break
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)
    sock.sendall((json.dumps(me) + "\\n").encode())
    seen = json.loads(sock.makefile().readline())
line = f"RDZV {rank} {me['node']} {len(seen)}"
print(line, flush=True)
# mpirun's output forwarding may interleave ranks' lines: each rank also writes its own file.
with open(os.path.join(env["RDZV_DIR"], f"rank-{rank}"), "w") as fh:
    fh.write(line + "\\n")
'''


def _rendezvous_rows(directory: Path) -> list[list[str]]:
    return sorted(p.read_text().split()[1:] for p in directory.glob("rank-*"))


def test_two_node_job_runs_four_ranks_on_both_nodes(slurm_cluster: Cluster, tmp_path: Path) -> None:
    script = _script(
        tmp_path / "ranks.sh",
        """\
        srun hostname
        srun bash -c 'echo "TASK $SLURM_PROCID $SLURM_NODEID $SLURM_LOCALID $SLURMD_NODENAME $SLURM_JOB_NODELIST"'
        srun env | grep '^SLURM_PROCID='
        """,
    )
    out = tmp_path / "ranks.out"
    job = slurm_cluster.sbatch("-N", "2", "--ntasks-per-node", "2", "-o", str(out), str(script))
    info = slurm_cluster.wait_job(job)
    assert info["JobState"] == "COMPLETED", (info, out.read_text() if out.exists() else "")
    assert info["ExitCode"] == "0:0"

    tasks = [line.split() for line in out.read_text().splitlines() if line.startswith("TASK ")]
    assert len(tasks) == 4
    assert sorted(int(t[1]) for t in tasks) == [0, 1, 2, 3]
    assert {t[4] for t in tasks} == {"n1", "n2"}
    by_node = {node: sorted((int(t[2]), int(t[3])) for t in tasks if t[4] == node) for node in ("n1", "n2")}
    assert by_node == {"n1": [(0, 0), (0, 1)], "n2": [(1, 0), (1, 1)]}  # (SLURM_NODEID, SLURM_LOCALID)
    assert {t[5] for t in tasks} == {"n[1-2]"}
    procids = sorted(line for line in out.read_text().splitlines() if line.startswith("SLURM_PROCID="))
    assert procids == [f"SLURM_PROCID={i}" for i in range(4)]


def test_job_asking_for_too_much_stays_pending_with_reason_and_can_be_cancelled(slurm_cluster: Cluster) -> None:
    # Accepted (EnforcePartLimits=NO) but never runnable: slurmctld keeps them PENDING with a reason.
    too_many_nodes = slurm_cluster.sbatch("-N", str(NODES + 1), "-o", "/dev/null", "--wrap", "true")
    too_many_cpus = slurm_cluster.sbatch("-n", str(NODES * CPUS_PER_NODE + 1), "-o", "/dev/null", "--wrap", "true")
    ids = f"{too_many_nodes},{too_many_cpus}"

    deadline = time.monotonic() + 20
    while True:
        out = slurm_cluster.run(["squeue", "-h", "-j", ids, "-o", "%i %T %r"]).stdout
        rows = {int(i): (state, reason) for i, state, reason in (line.split() for line in out.splitlines())}
        if all(rows.get(j, ("", "None"))[1] not in ("None", "") for j in (too_many_nodes, too_many_cpus)):
            break
        assert time.monotonic() < deadline, rows
        time.sleep(0.3)
    # The -N job first shows PartitionConfig, then PartitionNodeLimit once the scheduler looked at it.
    impossible = {"PartitionConfig", "PartitionNodeLimit"}
    assert rows[too_many_nodes][0] == "PENDING" and rows[too_many_nodes][1] in impossible, rows
    assert rows[too_many_cpus] == ("PENDING", "PartitionConfig"), rows

    # A request no node could ever satisfy (more CPUs per task than a node has) is refused at submit.
    refused = slurm_cluster.run(["sbatch", "-c", str(CPUS_PER_NODE + 1), "--wrap", "true"], check=False)
    assert refused.returncode != 0
    assert "Requested node configuration is not available" in refused.stderr

    slurm_cluster.run(["scancel", str(too_many_nodes), str(too_many_cpus)])
    for job in (too_many_nodes, too_many_cpus):
        assert slurm_cluster.wait_job(job, timeout=20)["JobState"] == "CANCELLED"
    out = slurm_cluster.run(["squeue", "-h", "-t", "all", "-j", ids, "-o", "%i %T"]).stdout
    assert sorted(out.split()) == sorted([str(too_many_nodes), str(too_many_cpus), "CANCELLED", "CANCELLED"])


def test_failing_job_exit_code_is_readable_after_it_ends(slurm_cluster: Cluster) -> None:
    job = slurm_cluster.sbatch("-o", "/dev/null", "--wrap", "echo failing; exit 3")
    info = slurm_cluster.wait_job(job)
    assert (info["JobState"], info["Reason"], info["ExitCode"]) == ("FAILED", "NonZeroExitCode", "3:0")

    # No slurmdbd: plain sacct is disabled, but the job completion log (sacct -c) keeps it for good.
    assert slurm_cluster.run(["sacct", "-j", str(job)], check=False).returncode != 0
    deadline = time.monotonic() + 10
    while True:
        acct = slurm_cluster.run(["sacct", "-c", "-n", "-P", "-j", str(job), "-o", "jobid,state,exitcode"]).stdout
        if acct.strip():
            break
        assert time.monotonic() < deadline, "job never reached the completion log"
        time.sleep(0.3)
    assert acct.split() == [f"{job}|FAILED|3:0"]


def test_ranks_on_both_nodes_rendezvous_over_tcp(slurm_cluster: Cluster, tmp_path: Path) -> None:
    """What a torchrun/MPI-style rendezvous needs: MASTER_ADDR is the first node's NodeAddr."""
    (tmp_path / "rdzv.py").write_text(RENDEZVOUS)
    script = _script(
        tmp_path / "rdzv.sh",
        f"""\
        first=$(scontrol show hostnames "$SLURM_JOB_NODELIST" | head -n1)
        export MASTER_ADDR=$(scontrol show node "$first" -o | tr ' ' '\\n' | sed -n 's/^NodeAddr=//p')
        export MASTER_PORT={_free_port()} RDZV_DIR={tmp_path}
        srun {sys.executable} {tmp_path / "rdzv.py"}
        """,
    )
    out = tmp_path / "rdzv.out"
    job = slurm_cluster.sbatch("-N", "2", "--ntasks-per-node", "2", "-o", str(out), str(script))
    info = slurm_cluster.wait_job(job)
    text = out.read_text()
    assert info["JobState"] == "COMPLETED", text
    assert _rendezvous_rows(tmp_path) == [["0", "n1", "4"], ["1", "n1", "4"], ["2", "n2", "4"], ["3", "n2", "4"]], text


@pytest.mark.skipif(shutil.which("mpirun") is None, reason="openmpi-bin not installed")
def test_mpirun_places_two_ranks_on_each_node(slurm_cluster: Cluster, tmp_path: Path) -> None:
    (tmp_path / "rdzv.py").write_text(RENDEZVOUS)
    script = _script(
        tmp_path / "mpi.sh",
        f"""\
        export MASTER_ADDR=127.0.0.1 MASTER_PORT={_free_port()} RDZV_DIR={tmp_path}
        mpirun --allow-run-as-root --oversubscribe --mca btl self,tcp -x MASTER_ADDR -x MASTER_PORT -x RDZV_DIR \\
            {sys.executable} {tmp_path / "rdzv.py"}
        """,
    )
    out = tmp_path / "mpi.out"
    job = slurm_cluster.sbatch("-N", "2", "--ntasks-per-node", "2", "-o", str(out), str(script))
    info = slurm_cluster.wait_job(job, timeout=90)
    text = out.read_text()
    assert info["JobState"] == "COMPLETED", text
    assert _rendezvous_rows(tmp_path) == [["0", "n1", "4"], ["1", "n1", "4"], ["2", "n2", "4"], ["3", "n2", "4"]], text


def test_start_is_idempotent(slurm_cluster: Cluster) -> None:
    again = start_cluster(slurm_cluster.state_dir, nodes=NODES, cpus_per_node=CPUS_PER_NODE)
    assert (again.ctld_port, again.slurmd_ports, again.conf_path) == (
        slurm_cluster.ctld_port,
        slurm_cluster.slurmd_ports,
        slurm_cluster.conf_path,
    )
    assert again.env["SLURM_CONF"] == str(slurm_cluster.conf_path)
    states = slurm_cluster.node_states()
    assert sorted(states) == ["n1", "n2"]
    assert all(s in ("idle", "mixed", "allocated", "completing") for s in states.values()), states
