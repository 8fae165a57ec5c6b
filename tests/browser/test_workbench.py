"""The run list as a workbench and the compare view in real Chromium: choose a metric
column, sort by it, select runs, compare them (both names in one chart's legend),
archive from the selection, and sign out."""

from __future__ import annotations

from typing import Any

import pytest
from playwright.sync_api import expect

from runs.models import Run
from tests.browser.conftest import Browser, off_loop
from tests.factories import make_run

pytestmark = [pytest.mark.browser, pytest.mark.worker, pytest.mark.xdist_group("live")]


def scored_runs(world: Any) -> list[Run]:
    """Three of alice's runs with an acc and a loss series and an lr parameter."""

    def make() -> list[Run]:
        runs = []
        for name, acc, lr in (("alpha", 0.5, "0.1"), ("bravo", 0.9, "0.01"), ("charlie", 0.7, "0.001")):
            run = make_run(world.alice.user, world.team_a, display_name=name, arguments=["--lr", lr])
            points = [{"name": "loss", "value": 1 / (s + 1) + acc, "step": s} for s in range(30)]
            points += [{"name": "acc", "value": acc * s / 29, "step": s} for s in range(30)]
            response = world.alice.client.post(f"/api/runs/{run.pk}/metrics/", points, format="json")
            assert response.status_code == 201, response.content
            runs.append(run)
        return runs

    return off_loop(make)


def row_ids(browser: Browser) -> list[int]:
    rows = browser.page.locator("table.runs-table tbody tr[data-run-id]")
    return [int(x) for x in rows.evaluate_all("rows => rows.map(r => r.dataset.runId)")]


def test_choose_a_metric_column_sort_by_it_and_keep_it_after_reload(browser: Browser, world: Any) -> None:
    alpha, bravo, charlie = scored_runs(world)
    page = browser.page
    browser.sign_in("alice")
    browser.goto("/runs")
    page.locator(f'tr[data-run-id="{alpha.pk}"]').wait_for()
    page.get_by_label("Choose columns").click()
    chooser = page.get_by_role("group", name="Columns")
    chooser.get_by_role("group", name="Metrics (latest)").get_by_label("acc").check()
    chooser.get_by_role("group", name="Parameters").get_by_label("lr").check()
    page.keyboard.press("Escape")
    header = page.get_by_role("button", name="Sort by acc")
    header.click()
    expect(page.locator("th[aria-sort='descending']").get_by_role("button", name="Sort by acc")).to_be_visible()
    expect(page.locator("tbody tr").first).to_have_attribute("data-run-id", str(bravo.pk))
    assert row_ids(browser) == [bravo.pk, charlie.pk, alpha.pk]
    cell = page.locator(f'tr[data-run-id="{bravo.pk}"] td[data-column="metrics.acc"]')
    expect(cell).to_have_text("0.9")
    assert "ordering=-metrics.acc" in page.url
    header.click()  # ascending
    expect(page.locator("tbody tr").first).to_have_attribute("data-run-id", str(alpha.pk))
    browser.screenshot("runs-workbench-sorted")

    # The chosen columns are the user's, kept by the server: a fresh page (any browser) has them.
    browser.goto("/runs")
    expect(page.locator(f'tr[data-run-id="{bravo.pk}"] td[data-column="params.lr"]')).to_have_text("0.01")
    page.get_by_label("Metric or parameter condition").fill("acc>0.6")
    page.keyboard.press("Enter")
    expect(page.locator("tbody tr[data-run-id]")).to_have_count(2)
    assert set(row_ids(browser)) == {bravo.pk, charlie.pk}
    assert browser.app_errors() == []


def test_select_two_runs_compare_and_see_both_in_one_charts_legend(browser: Browser, world: Any) -> None:
    alpha, bravo, charlie = scored_runs(world)
    page = browser.page
    browser.sign_in("alice")
    browser.goto("/runs")
    page.get_by_label(f"Select run {alpha.pk}").check()
    page.get_by_label(f"Select run {charlie.pk}").check()
    bar = page.get_by_role("region", name="Selected runs")
    bar.get_by_text("2 selected").wait_for()
    bar.get_by_role("link", name="Compare").click()
    page.get_by_role("heading", name="Compare 2 runs").wait_for()
    legend = page.get_by_test_id("compare-chart-loss").locator(".u-legend")
    expect(legend).to_contain_text(f"#{alpha.pk} alpha")
    expect(legend).to_contain_text(f"#{charlie.pk} charlie")
    expect(page.get_by_test_id("compare-chart-acc").locator(".u-legend")).to_contain_text(f"#{charlie.pk} charlie")
    # Parameters side by side, the differing row marked; parallel coordinates lr → acc.
    params = page.get_by_role("table", name="Parameters by run")
    expect(params.locator("tr[data-differs]")).to_have_count(1)
    expect(params.locator("tr[data-differs] td")).to_have_text(["0.1", "0.001"])
    expect(page.get_by_role("img", name="Parallel coordinates: lr, acc")).to_be_visible()
    browser.screenshot("compare-two-runs")
    assert browser.app_errors() == []

    # Archive from the selection: hidden from the list, shown under "Archived runs".
    browser.goto("/runs")
    page.get_by_label(f"Select run {bravo.pk}").check()
    page.get_by_role("region", name="Selected runs").get_by_role("button", name="Archive").click()
    page.get_by_role("status").get_by_text("1 archived").wait_for()
    expect(page.locator(f'tr[data-run-id="{bravo.pk}"]')).to_have_count(0)
    # The box follows the URL (?archived=true), which a loaded browser may apply a moment
    # after the click: click, then wait for it, rather than check()'s immediate verdict.
    page.get_by_label("Archived runs").click()
    expect(page.get_by_label("Archived runs")).to_be_checked()
    expect(page.locator("tbody tr[data-run-id]")).to_have_count(1)
    assert off_loop(lambda: Run.objects.get(pk=bravo.pk).archived_at is not None)


def test_sign_out_returns_to_the_sign_in_form(browser: Browser, world: Any) -> None:
    scored_runs(world)
    page = browser.page
    browser.sign_in("alice")
    browser.goto("/runs")
    page.locator("tbody tr[data-run-id]").first.wait_for()
    page.get_by_role("button", name="Sign out").click()
    page.get_by_role("heading", name="Sign in").wait_for()
    expect(page.get_by_test_id("current-user")).to_have_count(0)
    expect(page.get_by_text("Authentication credentials were not provided")).to_have_count(0)
    expect(page.locator("tbody tr[data-run-id]")).to_have_count(0)
    # Signing in as someone else shows their (empty) list, never the last user's cached one.
    browser.sign_in("bob")
    page.get_by_text("No runs yet").wait_for()
