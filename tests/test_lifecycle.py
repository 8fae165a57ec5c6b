"""Status transitions: the rules, their history, and a real race between sessions."""

from __future__ import annotations

import threading
from typing import Any

import pytest
from django.db import connection

from runs.lifecycle import IllegalTransition, transition
from runs.models import Run, RunStatusChange
from runs.status import ALLOWED, Status
from tests.factories import make_run


def test_legal_path_records_history_and_timestamps(world: Any) -> None:
    run = make_run(world.alice.user, world.team_a)
    for status in (
        Status.QUEUED,
        Status.PREPARING,
        Status.STARTING,
        Status.RUNNING,
        Status.FINALIZING,
        Status.COMPLETED,
    ):
        run = transition(run.pk, status, reason=f"to {status}")
    assert run.status == Status.COMPLETED
    assert run.queued_at and run.preparing_at and run.starting_at and run.running_at and run.finalizing_at
    assert run.ended_at >= run.running_at
    history = list(RunStatusChange.objects.filter(run=run).values_list("from_status", "to_status"))
    assert history[0] == (Status.NOT_STARTED, Status.QUEUED)
    assert history[-1] == (Status.FINALIZING, Status.COMPLETED)
    assert len(history) == 6


@pytest.mark.parametrize(
    ("start", "target"),
    [
        (Status.NOT_STARTED, Status.RUNNING),
        (Status.QUEUED, Status.COMPLETED),
        (Status.COMPLETED, Status.RUNNING),
        (Status.CANCELED, Status.QUEUED),
        (Status.FAILED, Status.COMPLETED),
        (Status.RUNNING, Status.PREPARING),
    ],
)
def test_illegal_moves_are_refused(world: Any, start: str, target: str) -> None:
    run = make_run(world.alice.user, world.team_a)
    Run.objects.filter(pk=run.pk).update(status=start)
    with pytest.raises(IllegalTransition):
        transition(run.pk, target)
    assert Run.objects.get(pk=run.pk).status == start
    assert not RunStatusChange.objects.filter(run=run).exists()


def test_terminal_statuses_have_no_exit() -> None:
    for target, sources in ALLOWED.items():
        assert not ({Status.COMPLETED, Status.FAILED, Status.CANCELED} & sources), target


@pytest.mark.django_db(transaction=True)
def test_concurrent_claims_only_one_wins(world: Any) -> None:
    """Eight sessions race to claim the same queued run; exactly one succeeds."""
    run = make_run(world.alice.user, world.team_a)
    transition(run.pk, Status.QUEUED)
    barrier = threading.Barrier(8)
    results: list[str] = []
    lock = threading.Lock()

    def claim() -> None:
        try:
            barrier.wait()
            transition(run.pk, Status.PREPARING, only_from={Status.QUEUED})
            outcome = "won"
        except IllegalTransition:
            outcome = "lost"
        finally:
            connection.close()
        with lock:
            results.append(outcome)

    threads = [threading.Thread(target=claim) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(results) == ["lost"] * 7 + ["won"]
    assert RunStatusChange.objects.filter(run=run, to_status=Status.PREPARING).count() == 1


@pytest.mark.django_db(transaction=True)
def test_cancel_races_completion(world: Any) -> None:
    """Cancel and completion race from Finalizing/Running: the run ends in one state, consistently."""
    for _ in range(5):
        run = make_run(world.alice.user, world.team_a)
        for status in (Status.QUEUED, Status.PREPARING, Status.STARTING, Status.RUNNING):
            transition(run.pk, status)
        barrier = threading.Barrier(2)
        outcomes: dict[str, bool] = {}

        def attempt(
            name: str,
            to: str,
            run_id: int = run.pk,
            barrier: threading.Barrier = barrier,
            outcomes: dict[str, bool] = outcomes,
        ) -> None:
            barrier.wait()
            try:
                transition(run_id, to)
                outcomes[name] = True
            except IllegalTransition:
                outcomes[name] = False
            finally:
                connection.close()

        threads = [
            threading.Thread(target=attempt, args=("cancel", Status.CANCEL_REQUESTED)),
            threading.Thread(target=attempt, args=("finalize", Status.FINALIZING)),
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        final = Run.objects.get(pk=run.pk).status
        changes = list(RunStatusChange.objects.filter(run=run).order_by("id").values_list("to_status", flat=True))
        assert changes[-1] == final
        assert any(outcomes.values())
