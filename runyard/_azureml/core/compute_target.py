"""``azureml.core.compute_target``: where Azure's samples import ComputeTargetException from."""

from runyard.compute import ComputeTarget
from runyard.exceptions import ComputeTargetException

__all__ = ["ComputeTarget", "ComputeTargetException"]
