"""``azureml.core.run``: ``from azureml.core.run import Run`` is Runyard's Run."""

from runyard.offline_run import OfflineRun as _OfflineRun
from runyard.run import Run

__all__ = ["Run", "_OfflineRun"]
