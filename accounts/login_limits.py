"""Login limits: a lockout per account and per client address.

Every sign-in path (``/api/auth/token/``, the web app's ``/api/auth/session/``,
``/admin/login/``) goes through ``django.contrib.auth.authenticate`` and so through
``LimitedModelBackend``: while an account or an address has had
``LOGIN_ACCOUNT_LIMIT`` / ``LOGIN_IP_LIMIT`` failures within ``LOGIN_WINDOW_SECONDS``,
no password is checked at all (the right one fails too) until the oldest of those
failures leaves the window. Each further failure counted before the lock keeps it
going, which is the backoff: guessing faster only locks longer. The address is the
real client's (config.clientip), so a changing ``X-Forwarded-For`` does not help.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.contrib.auth.backends import ModelBackend
from django.core.exceptions import PermissionDenied
from django.utils import timezone

from accounts.models import LoginFailure
from config.clientip import client_ip


@dataclass(frozen=True)
class Lockout:
    reason: str  # "account" or "address"
    retry_after: int  # seconds

    @property
    def message(self) -> str:
        minutes = max(1, math.ceil(self.retry_after / 60))
        what = "this account" if self.reason == "account" else "your address"
        return f"Too many failed sign-ins for {what}; try again in {minutes} minute{'s' if minutes > 1 else ''}."


def _window() -> timedelta:
    return timedelta(seconds=float(settings.RUNYARD["LOGIN_WINDOW_SECONDS"]))


def _normal(username: str) -> str:
    return username.strip().lower()[:150]


def lockout(request: Any, username: str) -> Lockout | None:
    """The lock in force for this sign-in attempt, if any."""
    now = timezone.now()
    since = now - _window()
    recent = LoginFailure.objects.filter(at__gte=since)
    checks = [
        ("account", recent.filter(username=_normal(username)), int(settings.RUNYARD["LOGIN_ACCOUNT_LIMIT"])),
        ("address", recent.filter(ip=client_ip(request.META)), int(settings.RUNYARD["LOGIN_IP_LIMIT"])),
    ]
    for reason, failures, limit in checks:
        # The limit-th newest failure: the lock lasts until it leaves the window.
        stamps: list[datetime] = list(failures.order_by("-at").values_list("at", flat=True)[limit - 1 : limit])
        if stamps:
            return Lockout(reason, max(1, math.ceil((stamps[0] + _window() - now).total_seconds())))
    return None


def failed(request: Any, username: str) -> None:
    now = timezone.now()
    LoginFailure.objects.filter(at__lt=now - _window()).delete()
    LoginFailure.objects.create(username=_normal(username), ip=client_ip(request.META), at=now)


def succeeded(username: str) -> None:
    """The right password proves the account's owner: forget its failures (not the address's)."""
    LoginFailure.objects.filter(username=_normal(username)).delete()


class LimitedModelBackend(ModelBackend):
    """Django's model backend behind the login limits. Calls without a request (the
    shell, management commands, tests' ``Client.login``) are not limited."""

    def authenticate(
        self, request: Any, username: str | None = None, password: str | None = None, **kwargs: Any
    ) -> Any:
        if request is None:
            return super().authenticate(request, username=username, password=password, **kwargs)
        name = username if username is not None else str(kwargs.get(self._username_field(), ""))
        if lockout(request, name) is not None:
            raise PermissionDenied("locked")  # authenticate() stops here and reports a failure
        user = super().authenticate(request, username=username, password=password, **kwargs)
        if user is None or not self.user_can_authenticate(user):
            failed(request, name)
            return None
        succeeded(name)
        return user

    @staticmethod
    def _username_field() -> str:
        from django.contrib.auth import get_user_model

        return str(get_user_model().USERNAME_FIELD)
