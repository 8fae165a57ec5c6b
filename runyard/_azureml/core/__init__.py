"""``azureml.core``: Runyard's Workspace, Experiment, Run, … under Azure ML's import path.

``VERSION`` is the version of the Runyard SDK serving these names (Azure's is that of
azureml-core), so a banner such as ``print("Azure ML SDK", azureml.core.VERSION)`` says
what actually runs.
"""

from runyard import __version__ as VERSION  # noqa: N812 - Azure's name
from runyard.compute import ComputeTarget
from runyard.conda_dependencies import CondaDependencies
from runyard.dataset import Dataset
from runyard.datastore import Datastore
from runyard.environment import Environment
from runyard.experiment import Experiment
from runyard.model import Model
from runyard.run import Run
from runyard.runconfig import RunConfiguration
from runyard.script_run_config import ScriptRunConfig
from runyard.workspace import Workspace

__all__ = [
    "VERSION",
    "ComputeTarget",
    "CondaDependencies",
    "Dataset",
    "Datastore",
    "Environment",
    "Experiment",
    "Model",
    "Run",
    "RunConfiguration",
    "ScriptRunConfig",
    "Workspace",
]
