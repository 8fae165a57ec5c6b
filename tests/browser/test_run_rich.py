"""The run page's rich views in real Chromium, fed by real runs on the live worker: an
image gallery with a step slider (log_image), a train/val overlay, a number card, a
sortable table (log_table); a failed run's error excerpt linking into its log; a missing
run's page (no websocket); API tokens created and revoked on the settings page."""

from __future__ import annotations

import re
from typing import Any

import pytest

from runs import logstore
from runs.status import Status
from tests.browser.conftest import Browser, off_loop
from tests.executor.helpers import submit, wait_status
from tests.test_run_diagnosis_browse import FAILING

pytestmark = [pytest.mark.browser, pytest.mark.worker, pytest.mark.xdist_group("live")]

# Writes real PNGs (a 2×2 image of one colour each) and logs them as Azure's log_image does.
RICH = r"""
import struct, zlib
from azureml.core import Run

def png(rgb):
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
    raw = b"".join(b"\x00" + bytes(rgb) * 2 for _ in range(2))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 2, 2, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))

run = Run.get_context()
for step, colour in enumerate([(255, 0, 0), (0, 255, 0), (0, 0, 255)]):
    path = f"sample{step}.png"
    open(path, "wb").write(png(colour))
    run.log_image("samples", path=path)
for step in range(5):
    run.log("train_loss", 1.0 / (step + 1), step=step)
    run.log("val_loss", 1.2 / (step + 1), step=step)
run.log("accuracy", 0.9375)
run.log_table("per_class", {"label": ["cat", "dog", "bird"], "f1": [0.5, 0.9, 0.7]})
run.flush()
"""


def test_gallery_slider_overlay_number_card_and_table(browser: Browser, world: Any) -> None:
    made = off_loop(submit, world.alice, {"train.py": RICH})
    run = off_loop(wait_status, made["id"])
    assert run.status == Status.COMPLETED, run.error
    page = browser.page
    browser.sign_in("alice")
    browser.goto(f"/runs/{run.pk}?tab=metrics")

    gallery = page.get_by_role("region", name="Images samples")
    position = gallery.get_by_test_id("gallery-position")
    position.wait_for()
    assert position.inner_text() == "image 3 of 3"  # the newest first
    image = gallery.get_by_test_id("gallery-image")
    page.wait_for_function("img => img.complete && img.naturalWidth === 2", arg=image.element_handle())
    assert image.get_attribute("src").endswith(re.sub("/", "%2F", "images/samples/3.png"))
    gallery.get_by_label("samples step").fill("0")
    assert position.inner_text() == "image 1 of 3"
    page.wait_for_function("img => img.complete && img.naturalWidth === 2", arg=image.element_handle())
    assert "1.png" in image.get_attribute("src")

    overlay = page.get_by_role("region", name="Metric loss")
    assert "train_loss" in overlay.inner_text() and "val_loss" in overlay.inner_text()  # one chart, both legends
    assert overlay.get_by_role("img").get_attribute("aria-label") == "loss by step, 5 points"

    number = page.get_by_role("region", name="Metric accuracy")
    assert number.get_by_test_id("metric-number").inner_text() == "0.9375"
    assert number.locator("canvas").count() == 0  # a number, not a one-dot chart

    table = page.get_by_role("region", name="Metric per_class")
    assert table.get_by_test_id("metric-rows").inner_text().startswith("3 rows")
    labels = table.locator(".metric-table tbody tr td:nth-child(2)")
    table.get_by_role("button", name="f1").click()
    assert [c.inner_text() for c in labels.all()] == ["cat", "bird", "dog"]
    table.get_by_role("button", name="f1 ▲").click()
    assert [c.inner_text() for c in labels.all()] == ["dog", "bird", "cat"]
    browser.screenshot("run-rich-metrics")
    assert browser.app_errors() == []


def test_a_failed_run_shows_its_error_and_links_into_the_log(browser: Browser, world: Any) -> None:
    made = off_loop(submit, world.alice, {"train.py": FAILING})
    run = off_loop(wait_status, made["id"])
    assert run.status == Status.FAILED
    error_seq = off_loop(
        lambda: next(line.seq for line in logstore.lines(run.pk) if line.text.startswith("FileNotFoundError"))
    )
    page = browser.page
    browser.sign_in("alice")
    browser.goto(f"/runs/{run.pk}")
    excerpt = page.get_by_test_id("error-excerpt")
    headline = excerpt.get_by_test_id("error-headline")
    headline.wait_for()
    assert headline.inner_text() == "FileNotFoundError: no such dataset: /data/missing.csv"
    assert "rank 0" in excerpt.inner_text() and "exit code 1" in excerpt.inner_text()
    assert "warming up" in excerpt.get_by_test_id("error-lines").inner_text()
    browser.screenshot("run-failed-error-excerpt")

    excerpt.get_by_test_id("error-log-link").click()
    page.wait_for_url(re.compile(rf"/runs/{run.pk}\?tab=logs&seq={error_seq}$"))
    line = page.locator(f".log-line[data-seq='{error_seq}']")
    line.wait_for()
    assert "log-line-active" in (line.get_attribute("class") or "")
    assert line.is_visible()

    # Wrap and "only matches" on the same log.
    page.get_by_label("Search the log").fill("dataset")
    page.get_by_test_id("log-matches").wait_for()
    page.get_by_label("Only matches").check()
    page.wait_for_function("() => document.querySelectorAll('.log-line').length === 2")
    texts = [el.inner_text() for el in page.locator(".log-line .log-text").all()]
    assert all("dataset" in t for t in texts), texts
    page.get_by_label("Wrap").check()
    page.get_by_label("Timestamps").check()
    page.locator(".log-time").first.wait_for()
    assert browser.app_errors() == []


def test_a_missing_run_says_so_and_opens_no_websocket(browser: Browser, world: Any) -> None:
    page = browser.page
    sockets: list[str] = []
    requests: list[str] = []
    page.on("websocket", lambda ws: sockets.append(ws.url))
    page.on("request", lambda r: requests.append(r.url))
    browser.sign_in("alice")
    browser.goto("/runs/999999")
    page.get_by_test_id("not-found").wait_for()
    assert page.get_by_role("heading", name="Run #999999 not found").is_visible()
    assert "belongs to another team" in page.get_by_test_id("not-found").inner_text()
    page.wait_for_timeout(300)  # a socket or metrics request would have started by now
    assert not [u for u in sockets if "/ws/runs/999999" in u]
    assert not [u for u in requests if "/api/runs/999999/metrics" in u]
    page.get_by_role("link", name="All runs").click()
    page.wait_for_url(re.compile(r"/runs$"))


def test_api_tokens_are_created_and_revoked_on_the_settings_page(browser: Browser, world: Any) -> None:
    from rest_framework.test import APIClient

    page = browser.page
    browser.sign_in("alice")
    page.get_by_role("link", name="Settings").click()
    page.get_by_role("heading", name="Settings").wait_for()
    page.get_by_label("Token name").fill("laptop")
    page.get_by_role("button", name="Create token").click()
    key = page.get_by_test_id("new-token-key").inner_text().strip()
    assert key.startswith("ry_")
    row = page.locator("tr[data-token='laptop']")
    row.wait_for()
    assert key[:10] in row.inner_text()

    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    assert off_loop(client.get, "/api/runs/").status_code == 200
    browser.screenshot("settings-api-tokens")

    row.get_by_role("button", name="Revoke").click()
    row.get_by_role("button", name="Yes, revoke").click()
    row.wait_for(state="detached")
    assert off_loop(client.get, "/api/runs/").status_code == 401
    assert browser.app_errors() == []
