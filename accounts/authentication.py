"""``Authorization: Token <key>`` for user tokens and per-run tokens."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.contrib.auth import get_user_model
from django.db import connection
from django.utils import timezone
from rest_framework import authentication, exceptions
from rest_framework.request import Request

from accounts import token_cache
from accounts.models import ApiToken, Membership, hash_key
from common import rows

# Where TokenAuthentication leaves the user's team ids, read with the token, on the
# request (``accounts.permissions.team_ids`` takes them from there).
TEAM_IDS_ATTRIBUTE = "_runyard_team_ids"


class RunScope:
    """``request.auth`` for a run token: the holder may act on this one run only."""

    def __init__(self, run_id: int) -> None:
        self.run_id = run_id

    def __repr__(self) -> str:
        return f"RunScope(run_id={self.run_id})"


def resolve_key(key: str) -> tuple[Any, Any]:
    """Return (user, auth) for a key, or raise AuthenticationFailed."""
    user, auth, _ = resolve_key_and_teams(key)
    return user, auth


def resolve_key_and_teams(key: str) -> tuple[Any, Any, set[int] | None]:
    """``resolve_key``, and the user's team ids when they were read with the token (None:
    not read, as for a run token or a look-up served by ``token_cache``)."""
    from runs.models import RunToken

    if key.startswith(RunToken.PREFIX):
        run_token = RunToken.objects.select_related("run__submitted_by").filter(key_hash=hash_key(key)).first()
        if run_token is None or not run_token.is_valid():
            raise exceptions.AuthenticationFailed("Invalid or expired run token.")
        return run_token.run.submitted_by, RunScope(run_token.run_id), None
    digest = hash_key(key)
    teams = None
    # A few seconds' cache of the look-up (accounts.token_cache says why that is safe).
    token = token_cache.get(digest)
    if token is None:
        token, teams = read_token(digest)
        if token is None:
            raise exceptions.AuthenticationFailed("Invalid token.")
        token_cache.put(digest, token)
    if not token.user.is_active:
        raise exceptions.AuthenticationFailed("Invalid token.")
    now = timezone.now()
    if token.expires_at and token.expires_at < now:
        raise exceptions.AuthenticationFailed("Token expired.")
    # Touch at most once a minute: a busy client must not write on every request.
    if token.last_used_at is None or now - token.last_used_at > timedelta(minutes=1):
        ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
        token.last_used_at = now
        token_cache.touched(digest, now)
    return token.user, token, teams


def read_token(digest: str) -> tuple[ApiToken | None, set[int]]:
    """The token with this SHA-256 (its user loaded) and the user's team ids, in one
    statement of plain SQL: every API request asks this, and the queryset with its join
    and the memberships' second query cost more than the database did."""
    users = get_user_model()
    teams = "string_agg(CAST(team_id AS text), ',')" if connection.vendor == "postgresql" else "group_concat(team_id)"
    quote = connection.ops.quote_name
    sql = (
        f"SELECT {rows.columns(ApiToken, 't')}, {rows.columns(users, 'u')}, "
        f"(SELECT {teams} FROM {quote(Membership._meta.db_table)} m WHERE m.user_id = u.id) "
        f"FROM {quote(ApiToken._meta.db_table)} t JOIN {quote(users._meta.db_table)} u ON u.id = t.user_id "
        "WHERE t.key_hash = %s"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [digest])
        row = cursor.fetchone()
    if row is None:
        return None, set()
    split = len(ApiToken._meta.concrete_fields)
    end = split + len(users._meta.concrete_fields)
    token = rows.instance(ApiToken, row[:split])
    token.user = rows.instance(users, row[split:end])
    return token, {int(pk) for pk in row[end].split(",")} if row[end] else set()


class TokenAuthentication(authentication.BaseAuthentication):
    keyword = "Token"

    def authenticate(self, request: Request) -> tuple[Any, Any] | None:
        header = authentication.get_authorization_header(request).split()
        if not header or header[0].lower() not in (b"token", b"bearer"):
            return None
        if len(header) != 2:
            raise exceptions.AuthenticationFailed("Authorization header must be 'Token <key>'.")
        user, auth, teams = resolve_key_and_teams(header[1].decode(errors="replace"))
        if teams is not None:
            setattr(request._request, TEAM_IDS_ATTRIBUTE, teams)
        if isinstance(auth, RunScope):
            from accounts.permissions import enforce_run_token

            enforce_run_token(request._request, auth)
        return user, auth

    def authenticate_header(self, request: Request) -> str:
        return self.keyword
