"""API-token look-ups are cached for a few seconds (accounts.token_cache), and a revoked,
expired or deactivated token is still refused promptly."""

from __future__ import annotations

import time
from datetime import timedelta
from typing import Any

import pytest
from django.conf import settings
from django.db import connection
from django.test import override_settings
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from rest_framework.test import APIClient

from accounts import token_cache
from accounts.models import ApiToken, hash_key


def token_reads(client: APIClient) -> tuple[int, int]:
    """(status of GET /api/runs/, SELECTs of accounts_apitoken it made)."""
    with CaptureQueriesContext(connection) as ctx:
        code = client.get("/api/runs/").status_code
    sqls = [q["sql"] for q in ctx.captured_queries]
    return code, sum(sql.startswith("SELECT") and 'FROM "accounts_apitoken"' in sql for sql in sqls)


def with_ttl(seconds: float) -> Any:
    return override_settings(RUNYARD={**settings.RUNYARD, "TOKEN_CACHE_SECONDS": seconds})


@pytest.fixture(autouse=True)
def _cache_on() -> Any:
    # Off by default (config/settings.py); these tests are about the cache switched on.
    with with_ttl(5):
        yield


def test_a_token_is_read_once_then_served_from_the_cache(world: Any) -> None:
    token_cache.clear()
    assert token_reads(world.alice.client) == (200, 1)
    assert token_reads(world.alice.client) == (200, 0)
    with with_ttl(0):  # off: every request reads it
        assert token_reads(world.alice.client) == (200, 1)


def test_callers_get_copies_not_the_cached_instances(world: Any) -> None:
    token_cache.clear()
    assert world.alice.client.get("/api/runs/").status_code == 200
    first, second = token_cache.get(hash_key(world.alice.key)), token_cache.get(hash_key(world.alice.key))
    assert first is not None and second is not None
    assert first is not second and first.user is not second.user
    first.user.is_active = False  # a request changing its request.user …
    again = token_cache.get(hash_key(world.alice.key))
    assert again is not None and again.user.is_active  # … changes nobody else's


def test_a_revoked_token_is_refused_at_once_in_the_revoking_process(world: Any) -> None:
    spare, key = ApiToken.issue(world.alice.user, "spare")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    assert token_reads(client) == (200, 1)
    assert token_reads(client)[1] == 0  # cached
    assert world.alice.client.delete(f"/api/auth/tokens/{spare.pk}/").status_code == 204
    assert client.get("/api/runs/").status_code == 401


def test_a_deactivated_user_is_refused_at_once(world: Any) -> None:
    assert world.alice.client.get("/api/runs/").status_code == 200
    world.alice.user.is_active = False
    world.alice.user.save()
    assert world.alice.client.get("/api/runs/").status_code == 401


def test_expiry_is_checked_on_every_request_not_only_when_read(world: Any) -> None:
    token = ApiToken.objects.get(key_hash=hash_key(world.alice.key))
    token.expires_at = timezone.now() + timedelta(seconds=0.5)
    token.save()
    with with_ttl(60):
        assert token_reads(world.alice.client) == (200, 1)
        time.sleep(0.6)
        response = world.alice.client.get("/api/runs/")
        assert response.status_code == 401 and "expired" in response.json()["detail"]


def test_a_change_made_elsewhere_shows_once_the_entry_is_older_than_the_ttl(world: Any) -> None:
    # Another process's revocation sends no signal here: a write without signals stands in for it.
    with with_ttl(0.3):
        assert token_reads(world.alice.client) == (200, 1)
        ApiToken.objects.filter(key_hash=hash_key(world.alice.key)).update(key_hash="revoked-elsewhere")
        assert world.alice.client.get("/api/runs/").status_code == 200  # still cached
        time.sleep(0.35)
        assert world.alice.client.get("/api/runs/").status_code == 401
