"""``azureml.data.file_dataset``."""

from runyard.dataset import FileDataset

__all__ = ["FileDataset"]
