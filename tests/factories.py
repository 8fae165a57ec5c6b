"""Small builders for test data."""

from __future__ import annotations

from typing import Any

from compute.models import ComputeTarget
from environments.models import Environment
from runs.models import Experiment, Run


def make_run(user: Any, team: Any, **fields: Any) -> Run:
    experiment, _ = Experiment.objects.get_or_create(team=team, name="exp")
    env = Environment.objects.get(name="Runyard-Python-3.11")
    return Run.objects.create(
        team=team,
        experiment=experiment,
        submitted_by=user,
        script="train.py",
        environment_version=env.latest_version(),
        compute_target=ComputeTarget.objects.get(name="local"),
        **fields,
    )
