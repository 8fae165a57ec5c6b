"""``azureml.train.hyperdrive.exceptions``."""

from runyard.train.hyperdrive.exceptions import *  # noqa: F403
