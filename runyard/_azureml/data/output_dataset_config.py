"""``azureml.data.output_dataset_config``."""

from runyard.output_dataset import OutputFileDatasetConfig

__all__ = ["OutputFileDatasetConfig"]
