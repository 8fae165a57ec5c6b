"""Real Chromium (the system's, never a downloaded one) driving the built web app
against the live stack (uvicorn + a real Celery worker) from tests/conftest.py.

Screenshots of the main pages go to test-artifacts/screenshots/, which CI keeps."""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import pytest

ROOT = Path(__file__).resolve().parents[2]
SHOTS = ROOT / "test-artifacts" / "screenshots"
T = TypeVar("T")
CHROMIUM = os.environ.get("RUNYARD_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"

# The browser's own noise, not the app's: the sign-in page asks "who am I?" and a
# signed-out answer is a 401 that Chromium logs as a failed resource.
EXPECTED_CONSOLE = ("/api/auth/session/", "status of 401")


@dataclass
class Browser:
    """A page plus what it logged, so a test can assert the app printed no errors."""

    page: Any
    base_url: str
    console_errors: list[str] = field(default_factory=list)

    def goto(self, path: str) -> None:
        self.page.goto(self.base_url + path)

    def sign_in(self, username: str) -> None:
        self.goto("/")
        self.page.get_by_label("Username").fill(username)
        self.page.get_by_label("Password").fill(f"{username}-pw-123!")
        self.page.get_by_role("button", name="Sign in").click()
        self.page.get_by_test_id("current-user").wait_for()

    def sign_out(self) -> None:
        self.page.get_by_role("button", name="Sign out").click()
        self.page.get_by_role("heading", name="Sign in").wait_for()

    def screenshot(self, name: str, full_page: bool = True) -> Path:
        SHOTS.mkdir(parents=True, exist_ok=True)
        path = SHOTS / f"{name}.png"
        if full_page:
            # A whole-page capture renders the sticky sidebar mid-page; pin it to the top as a reader sees it.
            self.page.add_style_tag(content=".sidebar { position: static; }")
        self.page.screenshot(path=str(path), full_page=full_page)
        shown = path.relative_to(ROOT)
        print(f"screenshot: {shown}")
        # Worker output is hidden under pytest-xdist: an index beside the pictures names them all.
        with open(SHOTS / "index.txt", "a") as index:
            index.write(f"{shown}\n")
        return path

    def app_errors(self) -> list[str]:
        return [e for e in self.console_errors if not all(part in e for part in EXPECTED_CONSOLE)]


@pytest.fixture(scope="session", autouse=True)
def _fresh_screenshot_index() -> None:
    (SHOTS / "index.txt").unlink(missing_ok=True)


def pytest_terminal_summary(terminalreporter: Any) -> None:
    """Without xdist this conftest is loaded by the reporting process: list the screenshots."""
    index = SHOTS / "index.txt"
    if index.exists():
        terminalreporter.write_line(f"browser screenshots (listed in {index.relative_to(ROOT)}):")
        for line in sorted(set(index.read_text().split())):
            terminalreporter.write_line(f"  {line}")


def off_loop(fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """Runs in-process API calls on another thread: Playwright's event loop lives on this
    one, and the API publishes to Channels through async_to_sync, which refuses a thread
    with a running loop."""
    from django.db import connections

    def call() -> T:
        try:
            return fn(*args, **kwargs)
        finally:
            connections.close_all()  # the thread's own connection, so a flush is never blocked

    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(call).result()


def _check_prerequisites() -> None:
    if not Path(CHROMIUM).exists():
        pytest.skip(f"no system Chromium at {CHROMIUM} (apt-get install chromium)")
    if not (ROOT / "frontend" / "dist" / "index.html").exists():
        pytest.fail("the web app is not built: run `make frontend` (make test does it first)")


@pytest.fixture
def chromium(live: Any, world: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """A Chromium per test, started after the database is ready and stopped before it is
    flushed: Playwright's sync API keeps an event loop on this thread while it runs, and
    Django refuses ORM calls on a thread with a running loop unless told otherwise."""
    _check_prerequisites()
    from playwright.sync_api import sync_playwright

    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    playwright = sync_playwright().start()
    try:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, args=["--no-sandbox", "--disable-background-networking", "--disable-gpu"]
        )
        yield browser
        browser.close()
    finally:
        playwright.stop()


def _open(chromium: Any, live: Any) -> Browser:
    context = chromium.new_context(viewport={"width": 1400, "height": 900}, accept_downloads=True)
    context.set_default_timeout(20_000)
    page = context.new_page()
    browser = Browser(page, live.url)
    page.on(
        "console",
        lambda msg: (
            browser.console_errors.append(f"{msg.text} at {msg.location.get('url', '')}")
            if msg.type == "error"
            else None
        ),
    )
    page.on("pageerror", lambda exc: browser.console_errors.append(f"uncaught: {exc}"))
    return browser


@pytest.fixture
def browser(chromium: Any, live: Any) -> Iterator[Browser]:
    opened = _open(chromium, live)
    yield opened
    opened.page.context.close()


@pytest.fixture
def second_browser(chromium: Any, live: Any) -> Iterator[Browser]:
    """Another person's browser (separate cookies)."""
    opened = _open(chromium, live)
    yield opened
    opened.page.context.close()
