"""Team isolation and admin-only writes, shared by every app's API."""

from __future__ import annotations

from typing import Any

from django.db.models import Model, QuerySet
from rest_framework import permissions, serializers
from rest_framework.request import Request

from accounts.authentication import RunScope
from accounts.models import Membership, Team


def is_admin(user: Any) -> bool:
    return bool(user and user.is_authenticated and (user.is_superuser or user.is_staff))


def user_pk(request: Request) -> int:
    """The signed-in user's id (views run after IsAuthenticated)."""
    return int(request.user.pk or 0)


def team_ids(request: Request) -> set[int]:
    """The ids of the teams the requesting user belongs to (cached per request)."""
    cached = getattr(request, "_runyard_team_ids", None)
    if cached is None:
        user = request.user
        cached = (
            set(Membership.objects.filter(user_id=user_pk(request)).values_list("team_id", flat=True))
            if user.is_authenticated
            else set()
        )
        request._runyard_team_ids = cached  # type: ignore[attr-defined]
    return cached


def scope_to_teams(request: Request, queryset: QuerySet[Any], field: str = "team") -> QuerySet[Any]:
    """Admins see everything; everyone else sees their teams' rows."""
    if is_admin(request.user):
        return queryset
    return queryset.filter(**{f"{field}__in": team_ids(request)})


def default_team(request: Request, requested: Team | None) -> Team:
    """The team a new object belongs to: the one asked for (if the user is in it), or
    the user's only or first team."""
    ids = team_ids(request)
    if requested is not None:
        if requested.pk not in ids and not is_admin(request.user):
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
    an environment or a run); None for shared rows (curated environments, their versions)."""
    if hasattr(obj, "team_id"):
        return None if obj.team_id is None else int(obj.team_id)
    for owner in ("dataset", "environment", "run"):
        parent = getattr(obj, owner, None)
        if isinstance(parent, Model):
            return owning_team_id(parent)
    return None


class UserTokenOnly(permissions.BasePermission):
    """Run tokens act on their own run only; views that accept them say so."""

    message = "A run token may only be used for its own run."

    def has_permission(self, request: Request, view: Any) -> bool:
        if isinstance(request.auth, RunScope):
            return bool(getattr(view, "allow_run_token", False))
        return True


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
SIGNED_IN: list[type[permissions.BasePermission]] = [permissions.IsAuthenticated, UserTokenOnly]
