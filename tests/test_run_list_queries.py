"""Round trips of the run list page (a regression guard, not a timing; bench/run_list.py
times it): the page's query budget, and the folded reads it is made of — the token with
its user's teams, a Queued run's target with its plan fingerprint, the page's metric
summaries with its parameters — answering what the separate reads did."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import connection
from django.test import override_settings
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from rest_framework.renderers import JSONRenderer

from accounts import token_cache
from accounts.authentication import read_token
from accounts.models import ApiToken, Membership, hash_key
from compute.models import ComputeTarget
from runs import summaries
from runs.models import Run
from runs.serializers import RunListSerializer
from runs.status import Status
from scheduling import service
from tests.factories import make_run

# The token with its user and team ids; the page; a Queued run's target with its plan
# fingerprint (while the plan holds); the page's metric summaries and parameters. Was 8
# (the memberships, the target and the two fingerprint reads, metrics and parameters apart).
PAGE_BUDGET = 4
PAGE_WITHOUT_QUEUED_BUDGET = 3


def page_queries(client: Any, **params: Any) -> list[str]:
    with CaptureQueriesContext(connection) as ctx:
        response = client.get("/api/runs/", params)
    assert response.status_code == 200, response.content
    return [q["sql"] for q in ctx.captured_queries]


def with_metrics(run: Run, **values: float) -> Run:
    batch = summaries.fold((name, value, 3) for name, value in values.items())
    summaries.record_points(run.pk, batch, timezone.now())
    return run


def test_a_page_with_a_queued_run_stays_within_its_query_budget(world: Any) -> None:
    t0 = timezone.now() - timedelta(minutes=5)
    for i in range(6):
        run = make_run(
            world.alice.user,
            world.team_a,
            status=[Status.COMPLETED, Status.QUEUED][i % 2],
            arguments=["--lr", f"0.{i}", "--amp"],
            queued_at=t0 + timedelta(seconds=i),
        )
        with_metrics(run, loss=1.0 / (i + 1), acc=0.5)
    page_queries(world.alice.client)  # the first request records the token's use and plans the queue
    queries = page_queries(world.alice.client)
    assert len(queries) <= PAGE_BUDGET, "\n".join(q[:120] for q in queries)
    queries = page_queries(world.alice.client, status=Status.COMPLETED)
    assert len(queries) <= PAGE_WITHOUT_QUEUED_BUDGET, "\n".join(q[:120] for q in queries)


def test_the_page_with_metrics_and_parameters_equals_the_serializer(world: Any) -> None:
    for i in range(4):
        run = make_run(world.alice.user, world.team_a, status=Status.QUEUED if i == 1 else Status.FAILED)
        run.arguments = ["--lr", str(i), "--epochs=3", "--amp"] if i % 2 else []
        run.save()
        if i != 2:
            with_metrics(run, loss=0.25 * i, **({"acc": 0.5} if i == 3 else {}))
    listed = world.alice.client.get("/api/runs/").json()["results"]
    expected = Run.objects.order_by("-created_at", "-id")
    assert listed == json.loads(JSONRenderer().render(RunListSerializer(expected, many=True).data))
    assert {r["id"]: sorted(r["metrics"]) for r in listed} == {
        r.pk: [] if i == 2 else ["acc", "loss"] if i == 3 else ["loss"] for i, r in enumerate(expected[::-1])
    }
    assert sum(bool(r["params"]) for r in listed) == 2


def test_page_summaries_answers_both_reads(world: Any) -> None:
    runs = [make_run(world.alice.user, world.team_a, arguments=["--x", str(i)] if i else []) for i in range(3)]
    with_metrics(runs[0], loss=2.0)
    with_metrics(runs[1], loss=1.0, acc=-0.0)
    ids = [r.pk for r in runs] + [10**9]
    assert summaries.page_summaries(ids) == (summaries.summaries_of(ids), summaries.params_by_run(ids))
    assert summaries.page_summaries([]) == ({}, {})


def test_the_token_read_carries_the_users_teams_as_they_are_now(world: Any) -> None:
    mine = make_run(world.alice.user, world.team_a)
    theirs = make_run(world.bob.user, world.team_b)
    token, teams = read_token(hash_key(world.alice.key))
    assert token is not None and token.user == world.alice.user and teams == {world.team_a.pk}
    assert token.user.is_active and token.user.check_password("alice-pw-123!")
    assert read_token(hash_key("ry_nope")) == (None, set())

    def visible() -> set[int]:
        return {r["id"] for r in world.alice.client.get("/api/runs/").json()["results"]}

    assert visible() == {mine.pk}
    Membership.objects.create(user=world.alice.user, team=world.team_b)
    assert visible() == {mine.pk, theirs.pk}  # the next request, not a cached team list
    # With the token cache on, a look-up it serves reads the memberships as before.
    with override_settings(RUNYARD={**settings.RUNYARD, "TOKEN_CACHE_SECONDS": 60}):
        token_cache.clear()
        assert visible() == {mine.pk, theirs.pk}
        assert token_cache.get(hash_key(world.alice.key)) is not None
        Membership.objects.filter(user=world.alice.user, team=world.team_b).delete()
        assert visible() == {mine.pk}
        token_cache.clear()


def test_an_expired_or_inactive_token_read_in_one_statement_is_still_refused(world: Any) -> None:
    assert world.alice.client.get("/api/runs/").status_code == 200
    ApiToken.objects.filter(key_hash=hash_key(world.alice.key)).update(expires_at=timezone.now() - timedelta(seconds=1))
    assert world.alice.client.get("/api/runs/").status_code == 401
    assert world.bob.client.get("/api/runs/").status_code == 200
    type(world.bob.user).objects.filter(pk=world.bob.user.pk).update(is_active=False)
    assert world.bob.client.get("/api/runs/").status_code == 401


def test_current_plans_shares_current_plans_cache_and_fingerprint(world: Any) -> None:
    target = ComputeTarget.objects.get(name="local")
    make_run(world.alice.user, world.team_a, status=Status.RUNNING)
    for i in range(3):
        make_run(world.alice.user, world.team_a, status=Status.QUEUED, queued_at=timezone.now() + timedelta(seconds=i))
    plan = service.current_plan(target)
    ((read, again),) = service.current_plans([target.pk, target.pk, 10**9])  # a missing target is left out
    assert again is plan  # the same fingerprint: the cached plan
    assert (read.pk, read.name, read.enabled, read.max_concurrent_runs, read.queue) == (
        target.pk,
        target.name,
        target.enabled,
        target.max_concurrent_runs,
        target.queue,
    )
    assert read.config == target.config and read.kind == target.kind
    make_run(world.alice.user, world.team_a, status=Status.QUEUED, queued_at=timezone.now())  # planned afresh
    ((_, fresh),) = service.current_plans([target.pk])
    assert fresh is not plan and len(fresh.verdicts) == len(plan.verdicts) + 1
    assert service.current_plan(target) is fresh


def test_timestamps_read_as_text_format_as_drf_does(world: Any) -> None:
    on_the_second = timezone.now().replace(microsecond=0) - timedelta(days=40)
    for i, at in enumerate([on_the_second, on_the_second + timedelta(microseconds=120), on_the_second]):
        make_run(
            world.alice.user,
            world.team_a,
            status=Status.COMPLETED if i else Status.RUNNING,
            queued_at=at,
            starting_at=at + timedelta(seconds=1),
            running_at=at + timedelta(seconds=2, microseconds=999_999) if i != 2 else None,
            ended_at=at + timedelta(hours=3) if i else None,
            archived_at=at + timedelta(days=1) if i == 1 else None,
        )
    expected = Run.objects.order_by("-created_at", "-id")
    for zone in ("UTC", "Asia/Kolkata"):  # a zone off the hour: DRF's own formatting, not the UTC text's
        with timezone.override(zone):
            listed = world.alice.client.get("/api/runs/", {"archived": "true"}).json()["results"]
            listed += world.alice.client.get("/api/runs/").json()["results"]
            serialized = json.loads(JSONRenderer().render(RunListSerializer(expected, many=True).data))
        by_id = {r["id"]: r for r in serialized}
        for row in listed:
            if row["status"] == Status.RUNNING:  # its duration runs on: each side has its own "now"
                assert abs(row.pop("duration_seconds") - by_id[row["id"]].pop("duration_seconds")) < 5
            assert row == by_id[row["id"]], zone
        assert {"." in r["queued_at"] for r in listed} == {True, False}  # no ".000000" on the second
        assert all(r["queued_at"].endswith("Z" if zone == "UTC" else "+05:30") for r in listed)
