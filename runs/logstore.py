"""Run log storage and live publishing.

One ``LogWriter`` per run lives in the process that executes it, so it alone assigns
sequence numbers: they are gapless and ordered. Readers hand it lines through a
bounded buffer (a rank that prints faster than we store blocks on its own pipe, which
bounds memory). A pipe reader wraps the lines of one read in ``chunk()``: they reach
the writer as one item with one timestamp, which is what makes 50k+ lines/s cheap
(a lock, a timestamp and a queue item per line cost more than storing the line).
A flusher thread takes what is waiting, up to ``BATCH_LINES`` lines or
``BATCH_SECONDS`` after the first, stores the batch in one statement (COPY on
PostgreSQL, one ``executemany`` elsewhere), advances ``Run.log_seq`` and then
publishes the same batch, serialized once, to the run's websocket group. Storing
before publishing is what lets a watcher catch up from the database and switch to
live lines without a gap.
"""

from __future__ import annotations

import asyncio
import json
import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from channels.layers import get_channel_layer
from django.conf import settings
from django.db import close_old_connections, connection, transaction
from django.db.models.constants import OnConflict
from django.utils import timezone

from config.masking import NO_MASK, Masker
from runs.events import group_name
from runs.models import LogLine, Run

log = logging.getLogger(__name__)

BATCH_LINES = 2000
BATCH_SECONDS = 0.005
QUEUE_LINES = 20000
SYSTEM_RANK = -1

# The live "logs" websocket message is built here once per batch and forwarded as text
# by every watcher's consumer; the consumers splice several batches' bodies together.
LOGS_PREFIX = '{"type": "logs", "lines": ['
LOGS_SUFFIX = "]}"

Line = tuple[int, str, str]  # rank, stream, text
Row = tuple[int, int, str, str, datetime]  # seq, rank, stream, text, at


@dataclass(slots=True)
class Pending:
    """A numbered line as handed to a custom ``store`` callback."""

    rank: int
    stream: str
    text: str
    at: datetime


def clip(text: str) -> str:
    limit = int(settings.RUNYARD["LOG_LINE_MAX_CHARS"])
    if len(text) <= limit:
        return text
    return text[:limit] + f" …[{len(text) - limit} more characters cut]"


class _Handover(threading.local):
    pending: dict[LogWriter, list[Line]] | None = None


_handover = _Handover()


@contextmanager
def chunk() -> Iterator[None]:
    """Lines this thread writes inside the block reach each writer as one item, stamped
    once (when the block starts: right after the read that produced them)."""
    if _handover.pending is not None:  # nested: the outer block hands over
        yield
        return
    at = timezone.now()
    pending: dict[LogWriter, list[Line]] = {}
    _handover.pending = pending
    try:
        yield
    finally:
        # Also when a sink raised halfway: what was written is not lost.
        _handover.pending = None
        for writer, lines in pending.items():
            writer._put(at, lines)


