"""Login limits: per client address (X-Forwarded-For believed from trusted proxies
only), per account, on every sign-in path; login CSRF; security headers; no tokens
in the server's log."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
import websockets
from django.test import Client, override_settings
from rest_framework.test import APIClient

from accounts.models import LoginFailure

TOKEN_URL = "/api/auth/token/"


@pytest.fixture(autouse=True)
def _fresh_rate_limits() -> None:
    # DRF's per-address rate (30/min) lives in the process's cache: these tests make
    # more requests than that, and check the lockouts, not the rate.
    from django.core.cache import cache

    cache.clear()


def _guess(client: APIClient, username: str, password: str, forwarded: str | None = None) -> Any:
    extra = {"HTTP_X_FORWARDED_FOR": forwarded} if forwarded else {}
    return client.post(TOKEN_URL, {"username": username, "password": password}, format="json", **extra)


def test_rotating_x_forwarded_for_does_not_bypass_the_address_limit(world: Any) -> None:
    client = APIClient()
    answers = [_guess(client, f"user{i}", "wrong", forwarded=f"10.0.{i}.1").status_code for i in range(24)]
    assert answers[:20] == [400] * 20
    assert set(answers[20:]) == {429}
    assert set(LoginFailure.objects.values_list("ip", flat=True)) == {"127.0.0.1"}
    # Locked out means the right password is refused too, without being checked.
    locked = _guess(client, "alice", "alice-pw-123!", forwarded="10.9.9.9")
    assert locked.status_code == 429 and "Retry-After" in locked.headers
    assert "Too many failed sign-ins" in locked.json()["detail"]


@override_settings(TRUSTED_PROXIES=["127.0.0.1"])
def test_forwarded_for_is_believed_from_a_trusted_proxy(world: Any) -> None:
    client = APIClient()
    assert _guess(client, "alice", "wrong", forwarded="203.0.113.7, 10.1.1.1").status_code == 400
    assert LoginFailure.objects.get().ip == "10.1.1.1"
    with override_settings(TRUSTED_PROXIES=["127.0.0.1", "10.0.0.0/8"]):
        _guess(client, "bob", "wrong", forwarded="203.0.113.7, 10.1.1.1")
    assert LoginFailure.objects.filter(username="bob").get().ip == "203.0.113.7"


def test_an_account_locks_after_five_failures_from_anywhere(world: Any) -> None:
    with override_settings(TRUSTED_PROXIES=["127.0.0.1"]):
        answers = [_guess(APIClient(), "Alice", "wrong", forwarded=f"198.51.100.{i}").status_code for i in range(7)]
    assert answers == [400] * 5 + [429] * 2
    assert _guess(APIClient(), "alice", "alice-pw-123!").status_code == 429
    # Other accounts are not affected; a lifted lock (rows deleted) lets the owner in.
    assert _guess(APIClient(), "bob", "bob-pw-123!").status_code == 201
    LoginFailure.objects.all().delete()
    assert _guess(APIClient(), "alice", "alice-pw-123!").status_code == 201


def test_a_success_forgets_the_accounts_failures(world: Any) -> None:
    for _ in range(4):
        _guess(APIClient(), "alice", "wrong")
    assert _guess(APIClient(), "alice", "alice-pw-123!").status_code == 201
    assert not LoginFailure.objects.filter(username="alice").exists()


def test_the_session_sign_in_is_limited_too(world: Any) -> None:
    client = APIClient()
    for _ in range(5):
        client.post("/api/auth/session/", {"username": "alice", "password": "nope"}, format="json")
    assert client.post("/api/auth/session/", {"username": "alice", "password": "alice-pw-123!"}).status_code == 429


def test_admin_login_is_limited(world: Any) -> None:
    client = Client()
    for _ in range(5):
        page = client.post("/admin/login/", {"username": "root", "password": "wrong"})
        assert page.status_code == 200
    page = client.post("/admin/login/", {"username": "root", "password": "root-pw-123!"})
    assert page.status_code == 200 and b"Too many failed sign-ins" in page.content
    assert "_auth_user_id" not in client.session
    assert LoginFailure.objects.filter(username="root").count() == 5


def test_admin_login_works_without_failures(world: Any) -> None:
    client = Client()
    page = client.post("/admin/login/", {"username": "root", "password": "root-pw-123!"})
    assert page.status_code == 302 and "_auth_user_id" in client.session


def test_session_sign_in_needs_a_csrf_token(world: Any) -> None:
    client = APIClient(enforce_csrf_checks=True)
    credentials = {"username": "alice", "password": "alice-pw-123!"}
    refused = client.post("/api/auth/session/", credentials, format="json")
    assert refused.status_code == 403 and "CSRF" in refused.json()["detail"]
    client.get("/api/auth/session/")  # sets the csrftoken cookie, as the web app does first
    token = client.cookies["csrftoken"].value
    signed_in = client.post("/api/auth/session/", credentials, format="json", HTTP_X_CSRFTOKEN=token)
    assert signed_in.status_code == 200 and signed_in.json()["username"] == "alice"
    # The token endpoint sets no cookie and needs none.
    assert APIClient(enforce_csrf_checks=True).post(TOKEN_URL, credentials, format="json").status_code == 201


def test_security_headers(world: Any) -> None:
    response = world.alice.client.get("/api/auth/session/")
    policy = response.headers["Content-Security-Policy"]
    assert "script-src 'self'" in policy and "frame-ancestors 'none'" in policy and "unsafe-eval" not in policy
    assert response.headers["X-Frame-Options"] == "DENY"


def test_tls_settings(tmp_path: Any) -> None:
    import json
    import os
    import subprocess
    import sys

    probe = (
        "import json, django; django.setup(); from django.conf import settings as s; print(json.dumps(["
        "s.SESSION_COOKIE_SECURE, s.CSRF_COOKIE_SECURE, s.SECURE_HSTS_SECONDS, s.SECURE_PROXY_SSL_HEADER]))"
    )

    def settings_with(**extra: str) -> list[Any]:
        env = {**os.environ, "DJANGO_SETTINGS_MODULE": "config.settings", "RUNYARD_DATA_DIR": str(tmp_path), **extra}
        env.setdefault("REDIS_URL", "redis://127.0.0.1:1/0")
        out = subprocess.run([sys.executable, "-c", probe], env=env, capture_output=True, text=True, check=True)
        return list(json.loads(out.stdout.strip().splitlines()[-1]))

    assert settings_with() == [False, False, 0, None]
    assert settings_with(RUNYARD_TLS="true") == [True, True, 31536000, None]
    assert settings_with(RUNYARD_TLS="true", RUNYARD_TRUSTED_PROXIES="10.0.0.1") == [
        True,
        True,
        31536000,
        ["HTTP_X_FORWARDED_PROTO", "https"],
    ]
    bad = subprocess.run(
        [sys.executable, "-c", probe],
        env={**os.environ, "RUNYARD_DATA_DIR": str(tmp_path), "RUNYARD_TRUSTED_PROXIES": "not-an-ip"},
        capture_output=True,
        text=True,
    )
    assert bad.returncode != 0 and "RUNYARD_TRUSTED_PROXIES" in bad.stderr


async def _try_query_token(url: str, run_id: int, key: str) -> int:
    try:
        async with websockets.connect(f"{url.replace('http', 'ws')}/ws/runs/{run_id}/?after=0&token={key}") as ws:
            await asyncio.wait_for(ws.recv(), timeout=30)
    except websockets.exceptions.InvalidStatus as exc:
        return int(exc.response.status_code)
    except websockets.exceptions.ConnectionClosed as exc:
        return int(exc.rcvd.code) if exc.rcvd else 0
    return 200


@pytest.mark.worker
@pytest.mark.xdist_group("live")
def test_query_tokens_are_refused_and_never_logged(live: Any, world: Any) -> None:
    from tests.factories import make_run

    run = make_run(world.alice.user, world.team_a)
    outcome = asyncio.run(_try_query_token(live.url, run.pk, world.alice.key))
    assert outcome != 200
    log = (live.logdir / "web.log").read_text()
    assert "WebSocket /ws/runs/" in log, log[-2000:]
    assert world.alice.key not in log and world.alice.key[3:] not in log
    assert "token=***" in log


def test_asking_who_am_i_is_not_rate_limited(world: Any) -> None:
    client = APIClient()
    assert {client.get("/api/auth/session/").status_code for _ in range(35)} == {200}
