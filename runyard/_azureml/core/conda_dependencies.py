"""``azureml.core.conda_dependencies``."""

from runyard.conda_dependencies import CondaDependencies

__all__ = ["CondaDependencies"]
