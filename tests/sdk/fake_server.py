"""A tiny stdlib HTTP server standing in for Runyard in offline SDK tests."""

from __future__ import annotations

import base64
import json
import sys
import threading
import time
from array import array
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

Route = Callable[[str, str, bytes], tuple[int, Any]]


@contextmanager
def fake_runyard(route: Route, delay: float = 0.0) -> Iterator[tuple[str, list[tuple[str, str, bytes]]]]:
    """Serve ``route(method, path, body) -> (status, json)``; yields (url, requests seen)."""
    seen: list[tuple[str, str, bytes]] = []

    class Handler(BaseHTTPRequestHandler):
        def _answer(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            seen.append((self.command, self.path, body))
            if delay:
                time.sleep(delay)
            status, payload = route(self.command, self.path, body)
            data = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        do_GET = do_POST = _answer  # noqa: N815

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", seen
    finally:
        server.shutdown()
        server.server_close()


def _unpacked(column: Any) -> Any:
    """A packed column (``{"f64": base64}`` / ``{"i64": base64}``, little-endian) as a list."""
    if not isinstance(column, dict):
        return column
    ((kind, data),) = column.items()
    numbers = array({"f64": "d", "i64": "q"}[kind])
    numbers.frombytes(base64.b64decode(data))
    if sys.byteorder == "big":
        numbers.byteswap()
    return numbers.tolist()


def metric_points(body: bytes) -> list[dict[str, Any]]:
    """The points of a metrics POST body, in either form the server takes: the point
    objects (``{"points": [...]}``) or the SDK's columnar batch (``{"columns": {...}}``),
    read back as point objects (only the keys a point has: no null value, step or payload)."""
    data = json.loads(body)
    if "points" in data:
        return list(data["points"])
    columns = {key: _unpacked(column) for key, column in data["columns"].items()}
    n = len(columns["name"])
    points = []
    for i in range(n):
        point: dict[str, Any] = {"name": columns["name"][i], "kind": columns.get("kind", ["scalar"] * n)[i]}
        for key in ("value", "step", "time", "payload"):
            value = columns.get(key, [None] * n)[i]
            if value is not None:
                point[key] = value
        points.append(point)
    return points
