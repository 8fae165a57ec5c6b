"""Samplers and termination policies: pure code, real Optuna, synthetic metric curves."""

from __future__ import annotations

import math
from typing import Any

import pytest

from common.errors import InvalidInput
from sweeps import policies
from sweeps.config import parse_config
from sweeps.policies import PolicyConfig, due, parse_policy, verdict
from sweeps.samplers import Trial, grid_points, parse_sampling, propose
from sweeps.space import as_arguments, parse_distribution

ALL_KINDS = {
    "c": ["choice", [["a", "b", 3]]],
    "ri": ["randint", [5]],
    "u": ["uniform", [0.5, 1.5]],
    "qu": ["quniform", [0, 100, 10]],
    "lu": ["loguniform", [-6, -1]],
    "qlu": ["qloguniform", [0, 5, 4]],
    "n": ["normal", [10, 2]],
    "qn": ["qnormal", [10, 2, 3]],
    "ln": ["lognormal", [0, 0.5]],
    "qln": ["qlognormal", [0, 0.5, 2]],
}


def _random(space: dict[str, Any]) -> Any:
    return parse_sampling({"name": "RANDOM", "parameter_space": space})


def test_random_draws_stay_in_azure_bounds() -> None:
    config = _random(ALL_KINDS)
    draws = [propose(config, 7, i, []) for i in range(2000)]
    for d in draws:
        assert d is not None
        assert d["c"] in ("a", "b", 3)
        assert d["ri"] in range(5)
        assert 0.5 <= d["u"] <= 1.5
        assert d["qu"] % 10 == 0 and 0 <= d["qu"] <= 100 and isinstance(d["qu"], int)
        # loguniform's bounds are exponents: exp(uniform(-6, -1))
        assert math.exp(-6) <= d["lu"] <= math.exp(-1)
        assert d["qlu"] % 4 == 0 and 0 <= d["qlu"] <= round(math.exp(5) / 4) * 4
        assert d["qn"] % 3 == 0
        assert d["ln"] > 0 and d["qln"] % 2 == 0 and d["qln"] >= 0
    # Distributions have the right shape, not just the right range.
    normals = [d["n"] for d in draws if d]
    assert abs(sum(normals) / len(normals) - 10) < 0.3
    logs = [math.log(d["lu"]) for d in draws if d]
    assert abs(sum(logs) / len(logs) - (-3.5)) < 0.2
    assert {d["ri"] for d in draws if d} == set(range(5))


def test_random_is_reproducible_with_a_seed_and_differs_without() -> None:
    config = _random(ALL_KINDS)
    first = [propose(config, 42, i, []) for i in range(20)]
    again = [propose(config, 42, i, []) for i in range(20)]
    other = [propose(config, 43, i, []) for i in range(20)]
    assert first == again
    assert first != other
    assert len({repr(d) for d in first}) == 20


def test_random_over_a_discrete_space_never_repeats_and_is_exhausted() -> None:
    config = _random({"a": ["choice", [[1, 2, 3]]], "b": ["randint", [2]]})
    history: list[Trial] = []
    for i in range(6):
        params = propose(config, 1, i, history)
        assert params is not None
        history.append(Trial(i, params, "complete", 0.0))
    assert len({(t.params["a"], t.params["b"]) for t in history}) == 6
    assert propose(config, 1, 6, history) is None


def test_grid_runs_every_combination_exactly_once_in_order() -> None:
    config = parse_sampling(
        {"name": "GRID", "parameter_space": {"lr": ["choice", [[0.1, 0.01]]], "bs": ["choice", [[16, 32, 64]]]}}
    )
    points = [propose(config, 0, i, []) for i in range(7)]
    assert points[6] is None
    got = points[:6]
    assert got == grid_points(config.space)
    assert got[0] == {"lr": 0.1, "bs": 16} and got[1] == {"lr": 0.1, "bs": 32} and got[5] == {"lr": 0.01, "bs": 64}
    assert len({(p["lr"], p["bs"]) for p in got if p}) == 6


