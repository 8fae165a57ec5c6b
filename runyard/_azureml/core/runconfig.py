"""``azureml.core.runconfig``."""

from runyard.datastore import DataReference
from runyard.runconfig import (
    DockerConfiguration,
    HistoryConfiguration,
    MpiConfiguration,
    PyTorchConfiguration,
    RunConfiguration,
    TensorflowConfiguration,
)

__all__ = [
    "DataReference",
    "DockerConfiguration",
    "HistoryConfiguration",
    "MpiConfiguration",
    "PyTorchConfiguration",
    "RunConfiguration",
    "TensorflowConfiguration",
]
