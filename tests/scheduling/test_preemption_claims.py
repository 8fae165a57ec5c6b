"""Preemption through the claim path, with the database doing the serialising: claims
racing from several sessions mark the victim once and audit it once, and once its
capacity is free only the beneficiary starts (not the requeued victim, not another
waiting run). Run on PostgreSQL (DATABASE_URL) for the row lock; on SQLite the immediate
transactions serialise the same claims."""

from __future__ import annotations

import threading
from datetime import timedelta
from typing import Any

import pytest
from django.db import connection
from django.utils import timezone

from audit.models import AuditEvent
from compute.models import ComputeTarget
from execution import recovery
from execution.executor import claim
from runs import attempts
from runs.causes import Cause
from runs.models import Attempt, Run
from runs.status import Status
from scheduling.priority import Priority
from tests.factories import make_run

SESSIONS = 6


def queued(user: Any, team: Any, minutes_ago: int, **fields: Any) -> Run:
    return make_run(
        user, team, status=Status.QUEUED, queued_at=timezone.now() - timedelta(minutes=minutes_ago), **fields
    )


def race(run_ids: list[int]) -> list[str]:
    """Claim ``run_ids`` (round robin) from SESSIONS threads at once; their outcomes."""
    barrier = threading.Barrier(SESSIONS)
    results: list[str] = []
    lock = threading.Lock()

    def one(index: int) -> None:
        try:
            barrier.wait()
            outcome = claim(run_ids[index % len(run_ids)], f"w{index}@race")
        finally:
            connection.close()
        with lock:
            results.append(f"{run_ids[index % len(run_ids)]}:{outcome}")

    threads = [threading.Thread(target=one, args=(i,)) for i in range(SESSIONS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return sorted(results)


@pytest.mark.django_db(transaction=True)
def test_racing_claims_preempt_once_and_only_the_beneficiary_starts(world: Any) -> None:
    ComputeTarget.objects.filter(name="local").update(max_concurrent_runs=1)
    victim = make_run(
        world.alice.user,
        world.team_a,
        status=Status.RUNNING,
        preparing_at=timezone.now(),
        priority=Priority.LOW,
        preemptible=True,
        worker="w@host",
    )
    Attempt.objects.create(run=victim, number=1, worker="w@host")
    # Its worker is alive as far as any recoverer can tell: a live stack's worker sharing
    # this test database (make test -n 2) would otherwise fail the run as "worker lost"
    # and free its slot mid-race (seen once in CI).
    recovery.announce("w@host", ["compute.local"])
    for index in range(SESSIONS):  # and so are the racing claimers, whose claimed run holds the slot
        recovery.announce(f"w{index}@race", ["compute.local"])
    first = queued(world.bob.user, world.team_b, 5, priority=Priority.HIGH)
    second = queued(world.bob.user, world.team_b, 3, priority=Priority.HIGH)

    outcomes = race([first.pk, second.pk])
    assert {o.split(":")[1] for o in outcomes} == {"busy"}
    victim.refresh_from_db()
    assert victim.preempt_requested_at is not None and victim.preempt_for_id == first.pk
    events = AuditEvent.objects.filter(action="scheduling.run.preempted")
    assert [(e.object_id, e.changes["beneficiary"]) for e in events] == [(str(victim.pk), first.pk)]

    # Its executor stopped it: the attempt ends preempted and the run waits to resume.
    attempts.retry(victim.pk, Cause.PREEMPTED, resume=True, checkpoint={"dir": "/x", "files": 1})
    victim.refresh_from_db()
    assert (victim.status, victim.attempt, victim.preempt_requested_at) == (Status.QUEUED, 2, None)

    outcomes = race([first.pk, second.pk, victim.pk])
    assert [o for o in outcomes if o.endswith(":claimed")] == [f"{first.pk}:claimed"]
    assert Run.objects.filter(status=Status.PREPARING).count() == 1
    # The beneficiary holds the slot now; the second high run has nothing preemptible to take.
    assert race([second.pk]) == [f"{second.pk}:busy"] * SESSIONS
    assert AuditEvent.objects.filter(action="scheduling.run.preempted").count() == 1
    assert Attempt.objects.get(run=victim, number=1).status == "Preempted"
    for name in ["w@host", *(f"w{index}@race" for index in range(SESSIONS))]:
        recovery.retire(name)
