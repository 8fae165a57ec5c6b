"""``azureml.data.data_reference``."""

from runyard.datastore import DataReference

__all__ = ["DataReference"]
