"""The pipe reader and the log writer together: real pipe, real threads, real database."""

from __future__ import annotations

import os
import threading
from typing import Any

import pytest
from django.conf import settings

from execution.backends.procs import OutputPump
from execution.lines import RouteKind, Router
from runs import logstore
from runs.logstore import LogWriter
from tests.factories import make_run

pytestmark = pytest.mark.django_db(transaction=True)


def pump_bytes(data: list[bytes], sink: Any) -> None:
    read, write = os.pipe()
    pump = OutputPump(os.fdopen(read, "rb"), sink, "test-pump")
    pump.start()

    def feed() -> None:
        with os.fdopen(write, "wb", buffering=0) as out:
            for piece in data:
                out.write(piece)

    feeder = threading.Thread(target=feed)
    feeder.start()
    feeder.join()
    pump.join()


def stored(run_id: int) -> list[tuple[int, int, str, str]]:
    return [(line.seq, line.rank, line.stream, line.text) for line in logstore.lines(run_id)]


def test_spliced_mpi_lines_are_routed_and_flushed_at_eof(world: Any) -> None:
    run = make_run(world.alice.user, world.team_a)
    writer = LogWriter(run.pk)
    sink = Router(RouteKind.MPI).stream("stdout", writer.write)
    pump_bytes(
        [
            b"[1,0]<stdout>:rank 0 text[1,1]<stdout>:rank 1 line\n",
            b"[1,0]<stdout>:\nplain\n",
            b"[1,1]<stderr>:held until EOF[1,0]<stdout>:last",
        ],
        sink,
    )
    writer.close()
    assert stored(run.pk) == [
        (1, 1, "stdout", "rank 1 line"),
        (2, 0, "stdout", "rank 0 text"),
        (3, -1, "stdout", "plain"),
        (4, 0, "stdout", "last"),
        (5, 1, "stderr", "held until EOF"),
    ]


def test_lines_split_across_reads_and_longer_than_a_read(world: Any) -> None:
    run = make_run(world.alice.user, world.team_a)
    writer = LogWriter(run.pk)
    piece = int(settings.RUNYARD["MAX_LOG_LINE_BYTES"])
    long = b"z" * (piece * 2 + 10)
    pump_bytes([b"ab", b"c\r\nd", b"\n\n", long[:100], long[100:] + b"\ntail"], lambda t: writer.write(0, "stdout", t))
    writer.close()
    texts = [text for _seq, _rank, _stream, text in stored(run.pk)]
    assert texts[:3] == ["abc", "d", ""]
    # Handed over in 64 KiB pieces (memory stays bounded), then each clipped to LOG_LINE_MAX_CHARS.
    assert [t.split(" ")[0] for t in texts[3:6]] == ["z" * 16384, "z" * 16384, "z" * 10]
    assert texts[6:] == ["tail"]
