"""A pipe read handed to the log writer whole (``RoutedStream.many`` →
``LogWriter.write_many``): the same lines, order and attribution as line by line, at
read boundaries of every kind; and the writer's batches under a backlog and a trickle.
Real pipes, real threads, the real database."""

from __future__ import annotations

import os
import threading
from datetime import datetime
from typing import Any

import pytest
from django.conf import settings

from execution.backends.procs import OutputPump
from execution.lines import RouteKind, Router
from runs import logstore
from runs.logstore import BATCH_LINES, BATCH_MAX_LINES, LogWriter, Pending
from tests.factories import make_run

pytestmark = pytest.mark.django_db(transaction=True)

LIMIT = int(settings.RUNYARD["MAX_LOG_LINE_BYTES"])
CLIP = int(settings.RUNYARD["LOG_LINE_MAX_CHARS"])


def pump_pieces(pieces: list[bytes], sink: Any) -> None:
    """Each piece written to a pipe on its own (the reader sees the read boundaries
    between them, or fewer when it is slower than the writer)."""
    read, write = os.pipe()
    pump = OutputPump(os.fdopen(read, "rb"), sink, "test-pump")
    pump.start()
    with os.fdopen(write, "wb", buffering=0) as out:
        for piece in pieces:
            out.write(piece)
    pump.join()


def stored(run_id: int) -> list[tuple[int, int, str, str]]:
    return [(line.seq, line.rank, line.stream, line.text) for line in logstore.lines(run_id)]


# Read boundaries inside a line, inside a CRLF, inside a multi-byte character, a lone CR
# (a progress bar), an empty line, a line over the byte limit, and no newline at EOF.
PIECES = [
    b"first li",
    b"ne\r",
    b"\nsecond\r\nthi",
    b"rd \xe2\x98",
    b"\x83 snow\n\n",
    b"10%\r20%\r",
    b"\r\n",
    b"y" * (LIMIT + 5) + b"\n",
    b"no newline at the end",
]
EXPECTED = [
    "first line",
    "second",
    "third ☃ snow",
    "",
    "10%",
    "20%",
    "",
    # over the byte limit: cut with the marker, then clipped to LOG_LINE_MAX_CHARS by the writer
    logstore.clip("y" * LIMIT + f" …[line cut at {LIMIT} bytes]"),
    "yyyyy",
    "no newline at the end",
]


def test_a_whole_read_stores_the_same_lines_as_line_by_line(world: Any) -> None:
    whole = make_run(world.alice.user, world.team_a)
    writer = LogWriter(whole.pk)
    pump_pieces(PIECES, Router(RouteKind.PLAIN, ranks=(3,)).stream("stderr", writer.write, writer.write_many))
    writer.close()
    single = make_run(world.alice.user, world.team_a)
    writer = LogWriter(single.pk)
    pump_pieces(PIECES, Router(RouteKind.PLAIN, ranks=(3,)).stream("stderr", writer.write))
    writer.close()
    want = [(seq, 3, "stderr", text) for seq, text in enumerate(EXPECTED, start=1)]
    assert stored(whole.pk) == want
    assert stored(single.pk) == want
    assert len(EXPECTED[7]) > CLIP  # the cut piece was longer than the clip: both limits applied


