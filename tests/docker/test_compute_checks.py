"""Test connection of a docker target against the private engine (tests/docker/conftest.py)."""

from __future__ import annotations

from typing import Any


def test_docker_target_check_reaches_the_engine(world: Any, docker_engine: Any) -> None:
    made = world.admin.client.post(
        "/api/compute-targets/",
        {"name": "engine", "kind": "docker", "config": {"base_url": docker_engine.base_url, "api_timeout": 30}},
        format="json",
    )
    assert made.status_code == 201, made.content
    body = world.admin.client.post(f"/api/compute-targets/{made.json()['id']}/test/").json()
    assert body["ok"] is True, body
    checks = {c["name"]: c for c in body["checks"]}
    assert list(checks) == ["config", "engine", "version"]
    assert checks["engine"]["detail"] == f"{docker_engine.base_url} answers"
    assert "(API " in checks["version"]["detail"]
