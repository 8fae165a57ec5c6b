"""The dashboard end to end in real Chromium: sign in, environments, submitting a run
from a zip, live logs and metrics, cancel, curated read-only, and the audit trail."""

from __future__ import annotations

import re
import zipfile
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect

from compute.models import ComputeTarget
from runs.models import Run
from runs.status import Status
from tests.browser.conftest import Browser, off_loop
from tests.conftest import wait_for
from tests.executor.helpers import submit, wait_status

pytestmark = [pytest.mark.browser, pytest.mark.worker, pytest.mark.xdist_group("live")]

# Posts metrics with urllib and the run's token, so the test depends on the server only
# (not on the in-run SDK, which has its own tests).
TRAIN = """
import json, os, time, urllib.request

def log_metric(name, value, step):
    body = json.dumps({"points": [{"name": name, "value": value, "step": step}]}).encode()
    request = urllib.request.Request(
        f"{os.environ['RUNYARD_URL']}/api/runs/{os.environ['RUNYARD_RUN_ID']}/metrics/",
        data=body,
        headers={"Authorization": f"Token {os.environ['RUNYARD_RUN_TOKEN']}", "Content-Type": "application/json"},
    )
    urllib.request.urlopen(request, timeout=10).read()

print("FOO is", os.environ.get("FOO"), flush=True)
for step in range(8):
    loss = 1.0 / (step + 1)
    print(f"epoch {step} loss {loss:.4f}", flush=True)
    log_metric("loss", loss, step)
    time.sleep(0.6)
os.makedirs("outputs", exist_ok=True)
with open("outputs/model.txt", "w") as f:
    f.write("weights")
print("done training", flush=True)
"""

SLEEPER = """
import time
print("long run started", flush=True)
for i in range(600):
    print(f"still training {i}", flush=True)
    time.sleep(1)
"""


def make_zip(tmp_path: Path) -> Path:
    path = tmp_path / "project.zip"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("train.py", TRAIN)
        archive.writestr("helpers/util.py", "VALUE = 1\n")
    return path


def run_badge(browser: Browser, status: str) -> Any:
    return browser.page.locator(f'h1 .badge[data-status="{status}"]')


def create_environment(browser: Browser) -> None:
    page = browser.page
    browser.goto("/environments/new")
    page.get_by_label("Name", exact=True).fill("alice-env")
    page.get_by_label("Description").fill("Training env for the e2e test")
    page.get_by_role("button", name="+ Variable").click()
    page.get_by_label("Variable 1", exact=True).fill("FOO")
    page.get_by_label("Value 1", exact=True).fill("bar")
    page.get_by_role("button", name="Create environment").click()
    page.get_by_role("heading", name="alice-env").wait_for()

    # Editing registers a new version; the diff between the two shows the change.
    page.get_by_role("button", name="Edit (new version)").click()
    page.get_by_label("Value 1", exact=True).fill("baz")
    page.get_by_label("What changed").fill("FOO is baz now")
    page.get_by_role("button", name="Save new version").click()
    page.get_by_role("button", name="v2").wait_for()
    page.get_by_role("button", name="v2").click()
    page.get_by_label("Compare v1 with v2").check()
    diff = page.locator(".diff")
    diff.get_by_text("FOO=baz").wait_for()
    assert "FOO=bar" in diff.inner_text()
    browser.screenshot("environment-versions")


