"""Buffered, batched metric logging that never blocks the training loop.

``run.log()`` only appends a tuple to a bounded deque (thread-safe, O(1), about a
microsecond): no lock, no I/O. A daemon thread per run takes what waits, a batch as soon
as ``batch_size`` points wait or once the oldest waiting point is ``interval`` seconds
old (so a chart lags by at most that much), and encodes it while a second one POSTs the
batch before: one request at a time, so points reach the server in the order they were
logged, with the next body ready when the server answers.

When the server is slow or unreachable the sender keeps its batch and retries with
backoff (0.5 s doubling to 10 s) while points keep queueing. Once ``max_queue`` points
wait, new points are **dropped (drop newest)**: what is queued stays in order and
complete, so the stored series has gaps where points were dropped, never a reordering,
and the oldest points (the start of the outage) are the ones kept. Drops are never
silent: a warning is printed at the first one and at most once a minute while they go
on (the run's log, for a submitted run), the count goes to the server as
the scalar metric ``system/metrics_dropped`` with the next batch (so it is on the run:
its metrics tab, the run list, ``GET /api/runs/<id>/metrics/``), and ``run.metrics_dropped``
holds it in the script. A batch the server refuses (4xx: bad data) is dropped and
counted the same way.

``flush(timeout)`` waits until every point queued before the call is sent (at most
``timeout`` seconds; False if some are still waiting). At interpreter exit (normal
return, ``sys.exit``, an uncaught exception) an ``atexit`` hook drains the queue,
retrying for at most a minute (five seconds when the server was never reached).
"""

from __future__ import annotations

import atexit
import base64
import collections
import json
import math
import os
import queue
import sys
import threading
import time
import weakref
from array import array
from collections.abc import Callable
from datetime import datetime, timezone
from typing import Any

# Not datetime.UTC (3.11): runs may pin Python 3.10, and this module is imported in runs.
UTC = timezone.utc  # noqa: UP017

Point = tuple[str, float | None, int | None, float, str, Any]  # name, value, step, unix time, kind, payload
Sender = Callable[[Any], None]  # takes what the Encoder made of a batch
Encoder = Callable[[list[Point]], Any]  # a batch's points (and the drop count's) → what send takes

DROPPED_METRIC = "system/metrics_dropped"
UNREACHABLE_EXIT_SECONDS = 5.0
BACKOFF_FIRST, BACKOFF_MAX = 0.5, 10.0
FULL_WARNING_EVERY = 60.0  # seconds between "queue full" warnings while drops go on
ENCODE_CHUNK = 500

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


def points_to_api(points: list[Point]) -> list[dict[str, Any]]:
    """The batcher's default encoding: the API's point objects."""
    return [point_to_api(p) for p in points]


def _packed(code: str, column: Any) -> dict[str, str] | None:
    """``{"f64": base64}`` (``code`` "d") or ``{"i64": base64}`` ("q") of a column's numbers as
    little-endian 8-byte values; None when one is not such a number (None, a string, an
    int beyond 64 bits): that column then goes as a JSON array, and the server names any
    bad point in it."""
    try:
        numbers = array(code, column)
    except (TypeError, OverflowError, ValueError):
        return None
    if sys.byteorder == "big":
        numbers.byteswap()
    return {"f64" if code == "d" else "i64": base64.b64encode(numbers.tobytes()).decode("ascii")}


def encode_batch(points: list[Point]) -> bytes:
    """A batch's request body in the columnar form, ``{"columns": {"name": [...], "value":
    {"f64": ...}, "step": {"i64": ...}, "time": {"f64": ...}}}``: what the SDK sends.
    ``value``, ``step`` and ``time`` go packed (base64 of little-endian float64 / int64,
    ``time`` in unix seconds) when every point's is such a number, else as JSON arrays;
    ``step`` is left out when no point has one, ``kind`` and ``payload`` are sent only
    when some point needs them. Against the point objects (``encode_points``) this costs
    the sender no datetime or dict per point, and against JSON arrays of numbers no float
    text per point: ~1 ms a 5000-point batch instead of ~3.7 (times' 17-digit texts were
    half of it), with the GIL held, on the training script's machine; the server decodes
    the arrays in C as well."""
    if not points:
        return b'{"columns": {"name": []}}'
    names, values, steps, times, kinds, payloads = zip(*points, strict=True)
    columns: dict[str, Any] = {"name": names}
    if any(kind != "scalar" for kind in kinds) or any(payload is not None for payload in payloads):
        columns["value"] = values
        columns["step"] = steps
        columns["kind"] = kinds
        columns["payload"] = payloads
    else:
        columns["value"] = _packed("d", values) or values
        if steps.count(None) != len(steps):
            columns["step"] = _packed("q", steps) or steps
    columns["time"] = _packed("d", times) or times
    dumps = json.dumps
    return ('{"columns": {' + ", ".join(f'"{key}": {dumps(column)}' for key, column in columns.items()) + "}}").encode()


