"""The sweep page and the New sweep form in real Chromium, on a real sweep run by the worker."""

from __future__ import annotations

import re
import zipfile
from pathlib import Path
from typing import Any

import pytest

from runs.models import Run
from sweeps.models import Sweep
from tests.browser.conftest import Browser, off_loop
from tests.datasets.webserver import WebFiles
from tests.datasets.webserver import web as web
from tests.sweeps.helpers import GATED, TRAIN, create_sweep, hyperdrive

pytestmark = [pytest.mark.browser, pytest.mark.worker, pytest.mark.xdist_group("live")]


def test_the_sweep_page_shows_children_best_run_and_charts(browser: Browser, world: Any, web: WebFiles) -> None:
    # Child 0 is good and quick; children 1 (poor) and 2 (within the slack) are slow and held
    # until child 0 ended (``GATED``), so Bandit stops child 1 while it runs, whichever
    # order a busy machine started them in.
    space = {"quality": ["choice", [[1.0, 0.1, 0.9]]]}
    policy = {"name": "Bandit", "properties": {"slack_factor": 0.2, "evaluation_interval": 1}}
    made = off_loop(
        create_sweep,
        world.alice,
        hyperdrive(space, max_total_runs=3, max_concurrent_runs=2, policy=policy),
        files={"train.py": GATED},
        arguments=["--epochs", "40", "--pause", "0.5", "--go", web.url("go")],
        display_name="tune-quality",
    )
    assert made.status_code == 201, made.content
    sweep_id = made.json()["id"]
    page = browser.page
    browser.sign_in("alice")
    browser.goto(f"/sweeps/{sweep_id}")
    page.get_by_role("heading", name=re.compile("tune-quality")).wait_for()
    page.get_by_test_id("sweep-config").get_by_text("GRID sampling").wait_for()
    # Live: the table fills in while the sweep runs, and the stopped child says why.
    page.get_by_test_id("sweep-child").nth(1).wait_for(timeout=120_000)
    page.get_by_test_id("sweep-child").nth(0).get_by_text("Completed").wait_for(timeout=240_000)
    web.files["/go"] = b"go"
    page.get_by_test_id("termination").get_by_text("BanditPolicy").wait_for(timeout=120_000)
    page.get_by_text(re.compile(r"Ended: max_total_runs reached")).wait_for(timeout=180_000)
    rows = page.get_by_test_id("sweep-child")
    assert rows.count() == 3
    # After the end the table settles on every child's final status.
    rows.nth(2).get_by_text("Completed").wait_for(timeout=30_000)
    rows.nth(0).get_by_text("Completed").wait_for()
    rows.nth(1).get_by_text("Canceled").wait_for()
    best = page.locator("tr.row-best")
    assert best.count() == 1 and best.get_by_text("best", exact=True).count() == 1
    assert best.locator("td").nth(0).inner_text() == "0"  # quality 1.0
    page.get_by_test_id("best-run").get_by_text("quality=1").wait_for()
    page.get_by_test_id("overlay-chart").locator("canvas").first.wait_for()
    page.get_by_test_id("scatter-point").nth(2).wait_for()
    page.get_by_test_id("parallel-chart").locator("polyline").nth(2).wait_for()
    browser.screenshot("sweep-page")
    stopped = off_loop(lambda: list(Run.objects.filter(parent_id=sweep_id, status="Canceled")))
    assert len(stopped) == 1 and stopped[0].status_reason.startswith("Canceled by BanditPolicy")
    # The parent run's page points here.
    browser.goto(f"/runs/{sweep_id}")
    page.get_by_test_id("sweep-link").get_by_role("link", name="the sweep page").click()
    page.wait_for_url(re.compile(rf"/sweeps/{sweep_id}$"))
    assert browser.app_errors() == []


def test_new_sweep_form_checks_each_distribution_and_starts_a_sweep(
    browser: Browser, world: Any, tmp_path: Path
) -> None:
    archive = tmp_path / "tune.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("train.py", TRAIN)
    page = browser.page
    browser.sign_in("alice")
    browser.goto("/runs/new?sweep=1")
    page.get_by_role("heading", name="New sweep").wait_for()
    page.locator('input[name="snapshot"]').set_input_files(str(archive))
    page.get_by_text("tune.zip").first.wait_for()
    editor = page.get_by_test_id("sweep-editor")
    editor.get_by_label("Parameter 1 name").fill("lr")
    editor.get_by_label("Parameter 1 distribution").select_option("uniform")
    editor.get_by_label("Parameter 1 min_value").fill("0.5")
    editor.get_by_label("Parameter 1 max_value").fill("0.1")
    page.get_by_label("Primary metric").fill("acc")
    page.get_by_role("button", name="Start sweep").click()
    editor.get_by_text("min_value: Must be less than max_value.").wait_for()
    assert page.url.endswith("/runs/new?sweep=1")
    editor.get_by_label("Parameter 1 min_value").fill("0.01")
    editor.get_by_role("button", name="+ Parameter").click()
    editor.get_by_label("Parameter 2 name").fill("bs")
    editor.get_by_label("Parameter 2 distribution").select_option("choice")
    editor.get_by_label("Parameter 2 options").fill("8, 16")
    page.get_by_label("Max total runs").fill("2")
    browser.screenshot("new-sweep")
    page.get_by_role("button", name="Start sweep").click()
    page.wait_for_url(re.compile(r"/sweeps/\d+$"))
    sweep_id = int(page.url.rsplit("/", 1)[1])
    config = off_loop(lambda: Sweep.objects.get(pk=sweep_id).config)
    assert config["hyperparameter_sampling"]["parameter_space"] == {
        "lr": ["uniform", [0.01, 0.1]],
        "bs": ["choice", [[8, 16]]],
    }
    page.get_by_text(re.compile(r"Ended: max_total_runs reached")).wait_for(timeout=180_000)
    assert page.get_by_test_id("sweep-child").count() == 2
    assert browser.app_errors() == []
