"""``azureml.data.dataset_consumption_config``."""

from runyard.dataset import DatasetConsumptionConfig

__all__ = ["DatasetConsumptionConfig"]
