"""Distributed runs on one node: torchrun (gloo), mpirun (mpi4py), TF_CONFIG per task."""

from __future__ import annotations

import json
import shutil
from typing import Any

import pytest

from runs.models import RunProcess
from runs.status import Status
from tests.executor.helpers import lines, submit, wait_status

pytestmark = [pytest.mark.worker, pytest.mark.xdist_group("live")]

ALL_REDUCE = """
import os
import torch
import torch.distributed as dist
dist.init_process_group("gloo")
rank = dist.get_rank()
t = torch.tensor([float(rank + 1)])
dist.all_reduce(t)
print(f"rank {rank} of {dist.get_world_size()} sum {t.item()}")
dist.destroy_process_group()
"""

MPI_HELLO = """
from mpi4py import MPI
comm = MPI.COMM_WORLD
total = comm.allreduce(comm.Get_rank() + 1)
print(f"mpi rank {comm.Get_rank()} of {comm.Get_size()} total {total}")
"""

TF_PRINT = """
import json, os
cfg = json.loads(os.environ["TF_CONFIG"])
print("TF_CONFIG", json.dumps(cfg, sort_keys=True))
"""


@pytest.mark.slow
def test_torchrun_gloo_all_reduce_two_ranks(live: Any, world: Any) -> None:
    made = submit(
        world.alice,
        {"train.py": ALL_REDUCE},
        environment="Runyard-PyTorch-2.13-CPU",
        distributed={"type": "pytorch", "node_count": 1, "process_count": 2},
    )
    run = wait_status(made["id"], timeout=900)
    assert run.status == Status.COMPLETED, run.error
    assert lines(run.pk, rank=0, stream="stdout")[-1] == "rank 0 of 2 sum 3.0"
    assert lines(run.pk, rank=1, stream="stdout")[-1] == "rank 1 of 2 sum 3.0"
    procs = list(RunProcess.objects.filter(run=run).order_by("rank").values_list("rank", "pid"))
    assert [r for r, _ in procs] == [0, 1] and all(pid for _, pid in procs)
    assert procs[0][1] != procs[1][1]


@pytest.mark.slow
@pytest.mark.skipif(
    shutil.which("mpirun") is None,
    reason="no mpirun here: apt-get install openmpi-bin (or scripts/install-system-deps.sh core)",
)
def test_mpirun_mpi4py_two_ranks(live: Any, world: Any) -> None:
    made = submit(
        world.alice,
        {"train.py": MPI_HELLO},
        environment="Runyard-MPI-3.11",
        distributed={"type": "mpi", "node_count": 1, "process_count_per_node": 2},
    )
    run = wait_status(made["id"], timeout=600)
    assert run.status == Status.COMPLETED, run.error
    assert "mpi rank 0 of 2 total 3" in lines(run.pk, rank=0)
    assert "mpi rank 1 of 2 total 3" in lines(run.pk, rank=1)


def test_tf_config_two_workers_one_ps(live: Any, world: Any) -> None:
    made = submit(
        world.alice,
        {"train.py": TF_PRINT},
        distributed={"type": "tensorflow", "worker_count": 2, "parameter_server_count": 1},
    )
    run = wait_status(made["id"])
    assert run.status == Status.COMPLETED, run.error
    configs = {}
    for rank in range(3):
        out = [t for t in lines(run.pk, rank=rank) if t.startswith("TF_CONFIG ")]
        configs[rank] = json.loads(out[0].split(" ", 1)[1])
    cluster = configs[0]["cluster"]
    assert len(cluster["worker"]) == 2 and len(cluster["ps"]) == 1
    assert len(set(cluster["worker"] + cluster["ps"])) == 3
    assert all(c["cluster"] == cluster for c in configs.values())
    assert configs[0]["task"] == {"type": "worker", "index": 0}
    assert configs[1]["task"] == {"type": "worker", "index": 1}
    assert configs[2]["task"] == {"type": "ps", "index": 0}
    roles = dict(RunProcess.objects.filter(run=run).values_list("rank", "role"))
    assert roles == {0: "worker", 1: "worker", 2: "ps"}


def test_failing_rank_fails_the_run(live: Any, world: Any) -> None:
    script = "import json, os, sys\nif json.loads(os.environ['TF_CONFIG'])['task']['index'] == 1: sys.exit(3)\n"
    made = submit(
        world.alice,
        {"train.py": script},
        distributed={"type": "tensorflow", "worker_count": 2, "parameter_server_count": 0},
    )
    run = wait_status(made["id"])
    assert run.status == Status.FAILED and run.exit_code == 3
