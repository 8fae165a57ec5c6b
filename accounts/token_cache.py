"""A short-lived, per-process cache of API-token look-ups.

Every API request with ``Authorization: Token`` used to read the token and its user
(one query plus building two model instances: 13% of the web process's CPU on the run
list). The look-up is kept here for ``RUNYARD_TOKEN_CACHE_SECONDS`` (default 0: off),
keyed by the token's SHA-256 (the key itself is never kept), at most ``MAX_ENTRIES``.

Why it stays safe:
- expiry is checked on every request against the cached ``expires_at``, so an expired
  token is refused at once;
- in the process that revokes a token (deletes it, or the user is deleted), changes a
  token, or saves the user (deactivation, staff or superuser flags), the signals below
  drop the entries at once;
- other processes (another web process, a worker's API calls) see the change once
  the entry is older than the TTL: a revoked token keeps working there for at most
  ``RUNYARD_TOKEN_CACHE_SECONDS``. That is why the cache is off unless an admin sets it
  (a browser test revoking a token in the web process and using it from another saw it
  still accepted).
Callers get copies of the cached instances, never the instances themselves: a request
that sets attributes on ``request.user`` (permission caches) cannot leak them into
another request or thread.
"""

from __future__ import annotations

import copy
import threading
import time
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import transaction
from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver

from accounts.models import ApiToken

MAX_ENTRIES = 4096


@dataclass(frozen=True)
class Entry:
    token: ApiToken  # with ``token.user`` loaded
    stored: float  # time.monotonic() when read from the database


_entries: dict[str, Entry] = {}
_lock = threading.Lock()


def ttl() -> float:
    return float(settings.RUNYARD.get("TOKEN_CACHE_SECONDS", 0.0))


def get(digest: str) -> ApiToken | None:
    """A copy of the cached token (and its user) for this SHA-256, if still fresh."""
    seconds = ttl()
    if seconds <= 0:
        return None
    entry = _entries.get(digest)
    if entry is None:
        return None
    if time.monotonic() - entry.stored > seconds:
        with _lock:
            if _entries.get(digest) is entry:
                del _entries[digest]
        return None
    token = copy.copy(entry.token)
    token.user = copy.copy(entry.token.user)
    return token


def put(digest: str, token: ApiToken) -> None:
    if ttl() <= 0:
        return
    kept = copy.copy(token)
    kept.user = copy.copy(token.user)
    with _lock:
        if len(_entries) >= MAX_ENTRIES:
            _entries.clear()  # a burst of distinct tokens: start over rather than track ages
        _entries[digest] = Entry(kept, time.monotonic())


def touched(digest: str, at: Any) -> None:
    """The token's ``last_used_at`` was written: cached copies carry it too."""
    entry = _entries.get(digest)
    if entry is not None:
        entry.token.last_used_at = at


def forget(*, digest: str | None = None, user_id: int | None = None) -> None:
    with _lock:
        if digest is not None:
            _entries.pop(digest, None)
        if user_id is not None:
            for key in [k for k, e in _entries.items() if e.token.user_id == user_id]:
                del _entries[key]


def clear() -> None:
    with _lock:
        _entries.clear()


@receiver([post_save, post_delete], sender=ApiToken)
def _token_changed(sender: Any, instance: ApiToken, **kwargs: Any) -> None:
    if kwargs.get("update_fields") == frozenset({"last_used_at"}):
        return
    digest = instance.key_hash
    forget(digest=digest)
    # Again once committed: a request of this process may have read the row (still
    # there for it) and cached it meanwhile.
    transaction.on_commit(lambda: forget(digest=digest))


@receiver([post_save, post_delete], sender=get_user_model())
def _user_changed(sender: Any, instance: Any, **kwargs: Any) -> None:
    if kwargs.get("update_fields") == frozenset({"last_login"}):
        return  # a sign-in changes nothing a token look-up decides on
    user_id = instance.pk
    forget(user_id=user_id)
    transaction.on_commit(lambda: forget(user_id=user_id))
