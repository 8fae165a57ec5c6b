"""Runs on the Slurm nodes (standard library only): gives a TensorFlow task its
TF_CONFIG from the allocation, then becomes the user's program.

    python slurm_task.py tf WORKERS PARAMETER_SERVERS BASE_PORT -- python train.py …

Slurm places task ids in blocks per node (the default distribution), so task ``t``
runs on the node whose block holds ``t``; its address is that node's NodeAddr and
its port ``BASE_PORT + t``. Tasks ``0..WORKERS-1`` are workers, the rest are
parameter servers. TF_CONFIG itself is written by ``execution/tfconfig.py`` (standard
library only too), as for every other compute kind.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path


def tasks_per_node(spec: str) -> list[int]:
    """Expand SLURM_TASKS_PER_NODE, e.g. '2(x3),1' -> [2, 2, 2, 1]."""
    counts: list[int] = []
    for part in spec.split(","):
        match = re.fullmatch(r"(\d+)(?:\(x(\d+)\))?", part.strip())
        if match is None:
            raise ValueError(f"cannot read SLURM_TASKS_PER_NODE={spec!r}")
        counts += [int(match.group(1))] * int(match.group(2) or 1)
    return counts


def node_addresses(nodelist: str) -> list[str]:
    names = subprocess.run(
        ["scontrol", "show", "hostnames", nodelist], capture_output=True, text=True, check=True
    ).stdout.split()
    addresses = []
    for name in names:
        info = subprocess.run(["scontrol", "-o", "show", "node", name], capture_output=True, text=True).stdout
        match = re.search(r"NodeAddr=(\S+)", info)
        addresses.append(match.group(1) if match else name)
    return addresses


def endpoints(tasks: int, base_port: int, addresses: list[str], counts: list[int]) -> list[str]:
    """Every task's ``host:port``: task ids fill the nodes in blocks."""
    hosts: list[str] = []
    for address, count in zip(addresses, counts, strict=False):
        hosts += [address] * count
    return [f"{hosts[t]}:{base_port + t}" for t in range(tasks)]


def main(argv: list[str]) -> None:
    split = argv.index("--")
    mode, *params = argv[:split]
    command = argv[split + 1 :]
    if mode != "tf":
        raise SystemExit(f"unknown mode {mode}")
    from execution.tfconfig import tf_config

    workers, ps, base_port = (int(p) for p in params)
    task = int(os.environ["SLURM_PROCID"])
    addresses = node_addresses(os.environ["SLURM_JOB_NODELIST"])
    counts = tasks_per_node(os.environ["SLURM_TASKS_PER_NODE"])
    os.environ["TF_CONFIG"] = tf_config(endpoints(workers + ps, base_port, addresses, counts), workers, task)
    os.environ["RUNYARD_RANK"] = str(task)
    os.execvp(command[0], command)


if __name__ == "__main__":
    # Started by path on a node: the project's ``execution`` package sits two levels up.
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
    main(sys.argv[1:])
