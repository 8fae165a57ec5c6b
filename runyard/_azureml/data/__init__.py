"""``azureml.data``: datasets and data references."""

from runyard.dataset import DatasetConsumptionConfig, FileDataset
from runyard.datastore import DataReference

__all__ = ["DataReference", "DatasetConsumptionConfig", "FileDataset"]