def test_sign_in_create_environment_submit_and_watch_a_run(browser: Browser, world: Any, tmp_path: Path) -> None:
    page = browser.page
    browser.goto("/")
    page.get_by_role("heading", name="Sign in").wait_for()
    browser.screenshot("sign-in")
    browser.sign_in("alice")
    assert page.get_by_test_id("current-user").inner_text().strip() == "alice"
    assert "Default" in page.get_by_test_id("current-team").inner_text()
    page.get_by_text("No runs yet").wait_for()
    browser.screenshot("runs-empty")

    create_environment(browser)

    browser.goto("/runs/new")
    page.get_by_role("button", name="Submit run").click()
    page.get_by_text("Choose a folder or an archive with your code.").wait_for()  # shown beside the source picker
    page.locator('input[name="snapshot"]').set_input_files(str(make_zip(tmp_path)))
    page.get_by_text("project.zip").first.wait_for()
    assert page.get_by_label("Script", exact=True).input_value() == "train.py"
    page.get_by_label("Environment", exact=True).select_option("alice-env")
    page.get_by_label("Experiment").fill("e2e")
    page.get_by_role("button", name="+ Tag").click()
    page.get_by_label("Tag 1", exact=True).fill("suite")
    page.get_by_label("Value 1", exact=True).fill("browser")
    browser.screenshot("create-run")
    page.get_by_role("button", name="Submit run").click()

    page.wait_for_url(re.compile(r"/runs/\d+\?tab=logs"))
    run_id = int(re.search(r"/runs/(\d+)", page.url).group(1))  # type: ignore[union-attr]
    log = page.get_by_test_id("log-scroll")
    log.get_by_text("epoch 1 loss").wait_for(timeout=90_000)
    # Seen while the script still had seconds of epochs to go: the lines stream in, live.
    assert log.get_by_text("done training").count() == 0
    wait_for(lambda: Run.objects.get(pk=run_id).status == Status.RUNNING, timeout=60, what="Running")
    log.get_by_text("FOO is baz").wait_for()
    browser.screenshot("run-logs-live", full_page=False)

    run_badge(browser, "Completed").wait_for(timeout=90_000)
    log.get_by_text("done training").wait_for()

    page.get_by_role("tab", name=re.compile("Metrics")).click()
    card = page.locator('[data-metric="loss"]')
    card.get_by_text("8 points").wait_for()
    assert card.locator("canvas").count() >= 1
    browser.screenshot("run-metrics")

    page.get_by_role("tab", name="Artifacts").click()
    # The artifacts as a folder tree; a text file previews beside it.
    page.get_by_role("tree", name="Artifacts").get_by_role("button", name=re.compile(r"^model\.txt")).click()
    preview = page.locator("[data-testid='file-preview'][data-path='outputs/model.txt']")
    preview.get_by_test_id("text-preview").get_by_text("weights").wait_for()
    page.get_by_role("tab", name="Overview").click()
    page.get_by_text("Status timeline").wait_for()
    page.locator(".timeline-table").get_by_text("Completed").wait_for()
    browser.screenshot("run-overview")

    browser.goto("/runs")
    row = page.locator(f'tr[data-run-id="{run_id}"]')
    row.locator('[data-status="Completed"]').wait_for()
    assert "suite=browser" in row.inner_text()
    browser.screenshot("runs-list")

    browser.goto("/audit")
    table = page.locator(".audit-table")
    for action in (
        "accounts.user.login",
        "environments.environment.created",
        "environments.environment.updated",
        "runs.run.launched",
    ):
        table.locator(f'tr[data-action="{action}"]').first.wait_for()
    browser.screenshot("audit")
    assert browser.app_errors() == []


def test_queued_run_shows_position_and_a_long_run_is_canceled_from_the_page(browser: Browser, world: Any) -> None:
    ComputeTarget.objects.filter(name="local").update(max_concurrent_runs=1)
    page = browser.page
    browser.sign_in("alice")
    browser.goto("/runs")
    page.get_by_text("No runs yet").wait_for()

    long_run = off_loop(submit, world.alice, {"train.py": SLEEPER}, experiment="long")
    queued = off_loop(submit, world.alice, {"train.py": "print('my turn')\n"}, experiment="long")
    # Both rows appear and move without a reload (the /ws/runs/ feed).
    page.locator(f'tr[data-run-id="{long_run["id"]}"] [data-status="Running"]').wait_for(timeout=60_000)
    queued_badge = page.locator(f'tr[data-run-id="{queued["id"]}"] [data-status="Queued"]')
    queued_badge.filter(has_text="#1").wait_for()
    browser.screenshot("runs-live")

    page.locator(f'tr[data-run-id="{long_run["id"]}"] a').click()
    page.get_by_role("tab", name=re.compile("Logs")).click()
    page.get_by_test_id("log-scroll").get_by_text("long run started").wait_for()
    page.get_by_role("button", name="Cancel run").click()
    page.get_by_role("button", name="Yes, cancel run").click()
    run_badge(browser, "Canceled").wait_for(timeout=60_000)
    browser.screenshot("run-canceled", full_page=False)
    assert wait_status(long_run["id"]).status == Status.CANCELED

    # The queued run gets the freed slot and finishes; the list shows it live.
    browser.goto("/runs")
    page.locator(f'tr[data-run-id="{queued["id"]}"] [data-status="Completed"]').wait_for(timeout=60_000)
    browser.goto("/audit?action=runs.run.cancel")
    page.locator('.audit-table tr[data-action="runs.run.cancel_requested"]').first.wait_for()
    assert browser.app_errors() == []


