"""``azureml.core.datastore``."""

from runyard.datastore import Datastore

__all__ = ["Datastore"]
