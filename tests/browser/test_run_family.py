"""A parent run and its child runs in real Chromium: the parent lists its children, a
child links back to its parent, properties show beside tags."""

from __future__ import annotations

import re
from typing import Any

import pytest

from tests.browser.conftest import Browser, off_loop

pytestmark = [pytest.mark.browser, pytest.mark.worker, pytest.mark.xdist_group("live")]


def start(world: Any, **body: Any) -> dict[str, Any]:
    answer = off_loop(world.alice.client.post, "/api/runs/start-logging/", body, format="json")
    assert answer.status_code == 201, answer.content
    return dict(answer.json())


def test_parent_lists_children_and_a_child_leads_back(browser: Browser, world: Any) -> None:
    parent = start(world, experiment="family", display_name="ridge-sweep", properties={"algorithm": "ridge"})
    first = start(world, parent=parent["id"], display_name="fold-1", tags={"fold": "1"})
    second = start(world, parent=parent["id"], display_name="fold-2", tags={"fold": "2"})
    done = off_loop(
        world.alice.client.post, f"/api/runs/{first['id']}/complete/", {"status": "Completed"}, format="json"
    )
    assert done.status_code == 200, done.content

    page = browser.page
    browser.sign_in("alice")
    browser.goto(f"/runs/{parent['id']}")
    children = page.get_by_role("region", name="Child runs")
    children.get_by_role("heading", name="Child runs (2)").wait_for()
    rows = children.get_by_test_id("child-run")
    assert rows.count() == 2
    assert "fold-1" in rows.nth(0).inner_text() and "Completed" in rows.nth(0).inner_text()
    assert "fold-2" in rows.nth(1).inner_text() and "Running" in rows.nth(1).inner_text()
    assert page.get_by_test_id("run-properties").inner_text() == "algorithm=ridge"
    assert page.get_by_test_id("parent-crumb").count() == 0  # a top-level run
    browser.screenshot("run-parent-with-children")

    rows.nth(1).get_by_role("link", name=f"#{second['id']}").click()
    page.wait_for_url(re.compile(rf"/runs/{second['id']}$"))
    page.get_by_role("heading", name=re.compile("fold-2")).wait_for()
    assert page.get_by_test_id("parent-run").inner_text() == f"#{parent['id']}"
    assert page.get_by_role("region", name="Child runs").count() == 0
    browser.screenshot("run-child-links-to-parent")

    page.get_by_test_id("parent-crumb").click()
    page.wait_for_url(re.compile(rf"/runs/{parent['id']}$"))
    page.get_by_role("heading", name=re.compile("ridge-sweep")).wait_for()
    page.get_by_role("region", name="Child runs").get_by_test_id("child-run").nth(1).wait_for()

    browser.goto(f"/runs?parent={parent['id']}")
    page.get_by_test_id("parent-filter").wait_for()
    listed = page.locator("tr[data-run-id]")
    listed.nth(1).wait_for()
    assert sorted(int(r.get_attribute("data-run-id")) for r in listed.all()) == [first["id"], second["id"]]
    assert browser.app_errors() == []
