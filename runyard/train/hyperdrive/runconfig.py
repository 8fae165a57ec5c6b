"""HyperDriveConfig and PrimaryMetricGoal (Azure's ``azureml.train.hyperdrive.runconfig``)."""

from __future__ import annotations

import enum
import json
import warnings
from typing import TYPE_CHECKING, Any

from runyard.train.hyperdrive.exceptions import HyperDriveConfigException
from runyard.train.hyperdrive.policy import EarlyTerminationPolicy, NoTerminationPolicy
from runyard.train.hyperdrive.sampling import BayesianParameterSampling, HyperParameterSampling

if TYPE_CHECKING:
    from runyard.experiment import Experiment
    from runyard.train.hyperdrive.run import HyperDriveRun

MAX_DURATION_MINUTES = 10080  # Azure's service limit


class PrimaryMetricGoal(enum.Enum):
    MAXIMIZE = "MAXIMIZE"
    MINIMIZE = "MINIMIZE"

    @staticmethod
    def from_str(goal: str) -> PrimaryMetricGoal:
        for member in PrimaryMetricGoal:
            if goal.lower() == member.name.lower():
                return member
        raise HyperDriveConfigException(f"primary_metric_goal must be MAXIMIZE or MINIMIZE, got {goal!r}.")


class HyperDriveConfig:
    """A sweep: ``run_config`` (a ScriptRunConfig) run once per sampled point, with the
    point's parameters appended to its arguments as ``--name value``."""

    def __init__(
        self,
        hyperparameter_sampling: HyperParameterSampling,
        primary_metric_name: str,
        primary_metric_goal: PrimaryMetricGoal,
        max_total_runs: int,
        max_concurrent_runs: int | None = None,
        max_duration_minutes: int = MAX_DURATION_MINUTES,
        policy: EarlyTerminationPolicy | None = None,
        estimator: Any = None,
        run_config: Any = None,
        resume_from: Any = None,
        resume_child_runs: Any = None,
        pipeline: Any = None,
        debug_flag: Any = None,
        custom_run_id: str | None = None,
    ) -> None:
        from runyard.script_run_config import ScriptRunConfig

        if pipeline is not None or resume_from is not None or resume_child_runs is not None:
            raise HyperDriveConfigException("Sweeps take a run_config: no pipeline, resume_from or resume_child_runs.")
        if (estimator is None) == (run_config is None):
            raise HyperDriveConfigException("Give exactly one of run_config (a ScriptRunConfig) and estimator.")
        if estimator is not None:
            run_config = estimator.to_script_run_config()
        if not isinstance(run_config, ScriptRunConfig):
            raise HyperDriveConfigException(f"run_config must be a ScriptRunConfig, got {type(run_config).__name__}.")
        if not isinstance(hyperparameter_sampling, HyperParameterSampling):
            raise HyperDriveConfigException("hyperparameter_sampling must be a Random/Grid/BayesianParameterSampling.")
        if not isinstance(primary_metric_goal, PrimaryMetricGoal):
            raise HyperDriveConfigException("primary_metric_goal must be PrimaryMetricGoal.MAXIMIZE or MINIMIZE.")
        if isinstance(max_total_runs, bool) or not isinstance(max_total_runs, int) or max_total_runs < 1:
            raise HyperDriveConfigException("max_total_runs must be a positive int.")
        if max_duration_minutes > MAX_DURATION_MINUTES:
            warnings.warn(
                f"max_duration_minutes exceeds the service limit: set to {MAX_DURATION_MINUTES}.",
                stacklevel=2,
            )
            max_duration_minutes = MAX_DURATION_MINUTES
        if isinstance(hyperparameter_sampling, BayesianParameterSampling) and (max_concurrent_runs or 0) > 20:
            warnings.warn("Bayesian sampling learns little with more than 20 concurrent runs.", stacklevel=2)
        self._run_config = run_config
        self._generator_config = hyperparameter_sampling.to_json()
        self._policy_config = (policy or NoTerminationPolicy()).to_json()
        self._primary_metric_config = {"name": primary_metric_name, "goal": primary_metric_goal.name.lower()}
        self._max_total_runs = max_total_runs
        self._max_concurrent_runs = max_concurrent_runs or max_total_runs
        self._max_duration_minutes = max_duration_minutes
        self._display_name = custom_run_id

    @property
    def run_config(self) -> Any:
        return self._run_config

    @property
    def primary_metric_name(self) -> str:
        return str(self._primary_metric_config["name"])

    def to_json(self) -> dict[str, Any]:
        """What ``POST /api/sweeps/`` takes as ``hyperdrive``."""
        return {
            "hyperparameter_sampling": self._generator_config,
            "policy": self._policy_config,
            "primary_metric_config": self._primary_metric_config,
            "max_total_runs": self._max_total_runs,
            "max_concurrent_runs": self._max_concurrent_runs,
            "max_duration_minutes": self._max_duration_minutes,
        }

    def _submit_to(
        self,
        experiment: Experiment,
        tags: dict[str, str] | None = None,
        show_progress: bool | None = None,
        **kwargs: Any,
    ) -> HyperDriveRun:
        """``Experiment.submit(hd_config)``: snapshot the source once; the server runs the children."""
        from runyard.train.hyperdrive.run import HyperDriveRun

        fields = experiment.submission_fields(self._run_config, tags, self._display_name or kwargs.get("display_name"))
        fields["hyperdrive"] = json.dumps(self.to_json())
        item = experiment.post_snapshot(self._run_config, fields, show_progress, path="/api/sweeps/")
        run = HyperDriveRun(experiment, item["id"], hyperdrive_config=self)
        run._sweep = item
        return run

    def __repr__(self) -> str:
        return f"HyperDriveConfig({json.dumps(self.to_json())})"


# Azure's deprecated name for the same thing.
HyperDriveRunConfig = HyperDriveConfig
