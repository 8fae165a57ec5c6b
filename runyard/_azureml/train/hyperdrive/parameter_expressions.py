"""``azureml.train.hyperdrive.parameter_expressions``."""

from runyard.train.hyperdrive.parameter_expressions import *  # noqa: F403
