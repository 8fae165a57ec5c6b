"""Status and metrics messages (``runs.events``): published in order from a background
thread, by a forked child too, and none lost when a process exits."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from channels.layers import get_channel_layer

from runs import events
from tests.conftest import ROOT


class Watcher:
    """A channel subscribed to one group, read from its own event loop."""

    def __init__(self) -> None:
        self.group = f"test.events.{uuid.uuid4().hex}"
        self.layer: Any = get_channel_layer()
        self.loop = asyncio.new_event_loop()
        self.channel = self.loop.run_until_complete(self.layer.new_channel())
        self.loop.run_until_complete(self.layer.group_add(self.group, self.channel))

    def receive(self, count: int) -> list[dict[str, Any]]:
        async def take() -> list[dict[str, Any]]:
            return [await asyncio.wait_for(self.layer.receive(self.channel), 20) for _ in range(count)]

        return self.loop.run_until_complete(take())

    def close(self) -> None:
        self.loop.run_until_complete(self.layer.group_discard(self.group, self.channel))
        self.loop.close()


@pytest.fixture
def watcher() -> Iterator[Watcher]:
    w = Watcher()
    try:
        yield w
    finally:
        w.close()


def test_messages_arrive_in_the_order_they_were_sent(watcher: Watcher) -> None:
    for n in range(100):
        events.send(watcher.group, {"type": "run.status", "n": n})
    assert events.flush()
    assert [m["n"] for m in watcher.receive(100)] == list(range(100))


def test_a_forked_child_publishes_and_flushes_at_pool_shutdown(watcher: Watcher) -> None:
    """Celery's prefork pool forks after the parent may have published, and ends its
    processes with os._exit: the child needs a publisher of its own, and the
    worker_process_shutdown hook must publish what it still holds."""
    from celery.signals import worker_process_shutdown

    import execution.tasks  # noqa: F401 - connects the worker_process_shutdown hook

    events.send(watcher.group, {"type": "run.status", "n": -1})  # the parent's publisher is running
    assert events.flush()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        code = 1
        try:
            for n in range(200):
                events.send(watcher.group, {"type": "run.status", "n": n})
            worker_process_shutdown.send(sender=None, pid=os.getpid(), exitcode=0)
            code = 0
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    assert [m["n"] for m in watcher.receive(201)] == [-1, *range(200)]


def test_messages_still_queued_at_exit_are_published(watcher: Watcher) -> None:
    script = (
        "import django; django.setup()\n"
        "from runs import events\n"
        f"for n in range(300): events.send({watcher.group!r}, {{'type': 'run.status', 'n': n}})\n"
    )
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "config.settings"}
    subprocess.run([sys.executable, "-c", script], cwd=ROOT, env=env, check=True, timeout=120)
    assert [m["n"] for m in watcher.receive(300)] == list(range(300))


def test_a_log_writer_ending_does_not_break_the_publisher(watcher: Watcher) -> None:
    """Each LogWriter publishes from a loop of its own on the process's one channel
    layer; one ending must close its own connections only, not the ones the events
    thread is using at that moment (that lost status messages in a worker)."""
    from runs.logstore import LogWriter

    events.send(watcher.group, {"type": "run.status", "n": -1})
    assert events.flush()  # the publisher's loop holds an open connection from here on
    stored: list[Any] = []
    for n in range(20):
        writer = LogWriter(0, start_seq=0, store=lambda _run, rows: stored.extend(rows), group=watcher.group + ".logs")
        writer.write(0, "stdout", f"line {n}")
        events.send(watcher.group, {"type": "run.status", "n": n})
        writer.close()
    assert events.flush()
    assert [m["n"] for m in watcher.receive(21)] == [-1, *range(20)]
    assert len(stored) == 20
