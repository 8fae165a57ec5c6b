"""``Authorization: Token <key>`` for user tokens and per-run tokens."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.utils import timezone
from rest_framework import authentication, exceptions
from rest_framework.request import Request

from accounts import token_cache
from accounts.models import ApiToken, hash_key


class RunScope:
    """``request.auth`` for a run token: the holder may act on this one run only."""

    def __init__(self, run_id: int) -> None:
        self.run_id = run_id

    def __repr__(self) -> str:
        return f"RunScope(run_id={self.run_id})"


def resolve_key(key: str) -> tuple[Any, Any]:
    """Return (user, auth) for a key, or raise AuthenticationFailed."""
    from runs.models import RunToken

    if key.startswith(RunToken.PREFIX):
        run_token = RunToken.objects.select_related("run__submitted_by").filter(key_hash=hash_key(key)).first()
        if run_token is None or not run_token.is_valid():
            raise exceptions.AuthenticationFailed("Invalid or expired run token.")
        return run_token.run.submitted_by, RunScope(run_token.run_id)
    digest = hash_key(key)
    # A few seconds' cache of the look-up (accounts.token_cache says why that is safe).
    token = token_cache.get(digest)
    if token is None:
        token = ApiToken.objects.select_related("user").filter(key_hash=digest).first()
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
    return token.user, token


class TokenAuthentication(authentication.BaseAuthentication):
    keyword = "Token"

    def authenticate(self, request: Request) -> tuple[Any, Any] | None:
        header = authentication.get_authorization_header(request).split()
        if not header or header[0].lower() not in (b"token", b"bearer"):
            return None
        if len(header) != 2:
            raise exceptions.AuthenticationFailed("Authorization header must be 'Token <key>'.")
        user, auth = resolve_key(header[1].decode(errors="replace"))
        if isinstance(auth, RunScope):
            from accounts.permissions import enforce_run_token

            enforce_run_token(request._request, auth)
        return user, auth

    def authenticate_header(self, request: Request) -> str:
        return self.keyword
