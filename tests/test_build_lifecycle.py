"""The environment-build lifecycle: the build row's moves (illegal ones refused, a
superseded attempt cannot record an outcome), and ``ensure`` with real uv builds in
racing threads (one build, the rest cache hits), a canceled wait and a canceled build.

A build's log is stored by a writer thread on its own connection, so tests that build
run outside a test transaction (``transaction=True``)."""

from __future__ import annotations

import fcntl
import threading
import uuid
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from django.db import connection
from django.utils import timezone

from environments.builder import MARKER, BuildCanceled, BuildFailed, ensure_venv
from environments.builds import Builder, Canceled, Say, ensure
from environments.models import (
    LAST_USED_PRECISION,
    BuildLogLine,
    Environment,
    EnvironmentBuild,
    EnvironmentVersion,
    IllegalBuildTransition,
)

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


def version_of(world: Any) -> EnvironmentVersion:
    # No packages: a build is one ``uv venv``. Each test builds under its own tmp_path,
    # so its build row and directory are its own although the hash is shared.
    env = Environment.objects.create(name=f"env-{uuid.uuid4().hex[:8]}", team=world.team_a)
    return env.add_version({"python_version": "3.11"})


@pytest.mark.django_db(transaction=True)
def test_concurrent_ensure_of_one_hash_builds_once(world: Any, tmp_path: Path) -> None:
    version = version_of(world)
    said: list[list[str]] = [[] for _ in range(4)]
    results = race(4, lambda i: ensure_venv(version, tmp_path, log=said[i].append))
    assert not [r for r in results if isinstance(r, Exception)], results
    assert sorted(r.cache_hit for r in results) == [False, True, True, True]
    assert len({r.build.pk for r in results}) == 1
    row = EnvironmentBuild.objects.get(pk=results[0].build.pk)
    assert (row.status, row.attempt, row.path) == (Status.SUCCEEDED, 1, str(tmp_path / version.content_hash))
    texts = list(BuildLogLine.objects.filter(build=row).values_list("text", flat=True))
    assert sum(t.startswith("Building environment") for t in texts) == 1
    assert any(t.startswith("Environment ready in") for t in texts)
    hits = [said[i] for i, r in enumerate(results) if r.cache_hit]
    # Who came while it was building waited and reused it; who came later just used it.
    for lines in hits:
        assert not any(t.startswith("Building environment") for t in lines)
    assert any(f"Environment {version.content_hash[:12]} was built meanwhile; reusing it." in ln for ln in hits)
    assert (results[0].path / "bin" / "python").exists()


def test_cancel_ends_the_wait_for_anothers_build(world: Any, tmp_path: Path) -> None:
    version = version_of(world)
    said: list[str] = []
    waiting = threading.Event()

    def log(text: str) -> None:
        said.append(text)
        if text.startswith("Waiting for another build"):
            waiting.set()

    with open(tmp_path / f"{version.content_hash}.lock", "w") as held:
        fcntl.flock(held, fcntl.LOCK_EX)  # another build holds the lock
        with pytest.raises(BuildCanceled):
            ensure_venv(version, tmp_path, log=log, canceled=waiting.is_set)
    assert said == [f"Waiting for another build of environment {version.content_hash[:12]} to finish…"]
    row = EnvironmentBuild.objects.get(location=str(tmp_path))
    assert (row.status, row.attempt) == (Status.PENDING, 0)  # never started


@pytest.mark.django_db(transaction=True)
def test_a_canceled_build_is_recorded_and_removed(world: Any, tmp_path: Path) -> None:
    version = version_of(world)
    cancel = threading.Event()

    def log(text: str) -> None:
        if text.startswith("Building environment"):
            cancel.set()

    with pytest.raises(BuildCanceled):
        ensure_venv(version, tmp_path, log=log, canceled=cancel.is_set)
    row = EnvironmentBuild.objects.get(location=str(tmp_path))
    assert (row.status, row.error) == (Status.FAILED, "canceled")
    assert list(BuildLogLine.objects.filter(build=row).values_list("text", flat=True))[-1] == "Build canceled."
    assert not (tmp_path / version.content_hash).exists()
    # The next run builds it.
    built = ensure_venv(version, tmp_path)
    assert not built.cache_hit and (built.path / MARKER).exists()
    assert EnvironmentBuild.objects.get(pk=row.pk).attempt == 2


@dataclass(frozen=True)
class BrokenBuilder(Builder):
    """A kind of build whose steps hit an error that is not a BuildFailed."""

    root: Path
    content_hash: str = "f" * 64
    kind = EnvironmentBuild.Kind.VENV
    failure = "the broken build failed"

    @property
    def location(self) -> str:
        return str(self.root)

    @property
    def artifact(self) -> str:
        return str(self.root / "out")

    @property
    def lock_path(self) -> Path:
        return self.root / "broken.lock"

    @property
    def what(self) -> str:
        return "broken thing"

    def ready(self) -> bool:
        return (self.root / "out").exists()

    def build(self, say: Say, canceled: Canceled) -> None:
        say("step one")
        (self.root / "out.partial").write_text("half")
        raise OSError("No space left on device")

    def ready_message(self, seconds: float) -> str:
        return "never"

    def discard(self) -> None:
        (self.root / "out.partial").unlink()


@pytest.mark.django_db(transaction=True)
def test_an_unexpected_error_in_the_steps_is_a_failed_build(tmp_path: Path) -> None:
    with pytest.raises(BuildFailed) as failed:
        ensure(BrokenBuilder(tmp_path))
    assert str(failed.value) == "the broken build failed: No space left on device"
    assert failed.value.log_tail == "step one"
    row = EnvironmentBuild.objects.get(location=str(tmp_path))
    assert (row.status, row.error) == (Status.FAILED, "the broken build failed: No space left on device\nstep one")
    assert not (tmp_path / "out.partial").exists()  # discarded
