"""Settings come from the environment; a malformed value stops start-up naming it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.exceptions import ImproperlyConfigured

from config import env

ROOT = Path(__file__).resolve().parent.parent


def test_typed_helpers_name_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("X_PORT", "eighty")
    with pytest.raises(ImproperlyConfigured, match="X_PORT"):
        env.env_int("X_PORT", 1)
    monkeypatch.setenv("X_DEBUG", "maybe")
    with pytest.raises(ImproperlyConfigured, match="X_DEBUG"):
        env.env_bool("X_DEBUG", False)
    monkeypatch.setenv("X_DB", "nosuchdb://x")
    with pytest.raises(ImproperlyConfigured, match="X_DB"):
        env.env_database("X_DB", "sqlite:///x")
    monkeypatch.setenv("X_REDIS", "http://localhost:6379")
    with pytest.raises(ImproperlyConfigured, match="X_REDIS"):
        env.env_redis_url("X_REDIS")
    monkeypatch.setenv("X_MODE", "of")
    with pytest.raises(ImproperlyConfigured, match="X_MODE"):
        env.env_choice("X_MODE", "on", ("on", "off"))
    monkeypatch.setenv("X_MODE", "")  # turning the sandbox off takes an explicit "off"
    assert env.env_choice("X_MODE", "on", ("on", "off")) == "on"
    monkeypatch.setenv("X_MODE", "OFF")
    assert env.env_choice("X_MODE", "on", ("on", "off")) == "off"
    monkeypatch.setenv("X_PORT", "70000")
    with pytest.raises(ImproperlyConfigured, match="maximum"):
        env.env_int("X_PORT", 1, maximum=65535)


def test_good_values_parse(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("X_DEBUG", "yes")
    monkeypatch.setenv("X_HOSTS", "a.example, b.example")
    monkeypatch.setenv("X_DB", "postgres://u:p@db:5432/runyard")
    assert env.env_bool("X_DEBUG", False) is True
    assert env.env_list("X_HOSTS", []) == ["a.example", "b.example"]
    assert env.env_database("X_DB", "")["NAME"] == "runyard"
    assert env.env_redis_url("MISSING_REDIS_URL_FOR_TEST") is None


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("PORT", "http"),
        ("DEBUG", "perhaps"),
        ("DATABASE_URL", "bogus://"),
        ("REDIS_URL", "localhost:6379"),
        ("RUNYARD_SANDBOX", "maybe"),
        ("RUNYARD_CLUSTER_CONFIG", "{not json"),
        ("RUNYARD_CLUSTER_CONFIG", "[1, 2]"),
    ],
)
def test_startup_refuses_malformed_values(name: str, value: str, tmp_path: Path) -> None:
    environ = {**os.environ, name: value, "RUNYARD_DATA_DIR": str(tmp_path), "REDIS_URL": "redis://127.0.0.1:1/0"}
    if name == "REDIS_URL":
        environ[name] = value
    result = subprocess.run(
        [sys.executable, "manage.py", "check"], cwd=ROOT, env=environ, capture_output=True, text=True, timeout=120
    )
    assert result.returncode != 0
    assert name in result.stderr
