"""A sweep's configuration: HyperDriveConfig's fields, parsed and checked once."""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any

from common.errors import InvalidInput
from sweeps.policies import PolicyConfig, parse_policy
from sweeps.samplers import SamplingConfig, capacity, parse_sampling

MAX_DURATION_MINUTES = 10080  # Azure's service limit (a week)
MAX_TOTAL_RUNS = 10_000


@dataclass(frozen=True)
class SweepConfig:
    sampling: SamplingConfig
    policy: PolicyConfig
    primary_metric: str
    maximize: bool
    max_total_runs: int
    max_concurrent_runs: int
    max_duration_minutes: int
    seed: int

    def to_json(self) -> dict[str, Any]:
        sampling: dict[str, Any] = {
            "name": self.sampling.name,
            "parameter_space": self.sampling.space.to_json(),
            # PostgreSQL's jsonb reorders object keys; the parameters' order decides the grid's
            # order and which draw goes to which parameter, so it is kept beside them.
            "parameter_order": list(self.sampling.space.names),
        }
        if self.sampling.properties:
            sampling["properties"] = self.sampling.properties
        return {
            "hyperparameter_sampling": sampling,
            "policy": self.policy.to_json(),
            "primary_metric_config": {"name": self.primary_metric, "goal": "maximize" if self.maximize else "minimize"},
            "max_total_runs": self.max_total_runs,
            "max_concurrent_runs": self.max_concurrent_runs,
            "max_duration_minutes": self.max_duration_minutes,
            "seed": self.seed,
        }


def _positive(raw: dict[str, Any], key: str, default: int | None, limit: int) -> int:
    value = raw.get(key, default)
    if value is None:
        value = default
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= limit:
        raise InvalidInput({key: [f"Must be an integer from 1 to {limit}."]})
    return value


def parse_config(raw: Any) -> SweepConfig:
    """Azure's JSON (``HyperDriveConfig``'s fields; ``primary_metric_name`` and
    ``primary_metric_goal`` may stand for ``primary_metric_config``). A missing ``seed`` is
    drawn now and recorded, so the sweep can be replayed."""
    if not isinstance(raw, dict):
        raise InvalidInput({"hyperdrive": ["Must be an object with HyperDriveConfig's fields."]})
    sampling = parse_sampling(raw.get("hyperparameter_sampling"))
    policy = parse_policy(raw.get("policy"))
    metric = raw.get("primary_metric_config") or {}
    if not isinstance(metric, dict):
        raise InvalidInput({"primary_metric_config": ['Use {"name": ..., "goal": "maximize"|"minimize"}.']})
    name = metric.get("name", raw.get("primary_metric_name"))
    goal = str(metric.get("goal", raw.get("primary_metric_goal", ""))).lower()
    if not isinstance(name, str) or not name.strip() or len(name) > 255:
        raise InvalidInput({"primary_metric_name": ["Name the metric the script logs (1-255 characters)."]})
    if goal not in ("maximize", "minimize"):
        raise InvalidInput({"primary_metric_goal": ["Must be MAXIMIZE or MINIMIZE."]})
    total = _positive(raw, "max_total_runs", None, MAX_TOTAL_RUNS)
    bound = capacity(sampling)
    if bound is not None and sampling.name == "GRID":
        total = min(total, bound)  # a grid ends after its last point, as Azure's does
    concurrent = _positive(raw, "max_concurrent_runs", total, MAX_TOTAL_RUNS)
    duration = _positive(raw, "max_duration_minutes", MAX_DURATION_MINUTES, MAX_DURATION_MINUTES)
    seed = raw.get("seed", sampling.properties.get("seed"))
    if seed is None:
        seed = random.SystemRandom().randrange(2**31)
    if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed < 2**31:
        raise InvalidInput({"seed": ["Must be an integer from 0 to 2^31-1."]})
    return SweepConfig(
        sampling=sampling,
        policy=policy,
        primary_metric=name.strip(),
        maximize=goal == "maximize",
        max_total_runs=total,
        max_concurrent_runs=min(concurrent, total),
        max_duration_minutes=duration,
        seed=seed,
    )
