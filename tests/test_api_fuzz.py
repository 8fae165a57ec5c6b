"""Schemathesis over the whole OpenAPI schema: no input gives a server error.

Every operation gets a bounded, reproducible set of generated requests (derandomized
Hypothesis, no example database) from a member of team A, sent to the real Django WSGI
application in this process: the same database transaction as the test, so the team's
objects exist (small ids, which generated path ids hit) and each request is rolled back
to a savepoint before the next one. Commit hooks (Celery tasks: builds, runs) never fire.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from django.core.signals import request_finished, request_started
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections, transaction
from drf_spectacular.generators import SchemaGenerator
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis.checks import not_a_server_error

from runs.models import RunToken
from tests.conftest import World, make_tar
from tests.factories import make_run

# Per operation; CI may go deeper (the run stays reproducible for a given number).
EXAMPLES = int(os.environ.get("RUNYARD_FUZZ_EXAMPLES", "20"))

SCHEMA = schemathesis.openapi.from_dict(SchemaGenerator().get_schema(request=None, public=True))
OPERATIONS = [result.ok() for result in SCHEMA.get_all_operations()]
WSGI = get_wsgi_application()


@pytest.fixture
def in_process(world: World) -> Iterator[World]:
    """Team A's objects, then requests through WSGI share the test's connection: Django's
    handler would close it at each request's end, which Django's test client prevents the
    same way (and undoes after each of its own requests, hence the objects first)."""
    _team_objects(world)
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    try:
        yield world
    finally:
        request_started.connect(close_old_connections)
        request_finished.connect(close_old_connections)


def _team_objects(world: World) -> None:
    """One of each kind in team A, so generated ids reach real objects and their actions."""
    alice = world.alice.client
    assert alice.post("/api/environments/", {"name": "fuzz-env"}, format="json").status_code == 201
    assert alice.post("/api/experiments/", {"name": "fuzz-exp"}, format="json").status_code == 201
    made = alice.post("/api/datasets/register/", {"name": "fuzz-ds", "files": [make_tar({"a.txt": "a"})]})
    assert made.status_code == 201, made.content
    run = make_run(world.alice.user, world.team_a)
    RunToken.issue(run)


@pytest.mark.parametrize("operation", OPERATIONS, ids=lambda op: f"{op.method.upper()} {op.path}")
def test_no_server_error(in_process: World, operation: Any) -> None:
    headers = {"Authorization": f"Token {in_process.alice.key}"}

    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        derandomize=True,
        database=None,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(case=operation.as_strategy())
    def check(case: Any) -> None:
        with transaction.atomic():
            response = case.call(app=WSGI, headers=headers)
            transaction.set_rollback(True)
        case.validate_response(response, checks=[not_a_server_error])

    check()
