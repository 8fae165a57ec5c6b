"""``azureml.exceptions``: Runyard's errors under Azure ML's names."""

from runyard.exceptions import (
    ActivityFailedException,
    ComputeTargetException,
    SnapshotTooLargeException,
    UserErrorException,
    WebserviceException,
)
from runyard.exceptions import (
    RunyardError as AzureMLException,
)

__all__ = [
    "ActivityFailedException",
    "AzureMLException",
    "ComputeTargetException",
    "SnapshotTooLargeException",
    "UserErrorException",
    "WebserviceException",
]
