"""Run log storage and live publishing.

One ``LogWriter`` per run lives in the process that executes it, so it alone assigns
sequence numbers: they are gapless and ordered. Readers hand it lines through a
bounded queue (a rank that prints faster than we store blocks on its own pipe, which
bounds memory); a flusher thread takes what is waiting, up to ``BATCH_LINES`` lines
or ``BATCH_SECONDS`` after the first, stores the batch in one INSERT, advances
``Run.log_seq`` and then publishes the same batch to the run's websocket group.
Storing before publishing is what lets a watcher catch up from the database and
switch to live lines without a gap.
"""

from __future__ import annotations

import asyncio
import logging
import queue
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from channels.layers import get_channel_layer
from django.conf import settings
from django.db import close_old_connections, connection
from django.utils import timezone

from runs.events import group_name
from runs.models import LogLine, Run

log = logging.getLogger(__name__)

BATCH_LINES = 2000
BATCH_SECONDS = 0.005
QUEUE_LINES = 20000
SYSTEM_RANK = -1


@dataclass(slots=True)
class Pending:
    rank: int
    stream: str
    text: str
    at: datetime


def clip(text: str) -> str:
    limit = int(settings.RUNYARD["LOG_LINE_MAX_CHARS"])
    if len(text) <= limit:
        return text
    return text[:limit] + f" …[{len(text) - limit} more characters cut]"


class LogWriter:
    """Numbers, stores and publishes one run's log lines (thread-safe ``write``)."""

    def __init__(
        self,
        run_id: int,
        *,
        start_seq: int | None = None,
        store: Callable[[int, list[tuple[int, Pending]]], None] | None = None,
        group: str | None = None,
    ) -> None:
        self.run_id = run_id
        self.group = group or group_name(run_id)
        self._store = store or _store_run_lines
        self._queue: queue.Queue[Pending | None] = queue.Queue(maxsize=QUEUE_LINES)
        self._seq = start_seq if start_seq is not None else _last_seq(run_id)
        self._thread = threading.Thread(target=self._loop, name=f"log-writer-{run_id}", daemon=True)
        self._closed = False
        self._thread.start()

    @property
    def last_seq(self) -> int:
        return self._seq

    def write(self, rank: int, stream: str, text: str) -> None:
        self._queue.put(Pending(rank, stream, clip(text), timezone.now()))

    def system(self, text: str) -> None:
        """A line from Runyard itself (preparing, building, stopping …)."""
        self.write(SYSTEM_RANK, LogLine.Stream.SYSTEM, text)

    def close(self) -> None:
        """Flush everything written so far and stop the flusher."""
        if self._closed:
            return
        self._closed = True
        self._queue.put(None)
        self._thread.join()

    def _loop(self) -> None:
        loop = asyncio.new_event_loop()
        layer = get_channel_layer()
        done = False
        try:
            while not done:
                first = self._queue.get()
                if first is None:
                    break
                batch = [first]
                deadline = time.monotonic() + BATCH_SECONDS
                while len(batch) < BATCH_LINES:
                    timeout = deadline - time.monotonic()
                    try:
                        item = self._queue.get(timeout=timeout) if timeout > 0 else self._queue.get_nowait()
                    except queue.Empty:
                        break
                    if item is None:
                        done = True
                        break
                    batch.append(item)
                numbered = []
                for item in batch:
                    self._seq += 1
                    numbered.append((self._seq, item))
                self._flush(numbered, loop, layer)
        finally:
            if layer is not None:
                try:
                    loop.run_until_complete(layer.close_pools()) if hasattr(layer, "close_pools") else None
                except Exception:
                    pass
            loop.close()
            connection.close()

    def _flush(self, numbered: list[tuple[int, Pending]], loop: asyncio.AbstractEventLoop, layer: Any) -> None:
        for attempt in range(5):
            try:
                self._store(self.run_id, numbered)
                break
            except Exception:
                log.warning("storing log lines of run %s failed (attempt %s)", self.run_id, attempt + 1, exc_info=True)
                close_old_connections()
                connection.close()
                time.sleep(0.2 * (attempt + 1))
        if layer is None:
            return
        message = {
            "type": "run.logs",
            "lines": [
                {"seq": seq, "rank": p.rank, "stream": p.stream, "text": p.text, "at": p.at.isoformat()}
                for seq, p in numbered
            ],
        }
        try:
            loop.run_until_complete(layer.group_send(self.group, message))
        except Exception:  # watchers catch up from the database
            log.debug("publishing log lines of run %s failed", self.run_id, exc_info=True)


def _last_seq(run_id: int) -> int:
    return Run.objects.filter(pk=run_id).values_list("log_seq", flat=True).first() or 0


def _store_run_lines(run_id: int, numbered: list[tuple[int, Pending]]) -> None:
    from django.db import transaction

    with transaction.atomic():
        LogLine.objects.bulk_create(
            [
                LogLine(run_id=run_id, seq=seq, rank=p.rank, stream=p.stream, text=p.text, at=p.at)
                for seq, p in numbered
            ],
            ignore_conflicts=True,
        )
        Run.objects.filter(pk=run_id, log_seq__lt=numbered[-1][0]).update(log_seq=numbered[-1][0])


def page(run_id: int, *, after: int = 0, rank: int | None = None, limit: int = 1000) -> list[dict[str, Any]]:
    lines = LogLine.objects.filter(run_id=run_id, seq__gt=after)
    if rank is not None:
        lines = lines.filter(rank=rank)
    return [
        {"seq": seq, "rank": r, "stream": s, "text": t, "at": at.isoformat()}
        for seq, r, s, t, at in lines.order_by("seq").values_list("seq", "rank", "stream", "text", "at")[:limit]
    ]


def iter_text(run_id: int, chunk: int = 5000) -> Iterator[str]:
    """The whole log as text, read in chunks so memory stays bounded."""
    after = 0
    while True:
        rows = list(
            LogLine.objects.filter(run_id=run_id, seq__gt=after)
            .order_by("seq")
            .values_list("seq", "rank", "stream", "text")[:chunk]
        )
        if not rows:
            return
        out = []
        for _seq, rank, stream, text in rows:
            prefix = "runyard" if rank == SYSTEM_RANK else f"rank {rank}"
            marker = " !" if stream == "stderr" else ""
            out.append(f"[{prefix}{marker}] {text}\n")
        yield "".join(out)
        after = rows[-1][0]
