"""``azureml.core.dataset``."""

from runyard.dataset import Dataset

__all__ = ["Dataset"]
