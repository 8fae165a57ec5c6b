"""Buffered, batched metric logging that never slows the training loop.

``run.log()`` only appends a tuple to a deque (thread-safe, O(1), about a microsecond).
A daemon thread wakes every ``interval`` seconds, or as soon as ``batch_size`` points
wait, and POSTs them in batches; a failed POST is retried with backoff and the
points are kept. At interpreter exit (normal return, ``sys.exit``, an uncaught
exception) an ``atexit`` hook drains everything still queued, so nothing is lost.
"""

from __future__ import annotations

import atexit
import collections
import math
import sys
import threading
import time
import weakref
from collections.abc import Callable
from datetime import datetime, timezone
from typing import Any

# Not datetime.UTC (3.11): runs may pin Python 3.10, and this module is imported in runs.
UTC = timezone.utc  # noqa: UP017

Point = tuple[str, float | None, int | None, float, str, Any]  # name, value, step, unix time, kind, payload
Sender = Callable[[list[dict[str, Any]]], None]

_LIVE_BATCHERS: weakref.WeakSet[MetricBatcher] = weakref.WeakSet()


def point_to_api(point: Point) -> dict[str, Any]:
    name, value, step, at, kind, payload = point
    out: dict[str, Any] = {"name": name, "kind": kind, "time": datetime.fromtimestamp(at, UTC).isoformat()}
    if value is not None:
        out["value"] = value
    if step is not None:
        out["step"] = step
    if payload is not None:
        out["payload"] = payload
    return out


UNREACHABLE_EXIT_SECONDS = 5.0


class MetricBatcher:
    """Queue of metric points for one run, sent by a background thread."""

    def __init__(self, send: Sender, interval: float = 1.0, batch_size: int = 5000, max_retries: int = 8) -> None:
        self._send = send
        self.interval = interval
        self.batch_size = batch_size
        self.max_retries = max_retries
        self._queue: collections.deque[Point] = collections.deque()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._send_lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._start_lock = threading.Lock()
        self.sent = 0
        self.dropped = 0
        self.last_error: str | None = None
        self._warned_nonfinite = False
        self._warned_unreachable = False
        self._closing = False
        _LIVE_BATCHERS.add(self)

    # ---- the hot path ------------------------------------------------------------------
    def add(
        self, name: str, value: float | None, step: int | None = None, kind: str = "scalar", payload: Any = None
    ) -> None:
        if value is not None and not math.isfinite(value):
            if not self._warned_nonfinite:
                self._warned_nonfinite = True
                print(
                    f"runyard: metric '{name}' has a non-finite value ({value}); such values are not stored.",
                    file=sys.stderr,
                )
            return
        self._queue.append((name, value, step, time.time(), kind, payload))
        if self._thread is None:
            self._start()
        if len(self._queue) >= self.batch_size:
            self._wake.set()

    def _start(self) -> None:
        with self._start_lock:
            if self._thread is None:
                self._thread = threading.Thread(target=self._loop, name="runyard-metrics", daemon=True)
                self._thread.start()

    # ---- the background side -------------------------------------------------------------
    def _loop(self) -> None:
        while not self._stop.is_set():
            self._wake.wait(self.interval)
            self._wake.clear()
            if self._stop.is_set():
                return
            self._drain(give_up_after=None)

    def _take(self) -> list[Point]:
        batch: list[Point] = []
        while self._queue and len(batch) < self.batch_size:
            batch.append(self._queue.popleft())
        return batch

    def _drain(self, give_up_after: float | None) -> None:
        """Send until the queue is empty; with ``give_up_after`` (seconds), stop retrying by then."""
        deadline = None if give_up_after is None else time.monotonic() + give_up_after
        with self._send_lock:
            while True:
                batch = self._take()
                if not batch:
                    return
                if not self._send_with_retries(batch, deadline):
                    self.dropped += len(batch)
                    print(f"runyard: could not send {len(batch)} metric points: {self.last_error}", file=sys.stderr)

    def _send_with_retries(self, batch: list[Point], deadline: float | None) -> bool:
        payload = [point_to_api(p) for p in batch]
        delay = 0.5
        started = time.monotonic()
        for attempt in range(self.max_retries + 1):
            try:
                self._send(payload)
                self.sent += len(batch)
                return True
            except Exception as exc:
                self.last_error = str(exc)
                status = getattr(exc, "status", 0)
                if 400 <= status < 500 and status not in (408, 429):
                    return False  # the server refuses this data: retrying will not help
                if not self._warned_unreachable:
                    # Said at once (in the run's log), not after the retries run out.
                    self._warned_unreachable = True
                    print(f"runyard: cannot send metrics, retrying: {exc}", file=sys.stderr, flush=True)
                if attempt == self.max_retries or (deadline is not None and time.monotonic() + delay > deadline):
                    return False
                if (
                    self._closing
                    and not self.sent
                    and status == 0
                    and time.monotonic() - started + delay > UNREACHABLE_EXIT_SECONDS
                ):
                    # The server was never reached: a minute of retries at exit would only
                    # keep the run alive after its work is done.
                    return False
                time.sleep(delay)
                delay = min(delay * 2, 10.0)
        return False

    # ---- control ---------------------------------------------------------------------------
    @property
    def pending(self) -> int:
        return len(self._queue)

    def flush(self, timeout: float = 60.0) -> None:
        """Send everything queued now, in the calling thread."""
        self._drain(give_up_after=timeout)

    def close(self, timeout: float = 60.0) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout=1.0)
        self._closing = True
        self._drain(give_up_after=timeout)


def _flush_all_at_exit() -> None:
    for batcher in list(_LIVE_BATCHERS):
        try:
            batcher.close()
        except Exception as exc:  # never turn a clean exit into a traceback
            print(f"runyard: flushing metrics at exit failed: {exc}", file=sys.stderr)


atexit.register(_flush_all_at_exit)
