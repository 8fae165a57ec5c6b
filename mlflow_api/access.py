"""Who reaches which experiment and run through the MLflow API.

Users: their teams' (admins: all). A run token: its own run and the runs under it, and
that run's experiment; the run id is in the request body or query here, not in the URL,
so these views narrow by it themselves (their allow-list entries are ``anywhere``)."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.models import User
from django.db.models import QuerySet
from rest_framework import serializers
from rest_framework.request import Request

from accounts.authentication import RunScope
from accounts.permissions import default_team, scope_to_teams
from mlflow_api.errors import MlflowError, invalid, missing
from mlflow_api.shapes import DEFAULT_EXPERIMENT
from runs.api import run_and_descendants
from runs.models import Experiment, Run


def user_of(request: Request) -> User:
    """The signed-in user (every view here requires one)."""
    assert isinstance(request.user, User)
    return request.user


def run_scope(request: Request) -> RunScope | None:
    return request.auth if isinstance(request.auth, RunScope) else None


def visible_runs(request: Request) -> QuerySet[Run]:
    runs = Run.objects.select_related("submitted_by", "experiment", "team")
    scope = run_scope(request)
    if scope is not None:
        return runs.filter(pk__in=run_and_descendants(scope.run_id))
    return scope_to_teams(request, runs)


def visible_experiments(request: Request) -> QuerySet[Experiment]:
    experiments = Experiment.objects.select_related("team")
    scope = run_scope(request)
    if scope is not None:
        return experiments.filter(runs__pk=scope.run_id)
    return scope_to_teams(request, experiments)


def run_id_of(data: Any) -> str:
    value = data.get("run_id") or data.get("run_uuid") or ""
    if not isinstance(value, str | int) or str(value) == "":
        raise invalid("Missing value for required parameter 'run_id'.")
    return str(value)


def get_run(request: Request, run_id: str) -> Run:
    run = None
    if run_id.isascii() and run_id.isdigit():
        run = visible_runs(request).filter(pk=int(run_id)).first()
    if run is None:
        raise missing(f"Run with id={run_id} not found")
    return run


def get_experiment(request: Request, experiment_id: Any) -> Experiment:
    """An experiment by id; MLflow's default experiment "0" is the team's ``default`` one
    (a run token's: its run's experiment)."""
    text = str(experiment_id or "")
    if text == "0":
        scope = run_scope(request)
        if scope is not None:
            return Run.objects.select_related("experiment__team").get(pk=scope.run_id).experiment
        team = default_team(request, None)
        exp, _ = Experiment.objects.get_or_create(
            team=team, name=DEFAULT_EXPERIMENT, defaults={"created_by": user_of(request)}
        )
        return exp
    found = None
    if text.isascii() and text.isdigit():
        found = visible_experiments(request).filter(pk=int(text)).first()
    if found is None:
        raise MlflowError("RESOURCE_DOES_NOT_EXIST", f"No Experiment with id={text} exists")
    return found


def experiment_by_name(request: Request, name: str) -> Experiment | None:
    """The user's experiment of that name, their default team's first when several teams
    have one (MLflow names are global; Runyard's are per team)."""
    matches = list(visible_experiments(request).filter(name=name).order_by("id"))
    if len(matches) <= 1 or run_scope(request) is not None:
        return matches[0] if matches else None
    try:
        team = default_team(request, None)
    except serializers.ValidationError:  # in no team: admins
        return matches[0]
    return next((e for e in matches if e.team_id == team.pk), matches[0])
