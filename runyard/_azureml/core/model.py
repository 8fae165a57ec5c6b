"""``azureml.core.model``."""

from runyard.model import Model

__all__ = ["Model"]