def test_grid_and_bayesian_refuse_unsupported_distributions() -> None:
    with pytest.raises(InvalidInput) as e:
        parse_sampling({"name": "GRID", "parameter_space": {"lr": ["uniform", [0, 1]]}})
    assert "hyperparameter_sampling.parameter_space.lr" in e.value.errors
    with pytest.raises(InvalidInput):
        parse_sampling({"name": "BayesianOptimization", "parameter_space": {"lr": ["loguniform", [-3, -1]]}})
    with pytest.raises(InvalidInput):
        parse_sampling({"name": "BayesianOptimization", "parameter_space": {"n": ["quniform", [0.5, 10, 1]]}})


@pytest.mark.parametrize(
    ("raw", "field"),
    [
        (["uniform", [1, 1]], "p.min_value"),
        (["uniform", [1, "x"]], "p.max_value"),
        (["loguniform", [2, 1]], "p.min_value"),
        (["quniform", [0, 10, 0]], "p.q"),
        (["normal", [0, -1]], "p.sigma"),
        (["randint", [0]], "p.upper"),
        (["randint", [2.5]], "p.upper"),
        (["choice", [[]]], "p"),
        (["choice", [[1, 1]]], "p"),
        (["gamma", [1, 2]], "p"),
        (["uniform", [1]], "p"),
        ("uniform(0, 1)", "p"),
    ],
)
def test_bad_distributions_name_the_field(raw: Any, field: str) -> None:
    with pytest.raises(InvalidInput) as e:
        parse_distribution(raw, "p")
    assert field in e.value.errors


def test_parameters_become_azure_arguments() -> None:
    assert as_arguments({"lr": 0.05, "--batch-size": 64, "-o": "adam"}) == [
        "--lr",
        "0.05",
        "--batch-size",
        "64",
        "-o",
        "adam",
    ]


def _bayes_space() -> Any:
    return parse_sampling(
        {
            "name": "BayesianOptimization",
            "parameter_space": {
                "x": ["uniform", [-5, 5]],
                "k": ["quniform", [0, 20, 2]],
                "opt": ["choice", [["sgd", "adam"]]],
            },
        }
    )


def test_bayesian_is_seeded_reproducible_and_in_bounds() -> None:
    config = _bayes_space()

    def run(seed: int) -> list[dict[str, Any]]:
        history: list[Trial] = []
        for i in range(12):
            p = propose(config, seed, i, history, maximize=False)
            assert p is not None
            history.append(Trial(i, p, "complete", (p["x"] - 2) ** 2 + p["k"] / 10))
        return [t.params for t in history]

    a, b = run(5), run(5)
    assert a == b
    assert run(6) != a
    for p in a:
        assert -5 <= p["x"] <= 5 and p["k"] in range(0, 21, 2) and p["opt"] in ("sgd", "adam")


def test_bayesian_learns_from_history() -> None:
    """TPE on (x-2)^2 proposes near 2 at least twice as often as random draws would."""
    config = parse_sampling({"name": "BayesianOptimization", "parameter_space": {"x": ["uniform", [-10, 10]]}})
    history: list[Trial] = []
    for i in range(40):
        p = propose(config, 3, i, history, maximize=False)
        assert p is not None
        history.append(Trial(i, p, "complete", (p["x"] - 2) ** 2))
    near = sum(1 for t in history[10:] if abs(t.params["x"] - 2) <= 1)
    # Uniform draws land within 1 of the optimum 10% of the time: 3 of these 30.
    assert near >= 6


# --- policies on synthetic curves -------------------------------------------------------


def test_bandit_slack_factor_stops_the_run_outside_the_slack() -> None:
    policy = parse_policy({"name": "Bandit", "properties": {"slack_factor": 0.2, "evaluation_interval": 1}})
    best = [0.5, 0.7, 0.8]
    close = [0.5, 0.65, 0.7]  # 0.7 >= 0.8 / 1.2 = 0.667: stays
    poor = [0.45, 0.5, 0.6]  # 0.6 < 0.667: stops at interval 3
    assert verdict(policy, True, close, [best, poor], 3) is None
    assert verdict(policy, True, poor, [best, close], 1) is None  # 0.4 >= 0.5 / 1.2
    assert "slack_factor 0.2" in (verdict(policy, True, poor, [best, close], 3) or "")


