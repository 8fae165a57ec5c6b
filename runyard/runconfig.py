"""``runyard.runconfig`` (was ``azureml.core.runconfig``): distributed job configs and RunConfiguration.

Parameter names and defaults are Azure ML SDK v1's.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from runyard.exceptions import UserErrorException

if TYPE_CHECKING:
    from runyard.environment import Environment


class MpiConfiguration:
    """``mpirun`` with ``node_count × process_count_per_node`` ranks."""

    def __init__(self, process_count_per_node: int = 1, node_count: int = 1) -> None:
        self.process_count_per_node = process_count_per_node
        self.node_count = node_count

    def to_api(self) -> dict[str, Any]:
        return {"type": "mpi", "node_count": self.node_count, "process_count_per_node": self.process_count_per_node}

    def to_code(self) -> str:
        return f"MpiConfiguration(process_count_per_node={self.process_count_per_node}, node_count={self.node_count})"

    def __repr__(self) -> str:
        return self.to_code()


class PyTorchConfiguration:
    """``torchrun`` with ``process_count`` workers over ``node_count`` nodes (default one per node)."""

    def __init__(
        self, communication_backend: str = "Nccl", process_count: int | None = None, node_count: int = 1
    ) -> None:
        if communication_backend.lower() not in ("nccl", "gloo", "mpi"):
            raise UserErrorException(f"communication_backend must be Nccl, Gloo or Mpi, got {communication_backend!r}.")
        self.communication_backend = communication_backend
        self.process_count = process_count
        self.node_count = node_count

    def to_api(self) -> dict[str, Any]:
        return {
            "type": "pytorch",
            "node_count": self.node_count,
            "process_count": self.process_count if self.process_count is not None else self.node_count,
            "communication_backend": self.communication_backend.lower(),
        }

    def to_code(self) -> str:
        return (
            f"PyTorchConfiguration(communication_backend={self.communication_backend!r}, "
            f"process_count={self.process_count}, node_count={self.node_count})"
        )

    def __repr__(self) -> str:
        return self.to_code()


class TensorflowConfiguration:
    """One process per TensorFlow task, each with its own ``TF_CONFIG``."""

    def __init__(self, worker_count: int = 1, parameter_server_count: int = 1) -> None:
        self.worker_count = worker_count
        self.parameter_server_count = parameter_server_count

    @property
    def node_count(self) -> int:
        return 1

    def to_api(self) -> dict[str, Any]:
        return {
            "type": "tensorflow",
            "worker_count": self.worker_count,
            "parameter_server_count": self.parameter_server_count,
        }

    def to_code(self) -> str:
        return (
            f"TensorflowConfiguration(worker_count={self.worker_count}, "
            f"parameter_server_count={self.parameter_server_count})"
        )

    def __repr__(self) -> str:
        return self.to_code()


DistributedConfig = MpiConfiguration | PyTorchConfiguration | TensorflowConfiguration
DEFAULT_ENVIRONMENT_NAME = "runyard-default-environment"


def default_environment() -> Environment:
    """RunConfiguration's starting environment: means "the server's default" until someone customises it."""
    from runyard.environment import Environment

    env = Environment(DEFAULT_ENVIRONMENT_NAME)
    env._is_placeholder = True
    return env


class DockerConfiguration:
    """Accepted for compatibility (``use_docker``, ``shm_size``); the compute target decides how runs start."""

    def __init__(self, use_docker: bool = False, shm_size: str | None = None, arguments: list[str] | None = None):
        self.use_docker = use_docker
        self.shm_size = shm_size
        self.arguments = arguments or []


class HistoryConfiguration:
    """Accepted for compatibility; outputs/ is always collected."""

    def __init__(self) -> None:
        self.output_collection = True
        self.snapshot_project = True


class RunConfiguration:
    """Everything about a run except its source: script, arguments, target, environment, inputs.

    ``framework`` / ``communicator`` with ``mpi`` / ``tensorflow`` are the pre-ScriptRunConfig
    way to ask for a distributed run and still work.
    """

    def __init__(
        self,
        script: str | None = None,
        arguments: list[Any] | None = None,
        framework: str = "Python",
        communicator: str = "None",
        conda_dependencies: Any = None,
    ) -> None:
        self.script = script
        self.arguments: list[Any] = list(arguments or [])
        self.target: Any = "local"
        self.framework = framework
        self.communicator = communicator
        self.node_count = 1
        self.max_run_duration_seconds: int | None = None
        # Runyard's: the scheduler may preempt and later resume the run (runyard.preemption).
        self.preemptible: bool | None = None
        self.command: list[str] | str | None = None
        self.environment: Environment | str | None = default_environment()
        if conda_dependencies is not None:
            self.environment.python.conda_dependencies = conda_dependencies  # type: ignore[union-attr]
        self.data_references: dict[str, Any] = {}
        self.data: dict[str, Any] = {}
        self.output_data: dict[str, Any] = {}
        self.mpi = MpiConfiguration()
        self.tensorflow = TensorflowConfiguration()
        self.pytorch = PyTorchConfiguration()
        self.docker = DockerConfiguration()
        self.history = HistoryConfiguration()
        self.distributed_job_config: DistributedConfig | None = None

    def distributed(self) -> DistributedConfig | None:
        """The distributed config: an explicit one, else what ``communicator``/``framework`` ask for."""
        if self.distributed_job_config is not None:
            return self.distributed_job_config
        communicator = (self.communicator or "None").lower()
        framework = (self.framework or "Python").lower()
        if communicator in ("intelmpi", "openmpi", "mpi"):
            return MpiConfiguration(self.mpi.process_count_per_node, self.node_count)
        if communicator == "parameterserver" or (framework == "tensorflow" and communicator != "none"):
            return self.tensorflow
        if communicator in ("gloo", "nccl") or (framework == "pytorch" and communicator != "none"):
            backend = "Gloo" if communicator == "gloo" else "Nccl"
            return PyTorchConfiguration(backend, self.pytorch.process_count or self.node_count, self.node_count)
        return None

    def __repr__(self) -> str:
        return (
            f"RunConfiguration(script={self.script!r}, target={self.target!r}, environment={self.environment!r}, "
            f"node_count={self.node_count}, distributed={self.distributed()!r})"
        )
