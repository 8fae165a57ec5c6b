"""Scheduling in real Chromium: a queued run's page says why it waits and where it is in
the queue; the Compute page's queue board shows each team's running, borrowed and queued
runs and draws the timeline; the Usage page shows totals and efficiency and exports CSV.

The shared target ``pool`` is consumed by no worker of the live stack (it serves
``compute.local``): its runs wait with the registry's "no worker is serving" reason, and
its running runs (made here, as a worker elsewhere would have claimed them) are left
alone by recovery, which only watches the queues it consumes."""

from __future__ import annotations

import csv
import io
from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone

from compute.models import ComputeTarget
from runs import metricstore
from runs.models import Run
from runs.status import Status
from scheduling.models import TeamQuota
from tests.browser.conftest import Browser, off_loop
from tests.conftest import wait_for
from tests.factories import make_run

pytestmark = [pytest.mark.browser, pytest.mark.worker, pytest.mark.xdist_group("live")]


def _queue(world: Any) -> dict[str, Any]:
    now = timezone.now()
    pool = ComputeTarget.objects.create(name="pool", kind="local", max_concurrent_runs=3)
    TeamQuota.objects.create(team=world.team_a, compute_target=pool, share=1, max_runs=2)
    TeamQuota.objects.create(team=world.team_b, compute_target=pool, share=1)

    def on_pool(user: Any, team: Any, **fields: Any) -> Run:
        run = make_run(user, team, **fields)
        Run.objects.filter(pk=run.pk).update(compute_target=pool)
        return Run.objects.get(pk=run.pk)

    for minutes in (50, 20):  # team A: two running, one beyond its share of 1 (borrowed)
        on_pool(
            world.alice.user,
            world.team_a,
            status=Status.RUNNING,
            worker="w1@elsewhere",
            queued_at=now - timedelta(minutes=minutes + 1),
            preparing_at=now - timedelta(minutes=minutes),
            running_at=now - timedelta(minutes=minutes),
        )
    on_pool(
        world.bob.user,
        world.team_b,
        status=Status.RUNNING,
        worker="w1@elsewhere",
        queued_at=now - timedelta(minutes=41),
        preparing_at=now - timedelta(minutes=40),
        running_at=now - timedelta(minutes=40),
    )
    limited = on_pool(world.alice.user, world.team_a, status=Status.QUEUED, queued_at=now - timedelta(minutes=9))
    # Team B: a normal run, then a high one submitted later (it goes first).
    theirs = [
        on_pool(world.bob.user, world.team_b, status=Status.QUEUED, queued_at=now - timedelta(minutes=m), priority=p)
        for m, p in ((8, 1), (7, 2))
    ]
    # A queued run on local, which the live worker serves: full, but served.
    ComputeTarget.objects.filter(name="local").update(max_concurrent_runs=0)
    served = make_run(world.alice.user, world.team_a, status=Status.QUEUED, queued_at=now - timedelta(minutes=1))
    return {"pool": pool, "limited": limited, "theirs": theirs, "served": served}


def _usage(world: Any) -> None:
    now = timezone.now()
    for hours, cpu in ((2, 50.0), (1, 110.0)):
        run = make_run(
            world.alice.user,
            world.team_a,
            status=Status.COMPLETED,
            queued_at=now - timedelta(hours=hours, minutes=30),
            preparing_at=now - timedelta(hours=hours),
            running_at=now - timedelta(hours=hours),
            ended_at=now,
        )
        point = {"name": "system/rank0/cpu_percent", "kind": "scalar", "value": cpu, "step": 0, "time": now}
        metricstore.store(run, [point])


