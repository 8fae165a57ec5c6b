"""Samplings (Azure's ``azureml.train.hyperdrive.sampling``): a parameter space and a method."""

from __future__ import annotations

from typing import Any

from runyard.train.hyperdrive.exceptions import HyperDriveConfigException


class HyperParameterSampling:
    """A parameter space ``{name: expression}`` sampled by ``SAMPLING_NAME``'s method."""

    SAMPLING_NAME = ""
    SUPPORTED: frozenset[str] | None = None

    def __init__(self, parameter_space: dict[str, Any], properties: dict[str, Any] | None = None) -> None:
        if not isinstance(parameter_space, dict) or not parameter_space:
            raise HyperDriveConfigException("parameter_space must be a non-empty dict of name: expression.")
        for name, expression in parameter_space.items():
            if not isinstance(expression, list) or len(expression) != 2:
                raise HyperDriveConfigException(f"{name}: use choice(), uniform(), … from parameter_expressions.")
            if self.SUPPORTED is not None and expression[0] not in self.SUPPORTED:
                allowed = ", ".join(sorted(self.SUPPORTED))
                raise HyperDriveConfigException(
                    f"{type(self).__name__} supports {allowed} only ({name} is {expression[0]})."
                )
        self._parameter_space = dict(parameter_space)
        self._properties = dict(properties or {})

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"name": self.SAMPLING_NAME, "parameter_space": self._parameter_space}
        if self._properties:
            out["properties"] = self._properties
        return out

    def __eq__(self, other: object) -> bool:
        return isinstance(other, HyperParameterSampling) and self.to_json() == other.to_json()

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self._parameter_space!r})"


class RandomParameterSampling(HyperParameterSampling):
    """Random draws; a space of only choice/randint is drawn without repeats.
    ``properties={"seed": 7}`` fixes the draws (otherwise the server picks and records one)."""

    SAMPLING_NAME = "RANDOM"


class GridParameterSampling(HyperParameterSampling):
    """Every combination of ``choice`` values, each exactly once."""

    SAMPLING_NAME = "GRID"
    SUPPORTED = frozenset({"choice"})


class BayesianParameterSampling(HyperParameterSampling):
    """Bayesian optimisation (TPE) over ``choice``, ``uniform`` and ``quniform``."""

    SAMPLING_NAME = "BayesianOptimization"
    SUPPORTED = frozenset({"choice", "uniform", "quniform"})
