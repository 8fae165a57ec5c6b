"""``azureml.data.dataset_factory``: ``DataType`` for set_column_types, ``TabularDatasetFactory``."""

from runyard.tabular_dataset import DataType, TabularDatasetFactory

__all__ = ["DataType", "TabularDatasetFactory"]
