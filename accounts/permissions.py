"""Team isolation and admin-only writes, shared by every app's API."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from django.db.models import Model, QuerySet
from django.http import HttpRequest
from rest_framework import exceptions, permissions, serializers
from rest_framework.request import Request

from accounts.authentication import TEAM_IDS_ATTRIBUTE, RunScope
from accounts.models import Membership, Team


def is_admin(user: Any) -> bool:
    return bool(user and user.is_authenticated and (user.is_superuser or user.is_staff))


def user_pk(request: Request) -> int:
    """The signed-in user's id (views run after IsAuthenticated)."""
    return int(request.user.pk or 0)


def team_ids(request: Request) -> set[int]:
    """The ids of the teams the requesting user belongs to (cached per request; token
    authentication reads them with the token)."""
    cached = getattr(request, TEAM_IDS_ATTRIBUTE, None)
    if cached is None:
        user = request.user
        cached = (
            set(Membership.objects.filter(user_id=user_pk(request)).values_list("team_id", flat=True))
            if user.is_authenticated
            else set()
        )
        setattr(request, TEAM_IDS_ATTRIBUTE, cached)
    return cached


def scope_to_teams(request: Request, queryset: QuerySet[Any], field: str = "team") -> QuerySet[Any]:
    """Admins see everything; everyone else sees their teams' rows."""
    if is_admin(request.user):
        return queryset
    return queryset.filter(**{f"{field}__in": team_ids(request)})


def default_team(request: Request, requested: Team | None) -> Team:
    """The team a new object belongs to: the one asked for (if the user is in it), or
    the user's only or first team."""
    if requested is not None:
        if requested.pk not in team_ids(request) and not is_admin(request.user):
            raise serializers.ValidationError({"team": ["You are not a member of this team."]})
        return requested
    membership = Membership.objects.filter(user_id=user_pk(request)).select_related("team").order_by("id").first()
    if membership is None:
        raise serializers.ValidationError({"team": ["You belong to no team; ask an admin to add you to one."]})
    return membership.team


TEAM_IS_FIXED = "An object's team cannot change after it is created; an admin can move it."


def checked_team(request: Request, instance: Model | None, attrs: dict[str, Any]) -> Team:
    """The team a write leaves a team-owned object in.

    Create: the team asked for if the user is a member of it (``default_team``). Update: the
    object's own team; naming another one is a move, which only admins may make (their
    views audit it with ``audit.mixins.record_move``). A member who could move an object
    into another team could plant it there (an environment that runs in their runs)."""
    if instance is None:
        return default_team(request, attrs.get("team"))
    current: Team = getattr(instance, "team")  # noqa: B009 - any team-owned model
    requested = attrs.get("team", current)
    if requested == current:
        return current
    if not is_admin(request.user):
        raise serializers.ValidationError({"team": [TEAM_IS_FIXED]})
    if requested is None:
        raise serializers.ValidationError({"team": ["Name the team to move it to."]})
    return requested  # type: ignore[no-any-return]


def owning_team_id(obj: Model) -> int | None:
    """The id of the team that owns ``obj`` (a row with ``team``, or one under a dataset,
    a model, an environment or a run); None for shared rows (curated environments, their versions)."""
    if hasattr(obj, "team_id"):
        return None if obj.team_id is None else int(obj.team_id)
    for owner in ("dataset", "model", "environment", "run"):
        parent = getattr(obj, owner, None)
        if isinstance(parent, Model):
            return owning_team_id(parent)
    return None


# ---- run tokens: what user code inside a run may do -----------------------------------
RunCheck = Callable[[RunScope, Mapping[str, Any]], bool]


def own_run(scope: RunScope, url_kwargs: Mapping[str, Any]) -> bool:
    """The URL's run (``pk``) is the token's run or a child run under it (Azure ML's
    ``run.child_run()``: a script logs to the children it made)."""
    pk = str(url_kwargs.get("pk", ""))
    if pk == str(scope.run_id):
        return True
    if not pk.isdigit():
        return False
    from runs.interactive import ancestors
    from runs.models import Run

    run = Run.objects.filter(pk=int(pk)).only("pk", "parent_id").first()
    return run is not None and scope.run_id in ancestors(run)


def anywhere(scope: RunScope, url_kwargs: Mapping[str, Any]) -> bool:
    """No run in the URL: the view itself narrows to the token's runs (the run list, a
    child run's start, which must name the token's run or one under it as parent)."""
    return True


@dataclass(frozen=True)
class RunTokenRoute:
    method: str
    route: str  # the URL pattern's name (router basename + action)


