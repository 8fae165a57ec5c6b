"""Allowed package indexes in real Chromium: an admin allows one (its password never
shown again), a member selects it in the environment editor, and an index that is not
allowed is refused under the pip requirements field."""

from __future__ import annotations

import pytest

from environments.models import Environment, PackageIndex
from tests.browser.conftest import Browser, off_loop

pytestmark = [pytest.mark.browser, pytest.mark.worker, pytest.mark.xdist_group("live")]


def test_admin_allows_an_index_and_a_member_selects_it(browser: Browser, second_browser: Browser) -> None:
    page = browser.page
    browser.sign_in("root")
    browser.goto("/package-indexes")
    page.get_by_role("cell", name="pytorch-cpu", exact=True).wait_for()
    form = page.get_by_role("form", name="Allow a package index")
    form.get_by_label("Name", exact=True).fill("corp")
    form.get_by_label("URL", exact=True).fill("https://pypi.corp.example/simple")
    form.get_by_label("Username").fill("bot")
    form.get_by_label("Password", exact=True).fill("br0wser-s3cret")
    form.get_by_role("button", name="Allow index").click()
    row = page.get_by_role("row").filter(has_text="corp")
    row.get_by_text("password set").wait_for()
    assert "br0wser-s3cret" not in page.content()
    assert off_loop(lambda: PackageIndex.objects.get(name="corp").password) == "br0wser-s3cret"
    browser.screenshot("package-indexes")

    member = second_browser.page
    second_browser.sign_in("alice")
    second_browser.goto("/package-indexes")
    member.get_by_role("cell", name="corp", exact=True).wait_for()
    assert member.get_by_role("form", name="Allow a package index").count() == 0

    second_browser.goto("/environments/new")
    editor = member.get_by_role("form", name="New environment")
    editor.get_by_label("Name", exact=True).fill("browser-indexed")
    editor.get_by_label("pip requirements").fill("six\n--extra-index-url https://evil.example/simple")
    editor.get_by_label("Use package index corp").check()
    editor.get_by_role("button", name="Create environment").click()
    editor.get_by_text("https://evil.example/simple is not an allowed package index").wait_for()

    editor.get_by_label("pip requirements").fill("six")
    editor.get_by_role("button", name="Create environment").click()
    member.get_by_role("heading", name="browser-indexed").wait_for()
    member.get_by_text("Package indexes").first.wait_for()
    spec = off_loop(lambda: Environment.objects.get(name="browser-indexed").latest_version().spec)
    assert spec["package_indexes"] == ["corp"]
    refused = "status of 400 (Bad Request) at " + second_browser.base_url + "/api/environments/"
    assert browser.app_errors() == [] and [e for e in second_browser.app_errors() if refused not in e] == []
