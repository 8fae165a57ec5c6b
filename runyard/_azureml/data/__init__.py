"""``azureml.data``: datasets and data references."""

from runyard.dataset import DatasetConsumptionConfig, FileDataset
from runyard.datastore import DataReference
from runyard.output_dataset import OutputFileDatasetConfig
from runyard.tabular_dataset import DataType, TabularDataset

__all__ = [
    "DataReference",
    "DataType",
    "DatasetConsumptionConfig",
    "FileDataset",
    "OutputFileDatasetConfig",
    "TabularDataset",
]
