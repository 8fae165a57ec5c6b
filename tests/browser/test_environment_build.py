"""Build now on the environment page: the build card goes to building, then succeeded,
without a reload. The build downloads its one package from a local server the test
holds, so "building" lasts exactly until the test lets it go."""

from __future__ import annotations

import base64
import hashlib
import io
import threading
import uuid
import zipfile
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from playwright.sync_api import expect

from environments.models import Environment
from tests.browser.conftest import Browser, off_loop

pytestmark = [pytest.mark.browser, pytest.mark.worker, pytest.mark.xdist_group("live")]


def tiny_wheel(name: str) -> tuple[str, bytes]:
    """A valid pure-Python wheel of one module."""
    files = {
        f"{name}.py": b"VALUE = 1\n",
        f"{name}-1.0.dist-info/METADATA": f"Metadata-Version: 2.1\nName: {name}\nVersion: 1.0\n".encode(),
        f"{name}-1.0.dist-info/WHEEL": b"Wheel-Version: 1.0\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
    }
    record = []
    for path, data in files.items():
        digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
        record.append(f"{path},sha256={digest},{len(data)}")
    record.append(f"{name}-1.0.dist-info/RECORD,,")
    files[f"{name}-1.0.dist-info/RECORD"] = ("\n".join(record) + "\n").encode()
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        for path, data in files.items():
            archive.writestr(path, data)
    return f"{name}-1.0-py3-none-any.whl", out.getvalue()


class HeldServer:
    """Serves one wheel, but only once ``release`` is set."""

    def __init__(self, filename: str, data: bytes) -> None:
        self.release = threading.Event()
        self.asked = threading.Event()
        held = self

        class Handler(BaseHTTPRequestHandler):
            def do_HEAD(self) -> None:
                # uv asks first whether ranges work; no Accept-Ranges: it downloads the whole file.
                self.headers_only()

            def do_GET(self) -> None:
                held.asked.set()
                held.release.wait(timeout=120)
                self.headers_only()
                self.wfile.write(data)

            def headers_only(self) -> None:
                self.send_response(200)
                self.send_header("Content-Type", "application/octet-stream")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/{filename}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> HeldServer:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release.set()
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def held_wheel() -> Iterator[tuple[str, HeldServer]]:
    name = f"ryheld{uuid.uuid4().hex[:10]}"
    filename, data = tiny_wheel(name)
    with HeldServer(filename, data) as server:
        yield name, server


def test_build_now_shows_building_then_succeeded_without_a_reload(
    browser: Browser, world: Any, held_wheel: tuple[str, HeldServer]
) -> None:
    name, server = held_wheel
    spec = {"pip_requirements": [f"{name} @ {server.url}"]}
    made = off_loop(world.alice.client.post, "/api/environments/", {"name": "built-here", "spec": spec}, format="json")
    assert made.status_code == 201, made.content
    env_id = off_loop(lambda: Environment.objects.get(name="built-here").pk)

    page = browser.page
    browser.sign_in("alice")
    browser.goto(f"/environments/{env_id}")
    card = page.get_by_role("region", name="Build")
    expect(card.get_by_text("Not built yet")).to_be_visible()
    page.evaluate("window.__sameDocument = true")

    card.get_by_role("button", name="Build now").click()
    expect(card.locator(".badge", has_text="building")).to_be_visible(timeout=60_000)
    assert server.asked.wait(timeout=60), "the build never asked for its package"
    expect(card.get_by_role("button", name="Build now")).to_be_disabled()
    browser.screenshot("environment-build-running")

    server.release.set()
    expect(card.locator(".badge", has_text="succeeded")).to_be_visible(timeout=120_000)
    expect(card.get_by_label("Build log")).to_contain_text("Environment ready")
    expect(card.get_by_role("button", name="Build now")).to_be_enabled()
    assert page.evaluate("window.__sameDocument") is True  # no reload happened
    browser.screenshot("environment-build-done")
    assert browser.app_errors() == []
