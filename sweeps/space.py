"""Search spaces: Azure HyperDrive's parameter expressions, parsed once and checked.

A space arrives as Azure's SDK serialises it (``HyperParameterSampling.to_json()``): a
mapping of parameter name to ``[kind, [args]]``, e.g. ``{"--lr": ["loguniform", [-6, -1]],
"batch": ["choice", [[16, 32, 64]]]}``. The semantics are Azure's, not NumPy's or Optuna's:

- ``choice(options)``: one of the options.
- ``randint(upper)``: an integer in [0, upper).
- ``uniform(lo, hi)``; ``quniform(lo, hi, q)`` = round(uniform(lo, hi) / q) * q.
- ``loguniform(lo, hi)`` = exp(uniform(lo, hi)) — the bounds are *exponents*, so the value
  lies in [e^lo, e^hi]; ``qloguniform(lo, hi, q)`` = round(exp(uniform(lo, hi)) / q) * q.
- ``normal(mu, sigma)``; ``qnormal(mu, sigma, q)`` = round(normal(mu, sigma) / q) * q.
- ``lognormal(mu, sigma)`` = exp(normal(mu, sigma)); ``qlognormal`` quantised likewise.

This module is pure (no Django): the API, the controller and the tests share it.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from typing import Any

from common.errors import InvalidInput

Value = int | float | str | bool | None

# kind -> number of arguments after the kind
ARITY = {
    "choice": 1,
    "randint": 1,
    "uniform": 2,
    "quniform": 3,
    "loguniform": 2,
    "qloguniform": 3,
    "normal": 2,
    "qnormal": 3,
    "lognormal": 2,
    "qlognormal": 3,
}
KINDS = frozenset(ARITY)
MAX_PARAMETERS = 64
MAX_CHOICES = 10_000


@dataclass(frozen=True)
class Distribution:
    """One parameter's distribution. ``args`` are the numeric arguments (lo, hi[, q] or
    mu, sigma[, q] or upper); ``options`` only for ``choice``."""

    kind: str
    args: tuple[float, ...] = ()
    options: tuple[Value, ...] = ()

    @property
    def q(self) -> float | None:
        return self.args[2] if self.kind.startswith("q") else None

    def sample(self, rng: random.Random) -> Value:
        """A draw with Azure's semantics (see the module docstring)."""
        k = self.kind
        if k == "choice":
            return self.options[rng.randrange(len(self.options))]
        if k == "randint":
            return rng.randrange(int(self.args[0]))
        a, b = self.args[0], self.args[1]
        if k in ("uniform", "quniform"):
            x = rng.uniform(a, b)
        elif k in ("loguniform", "qloguniform"):
            x = math.exp(rng.uniform(a, b))
        elif k in ("normal", "qnormal"):
            x = rng.gauss(a, b)
        else:  # lognormal, qlognormal
            x = math.exp(rng.gauss(a, b))
        return quantize(x, self.q)

    def to_json(self) -> list[Any]:
        if self.kind == "choice":
            return ["choice", [list(self.options)]]
        return [self.kind, [_plain(a) for a in self.args]]


def quantize(x: float, q: float | None) -> float | int:
    if q is None:
        return x
    value = round(x / q) * q
    # Azure's q is an int: a quantised value of an int q reads as an int ("--units 64").
    return int(value) if float(q).is_integer() else value


def _plain(a: float) -> int | float:
    return int(a) if isinstance(a, int) or (isinstance(a, float) and a.is_integer() and abs(a) < 2**53) else a


@dataclass(frozen=True)
class Space:
    """Parameters in the order given (grid order and argument order follow it)."""

    parameters: tuple[tuple[str, Distribution], ...]

    @property
    def names(self) -> list[str]:
        return [n for n, _ in self.parameters]

    def to_json(self) -> dict[str, list[Any]]:
        return {n: d.to_json() for n, d in self.parameters}

    @property
    def discrete(self) -> bool:
        return all(d.kind in ("choice", "randint") for _, d in self.parameters)

    def size(self) -> int | None:
        """How many distinct points a discrete space has (None when continuous)."""
        if not self.discrete:
            return None
        total = 1
        for _, d in self.parameters:
            total *= len(d.options) if d.kind == "choice" else int(d.args[0])
        return total


