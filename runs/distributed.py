"""Distributed job configs (Azure ML's names and defaults), validated at submission."""

from __future__ import annotations

from typing import Any

from rest_framework import serializers


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
        raise serializers.ValidationError({"distributed": ["Must be an object with a 'type'."]})
    kind = raw.get("type")
    if kind not in _BY_TYPE:
        raise serializers.ValidationError({"distributed": {"type": ["Must be one of: mpi, pytorch, tensorflow."]}})
    serializer = _BY_TYPE[kind](data=raw)
    if not serializer.is_valid():
        raise serializers.ValidationError({"distributed": serializer.errors})
    unknown = set(raw) - set(serializer.fields)
    if unknown:
        raise serializers.ValidationError({"distributed": {k: [f"Not a field of {kind} configs."] for k in unknown}})
    return dict(serializer.validated_data)


def world_size(config: dict[str, Any] | None) -> int:
    if not config:
        return 1
    if config["type"] == "mpi":
        return int(config["node_count"]) * int(config["process_count_per_node"])
    if config["type"] == "pytorch":
        return int(config["process_count"])
    return int(config["worker_count"]) + int(config["parameter_server_count"])