def test_bandit_slack_amount_when_minimizing() -> None:
    policy = parse_policy({"name": "Bandit", "properties": {"slack_amount": 0.1}})
    best = [1.0, 0.5]
    assert verdict(policy, False, [1.0, 0.55], [best], 2) is None
    assert verdict(policy, False, [1.0, 0.65], [best], 2) is not None


def test_intervals_follow_evaluation_interval_and_delay() -> None:
    policy = parse_policy(
        {"name": "Bandit", "properties": {"slack_factor": 0.1, "evaluation_interval": 2, "delay_evaluation": 5}}
    )
    assert due(policy, 0, 10) == [6, 8, 10]
    assert due(policy, 6, 9) == [8]
    assert due(PolicyConfig(), 0, 10) == []


def test_median_stopping_stops_the_run_below_the_median() -> None:
    policy = parse_policy({"name": "MedianStopping", "properties": {"evaluation_interval": 1, "delay_evaluation": 2}})
    others = [[0.5, 0.6, 0.7], [0.4, 0.5, 0.6], [0.6, 0.7, 0.8]]
    # running averages at 3: 0.6, 0.5, 0.7 -> median 0.6
    assert verdict(policy, True, [0.3, 0.4, 0.59], others, 3) is not None
    assert verdict(policy, True, [0.3, 0.4, 0.61], others, 3) is None
    # it compares at the same interval only: others' later values do not count
    assert verdict(policy, True, [0.45], others, 1) is not None  # median of 0.5, 0.4, 0.6
    assert verdict(policy, True, [0.55], others, 1) is None


def test_truncation_selection_cuts_the_lowest_percentage() -> None:
    policy = parse_policy({"name": "TruncationSelection", "properties": {"truncation_percentage": 25}})
    curves = [[0.9], [0.8], [0.7], [0.1]]
    stopped = [i for i, c in enumerate(curves) if verdict(policy, True, c, curves[:i] + curves[i + 1 :], 1)]
    assert stopped == [3]  # floor(4 * 25%) = 1: only the worst
    half = parse_policy({"name": "TruncationSelection", "properties": {"truncation_percentage": 50}})
    stopped = [i for i, c in enumerate(curves) if verdict(half, False, c, curves[:i] + curves[i + 1 :], 1)]
    assert stopped == [0, 1]  # minimizing: the two largest


def test_no_termination_never_stops() -> None:
    assert verdict(parse_policy({"name": "Default"}), True, [0.0], [[1.0]], 1) is None
    assert verdict(parse_policy(None), True, [0.0], [[1.0]], 1) is None


@pytest.mark.parametrize(
    ("raw", "field"),
    [
        ({"name": "Bandit", "properties": {}}, "policy.slack_factor"),
        ({"name": "Bandit", "properties": {"slack_factor": 0.1, "slack_amount": 0.2}}, "policy.slack_factor"),
        (
            {"name": "Bandit", "properties": {"slack_factor": 0.1, "evaluation_interval": 0}},
            "policy.evaluation_interval",
        ),
        ({"name": "TruncationSelection", "properties": {"truncation_percentage": 100}}, "policy.truncation_percentage"),
        ({"name": "Sometimes"}, "policy.name"),
    ],
)
def test_bad_policies_name_the_field(raw: Any, field: str) -> None:
    with pytest.raises(InvalidInput) as e:
        parse_policy(raw)
    assert field in e.value.errors


def test_config_records_a_seed_and_caps_grid_runs() -> None:
    raw = {
        "hyperparameter_sampling": {"name": "GRID", "parameter_space": {"a": ["choice", [[1, 2, 3]]]}},
        "primary_metric_name": "acc",
        "primary_metric_goal": "MAXIMIZE",
        "max_total_runs": 50,
        "max_concurrent_runs": 2,
    }
    config = parse_config(raw)
    assert config.max_total_runs == 3 and config.max_concurrent_runs == 2 and config.maximize
    assert 0 <= config.seed < 2**31
    assert parse_config(config.to_json()) == config
    assert policies.describe(config.policy) == "NoTerminationPolicy"
    with pytest.raises(InvalidInput) as e:
        parse_config({**raw, "primary_metric_goal": "BEST"})
    assert "primary_metric_goal" in e.value.errors
