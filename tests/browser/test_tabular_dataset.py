"""A tabular dataset in real Chromium: pick a file, set the parsing options and see the
live preview (and a bad file's error), register it, then the version's preview table and
its profile (computed by the Celery task) with small histograms."""

from __future__ import annotations

from typing import Any

import pytest

from tests.browser.conftest import Browser, off_loop

pytestmark = [pytest.mark.browser, pytest.mark.worker, pytest.mark.xdist_group("live")]

CSV = "city;population;area\nLyon;522969;47.87\nNice;348085;71.92\nLille;236234;34.51\n"


def _dataset(world: Any) -> int:
    made = world.alice.client.post("/api/datasets/", {"name": "cities"}, format="json")
    assert made.status_code == 201, made.content
    return int(made.json()["id"])


def test_tabular_dataset_preview_register_and_profile(browser: Browser, world: Any) -> None:
    dataset_id = off_loop(_dataset, world)
    page = browser.page
    browser.sign_in("alice")
    browser.goto(f"/datasets/{dataset_id}")
    create = page.get_by_role("region", name="New tabular version")
    create.get_by_label("Tabular files").set_input_files(
        [{"name": "cities.csv", "mimeType": "text/csv", "buffer": CSV.encode()}]
    )
    # With ',' the file is one column; the preview follows the separator as it changes.
    preview = create.get_by_role("table", name="Preview")
    preview.get_by_role("columnheader").first.wait_for()
    assert preview.get_by_role("columnheader").count() == 1
    create.get_by_label("Separator").fill(";")
    page.wait_for_function("() => document.querySelectorAll('[aria-label=\"New tabular version\"] th').length === 3")
    headers = preview.get_by_role("columnheader").all_text_contents()
    assert [h.split()[0] for h in headers] == ["city", "population", "area"]
    assert [h.split()[-1] for h in headers] == ["string", "int", "float"]
    assert preview.get_by_role("row").nth(1).get_by_role("cell").all_text_contents() == ["Lyon", "522969", "47.87"]
    browser.screenshot("tabular-live-preview")
    # A short row answers with its file and line.
    create.get_by_label("Tabular files").set_input_files(
        [{"name": "broken.csv", "mimeType": "text/csv", "buffer": b"a;b\n1;2\n3\n"}]
    )
    error = create.get_by_test_id("preview-error")
    error.wait_for()
    assert "broken.csv, line 3: expected 2 fields, found 1" in error.inner_text()
    create.get_by_label("Tabular files").set_input_files(
        [{"name": "cities.csv", "mimeType": "text/csv", "buffer": CSV.encode()}]
    )
    preview.get_by_role("row").nth(3).wait_for()
    create.get_by_role("button", name="Register tabular version").click()
    create.get_by_text("Registered v1.").wait_for()
    # The version's own preview and definition.
    page.get_by_text("First rows of v1").wait_for()
    assert "delimited" in page.get_by_test_id("tabular-definition").inner_text()
    version_table = page.locator("section", has_text="First rows of v1").get_by_role("table", name="Preview")
    version_table.get_by_role("row").nth(3).wait_for()  # the preview loads after its heading
    assert version_table.get_by_role("row").count() == 4
    page.get_by_role("button", name="Compute profile").click()
    page.get_by_test_id("profile-rows").wait_for(timeout=60_000)
    assert page.get_by_test_id("profile-rows").inner_text() == "3 rows"
    profile = page.get_by_role("table", name="Profile")
    assert "522969" in profile.get_by_role("row", name="population").text_content()
    assert page.get_by_role("img", name="population distribution").locator("rect").count() == 20
    browser.screenshot("tabular-profile")
    # The only console error is the broken file's preview answer (400), shown above.
    assert [e for e in browser.app_errors() if "400 (Bad Request)" not in e or "/api/datasets/preview/" not in e] == []