def encode_points(points: list[dict[str, Any]]) -> bytes:
    """A batch's request body, ``{"points": [...]}``, encoded ``ENCODE_CHUNK`` points per
    ``json.dumps`` call: one call over a whole batch holds the GIL for tens of
    milliseconds under load, a pause the training loop would feel."""
    parts = [json.dumps(points[i : i + ENCODE_CHUNK])[1:-1] for i in range(0, len(points), ENCODE_CHUNK)]
    return ('{"points": [' + ", ".join(part for part in parts if part) + "]}").encode()


def env_number(name: str, default: float) -> float:
    """A positive number from the environment (the run's tuning knobs), else ``default``."""
    raw = os.environ.get(name, "")
    try:
        value = float(raw)
    except ValueError:
        return default
    return value if value > 0 else default


class MetricBatcher:
    """The bounded queue of one run's metric points and the thread that sends them."""

    def __init__(
        self,
        send: Sender,
        interval: float = 0.2,
        batch_size: int = 5000,
        max_queue: int = 100_000,
        encode: Encoder | None = None,
    ) -> None:
        self._send = send
        self._encode: Encoder = encode or points_to_api
        # The next batch is encoded while the one before is on the wire, so the server's
        # work and ours overlap: one batch waits here at most, so besides the queue at most
        # three batches are held (on the wire, handed over, encoded and waiting to be).
        self._handoff: queue.Queue[tuple[list[Point], int, Any] | None] = queue.Queue(maxsize=1)
        self._sender: threading.Thread | None = None
        self.interval = interval
        self.batch_size = batch_size
        self.max_queue = max(max_queue, batch_size)
        self._queue: collections.deque[Point] = collections.deque()
        self._wake = threading.Event()  # a first point, a full batch, a flush, close
        self._closing_now = threading.Event()  # cuts a backoff pause short at close
        self._cond = threading.Condition()  # guards the counters below and batch taking
        self._thread: threading.Thread | None = None
        self._start_lock = threading.Lock()
        self._taken = 0  # points the sender took off the queue
        self._done = 0  # of those, sent or dropped
        self._flush_target = 0
        self._closing = False
        self._close_deadline = 0.0
        self._gave_up_at_exit = False
        self._final_report_tried = False
        self.sent = 0
        self.dropped = 0  # every point not stored: queue full + refused + given up at exit
        self.dropped_queue_full = 0
        self._reported_dropped = 0  # the last count the server has (system/metrics_dropped)
        self.last_error: str | None = None
        self._warned_nonfinite = False
        self._warned_unreachable = False
        self._last_full_warning = -FULL_WARNING_EVERY
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
        points = self._queue
        waiting = len(points)
        if waiting >= self.max_queue:
            self._drop_newest()
            return
        points.append((name, value, step, time.time(), kind, payload))
        if waiting == 0 or waiting + 1 == self.batch_size:
            if self._thread is None:
                self._start()
            self._wake.set()

    def _drop_newest(self) -> None:
        with self._cond:
            self.dropped += 1
            self.dropped_queue_full += 1
            now = time.monotonic()
            due = now - self._last_full_warning >= FULL_WARNING_EVERY
            if due:
                self._last_full_warning = now
        if due:
            print(
                f"runyard: WARNING: {self.max_queue} metric points are waiting for the server "
                f"({self.last_error or 'it is slow'}); new points are dropped until it catches up "
                f"({self.dropped} so far). "
                f"The count is stored as the metric {DROPPED_METRIC} (and run.metrics_dropped).",
                file=sys.stderr,
                flush=True,
            )

    def _start(self) -> None:
        with self._start_lock:
            if self._thread is None:
                self._sender = threading.Thread(target=self._send_loop, name="runyard-metrics-send", daemon=True)
                self._sender.start()
                self._thread = threading.Thread(target=self._loop, name="runyard-metrics", daemon=True)
                self._thread.start()

    # ---- the encoder and sender threads ------------------------------------------------------
    def _loop(self) -> None:
        try:
            while True:
                batch = self._next_batch()
                if batch is None:
                    return
                dropped = self.dropped
                if dropped > self._reported_dropped:
                    batch_out = [*batch, (DROPPED_METRIC, float(dropped), None, time.time(), "scalar", None)]
                else:
                    batch_out = batch
                self._handoff.put((batch, dropped, self._encode(batch_out)))
        finally:
            self._handoff.put(None)

    def _send_loop(self) -> None:
        while (item := self._handoff.get()) is not None:
            self._deliver(*item)

    def _next_batch(self) -> list[Point] | None:
        """Wait until a batch is due; None when closing and nothing is left to send."""
        points = self._queue
        while True:
            self._wake.clear()  # before looking, so a wake-up in between is not lost
            waiting = len(points)
            if waiting:
                age = time.time() - points[0][3]
                due = self._closing or waiting >= self.batch_size or self._flush_target > self._done
                if due or age >= self.interval:
                    with self._cond:
                        batch = [points.popleft() for _ in range(min(len(points), self.batch_size))]
                        self._taken += len(batch)
                    return batch
                timeout: float | None = self.interval - age
            elif self._closing:
                # Once, a last empty batch carries a drop count the server does not have
                # yet (not when the server could not be reached at exit anyway).
                if self.dropped > self._reported_dropped and not self._final_report_tried:
                    self._final_report_tried = True
                    if not self._gave_up_at_exit:
                        return []
                return None
            else:
                timeout = None
            self._wake.wait(timeout)

    def _deliver(self, batch: list[Point], dropped: int, payload: Any) -> None:
        delay = BACKOFF_FIRST
        started = time.monotonic()
        while True:
            if self._gave_up_at_exit:  # the server is out of reach at exit: no more tries
                self._give_up(batch, f"at exit: {self.last_error}")
                break
            try:
                self._send(payload)
            except Exception as exc:
                self.last_error = str(exc)
                status = getattr(exc, "status", 0)
                if 400 <= status < 500 and status not in (408, 429):
                    self._give_up(batch, f"the server refused them: {exc}")  # retrying will not help
                    break
                if not self._warned_unreachable:
                    # Said at once (in the run's log), not after the retries run out.
                    self._warned_unreachable = True
                    print(f"runyard: cannot send metrics, retrying: {exc}", file=sys.stderr, flush=True)
                if self._closing and self._past_exit_patience(status, started, delay):
                    self._gave_up_at_exit = True
                    self._give_up(batch, f"at exit: {exc}")
                    break
                self._pause(delay)
                delay = min(delay * 2, BACKOFF_MAX)
                continue
            self.sent += len(batch)
            self._reported_dropped = max(self._reported_dropped, dropped)
            break
        with self._cond:
            self._done += len(batch)
            self._cond.notify_all()

    def _past_exit_patience(self, status: int, started: float, delay: float) -> bool:
        now = time.monotonic()
        if now + delay > self._close_deadline:
            return True
        # Never reached: a minute of retries at exit would only keep the run alive after
        # its work is done.
        return not self.sent and status == 0 and now - started + delay > UNREACHABLE_EXIT_SECONDS

    def _pause(self, delay: float) -> None:
        if self._closing:
            time.sleep(max(0.0, min(delay, self._close_deadline - time.monotonic())))
        else:
            self._closing_now.wait(delay)

    def _give_up(self, batch: list[Point], why: str) -> None:
        with self._cond:
            self.dropped += len(batch)
        if batch:
            print(
                f"runyard: WARNING: could not send {len(batch)} metric points, {why}; dropped (see {DROPPED_METRIC})",
                file=sys.stderr,
                flush=True,
            )

    # ---- control ---------------------------------------------------------------------------
    @property
    def pending(self) -> int:
        return len(self._queue)

    def flush(self, timeout: float = 60.0) -> bool:
        """Wait until every point queued so far is sent (or dropped); False if some still
        wait after ``timeout`` seconds (they stay queued)."""
        with self._cond:
            target = self._taken + len(self._queue)
            if self._done >= target:
                return True
            self._flush_target = max(self._flush_target, target)
        if self._thread is None:
            self._start()
        self._wake.set()
        with self._cond:
            return self._cond.wait_for(lambda: self._done >= target, timeout)

    def close(self, timeout: float = 60.0) -> None:
        """Send what is queued (for at most ``timeout`` seconds), then stop the sender."""
        if self._closing:
            return
        self._close_deadline = time.monotonic() + timeout
        self._closing = True
        self._closing_now.set()
        self._wake.set()
        for thread in (self._thread, self._sender):
            if thread is not None and thread is not threading.current_thread():
                # The send itself may hang up to the HTTP timeout past the deadline.
                thread.join(max(0.0, self._close_deadline + 5.0 - time.monotonic()))
        left = len(self._queue)
        if left:
            with self._cond:
                self.dropped += left
            print(f"runyard: WARNING: could not send {left} metric points still queued at exit", file=sys.stderr)
        if self.dropped:
            print(
                f"runyard: WARNING: {self.dropped} metric points of this run were dropped "
                f"({self.dropped_queue_full} because the queue was full); see {DROPPED_METRIC}.",
                file=sys.stderr,
                flush=True,
            )


def _flush_all_at_exit() -> None:
    for batcher in list(_LIVE_BATCHERS):
        try:
            batcher.close()
        except Exception as exc:  # never turn a clean exit into a traceback
            print(f"runyard: flushing metrics at exit failed: {exc}", file=sys.stderr)


atexit.register(_flush_all_at_exit)
