"""``azureml.core.compute``: ``from azureml.core.compute import ComputeTarget, AmlCompute``."""

from runyard.compute import ComputeTarget

__all__ = ["ComputeTarget"]
