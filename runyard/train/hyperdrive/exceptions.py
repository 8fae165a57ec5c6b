"""HyperDrive's exceptions (Azure's names)."""

from runyard.exceptions import UserErrorException


class HyperDriveConfigException(UserErrorException):
    """A sweep configured wrongly: a distribution's arguments, a policy, the limits."""
