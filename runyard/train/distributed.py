"""The Estimator era's distributed-training helpers (``azureml.train.dnn``): Mpi, ParameterServer, Gloo, Nccl.

Each maps onto the ScriptRunConfig-era config that replaces it.
"""

from __future__ import annotations

from runyard.exceptions import UserErrorException
from runyard.runconfig import DistributedConfig, MpiConfiguration, PyTorchConfiguration, TensorflowConfiguration


class Mpi:
    """MPI (Horovod, mpi4py): becomes ``MpiConfiguration``."""

    def __init__(self, process_count_per_node: int = 1) -> None:
        self.process_count_per_node = process_count_per_node

    def to_config(self, node_count: int, process_count_per_node: int) -> DistributedConfig:
        per_node = self.process_count_per_node if self.process_count_per_node != 1 else process_count_per_node
        return MpiConfiguration(process_count_per_node=per_node, node_count=node_count)


class ParameterServer:
    """TensorFlow parameter-server training: becomes ``TensorflowConfiguration``."""

    def __init__(self, worker_count: int = 1, parameter_server_count: int = 1) -> None:
        self.worker_count = worker_count
        self.parameter_server_count = parameter_server_count

    def to_config(self, node_count: int, process_count_per_node: int) -> DistributedConfig:
        return TensorflowConfiguration(
            worker_count=self.worker_count, parameter_server_count=self.parameter_server_count
        )


class Gloo:
    """PyTorch with the Gloo backend: becomes ``PyTorchConfiguration(communication_backend='Gloo')``."""

    backend = "Gloo"

    def to_config(self, node_count: int, process_count_per_node: int) -> DistributedConfig:
        return PyTorchConfiguration(
            communication_backend=self.backend, process_count=node_count * process_count_per_node, node_count=node_count
        )


class Nccl(Gloo):
    """PyTorch with the NCCL backend (GPUs): becomes ``PyTorchConfiguration(communication_backend='Nccl')``."""

    backend = "Nccl"


DistributedTraining = Mpi | ParameterServer | Gloo

_BY_BACKEND_NAME = {"mpi": Mpi, "ps": ParameterServer, "parameterserver": ParameterServer, "gloo": Gloo, "nccl": Nccl}


def distributed_config(
    distributed_training: DistributedTraining | None,
    distributed_backend: str | None,
    node_count: int,
    process_count_per_node: int,
) -> DistributedConfig | None:
    """The ScriptRunConfig-era config for an Estimator's distributed parameters (None: one process)."""
    helper = distributed_training
    if helper is None and distributed_backend:
        kind = _BY_BACKEND_NAME.get(distributed_backend.lower())
        if kind is None:
            raise UserErrorException(
                f"distributed_backend must be one of mpi, ps, gloo, nccl; got {distributed_backend!r}."
            )
        helper = kind()
    if helper is None:
        if node_count > 1 or process_count_per_node > 1:
            return MpiConfiguration(process_count_per_node=process_count_per_node, node_count=node_count)
        return None
    if not isinstance(helper, Mpi | ParameterServer | Gloo):
        raise UserErrorException("distributed_training must be Mpi(), ParameterServer(), Gloo() or Nccl().")
    return helper.to_config(node_count, process_count_per_node)
