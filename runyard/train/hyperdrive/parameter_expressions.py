"""Search-space expressions, as Azure's ``azureml.train.hyperdrive.parameter_expressions``.

Each returns Azure's JSON form (``["uniform", [0.01, 0.1]]``), which is what the server
reads; the server checks them again and has the sampling semantics (``sweeps.space``):
``loguniform(a, b)`` is exp(uniform(a, b)), the ``q`` forms round to multiples of q.
"""

from __future__ import annotations

from typing import Any

from runyard.train.hyperdrive.exceptions import HyperDriveConfigException


def _number(value: Any, name: str, fn: str) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise HyperDriveConfigException(f"{fn}: {name} must be a number, got {value!r}.")


def _q(q: Any, fn: str) -> None:
    if isinstance(q, bool) or not (isinstance(q, int) or (isinstance(q, float) and q.is_integer())) or q <= 0:
        raise HyperDriveConfigException(f"{fn}: q must be a positive int, got {q!r}.")


def choice(*options: Any) -> list[Any]:
    """One of ``options``: ``choice(1, 2, 3)``, ``choice([1, 2, 3])`` or ``choice(range(1, 4))``."""
    if not options:
        raise HyperDriveConfigException("choice needs at least one option.")
    if len(options) == 1 and isinstance(options[0], list | range | tuple):
        values = list(options[0])
        if not values:
            raise HyperDriveConfigException("choice needs a non-empty list or range.")
        return ["choice", [values]]
    if any(isinstance(o, list | range) for o in options):
        raise HyperDriveConfigException("choice takes one list or range, or several values.")
    return ["choice", [list(options)]]


def randint(upper: int) -> list[Any]:
    """An integer in [0, upper)."""
    if isinstance(upper, bool) or not isinstance(upper, int) or upper <= 0:
        raise HyperDriveConfigException(f"randint: upper must be a positive int, got {upper!r}.")
    return ["randint", [upper]]


def uniform(min_value: float, max_value: float) -> list[Any]:
    _number(min_value, "min_value", "uniform")
    _number(max_value, "max_value", "uniform")
    if min_value >= max_value:
        raise HyperDriveConfigException("uniform: min_value must be less than max_value.")
    return ["uniform", [min_value, max_value]]


def quniform(min_value: float, max_value: float, q: int) -> list[Any]:
    """round(uniform(min_value, max_value) / q) * q."""
    _number(min_value, "min_value", "quniform")
    _number(max_value, "max_value", "quniform")
    _q(q, "quniform")
    if min_value >= max_value:
        raise HyperDriveConfigException("quniform: min_value must be less than max_value.")
    return ["quniform", [min_value, max_value, q]]


def loguniform(min_value: float, max_value: float) -> list[Any]:
    """exp(uniform(min_value, max_value)): the bounds are exponents (values in [e^min, e^max])."""
    _number(min_value, "min_value", "loguniform")
    _number(max_value, "max_value", "loguniform")
    if min_value > max_value:
        raise HyperDriveConfigException("loguniform: min_value must not exceed max_value.")
    return ["loguniform", [min_value, max_value]]


def qloguniform(min_value: float, max_value: float, q: int) -> list[Any]:
    """round(exp(uniform(min_value, max_value)) / q) * q."""
    _number(min_value, "min_value", "qloguniform")
    _number(max_value, "max_value", "qloguniform")
    _q(q, "qloguniform")
    if min_value > max_value:
        raise HyperDriveConfigException("qloguniform: min_value must not exceed max_value.")
    return ["qloguniform", [min_value, max_value, q]]


def _normal(kind: str, mu: float, sigma: float) -> None:
    _number(mu, "mu", kind)
    _number(sigma, "sigma", kind)
    if sigma < 0:
        raise HyperDriveConfigException(f"{kind}: sigma must not be negative.")


def normal(mu: float, sigma: float) -> list[Any]:
    _normal("normal", mu, sigma)
    return ["normal", [mu, sigma]]


def qnormal(mu: float, sigma: float, q: int) -> list[Any]:
    """round(normal(mu, sigma) / q) * q."""
    _normal("qnormal", mu, sigma)
    _q(q, "qnormal")
    return ["qnormal", [mu, sigma, q]]


def lognormal(mu: float, sigma: float) -> list[Any]:
    """exp(normal(mu, sigma))."""
    _normal("lognormal", mu, sigma)
    return ["lognormal", [mu, sigma]]


def qlognormal(mu: float, sigma: float, q: int) -> list[Any]:
    """round(exp(normal(mu, sigma)) / q) * q."""
    _normal("qlognormal", mu, sigma)
    _q(q, "qlognormal")
    return ["qlognormal", [mu, sigma, q]]