# The one allow-list. A run token is handed to user code, which may be anyone's pip
# package: it reaches what the in-run SDK calls (runyard/run.py, logging_mixin.py,
# logstream.py: details, logs, metrics, files, tags, inputs, properties, child runs) on
# its own run and the child runs under it, and nothing
# else. Any route not here, present or future, answers 403 to it. Inputs are made local
# by the worker from the database and listed by ``inputs/`` and RUNYARD_INPUTS, so no
# dataset route is needed in-run; the worker itself uses no run token.
RUN_TOKEN_ALLOWED: Mapping[RunTokenRoute, RunCheck] = {
    RunTokenRoute("GET", "run-detail"): own_run,
    RunTokenRoute("GET", "run-logs"): own_run,
    RunTokenRoute("GET", "run-logs-download"): own_run,
    RunTokenRoute("GET", "run-metrics"): own_run,
    RunTokenRoute("POST", "run-metrics"): own_run,
    RunTokenRoute("GET", "run-artifacts"): own_run,
    RunTokenRoute("POST", "run-artifacts"): own_run,
    RunTokenRoute("GET", "run-artifact-download"): own_run,
    RunTokenRoute("POST", "run-tag"): own_run,
    RunTokenRoute("GET", "run-inputs"): own_run,
    # run.restore_snapshot(), and get_details() (its log files, one per process) inside a script.
    RunTokenRoute("GET", "run-snapshot"): own_run,
    RunTokenRoute("GET", "run-processes"): own_run,
    # run.get_environment() inside a script: the run's own environment version only.
    RunTokenRoute("GET", "run-environment"): own_run,
    # run.register_model inside the script: the run's own artifacts become a model version.
    RunTokenRoute("POST", "run-register-model"): own_run,
    # Child runs (Azure ML's child_run / create_children / get_children) and properties.
    RunTokenRoute("GET", "run-list"): anywhere,
    RunTokenRoute("POST", "run-start-logging"): anywhere,
    RunTokenRoute("POST", "run-complete"): own_run,
    RunTokenRoute("POST", "run-properties"): own_run,
    # run.alert(title, text, level): notifies the run's subscribers.
    RunTokenRoute("POST", "run-alert"): own_run,
    # The SDK's Workspace attributes (ws.name, ws.location), read by some scripts.
    RunTokenRoute("GET", "workspace"): anywhere,
    # MLflow's client inside the run (MLFLOW_RUN_ID, mlflow_api): the run id is in the body
    # or query, so these views narrow to the token's run and the runs under it themselves;
    # creating experiments, or runs outside its own, stays a user's.
    **{
        RunTokenRoute(method, f"mlflow-{name}"): anywhere
        for method, name in [
            ("GET", "experiments-get"),
            ("GET", "experiments-get-by-name"),
            ("POST", "runs-create"),
            ("GET", "runs-get"),
            ("POST", "runs-update"),
            ("POST", "runs-search"),
            ("POST", "runs-log-metric"),
            ("POST", "runs-log-parameter"),
            ("POST", "runs-log-batch"),
            ("POST", "runs-log-inputs"),
            ("POST", "runs-set-tag"),
            ("POST", "runs-delete-tag"),
            ("GET", "metrics-get-history"),
            ("GET", "artifacts-list"),
            ("GET", "artifacts-proxy-list"),
            ("POST", "logged-models-search"),
            # mlflow.register_model of the run's own artifacts, as run.register_model above.
            ("POST", "registered-models-create"),
            ("GET", "registered-models-get"),
            ("POST", "model-versions-create"),
            ("GET", "model-versions-get"),
        ]
    },
    RunTokenRoute("GET", "mlflow-artifacts-proxy-file"): own_run,
    RunTokenRoute("PUT", "mlflow-artifacts-proxy-file"): own_run,
}
RUN_TOKEN_DENIED = "A run token may only read and log to its own run; this needs a user token."


def enforce_run_token(request: HttpRequest, scope: RunScope) -> None:
    """Raise unless the request is on ``RUN_TOKEN_ALLOWED`` for the token's own run.

    Called by the authentication class as it accepts a run token, so it holds for every
    view that takes token authentication, whatever permission classes the view sets."""
    match = getattr(request, "resolver_match", None)
    method = "GET" if request.method == "HEAD" else str(request.method)
    check = RUN_TOKEN_ALLOWED.get(RunTokenRoute(method, match.url_name or "")) if match else None
    if check is None:
        raise exceptions.PermissionDenied(RUN_TOKEN_DENIED)
    if not check(scope, match.kwargs if match else {}):
        raise exceptions.NotFound("Not found: a run token reaches its own run only.")


def run_token_may_watch(auth: Any, run_id: int | None) -> bool:
    """Websockets: a run token watches its own run's feed (``/ws/runs/<id>/``) only,
    never a team's run list (``run_id`` None). Other credentials: not decided here."""
    return not isinstance(auth, RunScope) or (run_id is not None and auth.run_id == run_id)


class AdminWriteOrReadOnly(permissions.BasePermission):
    """Everyone signed in reads; only admins write (compute targets, datastores)."""

    message = "Only admins can change this."

    def has_permission(self, request: Request, view: Any) -> bool:
        return request.method in permissions.SAFE_METHODS or is_admin(request.user)


class TeamObjectPermission(permissions.BasePermission):
    """Reads and writes of a team-owned row need membership of its team (admins: any).

    Querysets scoped to the user's teams already answer 404 for others' rows; this holds
    the same rule where a view's queryset is wider or an action reaches a row another way."""

    message = "You are not a member of the team that owns this."

    def has_object_permission(self, request: Request, view: Any, obj: Model) -> bool:
        team_id = owning_team_id(obj)
        return team_id is None or is_admin(request.user) or team_id in team_ids(request)


# What every view requires; views add their own checks after these.
SIGNED_IN: list[type[permissions.BasePermission]] = [permissions.IsAuthenticated]