class LogWriter:
    """Numbers, stores and publishes one run's log lines (thread-safe ``write``)."""

    def __init__(
        self,
        run_id: int,
        *,
        start_seq: int | None = None,
        store: Callable[[int, list[tuple[int, Pending]]], None] | None = None,
        group: str | None = None,
        mask: Masker = NO_MASK,
    ) -> None:
        self.run_id = run_id
        # Secret values (and their encodings) become *** before a line is stored or
        # published; the flusher applies it, once per line, off the readers' threads.
        self.mask = mask
        self.group = group or group_name(run_id)
        self._custom_store = store
        self._limit = int(settings.RUNYARD["LOG_LINE_MAX_CHARS"])
        self._items: deque[tuple[datetime, list[Line]]] = deque()
        self._waiting = 0  # lines in _items
        self._cond = threading.Condition(threading.Lock())
        self._seq = start_seq if start_seq is not None else _last_seq(run_id)
        self._closing = False
        self._closed = False
        self._thread = threading.Thread(target=self._loop, name=f"log-writer-{run_id}", daemon=True)
        self._thread.start()

    @property
    def last_seq(self) -> int:
        return self._seq

    def write(self, rank: int, stream: str, text: str) -> None:
        if len(text) > self._limit:
            text = clip(text)
        pending = _handover.pending
        if pending is None:
            self._put(timezone.now(), [(rank, stream, text)])
            return
        lines = pending.get(self)
        if lines is None:
            lines = pending[self] = []
        lines.append((rank, stream, text))

    def system(self, text: str) -> None:
        """A line from Runyard itself (preparing, building, stopping …)."""
        self.write(SYSTEM_RANK, LogLine.Stream.SYSTEM, text)

    def close(self) -> None:
        """Flush everything written so far and stop the flusher."""
        if self._closed:
            return
        self._closed = True
        with self._cond:
            self._closing = True
            self._cond.notify_all()
        self._thread.join()

    def _put(self, at: datetime, lines: list[Line]) -> None:
        with self._cond:
            # An empty buffer always takes the item, so one huge chunk cannot wait forever;
            # after close nobody drains, so do not wait either.
            while self._waiting >= QUEUE_LINES and self._items and not self._closing:
                self._cond.wait()
            self._items.append((at, lines))
            self._waiting += len(lines)
            self._cond.notify_all()

    def _take(self) -> list[tuple[datetime, list[Line]]] | None:
        """The next batch: waits for a first item, then up to BATCH_SECONDS for more."""
        with self._cond:
            while not self._items:
                if self._closing:
                    return None
                self._cond.wait()
            deadline = time.monotonic() + BATCH_SECONDS
            while self._waiting < BATCH_LINES and not self._closing:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                self._cond.wait(remaining)
            taken: list[tuple[datetime, list[Line]]] = []
            count = 0
            while self._items and count < BATCH_LINES:
                item = self._items.popleft()
                taken.append(item)
                count += len(item[1])
            self._waiting -= count
            self._cond.notify_all()
            return taken

    def _loop(self) -> None:
        loop = asyncio.new_event_loop()
        layer = get_channel_layer()
        try:
            while (taken := self._take()) is not None:
                rows: list[Row] = []
                seq = self._seq
                mask = self.mask
                for at, lines in taken:
                    for rank, stream, text in lines:
                        seq += 1
                        rows.append((seq, rank, stream, mask(text) if mask else text, at))
                self._seq = seq
                self._flush(rows, loop, layer)
        finally:
            # Closing the loop closes the channel layer's connections of this loop only
            # (channels_redis wraps loop.close). The layer's close_pools() would close
            # every loop's, including those other threads of this process are using.
            loop.close()
            connection.close()

    def _store(self, rows: list[Row], attempt: int) -> None:
        if self._custom_store is None:
            _store_run_lines(self.run_id, rows, copy=attempt == 0)
        else:
            self._custom_store(self.run_id, [(seq, Pending(r, s, t, at)) for seq, r, s, t, at in rows])

    def _flush(self, rows: list[Row], loop: asyncio.AbstractEventLoop, layer: Any) -> None:
        for attempt in range(5):
            try:
                self._store(rows, attempt)
                break
            except Exception:
                log.warning("storing log lines of run %s failed (attempt %s)", self.run_id, attempt + 1, exc_info=True)
                close_old_connections()
                connection.close()
                time.sleep(0.2 * (attempt + 1))
        if layer is None:
            return
        message = {"type": "run.logs", "first": rows[0][0], "last": rows[-1][0], "text": serialize(rows)}
        try:
            loop.run_until_complete(layer.group_send(self.group, message))
        except Exception:  # watchers catch up from the database
            log.debug("publishing log lines of run %s failed", self.run_id, exc_info=True)


