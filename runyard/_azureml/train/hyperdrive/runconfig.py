"""``azureml.train.hyperdrive.runconfig``."""

from runyard.train.hyperdrive.runconfig import *  # noqa: F403
