"""Rank command lines for each distributed type, shared by every compute backend.

- PyTorch: ``torchrun`` (as ``python -m torch.distributed.run``) with ``--tee 3`` so
  each line arrives prefixed with its local rank.
- MPI: Open MPI's ``mpirun --tag-output`` prefixes lines with ``[job,rank]<stream>:``.
- TensorFlow: one process per worker and parameter server, each with its TF_CONFIG.
"""

from __future__ import annotations

import json
from typing import Any

# torchrun's --tee prefixes lines with the *local* rank by default; with a rendezvous
# (c10d) global ranks are assigned at run time, so ask torchrun for the global rank.
TORCHRUN_ENV = {"TORCHELASTIC_LOG_LINE_PREFIX_TEMPLATE": "[rank${rank}]:"}
MPI_BASE = ["--allow-run-as-root", "--oversubscribe", "--tag-output"]


def torchrun(
    python: str,
    cfg: dict[str, Any],
    entry: list[str],
    *,
    nnodes: int = 1,
    node_rank: int = 0,
    master: str = "127.0.0.1",
    port: int = 29500,
    run_id: int = 0,
) -> list[str]:
    per_node = int(cfg["process_count"]) // int(cfg["node_count"])
    cmd = [python, "-m", "torch.distributed.run", f"--nproc-per-node={per_node}", "--tee=3"]
    if nnodes == 1:
        cmd += ["--nnodes=1", f"--master-addr={master}", f"--master-port={port}", "--node-rank=0"]
    else:
        cmd += [f"--nnodes={nnodes}", f"--node-rank={node_rank}", f"--master-addr={master}", f"--master-port={port}"]
    return [*cmd, *entry]


def mpirun(
    python: str, cfg: dict[str, Any], entry: list[str], env_names: list[str], extra: list[str] | None = None
) -> list[str]:
    np = int(cfg["node_count"]) * int(cfg["process_count_per_node"])
    exports: list[str] = []
    for name in env_names:
        exports += ["-x", name]
    return ["mpirun", *MPI_BASE, *(extra or []), "-np", str(np), *exports, python, *entry]


def tf_config(workers: list[str], ps: list[str], task_type: str, index: int) -> str:
    cluster: dict[str, list[str]] = {"worker": workers}
    if ps:
        cluster["ps"] = ps
    return json.dumps({"cluster": cluster, "task": {"type": task_type, "index": index}, "environment": "cloud"})


def tf_tasks(cfg: dict[str, Any]) -> list[tuple[str, int, int]]:
    """(task type, index, global rank): workers first, then parameter servers."""
    workers = int(cfg["worker_count"])
    ps = int(cfg["parameter_server_count"])
    return [("worker", i, i) for i in range(workers)] + [("ps", i, workers + i) for i in range(ps)]
