"""``azureml.data.tabular_dataset``."""

from runyard.tabular_dataset import TabularDataset

__all__ = ["TabularDataset"]
