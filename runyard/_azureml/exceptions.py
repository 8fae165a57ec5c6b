"""``azureml.exceptions``: Runyard's errors under Azure ML's names."""

from runyard.exceptions import (
    ActivityFailedException,
    ComputeTargetException,
    ModelNotFoundException,
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
    "ModelNotFoundException",
    "SnapshotTooLargeException",
    "UserErrorException",
    "WebserviceException",
]
