"""``azureml.train.estimator``."""

from runyard.train.estimator import Estimator

__all__ = ["Estimator"]