def test_interleaved_stdout_and_stderr_keep_their_order_and_attribution(world: Any) -> None:
    run = make_run(world.alice.user, world.team_a)
    writer = LogWriter(run.pk)
    router = Router(RouteKind.PLAIN, ranks=(1,))
    n = 20_000
    pumps = []
    for stream in ("stdout", "stderr"):
        read, write = os.pipe()
        pump = OutputPump(os.fdopen(read, "rb"), router.stream(stream, writer.write, writer.write_many), stream)
        pump.start()
        pumps.append((pump, write, stream))

    def feed(fd: int, stream: str) -> None:
        with os.fdopen(fd, "wb", buffering=0) as out:
            for start in range(0, n, 997):  # pieces that end inside a line
                out.write(b"".join(f"{stream} {i}\n".encode() for i in range(start, min(n, start + 997)))[:-3])
                out.write(b"".join(f"{stream} {i}\n".encode() for i in range(start, min(n, start + 997)))[-3:])

    feeders = [threading.Thread(target=feed, args=(fd, stream)) for _pump, fd, stream in pumps]
    for feeder in feeders:
        feeder.start()
    for feeder in feeders:
        feeder.join()
    for pump, _fd, _stream in pumps:
        pump.join()
    writer.close()
    lines = stored(run.pk)
    assert [seq for seq, *_ in lines] == list(range(1, 2 * n + 1))
    for stream in ("stdout", "stderr"):
        mine = [(rank, text) for _seq, rank, s, text in lines if s == stream]
        assert mine == [(1, f"{stream} {i}") for i in range(n)]
    run.refresh_from_db()
    assert run.log_seq == 2 * n


def test_spans_and_single_lines_of_one_chunk_keep_their_order(world: Any) -> None:
    run = make_run(world.alice.user, world.team_a)
    writer = LogWriter(run.pk)
    with logstore.chunk():
        writer.write_many(0, "stdout", ["a", "b"])
        writer.system("between")
        writer.write_many(0, "stdout", ["c"])
        writer.write(0, "stdout", "d")
        writer.write_many(1, "stdout", ["e"])
        writer.write_many(1, "stdout", [])
        writer.write_many(0, "stderr", ["x" * (CLIP + 1)])
    writer.write_many(2, "stdout", ["outside a chunk"])
    writer.close()
    assert stored(run.pk) == [
        (1, 0, "stdout", "a"),
        (2, 0, "stdout", "b"),
        (3, -1, "system", "between"),
        (4, 0, "stdout", "c"),
        (5, 0, "stdout", "d"),
        (6, 1, "stdout", "e"),
        (7, 0, "stderr", logstore.clip("x" * (CLIP + 1))),
        (8, 2, "stdout", "outside a chunk"),
    ]


def test_a_backlog_is_taken_in_larger_batches_and_a_trickle_line_by_line(world: Any) -> None:
    run = make_run(world.alice.user, world.team_a)
    batches: list[list[tuple[int, Pending]]] = []
    release = threading.Event()
    stored_one = threading.Semaphore(0)

    def store(_run_id: int, batch: list[tuple[int, Pending]]) -> None:
        release.wait(30)  # the first batch blocks: a backlog builds behind it
        batches.append(batch)
        stored_one.release()

    writer = LogWriter(run.pk, start_seq=0, store=store, group="test.nobody")
    reads = 12

    def feed() -> None:
        for r in range(reads):
            writer.write_many(0, "stdout", [f"{r} {i}" for i in range(1500)])

    feeder = threading.Thread(target=feed)
    feeder.start()
    feeder.join()  # 18000 lines wait (under QUEUE_LINES: the feeder never blocks) while the store blocks
    release.set()
    for _ in range(reads):  # every batch of the backlog stored
        if sum(len(b) for b in batches) == reads * 1500:
            break
        stored_one.acquire(timeout=10)
    # Batches stored faster than the loop looked leave releases behind; one would let the
    # trickle below write its next line before the last one was stored.
    while stored_one.acquire(blocking=False):
        pass
    sizes = [len(b) for b in batches]
    assert sum(sizes) == reads * 1500
    assert max(sizes) > 2 * BATCH_LINES and max(sizes) <= BATCH_MAX_LINES + 1500
    # A trickle: each line is stored before the next is written, as its own batch.
    before = len(batches)
    for i in range(3):
        writer.write(0, "stdout", f"trickle {i}")
        assert stored_one.acquire(timeout=10)
    writer.close()
    assert [len(b) for b in batches[before:]] == [1, 1, 1]
    everything = [(seq, p.text) for b in batches for seq, p in b]
    want = [f"{r} {i}" for r in range(reads) for i in range(1500)] + [f"trickle {i}" for i in range(3)]
    assert everything == list(enumerate(want, start=1))
    assert all(isinstance(p.at, datetime) for b in batches for _seq, p in b)
