"""``azureml.train.hyperdrive.policy``."""

from runyard.train.hyperdrive.policy import *  # noqa: F403
