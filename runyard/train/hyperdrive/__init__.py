"""Hyperparameter sweeps with Azure ML v1's names (``azureml.train.hyperdrive``).

    from runyard.train.hyperdrive import (BanditPolicy, HyperDriveConfig, PrimaryMetricGoal,
                                          RandomParameterSampling, choice, loguniform)
    sampling = RandomParameterSampling({"lr": loguniform(-6, -1), "batch": choice(16, 32, 64)})
    hd = HyperDriveConfig(run_config=src, hyperparameter_sampling=sampling,
                          policy=BanditPolicy(slack_factor=0.1), primary_metric_name="accuracy",
                          primary_metric_goal=PrimaryMetricGoal.MAXIMIZE, max_total_runs=20,
                          max_concurrent_runs=4)
    run = Experiment(ws, "tune").submit(hd)      # a HyperDriveRun
    run.wait_for_completion(show_output=True)
    best = run.get_best_run_by_primary_metric()

Each child runs ``src`` with its parameters appended to the arguments (``--lr 0.0031
--batch 32``); the server samples, applies the policy and cancels the children it stops.
"""

from runyard.train.hyperdrive.exceptions import HyperDriveConfigException
from runyard.train.hyperdrive.parameter_expressions import (
    choice,
    lognormal,
    loguniform,
    normal,
    qlognormal,
    qloguniform,
    qnormal,
    quniform,
    randint,
    uniform,
)
from runyard.train.hyperdrive.policy import (
    BanditPolicy,
    EarlyTerminationPolicy,
    MedianStoppingPolicy,
    NoTerminationPolicy,
    TruncationSelectionPolicy,
)
from runyard.train.hyperdrive.run import HyperDriveRun
from runyard.train.hyperdrive.runconfig import HyperDriveConfig, HyperDriveRunConfig, PrimaryMetricGoal
from runyard.train.hyperdrive.sampling import (
    BayesianParameterSampling,
    GridParameterSampling,
    HyperParameterSampling,
    RandomParameterSampling,
)

__all__ = [
    "BanditPolicy",
    "BayesianParameterSampling",
    "EarlyTerminationPolicy",
    "GridParameterSampling",
    "HyperDriveConfig",
    "HyperDriveConfigException",
    "HyperDriveRun",
    "HyperDriveRunConfig",
    "HyperParameterSampling",
    "MedianStoppingPolicy",
    "NoTerminationPolicy",
    "PrimaryMetricGoal",
    "RandomParameterSampling",
    "TruncationSelectionPolicy",
    "choice",
    "lognormal",
    "loguniform",
    "normal",
    "qlognormal",
    "qloguniform",
    "qnormal",
    "quniform",
    "randint",
    "uniform",
]
