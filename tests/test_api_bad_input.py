"""Bad query input answers a 4xx naming the parameter, never a 500 (each case here was one)."""

from __future__ import annotations

from typing import Any

import pytest
from django.db import IntegrityError

from tests.factories import make_run

HUGE = "95967383843486154752"


@pytest.mark.parametrize(
    "url",
    ["/api/environments/", "/api/auth/teams/", "/api/experiments/", "/api/datasets/", "/api/audit/events/"],
)
@pytest.mark.parametrize(("param", "value"), [("limit", HUGE), ("limit", "x"), ("limit", "-1"), ("offset", HUGE)])
def test_limit_and_offset_are_checked(world: Any, url: str, param: str, value: str) -> None:
    response = world.alice.client.get(url, {param: value})
    assert response.status_code == 400 and param in response.json(), response.content
    assert world.alice.client.get(url, {"limit": "1000", "offset": "5"}).status_code == 200


def test_run_list_limit_and_free_text(world: Any) -> None:
    run = make_run(world.alice.user, world.team_a)
    response = world.alice.client.get("/api/runs/", {"limit": HUGE})
    assert response.status_code == 400 and "limit" in response.json()
    assert world.alice.client.get("/api/runs/", {"q": "²"}).json()["results"] == []
    assert [r["id"] for r in world.alice.client.get("/api/runs/", {"q": str(run.pk)}).json()["results"]] == [run.pk]


@pytest.mark.parametrize("param", ["after", "limit", "rank"])
def test_log_paging_integers_are_bounded(world: Any, param: str) -> None:
    run = make_run(world.alice.user, world.team_a)
    response = world.alice.client.get(f"/api/runs/{run.pk}/logs/", {param: HUGE})
    assert response.status_code == 400 and param in response.json()


def test_a_unique_constraint_hit_is_a_409(world: Any) -> None:
    """What two writers racing past a view's own name check get, instead of a 500."""
    from config.api import exception_handler

    response = exception_handler(IntegrityError("UNIQUE constraint failed"), {})
    assert response is not None and response.status_code == 409 and "detail" in response.data


@pytest.mark.parametrize(
    ("url", "param"),
    [
        ("/api/auth/teams/", "search"),
        ("/api/environments/", "name"),
        ("/api/runs/", "q"),
        ("/api/datastores/1/files/", "path"),
    ],
)
def test_nul_in_a_query_parameter_is_a_400_naming_it(world: Any, url: str, param: str) -> None:
    """PostgreSQL text cannot hold NUL: it would fail in the database as a 500."""
    response = world.alice.client.get(url, {param: "a\x00b"})
    assert response.status_code == 400 and param in response.json(), response.content


def test_a_value_the_database_refuses_is_a_400() -> None:
    """NUL in a body field or a time zone offset PostgreSQL cannot hold (DataError)."""
    from django.db import DataError

    from config.api import exception_handler

    response = exception_handler(DataError("PostgreSQL text fields cannot contain NUL (0x00) bytes"), {})
    assert response is not None and response.status_code == 400 and "NUL" in str(response.data)


def test_values_postgresql_refuses_are_4xx(world: Any) -> None:
    """Found by tests/test_api_fuzz.py on PostgreSQL (SQLite stores or compares them)."""
    made = world.alice.client.post("/api/datasets/", {"name": "d1", "team": "de\x00fault"}, format="json")
    assert made.status_code == 400, made.content
    far = world.alice.client.get("/api/runs/", {"created_before": "0361-06-03T10:48:56+20:15"})
    assert far.status_code in (200, 400), far.content
