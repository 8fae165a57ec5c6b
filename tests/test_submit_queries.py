"""Query budgets of the submit path (a regression guard on round trips, not a timing):
the POST that creates and queues a run, the worker's claim, and one status move."""

from __future__ import annotations

from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from execution import executor
from runs.lifecycle import IllegalTransition, transition
from runs.models import Attempt, Run, RunStatusChange
from runs.status import Status
from tests.conftest import make_tar

# What each step reads and writes today (bench/RESULTS.md, "Submit → first statement",
# has the list). The scheduler's own reads (``scheduling.service``: plan fingerprint and,
# when the queue changed, the plan) are part of the claim's and the response's figure.
POST_BUDGET = 12  # was 45; 31 before the run was inserted Queued (no UPDATE and re-read of
# its move), both audit events went in one INSERT, the environment and its version came in
# one statement, a default team without the team list, and the response left the queue's
# plan to GET (it says "entering the queue": nine reads of the scheduler's state fewer)
CLAIM_BUDGET = 6  # was 25; 19 before the move to Preparing went without its read and savepoint,
# the claim without the teams' names (nor their usage when one team waits), the run's status
# read with the target's lock and attempt 1 opened by one upsert; 12 before the run came with
# its relations under its own and the target's lock (no re-read after the move, the lock
# timeout set by that statement) and the pool, active runs, waiting teams and quotas in one read
MOVE_BUDGET = 4  # read, conditional UPDATE, status-change INSERT, re-read (was 5)


def written(statements: int) -> int:
    """A move's UPDATE, status-change INSERT and re-read: ``statements`` on SQLite, one
    statement on PostgreSQL (``lifecycle._update_recording``)."""
    return 1 if connection.vendor == "postgresql" else statements


def post(world: Any) -> Any:
    data = {"snapshot": make_tar({"train.py": "print(1)"}), "script": "train.py", "experiment": "e"}
    return world.alice.client.post("/api/runs/", data, format="multipart")


def test_the_submit_post_stays_within_its_query_budget(world: Any) -> None:
    assert post(world).status_code == 201  # the first one creates the experiment, reads the token
    with CaptureQueriesContext(connection) as ctx:
        response = post(world)
    assert response.status_code == 201
    body = response.json()
    # The POST answers before the scheduler placed the run (no plan on the web process);
    # the run's page says where it stands.
    assert body["status"] == Status.QUEUED and body["queue_position"] is None
    assert body["waiting_reason"] == "entering the queue"
    assert body["experiment"] == "e" and body["compute_target"] == "local" and body["environment"]
    assert len(ctx.captured_queries) <= POST_BUDGET, "\n".join(q["sql"][:120] for q in ctx.captured_queries)
    # (After the count: a request resets Django's query log.)
    assert world.alice.client.get(f"/api/runs/{body['id']}/").json()["queue_position"] == 2


def test_the_claim_stays_within_its_query_budget_and_opens_the_attempt(world: Any) -> None:
    run_id = post(world).json()["id"]
    with CaptureQueriesContext(connection) as ctx:
        assert executor.claim(run_id, "w1") == "claimed"
    statements = [q for q in ctx.captured_queries if not q["sql"].startswith(("SAVEPOINT", "RELEASE"))]
    assert len(statements) <= CLAIM_BUDGET, "\n".join(q["sql"][:120] for q in ctx.captured_queries)
    run = Run.objects.get(pk=run_id)
    assert (run.status, run.worker) == (Status.PREPARING, "w1")
    attempt = Attempt.objects.get(run_id=run_id, number=1)
    assert (attempt.worker, attempt.first_seq, attempt.resumed) == ("w1", run.log_seq + 1, False)
    assert executor.claim(run_id, "w2") == "gone"  # claimed once only


def test_a_status_move_costs_four_queries(world: Any) -> None:
    run_id = post(world).json()["id"]
    assert executor.claim(run_id, "w1") == "claimed"
    with CaptureQueriesContext(connection) as ctx:
        moved = transition(run_id, Status.STARTING, reason="environment ready")
    statements = [q["sql"] for q in ctx.captured_queries if not q["sql"].startswith(("SAVEPOINT", "RELEASE"))]
    assert len(statements) <= MOVE_BUDGET - 3 + written(3), "\n".join(statements)
    assert moved.status == Status.STARTING and moved.starting_at is not None
    stored = Run.objects.get(pk=run_id)
    assert (stored.status, stored.status_reason, stored.starting_at) == (
        Status.STARTING,
        "environment ready",
        moved.starting_at,
    )
    change = RunStatusChange.objects.get(run_id=run_id, to_status=Status.STARTING)
    assert (change.from_status, change.reason, change.at) == (Status.PREPARING, "environment ready", moved.starting_at)


def test_a_move_whose_condition_fails_is_refused_without_retrying(world: Any) -> None:
    run_id = post(world).json()["id"]
    Run.objects.filter(pk=run_id).update(worker="someone-else")  # claimed elsewhere meanwhile
    with pytest.raises(IllegalTransition), CaptureQueriesContext(connection) as ctx:
        transition(run_id, Status.PREPARING, only_from={Status.QUEUED}, where={"worker": ""}, fields={"worker": "w1"})
    statements = [q["sql"] for q in ctx.captured_queries if "SAVEPOINT" not in q["sql"]]
    assert len(statements) == 3, "\n".join(statements)  # read, the UPDATE that missed, the condition
    assert Run.objects.filter(pk=run_id).values_list("status", "worker").get() == (Status.QUEUED, "someone-else")


