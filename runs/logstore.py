"""Run log storage and live publishing.

One ``LogWriter`` per run lives in the process that executes it, so it alone assigns
sequence numbers: they are gapless and ordered. Readers hand it lines through a
bounded buffer (a rank that prints faster than we store blocks on its own pipe, which
bounds memory). A pipe reader wraps the lines of one read in ``chunk()``: they reach
the writer as one item with one timestamp, which is what makes 50k+ lines/s cheap
(a lock, a timestamp and a queue item per line cost more than storing the line).
A plain rank's reader hands the read's lines over in one ``write_many`` call: they
stay one list (a span of one rank and stream) from the pipe to the stored JSON, with
no tuple or call per line. A flusher thread takes what is waiting, up to
``BATCH_LINES`` lines or ``BATCH_SECONDS`` after the first (under a backlog all that
waits, up to ``BATCH_MAX_LINES``), stores the batch as one ``LogChunk`` row (the
lines packed as JSON, their seqs implied by the chunk's ``first_seq``), advances
``Run.log_seq`` and then hands the batch to a publisher thread, which serializes it
once and sends it to the run's websocket group while the flusher stores the next.
Storing before publishing is what lets a watcher catch up from the database and
switch to live lines without a gap.

Why chunks (bench/RESULTS.md, "log storage"): a row per line with its three index
entries cost the worker ~7 µs of CPU per line, half of its time at 80k lines/s; a
row per batch costs ~0.4 µs per line and a quarter of the bytes. Files per rank
would be cheaper still but live on the worker's host, and Docker/Slurm workers may
be other machines than the web process that reads them. Readers (``lines``,
``page``, ``tail``, ``count``, ``iter_text``) unpack the rows; nothing else reads
``LogChunk``.
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
from functools import cache
from itertools import islice
from json.encoder import encode_basestring as _json_text_utf8
from json.encoder import encode_basestring_ascii as _json_text
from typing import Any, NamedTuple

from channels.layers import get_channel_layer
from django.conf import settings
from django.db import close_old_connections, connection, models, transaction
from django.db.models import QuerySet
from django.utils import timezone

from config.masking import NO_MASK, Masker
from runs.events import group_name
from runs.models import LogChunk, Run

log = logging.getLogger(__name__)

BATCH_LINES = 2000
BATCH_MAX_LINES = 16000  # under a backlog (LogWriter._take)
BATCH_SECONDS = 0.005
QUEUE_LINES = 20000
PUBLISH_AHEAD = 4  # stored batches waiting to be published (_Publisher)
SYSTEM_RANK = -1

# The live "logs" websocket message is built here once per batch and forwarded as text
# by every watcher's consumer; the consumers splice several batches' bodies together.
LOGS_PREFIX = '{"type": "logs", "lines": ['
LOGS_SUFFIX = "]}"

Line = tuple[int, str, str]  # rank, stream, text


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


class Span(NamedTuple):
    """Consecutive lines of one rank and stream: a read of a pipe is usually one."""

    rank: int
    stream: str
    texts: list[str]


class _Handover(threading.local):
    pending: dict[LogWriter, list[Span]] | None = None


_handover = _Handover()


@contextmanager
def chunk() -> Iterator[None]:
    """Lines this thread writes inside the block reach each writer as one item, stamped
    once (when the block starts: right after the read that produced them)."""
    if _handover.pending is not None:  # nested: the outer block hands over
        yield
        return
    at = timezone.now()
    pending: dict[LogWriter, list[Span]] = {}
    _handover.pending = pending
    try:
        yield
    finally:
        # Also when a sink raised halfway: what was written is not lost.
        _handover.pending = None
        for writer, runs in pending.items():
            writer._put(at, runs)


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
        self._items: deque[tuple[datetime, list[Span], int]] = deque()  # (time, spans, lines in them)
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
            self._put(timezone.now(), [Span(rank, stream, [text])])
            return
        spans = pending.get(self)
        if spans is None:
            pending[self] = [Span(rank, stream, [text])]
            return
        last = spans[-1]
        if last.rank == rank and last.stream == stream:
            last.texts.append(text)
        else:
            spans.append(Span(rank, stream, [text]))

    def write_many(self, rank: int, stream: str, texts: list[str]) -> None:
        """``write`` of each of ``texts`` in order, at the cost of one call: a pipe read's
        lines (one rank, one stream) go on as one span without a Python step per line.
        The list is kept: the caller must not change it afterwards."""
        if not texts:
            return
        if max(map(len, texts)) > self._limit:
            texts = [clip(text) if len(text) > self._limit else text for text in texts]
        pending = _handover.pending
        if pending is None:
            self._put(timezone.now(), [Span(rank, stream, texts)])
            return
        spans = pending.get(self)
        if spans is None:
            pending[self] = [Span(rank, stream, texts)]
        elif spans[-1].rank == rank and spans[-1].stream == stream:
            spans[-1].texts.extend(texts)
        else:
            spans.append(Span(rank, stream, texts))

    def system(self, text: str) -> None:
        """A line from Runyard itself (preparing, building, stopping …)."""
        self.write(SYSTEM_RANK, LogChunk.Stream.SYSTEM, text)

    def close(self) -> None:
        """Flush everything written so far and stop the flusher."""
        if self._closed:
            return
        self._closed = True
        with self._cond:
            self._closing = True
            self._cond.notify_all()
        self._thread.join()

    def _put(self, at: datetime, spans: list[Span]) -> None:
        count = sum(len(span.texts) for span in spans)
        with self._cond:
            # An empty buffer always takes the item, so one huge chunk cannot wait forever;
            # after close nobody drains, so do not wait either.
            while self._waiting >= QUEUE_LINES and self._items and not self._closing:
                self._cond.wait()
            self._items.append((at, spans, count))
            self._waiting += count
            self._cond.notify_all()

    def _take(self) -> list[tuple[datetime, list[Span], int]] | None:
        """The next batch: waits for a first item, then up to BATCH_SECONDS for more.

        Under a backlog (more than BATCH_LINES waiting when the flusher comes back from
        storing the last batch) it takes all that waits, up to BATCH_MAX_LINES: the cost
        of a batch (a row, an UPDATE, a commit, a group_send) is then paid for more
        lines, exactly when the writer is behind. A trickle still goes out within
        BATCH_SECONDS of its first line."""
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
            limit = min(max(BATCH_LINES, self._waiting), BATCH_MAX_LINES)
            taken: list[tuple[datetime, list[Span], int]] = []
            count = 0
            while self._items and count < limit:
                item = self._items.popleft()
                taken.append(item)
                count += item[2]
            self._waiting -= count
            self._cond.notify_all()
            return taken

    def _loop(self) -> None:
        publisher = _Publisher(self.run_id, self.group)
        try:
            while (taken := self._take()) is not None:
                mask = self.mask if self.mask else None
                segments: list[Segment] = []
                count = 0
                for at, spans, lines in taken:
                    count += lines
                    for rank, stream, texts in spans:
                        if mask is not None:
                            texts = list(map(mask, texts))
                        segments.append(Segment(at, rank, stream, texts))
                batch = Batch(self._seq + 1, segments=segments)
                self._seq += count
                self._flush(batch)
                # Stored first, so a watcher's catch-up from the database never misses
                # what it is sent live; published by another thread, so the next batch
                # is stored while this one is serialized and sent.
                publisher.put(batch)
        finally:
            publisher.close()
            connection.close()

    def _store(self, batch: Batch, attempt: int) -> None:
        if self._custom_store is None:
            store_batch(self.run_id, batch)
        else:
            self._custom_store(
                self.run_id,
                [(line.seq, Pending(line.rank, line.stream, line.text, at)) for line, at in batch.numbered()],
            )

    def _flush(self, batch: Batch) -> None:
        for attempt in range(5):
            try:
                self._store(batch, attempt)
                return
            except Exception:
                log.warning("storing log lines of run %s failed (attempt %s)", self.run_id, attempt + 1, exc_info=True)
                close_old_connections()
                connection.close()
                time.sleep(0.2 * (attempt + 1))


class _Publisher:
    """Serializes a writer's stored batches and sends them to its group, in order, from
    a thread and an event loop of its own (bench/RESULTS.md, log streaming: on
    PostgreSQL a 16k-line batch waited ~30 ms on the database with ~4 ms of CPU, and
    serializing and sending it after that made every batch's cycle ~50 ms). At most
    ``PUBLISH_AHEAD`` batches wait, so a slow Redis slows the writer instead of
    growing memory."""

    def __init__(self, run_id: int, group: str) -> None:
        self.run_id = run_id
        self.group = group
        self._batches: deque[Batch] = deque()
        self._cond = threading.Condition(threading.Lock())
        self._closing = False
        self._thread = threading.Thread(target=self._loop, name=f"log-publisher-{run_id}", daemon=True)
        self._thread.start()

    def put(self, batch: Batch) -> None:
        with self._cond:
            while len(self._batches) >= PUBLISH_AHEAD:
                self._cond.wait()
            self._batches.append(batch)
            self._cond.notify_all()

    def close(self) -> None:
        """Publish what waits, then stop."""
        with self._cond:
            self._closing = True
            self._cond.notify_all()
        self._thread.join()

    def _next(self) -> Batch | None:
        with self._cond:
            while not self._batches:
                if self._closing:
                    return None
                self._cond.wait()
            batch = self._batches.popleft()
            self._cond.notify_all()
            return batch

    def _loop(self) -> None:
        loop = asyncio.new_event_loop()
        layer = get_channel_layer()
        try:
            while (batch := self._next()) is not None:
                if layer is None:
                    continue
                message = {"type": "run.logs", "first": batch.first, "last": batch.last, "text": serialize(batch)}
                try:
                    loop.run_until_complete(layer.group_send(self.group, message))
                except Exception:  # watchers catch up from the database
                    log.debug("publishing log lines of run %s failed", self.run_id, exc_info=True)
        finally:
            # Closing the loop closes the channel layer's connections of this loop only
            # (channels_redis wraps loop.close). The layer's close_pools() would close
            # every loop's, including those other threads of this process are using.
            loop.close()


class Segment(NamedTuple):
    """Consecutive lines of a batch with one time, rank and stream."""

    at: datetime
    rank: int
    stream: str
    texts: list[str]


class Batch:
    """Consecutive lines numbered from ``first``, held as segments (one per pipe read,
    usually). ``Batch(first, stamps, lines)`` builds one from lines and ``stamps``
    ((time, count) in line order, counts summing to ``len(lines)``), as callers outside
    the writer have them; ``lines`` and ``stamps`` give them back."""

    __slots__ = ("first", "segments", "size")

    def __init__(
        self,
        first: int,
        stamps: list[tuple[datetime, int]] | None = None,
        lines: list[Line] | None = None,
        *,
        segments: list[Segment] | None = None,
    ) -> None:
        self.first = first
        if segments is None:
            segments = _segments(stamps or [], lines or [])
        self.segments = segments
        self.size = sum(len(segment.texts) for segment in segments)

    @property
    def last(self) -> int:
        return self.first + self.size - 1

    @property
    def lines(self) -> list[Line]:
        return [(s.rank, s.stream, text) for s in self.segments for text in s.texts]

    @property
    def stamps(self) -> list[tuple[datetime, int]]:
        out: list[tuple[datetime, int]] = []
        for segment in self.segments:
            if out and out[-1][0] == segment.at:
                out[-1] = (segment.at, out[-1][1] + len(segment.texts))
            else:
                out.append((segment.at, len(segment.texts)))
        return out

    def numbered(self) -> Iterator[tuple[StoredLine, datetime]]:
        seq = self.first
        for at, rank, stream, texts in self.segments:
            stamp = at.isoformat()
            for text in texts:
                yield StoredLine(seq, rank, stream, text, stamp), at
                seq += 1


def _segments(stamps: list[tuple[datetime, int]], lines: list[Line]) -> list[Segment]:
    out: list[Segment] = []
    start = 0
    for at, count in stamps:
        for rank, stream, text in lines[start : start + count]:
            if out and out[-1].at is at and out[-1].rank == rank and out[-1].stream == stream:
                out[-1].texts.append(text)
            else:
                out.append(Segment(at, rank, stream, [text]))
        start += count
    return out


class StoredLine(NamedTuple):
    """A line as readers get it; ``at`` is ISO 8601, as the API and websocket send it."""

    seq: int
    rank: int
    stream: str
    text: str
    at: str


LineTest = Callable[[StoredLine], bool]


def serialize(batch: Batch) -> str:
    """The websocket "logs" message of this batch, exactly as ``logs_message`` (and so
    ``json.dumps``) would encode its lines as dicts, built as text: a dict and the
    generic encoder per line cost ~2 µs; this ~0.3 µs (bench/log_stream.py (d)). A line
    is ``{"seq": <seq><middle><text><tail>``, middle (rank, stream) and tail (time) fixed
    per segment. One f-string per line in a list comprehension is the fastest form
    measured: ``map`` over ``str.format``, or ``str.join`` of concatenations, cost 1.5-2×
    (they copy each line's text once more), ``json.dumps`` of the texts as much."""
    parts: list[str] = []
    seq = batch.first
    for at, rank, stream, texts in batch.segments:
        if not texts:
            continue
        middle = f', "rank": {int(rank)}, "stream": {_json_text(stream)}, "text": '
        tail = f', "at": {_json_text(at.isoformat())}}}'
        parts.extend([f'{{"seq": {s}{middle}{_json_text(t)}{tail}' for s, t in enumerate(texts, seq)])
        seq += len(texts)
    return LOGS_PREFIX + ", ".join(parts) + LOGS_SUFFIX


def logs_message(lines: list[dict[str, Any]]) -> str:
    """A "logs" websocket message, built around the constants the consumers cut off
    when they splice batches."""
    return LOGS_PREFIX + json.dumps(lines)[1:-1] + LOGS_SUFFIX


def _last_seq(run_id: int) -> int:
    return Run.objects.filter(pk=run_id).values_list("log_seq", flat=True).first() or 0


def pack(batch: Batch) -> tuple[str, str, str]:
    """(ranks, stamps, lines) of a LogChunk row holding ``batch``; ``lines`` is exactly
    ``json.dumps(batch.lines, ensure_ascii=False)``, built per segment by one
    ``str.join`` of the encoded texts (``[rank, stream, `` and ``]`` between them)."""
    stamps: list[list[Any]] = []
    parts: list[str] = []
    ranks: set[int] = set()
    for at, rank, stream, texts in batch.segments:
        if not texts:
            continue
        stamp = at.isoformat()
        if stamps and stamps[-1][0] == stamp:
            stamps[-1][1] += len(texts)
        else:
            stamps.append([stamp, len(texts)])
        ranks.add(rank)
        head = f"[{int(rank)}, {_json_text_utf8(stream)}, "
        # Not ASCII-escaped: half the bytes of \\u escapes for non-ASCII text, and faster.
        parts.append(head + ("], " + head).join(map(_json_text_utf8, texts)) + "]")
    ranks_text = ",".join(str(rank) for rank in sorted(ranks))
    return f",{ranks_text},", json.dumps(stamps), "[" + ", ".join(parts) + "]"


def store_batch(run_id: int, batch: Batch) -> None:
    """Store ``batch`` as one LogChunk row and advance ``Run.log_seq``, in one transaction.

    One row per batch, so the ORM's per-object cost is paid once per ~2000 lines; a
    retry after a commit whose success was not reported finds its row there (same
    (run, first_seq)) and stores nothing twice.
    """
    if not batch.size:
        return
    ranks, stamps, lines = pack(batch)
    insert, advance = _store_statements()
    # Two plain statements: bulk_create and update() of one row cost ~0.8 ms of CPU a
    # batch more (model instance, compilers), paid per batch in the trickle's latency.
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(insert, [run_id, batch.first, batch.last, ranks, stamps, lines])
        cursor.execute(advance, [batch.last, run_id, batch.last])


@cache
def _store_statements() -> tuple[str, str]:
    """``store_batch``'s INSERT (a retried batch's row is there already: nothing) and
    ``Run.log_seq`` UPDATE, for the one database the process uses."""
    q = connection.ops.quote_name

    def column(model: type[models.Model], name: str) -> str:
        field = model._meta.get_field(name)
        assert isinstance(field, models.Field) and field.column
        return q(field.column)

    names = ("run", "first_seq", "last_seq", "ranks", "stamps", "lines")
    columns = ", ".join(column(LogChunk, name) for name in names)
    insert = (
        f"INSERT INTO {q(LogChunk._meta.db_table)} ({columns}) VALUES (%s, %s, %s, %s, %s, %s) ON CONFLICT DO NOTHING"
    )
    seq, pk = column(Run, "log_seq"), column(Run, "id")
    advance = f"UPDATE {q(Run._meta.db_table)} SET {seq} = %s WHERE {pk} = %s AND {seq} < %s"
    return insert, advance


def store_lines(run_id: int, first: int, lines: list[Line], at: datetime | None = None) -> None:
    """Store lines numbered from ``first`` outside a LogWriter (imports, fixtures)."""
    store_batch(run_id, Batch(first, [(at or timezone.now(), len(lines))], lines))


# ---- reading ------------------------------------------------------------------------
# Every reader of a run's lines goes through these; they unpack LogChunk rows.

FETCH_CHUNKS = 8  # rows per query: a few MB at most, so a long log streams in bounded memory


def _unpack(first_seq: int, stamps: str, packed: str) -> list[StoredLine]:
    lines = json.loads(packed)
    out: list[StoredLine] = []
    seq, start = first_seq, 0
    for stamp, count in json.loads(stamps):
        out.extend(
            StoredLine(s, rank, stream, text, stamp)
            for s, (rank, stream, text) in zip(range(seq, seq + count), lines[start : start + count], strict=True)
        )
        seq += count
        start += count
    return out


def _chunk_rows(chunks: QuerySet[LogChunk], newest_first: bool) -> Iterator[tuple[int, str, str]]:
    """(first_seq, stamps, lines) of ``chunks`` in order, FETCH_CHUNKS rows per query."""
    columns = ("first_seq", "stamps", "lines")
    window = chunks
    while True:
        if newest_first:
            rows = list(window.order_by("-first_seq").values_list(*columns)[:FETCH_CHUNKS])
        else:
            rows = list(window.order_by("first_seq").values_list(*columns)[:FETCH_CHUNKS])
        yield from rows
        if len(rows) < FETCH_CHUNKS:
            return
        bound = rows[-1][0]
        window = chunks.filter(first_seq__lt=bound) if newest_first else chunks.filter(first_seq__gt=bound)


def _chunks(run_id: int, *, after: int = 0, until: int | None = None, rank: int | None = None) -> QuerySet[LogChunk]:
    """The chunks that may hold lines with ``after`` < seq (≤ ``until``) of ``rank``."""
    chunks = LogChunk.objects.filter(run_id=run_id)
    if rank is not None:
        chunks = chunks.filter(ranks__contains=f",{rank},")
    if until is not None:
        chunks = chunks.filter(first_seq__lte=until)
    if after:
        # The chunk holding seq after + 1 starts at or before it: one index seek finds
        # where to begin (chunks never overlap).
        start = (
            LogChunk.objects.filter(run_id=run_id, first_seq__lte=after + 1)
            .order_by("-first_seq")
            .values_list("first_seq", flat=True)
            .first()
        )
        chunks = chunks.filter(first_seq__gte=start if start is not None else after + 1)
    return chunks


def lines(
    run_id: int,
    *,
    after: int = 0,
    until: int | None = None,
    rank: int | None = None,
    newest_first: bool = False,
) -> Iterator[StoredLine]:
    """The run's stored lines with ``after`` < seq (≤ ``until``), of one ``rank`` if
    given, in seq order (``newest_first``: backwards, for tails)."""
    chunks = _chunks(run_id, after=after, until=until, rank=rank)
    top = until if until is not None else float("inf")
    for first_seq, stamps, packed in _chunk_rows(chunks, newest_first):
        unpacked = _unpack(first_seq, stamps, packed)
        for line in reversed(unpacked) if newest_first else unpacked:
            if after < line.seq <= top and (rank is None or line.rank == rank):
                yield line


def page(run_id: int, *, after: int = 0, rank: int | None = None, limit: int = 1000) -> list[dict[str, Any]]:
    """At most ``limit`` lines after seq ``after`` as the API and websocket send them."""
    return [line._asdict() for line in islice(lines(run_id, after=after, rank=rank), limit)]


class TextPage(NamedTuple):
    """Lines as the body of a "logs" websocket message: ``body`` is what ``logs_message``
    puts between ``LOGS_PREFIX`` and ``LOGS_SUFFIX``; ``last`` the last seq in it."""

    body: str
    size: int
    last: int


def page_text(run_id: int, *, after: int = 0, before: int | None = None, limit: int = 1000) -> TextPage:
    """The lines with ``after`` < seq (< ``before``) as the body of the websocket message
    ``logs_message(page(...))`` would send: ``limit`` lines or more, to the end of the
    stored chunk the ``limit``-th line is in (fewer only where the log or ``before``
    ends), so a long catch-up parses each chunk once. Built from the stored JSON with one
    f-string per line as ``serialize`` does: a catch-up page through ``page`` (a named
    tuple, a dict and the generic encoder per line) cost ~11-18 µs of web CPU a line,
    more than storing it, and a watcher joining a fast run reads many pages
    (bench/RESULTS.md, log streaming)."""
    until = after + limit if before is None else min(before - 1, after + limit)
    if limit <= 0 or until <= after:
        return TextPage("", 0, after)
    # Only the chunks that start at or before the limit-th line: one query, no more rows
    # (the readers above fetch FETCH_CHUNKS at a time, megabytes a page here).
    rows = _chunks(run_id, after=after, until=until).order_by("first_seq").values_list("first_seq", "stamps", "lines")
    parts: list[str] = []
    last = after
    top = before - 1 if before is not None else None
    for first_seq, stamps, packed in rows:
        lo = max(0, after + 1 - first_seq)
        hi = top - first_seq + 1 if top is not None else None
        added = _chunk_json(first_seq, stamps, packed, lo, hi, parts)
        if added:
            last = first_seq + lo + added - 1
    return TextPage(", ".join(parts), len(parts), last)


def _chunk_json(first_seq: int, stamps: str, packed: str, lo: int, hi: int | None, out: list[str]) -> int:
    """Append the websocket JSON of the chunk's lines ``lo`` ≤ index < ``hi`` (to its
    end if None) to ``out``; return how many there were."""
    rows = json.loads(packed)
    hi = len(rows) if hi is None else min(hi, len(rows))
    if lo >= hi:
        return 0
    before = len(out)
    middles: dict[tuple[int, str], str] = {}
    start = 0
    for stamp, count in json.loads(stamps):
        a, b = max(start, lo), min(start + count, hi)
        start += count
        if a >= b:
            continue
        tail = f', "at": {_json_text(stamp)}}}'
        for s, (rank, stream, text) in zip(range(first_seq + a, first_seq + b), rows[a:b], strict=True):
            middle = middles.get((rank, stream))
            if middle is None:
                middle = middles[(rank, stream)] = f', "rank": {int(rank)}, "stream": {_json_text(stream)}, "text": '
            out.append(f'{{"seq": {s}{middle}{_json_text(text)}{tail}')
    return len(out) - before


def tail(run_id: int, count: int, keep: LineTest | None = None, *, rank: int | None = None) -> list[StoredLine]:
    """The last ``count`` lines (of ``rank``; those ``keep`` accepts), in seq order."""
    newest = lines(run_id, rank=rank, newest_first=True)
    found = islice((line for line in newest if keep is None or keep(line)), count)
    return list(found)[::-1]


def count(run_id: int, keep: LineTest) -> int:
    """How many stored lines ``keep`` accepts (a worker resuming a run's log files)."""
    return sum(1 for line in lines(run_id) if keep(line))


def count_between(run_id: int, first: int, last: int) -> int:
    """How many lines are stored with first ≤ seq ≤ last, from the chunks' bounds alone."""
    spans = LogChunk.objects.filter(run_id=run_id, first_seq__lte=last, last_seq__gte=first)
    return sum(min(b, last) - max(a, first) + 1 for a, b in spans.values_list("first_seq", "last_seq"))


def iter_text(run_id: int, rank: int | None = None) -> Iterator[str]:
    """The whole log as text, a chunk row at a time so memory stays bounded. Each line is
    marked with its rank; with ``rank``, that rank's lines only, as it printed them
    (Azure's per-process log files)."""
    out: list[str] = []
    for line in lines(run_id, rank=rank):
        if rank is not None:
            out.append(f"{line.text}\n")
        else:
            prefix = "runyard" if line.rank == SYSTEM_RANK else f"rank {line.rank}"
            marker = " !" if line.stream == "stderr" else ""
            out.append(f"[{prefix}{marker}] {line.text}\n")
        if len(out) >= 5000:
            yield "".join(out)
            out = []
    if out:
        yield "".join(out)
