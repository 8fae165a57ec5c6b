"""``azureml.train.hyperdrive.run``."""

from runyard.train.hyperdrive.run import *  # noqa: F403