def serialize(rows: list[Row]) -> str:
    """The websocket "logs" message of these rows, as ``send_json`` would encode it."""
    stamps: dict[datetime, str] = {}
    lines = []
    for seq, rank, stream, text, at in rows:
        stamp = stamps.get(at)
        if stamp is None:
            stamp = stamps[at] = at.isoformat()
        lines.append({"seq": seq, "rank": rank, "stream": stream, "text": text, "at": stamp})
    return logs_message(lines)


def logs_message(lines: list[dict[str, Any]]) -> str:
    """A "logs" websocket message, built around the constants the consumers cut off
    when they splice batches."""
    return LOGS_PREFIX + json.dumps(lines)[1:-1] + LOGS_SUFFIX


def _last_seq(run_id: int) -> int:
    return Run.objects.filter(pk=run_id).values_list("log_seq", flat=True).first() or 0


def _store_run_lines(run_id: int, rows: list[Row], *, copy: bool = True) -> None:
    """Insert ``rows`` and advance ``Run.log_seq``, in one transaction.

    The ORM's ``bulk_create`` costs ~5x more CPU per line than this (model instances,
    per-field preparation). COPY does not take ON CONFLICT, so it is used only on a first
    attempt: a retry after a commit whose success was not reported must skip the rows
    already there.
    """
    meta = LogLine._meta
    qn = connection.ops.quote_name
    column = {field.name: str(field.column) for field in meta.concrete_fields}
    columns = ", ".join(qn(column[name]) for name in ("run", "seq", "rank", "stream", "text", "at"))
    table = qn(meta.db_table)
    adapt = connection.ops.adapt_datetimefield_value
    stamps: dict[datetime, Any] = {}
    params = []
    for seq, rank, stream, text, at in rows:
        stamp = stamps.get(at)
        if stamp is None:
            stamp = stamps[at] = adapt(at)
        params.append((run_id, seq, rank, stream, text, stamp))
    last = rows[-1][0]
    with transaction.atomic(), connection.cursor() as cursor:
        if copy and connection.vendor == "postgresql":
            with cursor.copy(f"COPY {table} ({columns}) FROM STDIN") as pg_copy:
                for row in params:
                    pg_copy.write_row(row)
        else:
            insert = connection.ops.insert_statement(on_conflict=OnConflict.IGNORE)
            suffix = connection.ops.on_conflict_suffix_sql([], OnConflict.IGNORE, None, None)
            cursor.executemany(f"{insert} {table} ({columns}) VALUES (%s, %s, %s, %s, %s, %s) {suffix}", params)
        Run.objects.filter(pk=run_id, log_seq__lt=last).update(log_seq=last)


def page(run_id: int, *, after: int = 0, rank: int | None = None, limit: int = 1000) -> list[dict[str, Any]]:
    lines = LogLine.objects.filter(run_id=run_id, seq__gt=after)
    if rank is not None:
        lines = lines.filter(rank=rank)
    return [
        {"seq": seq, "rank": r, "stream": s, "text": t, "at": at.isoformat()}
        for seq, r, s, t, at in lines.order_by("seq").values_list("seq", "rank", "stream", "text", "at")[:limit]
    ]


def iter_text(run_id: int, chunk: int = 5000, rank: int | None = None) -> Iterator[str]:
    """The whole log as text, read in chunks so memory stays bounded. Each line is marked
    with its rank; with ``rank``, that rank's lines only, as it printed them (Azure's
    per-process log files)."""
    after = 0
    while True:
        lines = LogLine.objects.filter(run_id=run_id, seq__gt=after)
        if rank is not None:
            lines = lines.filter(rank=rank)
        rows = list(lines.order_by("seq").values_list("seq", "rank", "stream", "text")[:chunk])
        if not rows:
            return
        out = []
        for _seq, line_rank, stream, text in rows:
            if rank is not None:
                out.append(f"{text}\n")
                continue
            prefix = "runyard" if line_rank == SYSTEM_RANK else f"rank {line_rank}"
            marker = " !" if stream == "stderr" else ""
            out.append(f"[{prefix}{marker}] {text}\n")
        yield "".join(out)
        after = rows[-1][0]
