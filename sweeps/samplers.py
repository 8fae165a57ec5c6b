"""Samplers: which parameters the ``index``-th child of a sweep gets.

Every sampler is a pure function of (space, seed, index, history): the controller may
crash between proposing and storing a child, and the next attempt must propose the same
thing, so nothing is kept in memory between calls.

- **Random** (Azure's ``RANDOM``): child ``i`` draws from ``random.Random(f"{seed}:{i}")``.
  A space of only ``choice``/``randint`` is sampled without replacement (a repeat is
  re-drawn from the same stream) and is exhausted after its last distinct point.
- **Grid** (``GRID``): ``choice`` only; child ``i`` is the ``i``-th point of the Cartesian
  product in the order the parameters were given (mixed-radix decoding of ``i``), so every
  combination runs exactly once and the sweep ends after the last.
- **Bayesian** (``BayesianOptimization``): ``choice``, ``uniform`` and ``quniform``, as in
  Azure. Optuna's TPE is rebuilt from the children so far (finished ones with their best
  primary metric, running ones as pending so the constant liar spreads concurrent
  proposals) and seeded with ``seed + i``: the same history gives the same proposal.
"""

from __future__ import annotations

import itertools
import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from common.errors import InvalidInput
from sweeps.space import Distribution, Space, Value, parse_space

RANDOM = "RANDOM"
GRID = "GRID"
BAYESIAN = "BayesianOptimization"
SAMPLERS = {"random": RANDOM, "grid": GRID, "bayesianoptimization": BAYESIAN, "bayesian": BAYESIAN}
SUPPORTED = {GRID: {"choice"}, BAYESIAN: {"choice", "uniform", "quniform"}}
REDRAWS = 1000


@dataclass(frozen=True)
class Trial:
    """A child as the samplers see it. ``value`` is its best primary metric so far."""

    index: int
    params: dict[str, Value]
    state: Literal["running", "complete", "failed"]
    value: float | None = None


@dataclass(frozen=True)
class SamplingConfig:
    name: str
    space: Space
    properties: dict[str, Any] = field(default_factory=dict)


def _in_order(space: Any, order: Any) -> Any:
    """The stored space with its parameters in their recorded order (see SweepConfig.to_json)."""
    if isinstance(space, dict) and isinstance(order, list) and sorted(map(str, order)) == sorted(space):
        return {name: space[name] for name in order}
    return space


def parse_sampling(raw: Any, where: str = "hyperparameter_sampling") -> SamplingConfig:
    """Azure's ``{"name": "RANDOM", "parameter_space": {...}, "properties": {...}}``."""
    if not isinstance(raw, dict):
        raise InvalidInput({where: ['Use {"name": "RANDOM"|"GRID"|"BayesianOptimization", "parameter_space": {...}}.']})
    name = SAMPLERS.get(str(raw.get("name", "")).lower())
    if name is None:
        raise InvalidInput({f"{where}.name": ["Use RANDOM, GRID or BayesianOptimization."]})
    space = parse_space(_in_order(raw.get("parameter_space"), raw.get("parameter_order")), f"{where}.parameter_space")
    allowed = SUPPORTED.get(name)
    for pname, dist in space.parameters:
        if allowed and dist.kind not in allowed:
            raise InvalidInput(
                {f"{where}.parameter_space.{pname}": [f"{name} sampling supports {', '.join(sorted(allowed))} only."]}
            )
        if name == BAYESIAN and dist.kind == "quniform":
            lo, hi, q = dist.args
            if not all(float(x).is_integer() for x in dist.args):
                raise InvalidInput({f"{where}.parameter_space.{pname}": ["Bayesian quniform takes integers."]})
            if (hi - lo) / q > 100_000:
                raise InvalidInput({f"{where}.parameter_space.{pname}": ["Too many points: use a larger q."]})
    properties = raw.get("properties") or {}
    if not isinstance(properties, dict):
        raise InvalidInput({f"{where}.properties": ["Must be an object."]})
    return SamplingConfig(name, space, dict(properties))


def capacity(config: SamplingConfig) -> int | None:
    """How many children the sampler can propose at most (None: unbounded)."""
    if config.name == GRID or config.space.discrete:
        return config.space.size()
    return None


