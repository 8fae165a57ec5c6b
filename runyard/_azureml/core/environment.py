"""``azureml.core.environment``."""

from runyard.conda_dependencies import CondaDependencies
from runyard.environment import DockerSection, Environment, PythonSection

__all__ = ["CondaDependencies", "DockerSection", "Environment", "PythonSection"]
