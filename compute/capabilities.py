"""What shape of run each compute kind can execute, checked at submission."""

from __future__ import annotations

from typing import Any

from runs.distributed import Shape

MULTI_NODE_KINDS = ("docker", "slurm")


def check(target: Any, distributed: dict[str, Any] | None) -> list[str]:
    """Return the reasons ``target`` cannot run this (validated) config (empty when it can)."""
    problems = []
    shape = Shape.of(distributed)
    nodes = shape.nodes
    if nodes > 1 and target.kind not in MULTI_NODE_KINDS:
        problems.append(
            f"node_count={nodes} needs a multi-node compute kind ({', '.join(MULTI_NODE_KINDS)}); "
            f"'{target.name}' is {target.kind}, which runs one node."
        )
    elif nodes > target.max_nodes:
        problems.append(f"node_count={nodes} exceeds '{target.name}' max_nodes={target.max_nodes}.")
    per_node = shape.processes_per_node
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
