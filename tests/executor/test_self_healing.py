"""The queue never stalls and a dead executor never leaves a run behind: a lost
dispatch message is sent again by the sweep, a killed pool child's run is ended (and
its ranks stopped) within seconds by its worker's recoverer, and a retried submit with
the same Idempotency-Key creates one run."""

from __future__ import annotations

import os
import signal
from typing import Any

import pytest

from runs import dispatch
from runs.models import Run
from runs.status import Status
from tests.conftest import make_tar, target_row_locked, wait_for
from tests.executor.helpers import lines, submit, wait_status
from tests.executor.test_cancel_and_limits import SLEEPER, alive, pids_of

pytestmark = [pytest.mark.worker, pytest.mark.xdist_group("live")]


def test_a_run_whose_dispatch_message_was_lost_still_runs(live: Any, world: Any) -> None:
    from config.celery import app

    live.stop("runner")  # nothing consumes the message: it can be lost for real
    try:
        made = submit(world.alice, {"train.py": "print('ran after all')"})
        with app.connection_for_write() as conn:
            conn.default_channel.queue_purge("compute.local")  # the message is gone…
        dispatch.client().delete(dispatch.mark_key(made["id"]))  # …and its mark expired
    finally:
        live.start_worker("runner")
    assert Run.objects.get(pk=made["id"]).status == Status.QUEUED
    assert dispatch.sweep_queues() == 1
    assert dispatch.sweep_queues() == 0  # the new loop's mark is fresh: no second message
    run = wait_status(made["id"])
    assert run.status == Status.COMPLETED
    assert lines(made["id"], rank=0) == ["ran after all"]


def test_a_killed_pool_child_ends_its_run_and_its_ranks(live: Any, world: Any) -> None:
    made = submit(world.alice, {"train.py": SLEEPER})
    pids = pids_of(made["id"])  # host pids of the run's processes, once the script printed its own
    run = wait_status(made["id"], {Status.RUNNING})
    assert run.worker_pid and run.worker_pid != os.getpid()
    os.kill(run.worker_pid, signal.SIGKILL)
    # The worker's recoverer notices the dead executor, not the heartbeat timeout (60 s).
    run = wait_status(made["id"], timeout=45)
    assert run.status == Status.FAILED and run.status_reason == "worker lost"
    wait_for(lambda: not any(alive(p) for p in pids), timeout=30, what="the run's processes to be stopped")
    # The worker itself lives on and takes the next run.
    after = submit(world.alice, {"train.py": "print('next')"})
    assert wait_status(after["id"]).status == Status.COMPLETED


def test_a_retried_submit_creates_one_run(live: Any, world: Any) -> None:
    def post(actor: Any, key: str) -> Any:
        data = {"snapshot": make_tar({"train.py": "print(1)"}), "script": "train.py", "experiment": "idem"}
        return actor.client.post("/api/runs/", data, format="multipart", HTTP_IDEMPOTENCY_KEY=key)

    first = post(world.alice, "k-123")
    again = post(world.alice, "k-123")
    assert first.status_code == 201 and again.status_code == 200, again.content
    assert again.json()["id"] == first.json()["id"] and again["Idempotent-Replayed"] == "true"
    assert Run.objects.filter(idempotency_key="k-123").count() == 1
    # The key is the submitter's own: another user's same key is another run.
    other = post(world.bob, "k-123")
    assert other.status_code == 201 and other.json()["id"] != first.json()["id"]
    bad = post(world.alice, "x" * 201)
    assert bad.status_code == 400 and "Idempotency-Key" in bad.json()
    wait_status(first.json()["id"])
    wait_status(other.json()["id"])


def test_a_target_that_cannot_prepare_fails_the_run_with_the_reason(live: Any, world: Any) -> None:
    from compute.models import ComputeTarget

    # Registered before configs were validated (or edited in the database): no shared_dir.
    ComputeTarget.objects.create(name="broken-slurm", kind="slurm", config={})
    live.start_worker("broken", queues="compute.broken-slurm", concurrency=1)
    try:
        made = submit(world.alice, {"train.py": "print('never')"}, compute_target="broken-slurm")
        run = wait_status(made["id"], timeout=60)
        assert run.status == Status.FAILED and "shared_dir" in run.error
        assert any("shared_dir" in text for text in lines(made["id"]))
    finally:
        live.stop("broken")


def test_a_burst_of_submits_stays_within_the_web_pool(live: Any, world: Any) -> None:
    """Every submit of a burst is created once or refused cleanly, and the web process
    holds at most its pool's connections (PostgreSQL only: SQLite has none)."""
    import concurrent.futures

    import requests
    from django.conf import settings as django_settings
    from django.db import connection

    if connection.vendor != "postgresql":
        pytest.skip("connection pooling applies to PostgreSQL")
    import threading

    from django.db import connections

    peak = {"web": 0}
    done = threading.Event()

    def sample() -> None:
        # One connection of its own, closed at the end: the posting threads use none.
        try:
            while not done.wait(0.05):
                with connections["default"].cursor() as cursor:
                    cursor.execute(
                        "SELECT count(*) FROM pg_stat_activity"
                        " WHERE application_name = 'runyard-web' AND datname = current_database()"
                    )
                    peak["web"] = max(peak["web"], int(cursor.fetchone()[0]))
        finally:
            connections.close_all()

    def post(i: int) -> int:
        response = requests.post(
            f"{live.url}/api/runs/",
            headers={"Authorization": f"Token {world.alice.key}", "Idempotency-Key": f"burst-{i}"},
            data={"script": "train.py", "experiment": "burst"},
            files={"snapshot": ("s.tar.gz", make_tar({"train.py": "print('ok')"}).getvalue())},
            timeout=120,
        )
        return response.status_code

    sampler = threading.Thread(target=sample)
    sampler.start()
    try:
        with concurrent.futures.ThreadPoolExecutor(max_workers=40) as pool:
            codes = list(pool.map(post, range(120)))
    finally:
        done.set()
        sampler.join(timeout=30)
    assert set(codes) <= {201, 503}, codes
    created = Run.objects.filter(experiment__name="burst")
    assert created.count() == codes.count(201) and codes.count(201) > 0
    limit = int(django_settings.DATABASES["default"].get("OPTIONS", {}).get("pool", {}).get("max_size", 8))
    assert 1 <= peak["web"] <= limit, f"the web process held {peak['web']} connections (pool of {limit})"
    for run_id in created.values_list("pk", flat=True):
        assert wait_status(run_id, timeout=300).status == Status.COMPLETED


def test_a_failed_claim_is_retried_and_the_run_still_completes(live: Any, world: Any) -> None:
    """The claim's database work fails (here: the target's row stays locked past the
    claim's lock timeout, as behind a stuck transaction); the message is not dropped:
    the claim is retried with backoff and the run completes once the database answers."""
    from django.db import connection

    if connection.vendor != "postgresql":
        pytest.skip("lock timeouts are PostgreSQL's (SQLite serialises claims itself)")
    log = live.logdir / "worker-runner.log"
    seen = log.read_text(errors="replace").count("claiming run")
    with target_row_locked():
        made = submit(world.alice, {"train.py": "print('claimed at last')"})
        wait_for(
            lambda: log.read_text(errors="replace").count("claiming run") > seen,
            timeout=90,
            what="the worker to report the failed claim",
        )
        assert Run.objects.get(pk=made["id"]).status == Status.QUEUED
    run = wait_status(made["id"], timeout=120)
    assert run.status == Status.COMPLETED
    assert lines(made["id"], rank=0) == ["claimed at last"]
