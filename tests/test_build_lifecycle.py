"""The environment-build row's moves: illegal ones refused, a superseded attempt
cannot record an outcome, racing cache hits all adopt."""

from __future__ import annotations

import threading
import uuid
from datetime import timedelta
from typing import Any

import pytest
from django.db import connection
from django.utils import timezone

from environments.models import LAST_USED_PRECISION, BuildLogLine, EnvironmentBuild, IllegalBuildTransition

Status = EnvironmentBuild.Status


def new_row() -> EnvironmentBuild:
    return EnvironmentBuild.for_content(EnvironmentBuild.Kind.VENV, "/somewhere", uuid.uuid4().hex)


def stored(row: EnvironmentBuild) -> EnvironmentBuild:
    return EnvironmentBuild.objects.get(pk=row.pk)


def test_start_succeed_records_times_and_replaces_the_log(db: Any) -> None:
    row = new_row()
    BuildLogLine.objects.create(build=row, seq=1, text="an earlier attempt")
    row.start()
    building = stored(row)
    assert (building.status, building.attempt, building.finished_at) == (Status.BUILDING, 1, None)
    assert building.started_at is not None
    assert not BuildLogLine.objects.filter(build=row).exists()
    row.succeed("/somewhere/venv")
    done = stored(row)
    assert (done.status, done.path) == (Status.SUCCEEDED, "/somewhere/venv")
    assert done.finished_at >= done.started_at and done.last_used_at == done.finished_at


@pytest.mark.parametrize("status", [Status.PENDING, Status.SUCCEEDED, Status.FAILED])
def test_only_a_started_build_can_succeed_fail_or_be_canceled(db: Any, status: str) -> None:
    row = new_row()
    if status != Status.PENDING:
        row.start()
        row.succeed("/x") if status == Status.SUCCEEDED else row.fail("boom")
    before = stored(row)
    for move in (lambda: row.succeed("/y"), lambda: row.fail("again"), row.cancel):
        with pytest.raises(IllegalBuildTransition):
            move()
    after = stored(row)
    assert (after.status, after.path, after.error, after.finished_at) == (
        before.status,
        before.path,
        before.error,
        before.finished_at,
    )


def test_cancel_is_a_failed_build_that_says_so(db: Any) -> None:
    row = new_row()
    row.start()
    row.cancel()
    assert (stored(row).status, stored(row).error) == (Status.FAILED, "canceled")
    row.start()  # the next run that needs it builds it again
    assert (stored(row).status, stored(row).error, stored(row).attempt) == (Status.BUILDING, "", 2)


def test_a_stale_view_cannot_move_the_row(db: Any) -> None:
    first = new_row()
    second = EnvironmentBuild.objects.get(pk=first.pk)
    first.start()
    with pytest.raises(IllegalBuildTransition, match="from building to building"):
        second.start()  # it saw Pending, the row is Building now
    assert (stored(first).status, stored(first).attempt) == (Status.BUILDING, 1)
    first.succeed("/built")
    assert stored(first).status == Status.SUCCEEDED


def test_a_superseded_attempt_cannot_record_its_outcome(db: Any) -> None:
    dead = new_row()
    dead.start()
    # Its builder died; the next one holds the lock and starts the build again.
    successor = EnvironmentBuild.objects.get(pk=dead.pk)
    successor.start()
    assert successor.attempt == 2
    for move in (lambda: dead.succeed("/old"), lambda: dead.fail("old"), dead.cancel):
        with pytest.raises(IllegalBuildTransition):
            move()
    assert stored(dead).status == Status.BUILDING
    successor.succeed("/new")
    assert (stored(dead).status, stored(dead).path) == (Status.SUCCEEDED, "/new")


def test_adopt(db: Any) -> None:
    pending = new_row()
    pending.adopt("/found")
    assert (stored(pending).status, stored(pending).path) == (Status.SUCCEEDED, "/found")

    failed = new_row()
    failed.start()
    failed.fail("it broke")
    failed.adopt("/found")
    assert (stored(failed).status, stored(failed).error) == (Status.SUCCEEDED, "")

    # A Building row's builder may be about to record it: only the lock holder may adopt.
    building = new_row()
    building.start()
    with pytest.raises(IllegalBuildTransition):
        building.adopt("/found")
    assert stored(building).status == Status.BUILDING
    building.adopt("/found", lock_held=True)
    assert stored(building).status == Status.SUCCEEDED


def test_adopting_a_succeeded_build_refreshes_its_last_use_now_and_then(db: Any) -> None:
    row = new_row()
    row.adopt("/found")
    used = stored(row).last_used_at
    row.adopt("/found")
    assert stored(row).last_used_at == used  # within the precision: no write
    long_ago = timezone.now() - LAST_USED_PRECISION - timedelta(seconds=1)
    EnvironmentBuild.objects.filter(pk=row.pk).update(last_used_at=long_ago)
    row = stored(row)
    row.adopt("/found")
    assert stored(row).last_used_at > long_ago
    assert stored(row).attempt == 0


def race(n: int, work: Any) -> list[Any]:
    """Run ``work(i)`` in ``n`` threads released together; their results or errors."""
    barrier = threading.Barrier(n)
    results: list[Any] = [None] * n

    def one(i: int) -> None:
        try:
            barrier.wait()
            results[i] = work(i)
        except Exception as exc:
            results[i] = exc
        finally:
            connection.close()

    threads = [threading.Thread(target=one, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return results


@pytest.mark.django_db(transaction=True)
def test_racing_cache_hits_all_adopt(world: Any) -> None:
    row = new_row()
    results = race(8, lambda _i: EnvironmentBuild.objects.get(pk=row.pk).adopt("/found"))
    assert results == [None] * 8
    assert stored(row).status == Status.SUCCEEDED
