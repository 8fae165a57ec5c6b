"""Distributed job configs (Azure ML's names and defaults), validated at submission,
and ``Shape``: the one typed reading of a validated config that submission checks and
every backend launches from (nothing else reads the config's keys).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from enum import StrEnum
from typing import Any

from rest_framework import serializers

from common.errors import InvalidInput


class _Base(serializers.Serializer[Any]):
    type = serializers.ChoiceField(choices=["mpi", "pytorch", "tensorflow"])


class MpiSerializer(_Base):
    node_count = serializers.IntegerField(min_value=1, max_value=1024, default=1)
    process_count_per_node = serializers.IntegerField(min_value=1, max_value=256, default=1)


class PyTorchSerializer(_Base):
    node_count = serializers.IntegerField(min_value=1, max_value=1024, default=1)
    process_count = serializers.IntegerField(min_value=1, max_value=65536, required=False)
    communication_backend = serializers.ChoiceField(choices=["gloo", "nccl", "mpi"], default="gloo")

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        attrs.setdefault("process_count", attrs["node_count"])
        if attrs["process_count"] % attrs["node_count"]:
            raise serializers.ValidationError(
                {"process_count": ["Must be a multiple of node_count (the same number of processes on each node)."]}
            )
        return attrs


class TensorflowSerializer(_Base):
    worker_count = serializers.IntegerField(min_value=1, max_value=1024, default=1)
    parameter_server_count = serializers.IntegerField(min_value=0, max_value=1024, default=0)


_BY_TYPE: dict[str, type[_Base]] = {
    "mpi": MpiSerializer,
    "pytorch": PyTorchSerializer,
    "tensorflow": TensorflowSerializer,
}


def validate(raw: Any) -> dict[str, Any] | None:
    """Return the normalized config, or raise ValidationError naming the field."""
    if raw in (None, "", {}):
        return None
    if not isinstance(raw, dict):
        raise InvalidInput({"distributed": ["Must be an object with a 'type'."]})
    kind = raw.get("type")
    if kind not in _BY_TYPE:
        raise InvalidInput({"distributed": {"type": ["Must be one of: mpi, pytorch, tensorflow."]}})
    serializer = _BY_TYPE[kind](data=raw)
    if not serializer.is_valid():
        raise InvalidInput({"distributed": serializer.errors})
    unknown = set(raw) - set(serializer.fields)
    if unknown:
        raise InvalidInput({"distributed": {k: [f"Not a field of {kind} configs."] for k in unknown}})
    return dict(serializer.validated_data)


class Kind(StrEnum):
    SINGLE = "single"
    MPI = "mpi"
    PYTORCH = "pytorch"
    TENSORFLOW = "tensorflow"


@dataclass(frozen=True)
class Rank:
    rank: int
    node_rank: int
    local_rank: int
    role: str  # worker | ps (a TensorFlow parameter server)


@dataclass(frozen=True)
class Shape:
    """How many processes a run has and where they sit. Ranks fill the nodes in blocks
    (rank ``r`` on node ``r // processes_per_node``), as torchrun, mpirun's slots and
    Slurm's block distribution all number them. TensorFlow has no nodes in its config:
    its tasks (workers first, then parameter servers) count as processes of one node,
    and a backend that gives each task a node of its own calls ``spread``."""

    kind: Kind = Kind.SINGLE
    nodes: int = 1
    processes_per_node: int = 1
    worker_count: int = 0
    parameter_server_count: int = 0
    communication_backend: str = ""  # PyTorch: gloo | nccl | mpi

    @classmethod
    def of(cls, config: dict[str, Any] | None) -> Shape:
        """The shape of a config ``validate`` returned (as stored on the run)."""
        if not config:
            return cls()
        kind = Kind(config["type"])
        if kind is Kind.MPI:
            return cls(kind, int(config.get("node_count", 1)), int(config.get("process_count_per_node", 1)))
        if kind is Kind.PYTORCH:
            nodes = int(config.get("node_count", 1))
            total = int(config.get("process_count", nodes))
            backend = str(config.get("communication_backend", "gloo"))
            return cls(kind, nodes, max(1, total // nodes), communication_backend=backend)
        workers = int(config.get("worker_count", 1))
        ps = int(config.get("parameter_server_count", 0))
        return cls(kind, 1, workers + ps, worker_count=workers, parameter_server_count=ps)

    @property
    def world_size(self) -> int:
        if self.kind is Kind.TENSORFLOW:
            return self.worker_count + self.parameter_server_count
        return self.nodes * self.processes_per_node

    @property
    def ranks(self) -> tuple[Rank, ...]:
        per = self.processes_per_node
        return tuple(Rank(r, r // per, r % per, self.role(r)) for r in range(self.world_size))

    def role(self, rank: int) -> str:
        if self.kind is Kind.TENSORFLOW and rank >= self.worker_count:
            return "ps"
        return "worker"

    def spread(self, nodes: int) -> Shape:
        """TensorFlow's tasks over ``nodes`` nodes (at most one node per task), in blocks."""
        if self.kind is not Kind.TENSORFLOW:
            return self
        count = max(1, min(nodes, self.world_size))
        return replace(self, nodes=count, processes_per_node=-(-self.world_size // count))
