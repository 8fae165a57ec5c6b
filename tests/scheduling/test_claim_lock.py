"""The claim's wait for its target's row lock is bounded (PostgreSQL): a claim behind a
stuck transaction gives up with ClaimFailed (retried with backoff by the task) instead of
holding a worker slot, the run stays Queued, and the timeout ends with the claim's
transaction. On SQLite the immediate transaction serialises claims instead."""

from __future__ import annotations

from typing import Any

import pytest
from django.db import connection

from execution import executor
from runs.models import Run
from runs.status import Status
from tests.conftest import target_row_locked
from tests.factories import make_run


@pytest.mark.django_db(transaction=True)
def test_a_claim_behind_a_held_target_lock_gives_up_and_leaves_the_run_queued(
    world: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    if connection.vendor != "postgresql":
        pytest.skip("row locks and lock_timeout are PostgreSQL's")
    monkeypatch.setattr(executor, "CLAIM_LOCK_TIMEOUT", "300ms")
    run = make_run(world.alice.user, world.team_a, status=Status.QUEUED)
    Run.objects.filter(pk=run.pk).update(queued_at=run.created_at)
    # Without the timeout the claim would wait for the holder (120 s) and then claim.
    with target_row_locked(), pytest.raises(executor.ClaimFailed, match="lock timeout"):
        executor.claim(run.pk, "w1@test")
    assert Run.objects.get(pk=run.pk).status == Status.QUEUED
    with connection.cursor() as cursor:  # the setting was the claim transaction's only
        cursor.execute("SHOW lock_timeout")
        assert cursor.fetchone()[0] == "0"
    assert executor.claim(run.pk, "w1@test") == "claimed"