def test_a_queued_runs_reasons_and_the_queue_board(browser: Browser, world: Any) -> None:
    made = off_loop(_queue, world)
    page = browser.page

    # The worker registry knows the live worker (it announces within seconds).
    def served_reason() -> str:
        return str(off_loop(world.alice.client.get, f"/api/runs/{made['served'].pk}/").json()["waiting_reason"])

    wait_for(lambda: "no worker" not in served_reason(), timeout=30, what="the live worker announced")

    # Bob's normal run waits behind his own high one; the target is full (3/3).
    browser.sign_in("bob")
    browser.goto(f"/runs/{made['theirs'][0].pk}")
    why = page.get_by_label("Why the run waits")
    why.get_by_text("in the queue of").wait_for()
    text = why.inner_text()
    assert (
        "Position 2 in the queue of pool: no worker is serving compute.pool; "
        "1 run of higher priority ahead; the target is full (3/3 runs)"
    ) in text, text
    browser.sign_out()

    browser.sign_in("alice")
    browser.goto(f"/runs/{made['limited'].pk}")
    why = page.get_by_label("Why the run waits")
    why.get_by_text("in the queue of").wait_for()
    text = why.inner_text()
    # Team A (Default) holds 2 of its 2; team B's two runs come first (less load).
    assert "Position 3 in the queue of pool: no worker is serving compute.pool; team Default at its limit 2/2" in text
    assert "None" not in text
    browser.screenshot("run-queued-why")

    browser.goto(f"/runs/{made['served'].pk}")
    served = page.get_by_label("Why the run waits")
    served.get_by_text("the target is full (0/0 runs)").wait_for()
    assert "no worker" not in served.inner_text()

    browser.goto("/compute")
    board = page.get_by_label("Queue of pool")
    board.get_by_role("alert").get_by_text("No worker is serving compute.pool").wait_for()
    capacity = board.get_by_role("table", name="Capacity per team on pool")
    # team, share, limit, running, borrowed, queued
    default = capacity.get_by_role("row", name="Default")
    assert [c.strip() for c in default.locator("td").all_inner_texts()[:6]] == ["Default", "1", "2", "2", "1", "1"]
    other = capacity.get_by_role("row", name="Other")
    assert [c.strip() for c in other.locator("td").all_inner_texts()[:6]] == ["Other", "1", "—", "1", "0", "2"]
    # Alice sees her own waiting run listed with its reason, not team B's runs.
    waiting = board.get_by_role("list", name="Waiting runs on pool")
    waiting.get_by_text(f"#{made['limited'].pk}").wait_for()
    assert "team Default at its limit 2/2" in waiting.inner_text()
    assert all(f"#{r.pk} " not in waiting.inner_text() for r in made["theirs"])
    chart = board.get_by_role("img", name="Running, borrowed and queued runs per team on pool, last 24 hours")
    chart.locator("canvas").first.wait_for()
    legend = chart.locator(".u-legend").inner_text()
    for label in ("Default running", "Default borrowed", "Default queued", "Other running", "Other queued"):
        assert label in legend, legend
    board.scroll_into_view_if_needed()
    browser.screenshot("compute-queue-board")
    assert browser.app_errors() == []


def test_the_usage_page_totals_efficiency_and_csv(browser: Browser, world: Any, tmp_path: Any) -> None:
    off_loop(_usage, world)
    page = browser.page
    browser.sign_in("alice")
    browser.goto("/usage")
    table = page.get_by_role("table", name="Usage")
    row = table.get_by_role("row", name="Default")
    row.wait_for()
    cells = [c.strip() for c in row.locator("td").all_inner_texts()]
    # runs, run-hours, GPU-hours, queue wait, then CPU per rank weighted by run-hours
    # ((2 h x 50 + 1 h x 110) / 3 = 70) and no GPU sampled.
    assert cells == ["Default", "2", "3.00", "0.00", "1.00", "70.00", "—"], cells
    page.get_by_role("article", name="Run-hours by team").get_by_text("Default").wait_for()
    page.get_by_role("article", name="CPU per rank (% of a core) by team").wait_for()
    assert page.get_by_role("article", name="GPU utilization (%) by team").count() == 0
    browser.screenshot("usage-page")
    with page.expect_download() as info:
        page.get_by_role("link", name="Export CSV").click()
    download = info.value
    assert download.suggested_filename == "runyard-usage-by-team.csv"
    saved = tmp_path / "usage.csv"
    download.save_as(saved)
    rows = list(csv.reader(io.StringIO(saved.read_text())))
    assert rows[0] == [
        "team",
        "team",
        "runs",
        "run_hours",
        "gpu_hours",
        "queue_wait_hours",
        "cpu_percent",
        "gpu_utilization",
    ]
    assert rows[1:] == [["Default", "Default", "2", "3.0", "0.0", "1.0", "70.0", ""]]
    assert browser.app_errors() == []
