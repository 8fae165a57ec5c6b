"""``azureml.train.hyperdrive.sampling``."""

from runyard.train.hyperdrive.sampling import *  # noqa: F403
