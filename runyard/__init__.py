"""Runyard's Python SDK (Azure ML SDK v1 style). No Django import, stdlib at import time.

Code written for ``azureml.core`` runs after changing the imports::

    from runyard import Workspace, Experiment, Environment, ScriptRunConfig, Dataset, Run
    from runyard.runconfig import MpiConfiguration, PyTorchConfiguration, TensorflowConfiguration
"""

from __future__ import annotations

__version__ = "0.1.0"

from runyard.compute import AmlCompute, ComputeTarget
from runyard.conda_dependencies import CondaDependencies
from runyard.dataset import Dataset, DatasetConsumptionConfig, FileDataset
from runyard.datastore import DataReference, Datastore
from runyard.environment import Environment
from runyard.exceptions import (
    ActivityFailedException,
    ComputeTargetException,
    ModelNotFoundException,
    RunyardError,
    SnapshotTooLargeException,
    UserErrorException,
    WebserviceException,
)
from runyard.experiment import Experiment
from runyard.model import Model
from runyard.output_dataset import OutputFileDatasetConfig
from runyard.run import Run
from runyard.runconfig import (
    MpiConfiguration,
    PyTorchConfiguration,
    RunConfiguration,
    TensorflowConfiguration,
)
from runyard.script_run_config import ScriptRunConfig
from runyard.workspace import Workspace

__all__ = [
    "ActivityFailedException",
    "AmlCompute",
    "ComputeTarget",
    "ComputeTargetException",
    "CondaDependencies",
    "DataReference",
    "Dataset",
    "DatasetConsumptionConfig",
    "Datastore",
    "Environment",
    "Experiment",
    "FileDataset",
    "Model",
    "ModelNotFoundException",
    "MpiConfiguration",
    "OutputFileDatasetConfig",
    "PyTorchConfiguration",
    "Run",
    "RunConfiguration",
    "RunyardError",
    "ScriptRunConfig",
    "SnapshotTooLargeException",
    "TensorflowConfiguration",
    "UserErrorException",
    "WebserviceException",
    "Workspace",
    "__version__",
]
