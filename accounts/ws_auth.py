"""Websocket authentication: the session cookie, or an Authorization header.

A token in the URL (``?token=``) is not accepted: URLs end up in logs (the server's,
a proxy's); clients send ``Authorization: Token <key>`` instead."""

from __future__ import annotations

from typing import Any

from channels.auth import AuthMiddlewareStack
from channels.db import database_sync_to_async
from channels.security.websocket import OriginValidator
from rest_framework.exceptions import AuthenticationFailed


@database_sync_to_async
def _from_key(key: str) -> tuple[Any, Any] | None:
    from accounts.authentication import resolve_key

    try:
        return resolve_key(key)
    except AuthenticationFailed:
        return None


class _TokenMiddleware:
    def __init__(self, inner: Any) -> None:
        self.inner = inner

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> Any:
        key = None
        for name, value in scope.get("headers", []):
            if name == b"authorization":
                parts = value.decode(errors="replace").split()
                if len(parts) == 2 and parts[0].lower() in ("token", "bearer"):
                    key = parts[1]
        scope = dict(scope)
        scope["token_auth"] = None
        if key:
            resolved = await _from_key(key)
            if resolved is not None:
                scope["user"], scope["token_auth"] = resolved
        return await self.inner(scope, receive, send)


def TokenOrSessionAuthMiddleware(inner: Any) -> Any:  # noqa: N802 - mirrors Channels' naming
    """Session auth first (sets scope['user']); a valid token overrides it."""
    return AuthMiddlewareStack(_TokenMiddleware(inner))


class BrowserOriginValidator(OriginValidator):
    """Browsers always send Origin on websockets: it must name one of ALLOWED_HOSTS
    (cross-site websocket hijacking). Clients with no Origin (the SDK, the CLI) are
    not browsers, carry a token, and are let through to authentication."""

    def valid_origin(self, parsed_origin: Any) -> bool:
        if parsed_origin is None:
            return True
        return bool(self.validate_origin(parsed_origin))


def origin_checked(inner: Any) -> Any:
    from django.conf import settings

    hosts = list(settings.ALLOWED_HOSTS)
    if settings.DEBUG and not hosts:
        hosts = ["localhost", "127.0.0.1", "[::1]"]
    return BrowserOriginValidator(inner, hosts)
