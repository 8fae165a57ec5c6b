"""What shape of run each compute kind can execute, checked at submission."""

from __future__ import annotations

from typing import Any

MULTI_NODE_KINDS = ("docker", "slurm")


def node_count(distributed: dict[str, Any] | None) -> int:
    if not distributed:
        return 1
    kind = distributed.get("type")
    if kind in ("mpi", "pytorch"):
        return int(distributed.get("node_count", 1))
    return 1


def processes_per_node(distributed: dict[str, Any] | None) -> int:
    if not distributed:
        return 1
    kind = distributed.get("type")
    if kind == "mpi":
        return int(distributed.get("process_count_per_node", 1))
    if kind == "pytorch":
        nodes = int(distributed.get("node_count", 1))
        return max(1, int(distributed.get("process_count", 1)) // max(nodes, 1))
    if kind == "tensorflow":
        return int(distributed.get("worker_count", 1)) + int(distributed.get("parameter_server_count", 0))
    return 1


def check(target: Any, distributed: dict[str, Any] | None) -> list[str]:
    """Return the reasons ``target`` cannot run this shape (empty when it can)."""
    problems = []
    nodes = node_count(distributed)
    if nodes > 1 and target.kind not in MULTI_NODE_KINDS:
        problems.append(
            f"node_count={nodes} needs a multi-node compute kind ({', '.join(MULTI_NODE_KINDS)}); "
            f"'{target.name}' is {target.kind}, which runs one node."
        )
    elif nodes > target.max_nodes:
        problems.append(f"node_count={nodes} exceeds '{target.name}' max_nodes={target.max_nodes}.")
    per_node = processes_per_node(distributed)
    if per_node > target.max_processes_per_node:
        problems.append(
            f"{per_node} processes per node exceed '{target.name}' "
            f"max_processes_per_node={target.max_processes_per_node}."
        )
    return problems


# A new target's max_nodes when none is given: one for a one-node kind, a few for a
# multi-node one, so what a new target says it can run (``can_run``) is what it runs.
DEFAULT_MAX_NODES = {"local": 1, "docker": 2, "slurm": 4}

RUN_KINDS = ("single", "pytorch", "mpi", "tensorflow")


def default_max_nodes(kind: str) -> int:
    return DEFAULT_MAX_NODES.get(kind, 1)


def can_run(target: Any) -> list[str]:
    """The run shapes ``target`` accepts, as the dashboard lists them."""
    multi = target.kind in MULTI_NODE_KINDS and (target.max_nodes or 0) > 1
    return [*RUN_KINDS, *(["multi-node"] if multi else [])]
