"""The model registry in real Chromium: register a model from a run's Artifacts tab, see
its version page (files with a JSON preview, lineage, the run's metrics) and the Models page."""

from __future__ import annotations

import io
from typing import Any

import pytest

from runs import metricstore
from tests.browser.conftest import Browser, off_loop
from tests.factories import make_run

pytestmark = [pytest.mark.browser, pytest.mark.worker, pytest.mark.xdist_group("live")]


def _run_with_artifacts(world: Any) -> int:
    run = make_run(world.alice.user, world.team_a, status="Completed")
    for path, content in {
        "outputs/model/config.json": '{"layers": 3, "activation": "relu"}',
        "outputs/model/weights.bin": "\0\1\2\3",
        "outputs/log.txt": "trained",
    }.items():
        part = io.BytesIO(content.encode())
        part.name = "f"
        answer = world.alice.client.post(f"/api/runs/{run.pk}/artifacts/", {"file": part, "name": path})
        assert answer.status_code == 201, answer.content
    metricstore.store(
        run,
        [{"name": "loss", "value": 1.0 / (step + 1), "step": step} for step in range(20)]
        + [{"name": "accuracy", "value": 0.93}],
    )
    return int(run.pk)


def test_register_from_artifacts_then_browse_models(browser: Browser, world: Any) -> None:
    run_id = off_loop(_run_with_artifacts, world)
    page = browser.page
    browser.sign_in("alice")
    browser.goto(f"/runs/{run_id}?tab=artifacts")
    page.get_by_role("button", name="Register model").click()
    form = page.get_by_role("form", name="Register model")
    form.get_by_label("Model path").select_option("outputs/model/")
    assert form.get_by_label("Model name").input_value() == "model"
    form.get_by_label("Model name").fill("browser-cnn")
    form.get_by_label("Framework", exact=True).select_option("PyTorch")
    form.get_by_label("Framework version").fill("2.3")
    form.get_by_role("button", name="Add tag").click()
    form.get_by_label("Tag 1", exact=True).fill("stage")
    form.get_by_label("Value 1", exact=True).fill("candidate")
    form.get_by_role("button", name="Register model").click()
    page.get_by_role("status").get_by_role("link", name="browser-cnn version 1").click()

    # The version page: lineage links back to the run, the JSON file is previewed, metrics charted.
    page.get_by_role("heading", name="browser-cnn v1").wait_for()
    lineage = page.get_by_role("region", name="Lineage")
    assert lineage.get_by_role("link", name=f"run #{run_id} (exp)").get_attribute("href") == f"/runs/{run_id}"
    lineage.get_by_role("link", name="Runyard-Python-3.11:1").wait_for()
    preview = page.get_by_test_id("file-preview")
    preview.get_by_text('"activation": "relu"').wait_for()
    metrics = page.get_by_test_id("model-metrics")
    metrics.get_by_text("0.93").wait_for()
    page.get_by_role("region", name=f"Metrics of run #{run_id} at registration").locator("canvas").first.wait_for()
    page.get_by_test_id("model-tags").get_by_text("stage=candidate").wait_for()
    browser.screenshot("model-version")

    # A second version from the same run; the Models page shows the latest and who made it.
    second = off_loop(
        world.alice.client.post,
        f"/api/runs/{run_id}/register-model/",
        {"model_name": "browser-cnn", "model_path": "outputs/model", "tags": {"stage": "prod"}},
        format="json",
    )
    assert second.status_code == 201, second.content
    browser.goto("/models")
    row = page.get_by_test_id("models-table").get_by_role("row").filter(has_text="browser-cnn")
    row.get_by_text("v2").wait_for()
    row.get_by_text("stage=prod").wait_for()
    row.get_by_text("by alice").wait_for()
    row.get_by_text("2 versions · team default").wait_for()
    browser.screenshot("models")
    row.get_by_role("link", name="browser-cnn").click()
    page.get_by_role("heading", name="browser-cnn v2").wait_for()
    page.get_by_role("navigation", name="Versions").get_by_role("link", name="v1").wait_for()

    # The run page lists what it produced.
    browser.goto(f"/runs/{run_id}")
    produced = page.get_by_test_id("run-models")
    produced.get_by_role("link", name="browser-cnn v2").wait_for()
    produced.get_by_role("link", name="browser-cnn v1").wait_for()
    assert browser.app_errors() == []
