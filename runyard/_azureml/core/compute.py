"""``azureml.core.compute``: ``from azureml.core.compute import ComputeTarget, AmlCompute``."""

from runyard.compute import AmlCompute, ComputeTarget

__all__ = ["AmlCompute", "ComputeTarget"]
