"""The Compute page's "Test connection" (admins only) in real Chromium."""

from __future__ import annotations

import socket
from typing import Any

import pytest

from compute.models import ComputeTarget
from tests.browser.conftest import Browser, off_loop

pytestmark = [pytest.mark.browser, pytest.mark.worker, pytest.mark.xdist_group("live")]


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_admin_tests_connections_and_sees_warnings(browser: Browser, second_browser: Browser, world: Any) -> None:
    config = {"base_url": f"tcp://127.0.0.1:{closed_port()}", "shm_sise": "1g"}
    made = off_loop(
        world.admin.client.post,
        "/api/compute-targets/",
        {"name": "engine", "kind": "docker", "config": config},
        format="json",
    )
    assert made.status_code == 201, made.content
    page = browser.page
    browser.sign_in("root")
    browser.goto("/compute")
    engine = page.get_by_role("article", name="engine")
    engine.get_by_label("Config warnings of engine").get_by_text("config.shm_sise is not a known key").wait_for()
    engine.get_by_role("button", name="Test connection").click()
    result = engine.get_by_label("Connection test of engine")
    result.get_by_text("A check failed").wait_for()
    result.get_by_text("connection refused (nothing listens there)").wait_for()
    local = page.get_by_role("article", name="local")
    local.get_by_role("button", name="Test connection").click()
    local.get_by_label("Connection test of local").get_by_text("uv", exact=True).wait_for()
    browser.screenshot("compute-test-connection")

    second_browser.sign_in("alice")
    second_browser.goto("/compute")
    second_browser.page.get_by_role("article", name="engine").wait_for()
    assert second_browser.page.get_by_role("button", name="Test connection").count() == 0
    assert second_browser.page.get_by_text("is not a known key").count() == 0
    assert off_loop(ComputeTarget.objects.filter(name="engine").count) == 1
    assert browser.app_errors() == [] and second_browser.app_errors() == []