def propose(
    config: SamplingConfig, seed: int, index: int, history: Sequence[Trial], *, maximize: bool = True
) -> dict[str, Value] | None:
    """Parameters of child ``index``; None when the space is exhausted. ``maximize`` is
    the primary metric's goal (only Bayesian sampling uses it)."""
    if config.name == GRID:
        return _grid(config.space, index)
    if config.name == BAYESIAN:
        return _bayesian(config, seed, index, history, maximize)
    return _random(config.space, seed, index, history)


def _grid(space: Space, index: int) -> dict[str, Value] | None:
    size = space.size() or 0
    if index >= size:
        return None
    out: dict[str, Value] = {}
    # The last parameter varies fastest, as itertools.product does.
    for name, dist in reversed(space.parameters):
        index, digit = divmod(index, len(dist.options))
        out[name] = dist.options[digit]
    return {name: out[name] for name in space.names}


def grid_points(space: Space) -> list[dict[str, Value]]:
    """Every grid point, in proposal order (for tests and the dashboard)."""
    return [
        dict(zip(space.names, combo, strict=True))
        for combo in itertools.product(*(d.options for _, d in space.parameters))
    ]


def _key(params: dict[str, Value]) -> tuple[str, ...]:
    return tuple(repr(v) for v in params.values())


def _random(space: Space, seed: int, index: int, history: Sequence[Trial]) -> dict[str, Value] | None:
    rng = random.Random(f"{seed}:{index}")
    draw = {name: dist.sample(rng) for name, dist in space.parameters}
    if not space.discrete:
        return draw
    seen = {_key(t.params) for t in history if t.index != index}
    size = space.size() or 0
    if len(seen) >= size:
        return None
    for _ in range(REDRAWS):
        if _key(draw) not in seen:
            return draw
        draw = {name: dist.sample(rng) for name, dist in space.parameters}
    # A nearly exhausted space: take the first unseen point in grid order, from the same stream.
    points = [
        dict(zip(space.names, combo, strict=True))
        for combo in itertools.product(*(_values(d) for _, d in space.parameters))
    ]
    unseen = [p for p in points if _key(p) not in seen]
    return unseen[rng.randrange(len(unseen))] if unseen else None


def _values(dist: Distribution) -> Sequence[Value]:
    return dist.options if dist.kind == "choice" else range(int(dist.args[0]))


def _optuna_distribution(dist: Distribution) -> Any:
    from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution

    if dist.kind == "choice":
        return CategoricalDistribution(list(dist.options))
    if dist.kind == "uniform":
        return FloatDistribution(dist.args[0], dist.args[1])
    lo, hi, q = (int(x) for x in dist.args)
    # round(uniform(lo, hi) / q) * q takes the multiples of q nearest the range.
    first, last = round(lo / q) * q, round(hi / q) * q
    return IntDistribution(first, max(first, last), step=q)


def _bayesian(
    config: SamplingConfig, seed: int, index: int, history: Sequence[Trial], maximize: bool
) -> dict[str, Value]:
    import optuna
    from optuna.trial import TrialState, create_trial

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    distributions = {name: _optuna_distribution(d) for name, d in config.space.parameters}
    sampler = optuna.samplers.TPESampler(
        seed=seed + index, n_startup_trials=int(config.properties.get("n_startup_trials", 5)), constant_liar=True
    )
    study = optuna.create_study(direction="maximize" if maximize else "minimize", sampler=sampler)
    for trial in sorted(history, key=lambda t: t.index):
        if trial.index == index:
            continue
        params = {k: v for k, v in trial.params.items() if k in distributions}
        if set(params) != set(distributions):
            continue
        try:
            if trial.state == "complete" and trial.value is not None:
                study.add_trial(create_trial(params=params, distributions=distributions, value=trial.value))
            elif trial.state == "running":
                study.add_trial(create_trial(params=params, distributions=distributions, state=TrialState.RUNNING))
            else:
                study.add_trial(create_trial(params=params, distributions=distributions, state=TrialState.FAIL))
        except ValueError:
            continue  # a value outside today's distribution (hand-edited history): ignore it
    suggestion = study.ask(distributions)
    return {name: suggestion.params[name] for name in config.space.names}
