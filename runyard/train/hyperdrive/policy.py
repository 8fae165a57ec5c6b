"""Early termination policies (Azure's ``azureml.train.hyperdrive.policy``).

The server applies them each ``evaluation_interval``-th time a child logs the primary
metric, from ``delay_evaluation`` on, and cancels the children they stop."""

from __future__ import annotations

from typing import Any

from runyard.train.hyperdrive.exceptions import HyperDriveConfigException


def _int(value: Any, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise HyperDriveConfigException(f"{name} must be a non-negative int, got {value!r}.")
    return value


class EarlyTerminationPolicy:
    POLICY_NAME = ""

    def __init__(self, name: str, properties: dict[str, Any] | None = None) -> None:
        self._name = name
        self._properties = properties

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"name": self._name}
        if self._properties is not None:
            out["properties"] = self._properties
        return out

    def __eq__(self, other: object) -> bool:
        return isinstance(other, EarlyTerminationPolicy) and self.to_json() == other.to_json()

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self._properties or ''})"


class BanditPolicy(EarlyTerminationPolicy):
    """Stop a child whose primary metric falls outside ``slack_factor`` (a ratio) or
    ``slack_amount`` (absolute) of the best child at the same interval."""

    POLICY_NAME = "Bandit"

    def __init__(
        self,
        evaluation_interval: int = 1,
        slack_factor: float | None = None,
        slack_amount: float | None = None,
        delay_evaluation: int = 0,
    ) -> None:
        if (slack_factor is None) == (slack_amount is None):
            raise HyperDriveConfigException("BanditPolicy needs exactly one of slack_factor and slack_amount.")
        config: dict[str, Any] = {
            "evaluation_interval": _int(evaluation_interval, "evaluation_interval"),
            "delay_evaluation": _int(delay_evaluation, "delay_evaluation"),
        }
        if slack_factor is not None:
            config["slack_factor"] = slack_factor
        else:
            config["slack_amount"] = slack_amount
        super().__init__(self.POLICY_NAME, config)
        self.slack_factor = slack_factor
        self.slack_amount = slack_amount
        self.evaluation_interval = evaluation_interval
        self.delay_evaluation = delay_evaluation


class MedianStoppingPolicy(EarlyTerminationPolicy):
    """Stop a child whose best primary metric is worse than the median of the others'
    running averages at the same interval."""

    POLICY_NAME = "MedianStopping"

    def __init__(self, evaluation_interval: int = 1, delay_evaluation: int = 0) -> None:
        super().__init__(
            self.POLICY_NAME,
            {
                "evaluation_interval": _int(evaluation_interval, "evaluation_interval"),
                "delay_evaluation": _int(delay_evaluation, "delay_evaluation"),
            },
        )
        self.evaluation_interval = evaluation_interval
        self.delay_evaluation = delay_evaluation


class TruncationSelectionPolicy(EarlyTerminationPolicy):
    """At each interval, stop the lowest ``truncation_percentage`` percent of the children."""

    POLICY_NAME = "TruncationSelection"

    def __init__(self, truncation_percentage: int, evaluation_interval: int = 1, delay_evaluation: int = 0) -> None:
        if isinstance(truncation_percentage, bool) or not isinstance(truncation_percentage, int):
            raise HyperDriveConfigException("truncation_percentage must be an int.")
        if not 1 <= truncation_percentage <= 99:
            raise HyperDriveConfigException("truncation_percentage must be between 1 and 99.")
        super().__init__(
            self.POLICY_NAME,
            {
                "evaluation_interval": _int(evaluation_interval, "evaluation_interval"),
                "delay_evaluation": _int(delay_evaluation, "delay_evaluation"),
                "truncation_percentage": truncation_percentage,
                "exclude_finished_jobs": False,
            },
        )
        self.truncation_percentage = truncation_percentage
        self.evaluation_interval = evaluation_interval
        self.delay_evaluation = delay_evaluation


class NoTerminationPolicy(EarlyTerminationPolicy):
    """Every child runs to its end."""

    POLICY_NAME = "Default"

    def __init__(self) -> None:
        super().__init__(self.POLICY_NAME)
