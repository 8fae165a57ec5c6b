"""``azureml.train.hyperdrive``: Runyard's sweeps under Azure's names (runyard.train.hyperdrive)."""

from runyard.train.hyperdrive import *  # noqa: F403
from runyard.train.hyperdrive import __all__ as __all__
