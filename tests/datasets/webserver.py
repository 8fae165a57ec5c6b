"""A real HTTP server on 127.0.0.1 (http.server in a thread) serving web-dataset files.

Each file may send an ETag (its content's hash) and Last-Modified, or neither; conditional
GETs are answered 304 when they match. ``bodies[path]`` counts the responses that carried
the body, so a test sees whether a fetch transferred content or was revalidated.
"""

from __future__ import annotations

import hashlib
import threading
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from email.utils import formatdate
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest


@dataclass
class WebFiles:
    files: dict[str, bytes] = field(default_factory=dict)
    redirects: dict[str, str] = field(default_factory=dict)
    validators: bool = True
    bodies: Counter[str] = field(default_factory=Counter)
    not_modified: Counter[str] = field(default_factory=Counter)
    port: int = 0

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}/{path.lstrip('/')}"


def _handler(state: WebFiles) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:  # keep the test output clean
            pass

        def do_GET(self) -> None:
            path = self.path.split("?", 1)[0]
            if path in state.redirects:
                self.send_response(302)
                self.send_header("Location", state.redirects[path])
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            body = state.files.get(path)
            if body is None:
                self.send_error(404, "no such file")
                return
            etag = '"' + hashlib.sha256(body).hexdigest()[:16] + '"'
            if state.validators and self.headers.get("If-None-Match") == etag:
                state.not_modified[path] += 1
                self.send_response(304)
                self.send_header("ETag", etag)
                self.end_headers()
                return
            state.bodies[path] += 1
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            if state.validators:
                self.send_header("ETag", etag)
                self.send_header("Last-Modified", formatdate(1_700_000_000, usegmt=True))
            self.end_headers()
            self.wfile.write(body)

    return Handler


@pytest.fixture
def web() -> Iterator[WebFiles]:
    state = WebFiles()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(state))
    state.port = int(server.server_address[1])
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