def test_non_admin_cannot_edit_a_curated_environment(browser: Browser, second_browser: Browser, world: Any) -> None:
    page = browser.page
    browser.sign_in("alice")
    browser.goto("/environments")
    page.get_by_role("link", name=re.compile("Runyard-Python-3.11")).click()
    page.get_by_role("heading", name=re.compile("Runyard-Python-3.11")).wait_for()
    assert page.get_by_role("button", name="Edit (new version)").is_disabled()
    page.get_by_text("Curated environments are read-only").wait_for()
    browser.screenshot("environment-curated-readonly")

    second_browser.sign_in("root")
    second_browser.goto("/environments")
    second_browser.page.get_by_role("link", name=re.compile("Runyard-Python-3.11")).click()
    assert second_browser.page.get_by_role("button", name="Edit (new version)").is_enabled()
    assert browser.app_errors() == [] and second_browser.app_errors() == []


def test_audit_page_filters_by_actor_action_and_object(browser: Browser, world: Any) -> None:
    created = off_loop(
        world.alice.client.post,
        "/api/environments/",
        {"name": "audited", "spec": {"python_version": "3.11"}},
        format="json",
    )
    assert created.status_code == 201, created.content
    run = off_loop(submit, world.alice, {"train.py": "print('hi')\n"}, experiment="audit")
    wait_status(run["id"])
    page = browser.page
    browser.sign_in("root")
    browser.goto("/audit")
    table = page.locator(".audit-table")
    table.locator('tr[data-action="runs.run.launched"]').first.wait_for()

    page.get_by_label("Actor").fill("alice")
    page.get_by_label("Action", exact=True).select_option("environments.")
    table.locator('tr[data-action="environments.environment.created"]').first.wait_for()
    # A locator, not wait_for_function: the page's CSP forbids evaluating strings.
    expect(table.locator('tbody tr[data-action^="runs."]')).to_have_count(0)
    assert all(
        a.startswith("environments.")
        for a in table.locator("tbody tr[data-action]").evaluate_all("rows => rows.map(r => r.dataset.action)")
    )

    page.get_by_label("Action", exact=True).select_option("")
    page.get_by_label("Object type").fill("runs.run")
    page.get_by_label("Object id").fill(str(run["id"]))
    table.locator('tr[data-action="runs.run.launched"]').first.wait_for()
    page.get_by_label("From", exact=True).fill("2000-01-01T00:00")
    page.get_by_label("To", exact=True).fill("2001-01-01T00:00")
    page.get_by_text("No events match these filters").wait_for()
    assert browser.app_errors() == []


DATASET_READER = """
import os, sys
root = sys.argv[1]
for folder, _, files in os.walk(root):
    for name in sorted(files):
        print("found", os.path.relpath(os.path.join(folder, name), root), flush=True)
print("writable copy:", os.access(root, os.W_OK), flush=True)
"""


def test_upload_a_dataset_and_download_it_into_a_run(browser: Browser, world: Any, tmp_path: Path) -> None:
    page = browser.page
    browser.sign_in("alice")
    browser.goto("/datasets")
    page.get_by_text("No datasets yet").wait_for()
    page.get_by_role("link", name="New dataset").click()
    page.get_by_label("Name").fill("digits")
    page.get_by_role("button", name="Create dataset").click()
    page.get_by_role("heading", name="No versions yet").wait_for()
    page.locator('input[name="files"]').set_input_files(
        [
            {"name": "train.csv", "mimeType": "text/csv", "buffer": b"x,y\n1,2\n"},
            {"name": "labels.txt", "mimeType": "text/plain", "buffer": b"one\ntwo\n"},
        ]
    )
    page.get_by_role("button", name="Upload", exact=True).click()
    page.get_by_text("Version 1 registered with 2 files").wait_for()
    page.get_by_role("cell", name="train.csv").wait_for()
    browser.screenshot("datasets")

    archive = tmp_path / "reader.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("read.py", DATASET_READER)
    browser.goto("/runs/new")
    page.locator('input[name="snapshot"]').set_input_files(str(archive))
    page.get_by_text("reader.zip").first.wait_for()
    page.get_by_role("button", name="+ Dataset input").click()
    page.get_by_label("Dataset", exact=True).select_option("digits")
    page.get_by_text("Download (copy)").click()
    page.get_by_role("button", name="Submit run").click()
    page.wait_for_url(re.compile(r"/runs/\d+\?tab=logs"))
    log = page.get_by_test_id("log-scroll")
    log.get_by_text("found train.csv").wait_for(timeout=90_000)
    log.get_by_text("found labels.txt").wait_for()
    run_badge(browser, "Completed").wait_for(timeout=60_000)
    page.get_by_role("tab", name="Overview").click()
    inputs = page.locator("table", has=page.get_by_role("columnheader", name="Path in the run"))
    inputs.get_by_text("digits:1").wait_for()
    assert "download" in inputs.inner_text()
    assert browser.app_errors() == []
