"""The web process keeps its request threads (config.asgi.RequestThreads) instead of
starting and joining one per request, and never hands a request a thread that still runs
another request's work."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

from asgiref.sync import async_to_sync
from django.db import connections

from config.asgi import RequestThreads, SyncChainASGIHandler


def get(handler: SyncChainASGIHandler, path: str) -> tuple[int, bytes]:
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [(b"host", b"testserver")],
        "client": ("127.0.0.1", 40000),
        "server": ("testserver", 80),
    }
    sent: list[dict[str, Any]] = []
    bodies = [{"type": "http.request", "body": b"", "more_body": False}]

    async def receive() -> dict[str, Any]:
        if bodies:
            return bodies.pop()
        await asyncio.Event().wait()  # the client stays connected: Django cancels this wait
        raise AssertionError("unreachable")

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    async_to_sync(handler)(scope, receive, send)
    status = next(m["status"] for m in sent if m["type"] == "http.response.start")
    return status, b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")


def test_requests_reuse_one_thread_and_are_answered(transactional_db: Any) -> None:
    handler = SyncChainASGIHandler()
    seen: set[int] = set()
    try:
        for _ in range(3):
            assert get(handler, "/api/health/") == (200, b'{"status":"ok"}')
            (thread,) = handler.threads._idle
            seen.add(id(thread))
        assert len(seen) == 1  # the same thread served all three
        (thread,) = handler.threads._idle
        assert len(thread._threads) == 1  # one worker thread started, for the first request
    finally:
        for thread in handler.threads._idle:
            thread.submit(connections.close_all).result()
            thread.shutdown()


def test_a_thread_still_running_work_is_not_handed_out_again() -> None:
    threads = RequestThreads(keep=4)
    busy = threads.take()
    release = threading.Event()
    busy.submit(release.wait, 10)
    threads.give(busy)  # its request's work still runs (a client that went away, say)
    assert threads._idle == []
    fresh = threads.take()
    assert fresh is not busy
    assert fresh.submit(lambda: 1).result(timeout=5) == 1
    release.set()
    threads.give(fresh)
    assert threads.take() is fresh  # idle: handed out again
    fresh.shutdown()
    busy.shutdown()


def test_no_more_threads_are_kept_than_asked() -> None:
    threads = RequestThreads(keep=2)
    taken = [threads.take() for _ in range(3)]
    for thread in taken:
        thread.submit(lambda: None).result(timeout=5)
        threads.give(thread)
    assert len(threads._idle) == 2
    for thread in threads._idle:
        thread.shutdown()