def test_a_move_from_the_expected_status_skips_the_read(world: Any) -> None:
    run_id = post(world).json()["id"]
    assert executor.claim(run_id, "w1") == "claimed"
    with CaptureQueriesContext(connection) as ctx:
        moved = transition(run_id, Status.STARTING, reason="environment ready", expect=Status.PREPARING)
    statements = [q["sql"] for q in ctx.captured_queries if not q["sql"].startswith(("SAVEPOINT", "RELEASE"))]
    assert len(statements) == written(3), "\n".join(statements)  # no read before the UPDATE
    assert moved.status == Status.STARTING
    change = RunStatusChange.objects.get(run_id=run_id, to_status=Status.STARTING)
    assert change.from_status == Status.PREPARING


def test_a_wrong_expectation_falls_back_to_reading_the_status(world: Any) -> None:
    run_id = post(world).json()["id"]
    assert executor.claim(run_id, "w1") == "claimed"
    transition(run_id, Status.CANCEL_REQUESTED, reason="user asked")  # meanwhile, elsewhere
    # The caller still believes the run is Preparing: the guessed UPDATE misses, the read
    # finds CancelRequested, from which Starting is not a move.
    with pytest.raises(IllegalTransition) as refused:
        transition(run_id, Status.STARTING, reason="environment ready", expect=Status.PREPARING)
    assert refused.value.current == Status.CANCEL_REQUESTED
    assert Run.objects.get(pk=run_id).status == Status.CANCEL_REQUESTED
    # A guess from which the move is not allowed is not tried at all.
    moved = transition(run_id, Status.CANCELED, reason="canceled", expect=Status.RUNNING)
    assert moved.status == Status.CANCELED
    assert RunStatusChange.objects.get(run_id=run_id, to_status=Status.CANCELED).from_status == (
        Status.CANCEL_REQUESTED
    )


def test_a_refused_move_leaves_the_callers_transaction_usable(world: Any) -> None:
    # The move writes without a savepoint inside a caller's transaction: a refusal must not
    # poison it (the claim catches IllegalTransition inside its transaction and goes on).
    from django.db import transaction

    run_id = post(world).json()["id"]
    Run.objects.filter(pk=run_id).update(worker="someone-else")
    with transaction.atomic():
        with pytest.raises(IllegalTransition):
            transition(run_id, Status.PREPARING, only_from={Status.QUEUED}, where={"worker": ""}, expect=Status.QUEUED)
        with pytest.raises(IllegalTransition):
            transition(run_id, Status.COMPLETED, reason="no")  # Queued → Completed is no move
        Run.objects.filter(pk=run_id).update(display_name="still writable")
    assert Run.objects.get(pk=run_id).display_name == "still writable"


def test_a_claim_takes_over_the_first_attempt_a_dead_claim_left(world: Any) -> None:
    run_id = post(world).json()["id"]
    Attempt.objects.create(run_id=run_id, number=1, worker="died@host", first_seq=7)
    outcome, claimed = executor.claim_run(run_id, "w1")
    assert outcome == "claimed" and claimed is not None
    attempt = Attempt.objects.get(run_id=run_id, number=1)
    assert (attempt.worker, attempt.first_seq) == ("w1", claimed.log_seq + 1)
    # The claimed run comes with what executing it reads: no query for them.
    with CaptureQueriesContext(connection) as ctx:
        names = (claimed.compute_target.name, claimed.environment_version.environment.name, claimed.experiment.name)
        assert claimed.team.pk == world.team_a.pk
    assert names[0] == "local" and not ctx.captured_queries


def test_a_move_from_the_callers_copy_returns_it_without_a_re_read(world: Any) -> None:
    run_id = post(world).json()["id"]
    outcome, claimed = executor.claim_run(run_id, "w1")
    assert outcome == "claimed" and claimed is not None
    with CaptureQueriesContext(connection) as ctx:
        moved = transition(
            run_id, Status.STARTING, reason="environment ready", fields={"build_id": None}, expect=claimed
        )
    statements = [q["sql"] for q in ctx.captured_queries if not q["sql"].startswith(("SAVEPOINT", "RELEASE"))]
    assert len(statements) == written(2), "\n".join(statements)  # the UPDATE and the status change only
    assert moved is claimed and (moved.status, moved.status_reason) == (Status.STARTING, "environment ready")
    assert moved.starting_at is not None
    stored = Run.objects.get(pk=run_id)
    assert (stored.status, stored.starting_at) == (Status.STARTING, moved.starting_at)
    # A stale copy (the run moved meanwhile) is not returned: the read decides, as without it.
    transition(run_id, Status.CANCEL_REQUESTED, reason="user asked")
    with pytest.raises(IllegalTransition):
        transition(run_id, Status.RUNNING, reason="every rank started", expect=moved)