def _number(value: Any, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise InvalidInput({where: ["Must be a finite number."]})
    return value


def _integer(value: Any, where: str) -> int:
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidInput({where: ["Must be an integer."]})
    return value


def parse_distribution(raw: Any, where: str) -> Distribution:
    """``[kind, [args]]`` (Azure's JSON) -> Distribution, or InvalidInput naming ``where``."""
    if not isinstance(raw, list | tuple) or len(raw) != 2 or not isinstance(raw[1], list | tuple):
        raise InvalidInput({where: ['Use [kind, [arguments]], e.g. ["uniform", [0.01, 0.1]].']})
    kind, args = raw[0], list(raw[1])
    if not isinstance(kind, str) or kind not in KINDS:
        raise InvalidInput({where: [f"Unknown distribution {kind!r}; use one of {', '.join(sorted(KINDS))}."]})
    if len(args) != ARITY[kind]:
        raise InvalidInput({where: [f"{kind} takes {ARITY[kind]} argument(s), got {len(args)}."]})
    if kind == "choice":
        return _parse_choice(args[0], where)
    if kind == "randint":
        upper = _integer(args[0], f"{where}.upper")
        if upper <= 0:
            raise InvalidInput({f"{where}.upper": ["Must be a positive integer."]})
        return Distribution(kind, (upper,))
    return _parse_numeric(kind, args, where)


def _parse_numeric(kind: str, args: list[Any], where: str) -> Distribution:
    a = _number(args[0], f"{where}.{'mu' if 'normal' in kind else 'min_value'}")
    b = _number(args[1], f"{where}.{'sigma' if 'normal' in kind else 'max_value'}")
    if "normal" in kind:
        if b < 0:
            raise InvalidInput({f"{where}.sigma": ["Must not be negative."]})
    elif kind in ("uniform", "quniform") and a >= b:
        raise InvalidInput({f"{where}.min_value": ["Must be less than max_value."]})
    elif kind in ("loguniform", "qloguniform") and a > b:
        raise InvalidInput({f"{where}.min_value": ["Must not exceed max_value."]})
    if kind in ("loguniform", "qloguniform") and max(abs(a), abs(b)) > 700:
        raise InvalidInput({where: ["The bounds are exponents (exp(uniform(min, max))): keep them within ±700."]})
    if kind.startswith("q"):
        q = _number(args[2], f"{where}.q")
        if q <= 0:
            raise InvalidInput({f"{where}.q": ["Must be positive."]})
        return Distribution(kind, (a, b, q))
    return Distribution(kind, (a, b))


def _parse_choice(options: Any, where: str) -> Distribution:
    if isinstance(options, dict) or not isinstance(options, list | tuple) or not options:
        raise InvalidInput({where: ["choice needs a non-empty list of options."]})
    if len(options) > MAX_CHOICES:
        raise InvalidInput({where: [f"choice takes at most {MAX_CHOICES} options."]})
    for option in options:
        if option is not None and not isinstance(option, str | int | float | bool):
            raise InvalidInput({where: ["choice options must be strings, numbers, booleans or null."]})
        if isinstance(option, float) and not math.isfinite(option):
            raise InvalidInput({where: ["choice options must be finite."]})
    if len({repr(o) for o in options}) != len(options):
        raise InvalidInput({where: ["choice options must be distinct."]})
    return Distribution("choice", options=tuple(options))


def parse_space(raw: Any, where: str = "parameter_space") -> Space:
    if not isinstance(raw, dict) or not raw:
        raise InvalidInput({where: ["Must be a non-empty object of parameter name: distribution."]})
    if len(raw) > MAX_PARAMETERS:
        raise InvalidInput({where: [f"At most {MAX_PARAMETERS} parameters."]})
    params = []
    for name, dist in raw.items():
        if not isinstance(name, str) or not name.strip("-") or len(name) > 128 or any(c.isspace() for c in name):
            raise InvalidInput({where: [f"Parameter name {name!r}: 1-128 characters, no spaces."]})
        params.append((name, parse_distribution(dist, f"{where}.{name}")))
    return Space(tuple(params))


def argument_name(name: str) -> str:
    """The flag a parameter is passed as: Azure passes ``lr`` as ``--lr`` and keeps a
    name that already starts with a dash (``--lr``, ``-l``) as it is."""
    return name if name.startswith("-") else f"--{name}"


def format_value(value: Value) -> str:
    # str() as Azure's service does: 0.05 -> "0.05", 64 -> "64", True -> "True".
    return str(value)


def as_arguments(params: dict[str, Value]) -> list[str]:
    out: list[str] = []
    for name, value in params.items():
        out += [argument_name(name), format_value(value)]
    return out
