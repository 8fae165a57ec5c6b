"""Messages to a run's websocket group: status changes and metric batches.

Log lines go through ``runs.logstore`` (batched); these are fewer: a status change, or
one message per stored batch of metric points.

``send`` only queues a message: one daemon thread per process publishes the queue in
order on its own long-lived event loop, so every message reuses one Redis connection
pool. (``async_to_sync`` from a thread without a loop, as the worker's are, builds a
new loop and a new connection per message: ~3 ms against ~0.3 ms, paid twice per
status change on the way from claim to ``Popen``.) One queue and one thread per
process keep the messages of a run in the order they were sent; a message sent after
``LogWriter.close()`` returned reaches Redis after that writer's last lines.

A forked child (Celery's prefork pool) starts a publisher of its own: the parent's
thread does not exist there, and the parent's queue may have been locked mid-fork.
``flush`` waits until what was queued so far is published; it runs at interpreter
exit and when a Celery pool process shuts down (billiard ends those with
``os._exit``, which skips ``atexit``).
"""

from __future__ import annotations

import asyncio
import atexit
import logging
import os
import queue
import threading
from collections.abc import Callable
from typing import Any

from channels.layers import get_channel_layer

from runs.models import Run

log = logging.getLogger(__name__)

QUEUE_MESSAGES = 10000
Message = dict[str, Any] | Callable[[], dict[str, Any]]
FLUSH_SECONDS = 5.0


def group_name(run_id: int) -> str:
    return f"run.{run_id}"


def team_group_name(team_id: int) -> str:
    return f"team.{team_id}.runs"


class _Publisher:
    def __init__(self) -> None:
        self.pid = os.getpid()
        # Bounded: with Redis down, each send fails slowly and watchers catch up
        # from the database anyway, so old messages are dropped rather than hoarded.
        self.queue: queue.Queue[tuple[str, Message] | threading.Event] = queue.Queue(maxsize=QUEUE_MESSAGES)
        self.thread = threading.Thread(target=self._run, name="runyard-events", daemon=True)
        self.thread.start()

    def put(self, group: str, message: Message) -> None:
        try:
            self.queue.put_nowait((group, message))
        except queue.Full:
            log.warning("event queue full: dropped a message to %s", group)

    def flush(self, timeout: float) -> bool:
        done = threading.Event()
        try:
            self.queue.put(done, timeout=timeout)
        except queue.Full:
            return False
        return done.wait(timeout)

    def _run(self) -> None:
        loop = asyncio.new_event_loop()
        try:
            while True:
                item = self.queue.get()
                if isinstance(item, threading.Event):
                    item.set()
                    continue
                layer = get_channel_layer()
                if layer is None:
                    continue
                group, message = item
                if callable(message):
                    try:
                        if not loop.run_until_complete(watched(layer, group)):
                            continue  # nobody to build it for
                        message = message()
                    except Exception:
                        log.warning("could not build a message to %s", group, exc_info=True)
                        continue
                for attempt in (1, 2):
                    try:
                        loop.run_until_complete(layer.group_send(group, message))
                        break
                    except Exception:  # a watcher-only feature must never break the run itself
                        # After a Redis restart the first call finds the pooled connection
                        # closed by the server; the second one reconnects.
                        if attempt == 2:
                            log.warning("could not publish to %s", group, exc_info=True)
        finally:
            loop.close()


async def watched(layer: Any, group: str) -> bool:
    """Whether ``group`` may have members, so a lazily built message (a metric batch's text:
    ~9 ms of CPU for 5000 points, a sixth of storing it) is built only for someone.

    Asks the Redis layer for the group's member count (one ZCARD, ~0.1 ms); other layers,
    or a failed look-up, count as watched. No gap for a watcher that joins meanwhile: it
    joins the group before it reads what is stored (``runs.consumers._RunFeed``), and a batch is
    announced after its commit, so a batch skipped here is in that read."""
    key_of = getattr(layer, "_group_key", None)
    connection_of = getattr(layer, "connection", None)
    hash_of = getattr(layer, "consistent_hash", None)
    if key_of is None or connection_of is None or hash_of is None:
        return True
    try:
        return bool(await connection_of(hash_of(group)).zcard(key_of(group)))
    except Exception:  # Redis away: the send below fails and says so
        return True


_publisher: _Publisher | None = None
_lock = threading.Lock()


def _current() -> _Publisher:
    global _publisher
    publisher = _publisher
    if publisher is not None and publisher.pid == os.getpid():
        return publisher
    with _lock:
        if _publisher is None or _publisher.pid != os.getpid():
            _publisher = _Publisher()
        return _publisher


def _forget_after_fork() -> None:
    global _publisher, _lock
    _publisher = None
    # Another thread of the parent may have held it at the moment of the fork.
    _lock = threading.Lock()


os.register_at_fork(after_in_child=_forget_after_fork)


def send(group: str, message: Message) -> None:
    """Publish ``message`` to ``group`` soon, in order with this process's other sends.

    A callable is called on the publisher's thread to build the message: costly text
    (a metric batch's) is then built off the request, while it waits on the database."""
    if get_channel_layer() is None:
        return
    _current().put(group, message)


def flush(timeout: float = FLUSH_SECONDS) -> bool:
    """Wait until everything this process sent so far is published (False: timed out)."""
    publisher = _publisher
    if publisher is None or publisher.pid != os.getpid():
        return True
    return publisher.flush(timeout)


atexit.register(flush)


def status_payload(run: Run) -> dict[str, Any]:
    return {
        "id": run.pk,
        "status": run.status,
        "status_reason": run.status_reason,
        "exit_code": run.exit_code,
        "error": run.error,
        "queued_at": run.queued_at.isoformat() if run.queued_at else None,
        "running_at": run.running_at.isoformat() if run.running_at else None,
        "ended_at": run.ended_at.isoformat() if run.ended_at else None,
        "build": run.build_id,
    }


def status_changed(run: Run, previous: str) -> None:
    payload = {"type": "run.status", "previous": previous, "run": status_payload(run)}
    send(group_name(run.pk), payload)
    send(team_group_name(run.team_id), payload)


def metrics_logged(run_id: int, text: Callable[[], str]) -> None:
    """One stored batch as its websocket "metrics" message text (``runs.metricstore``;
    built by ``text()`` on the publisher's thread): one Redis message per batch, forwarded
    by every watcher as it is."""
    send(group_name(run_id), lambda: {"type": "run.metrics", "text": text()})
