"""``azureml.data``: datasets and data references."""

from runyard.dataset import DatasetConsumptionConfig, FileDataset
from runyard.datastore import DataReference
from runyard.output_dataset import OutputFileDatasetConfig

__all__ = ["DataReference", "DatasetConsumptionConfig", "FileDataset", "OutputFileDatasetConfig"]
