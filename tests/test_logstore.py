"""The chunked log store (runs.logstore + LogChunk): what its readers return for lines
stored in several chunks, the websocket encoding, and migration 0014 moving one-row-per-
line logs into chunks and back without a change to any line."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from runs import logstore
from runs.logstore import Batch, StoredLine
from runs.models import LogChunk
from tests.factories import make_run

T0 = datetime(2026, 12, 1, 12, 0, 0, 123456, tzinfo=UTC)


def _lines(n: int, first: int = 1) -> list[tuple[int, str, str]]:
    # ranks 0 and 1 alternate; every fifth line is stderr, every seventh Runyard's own
    out = []
    for seq in range(first, first + n):
        if seq % 7 == 0:
            out.append((-1, "system", f"system {seq}"))
        else:
            out.append((seq % 2, "stderr" if seq % 5 == 0 else "stdout", f"line {seq}"))
    return out


def _store(run_id: int) -> list[StoredLine]:
    """Three chunks (seqs 1-2000, 2001-2999, 3000-3100), the last two with two stamps."""
    expected: list[StoredLine] = []
    seq = 1
    for size, stamps in ((2000, [T0]), (999, [T0, T0 + timedelta(seconds=1)]), (101, [T0 + timedelta(seconds=2)] * 2)):
        lines = _lines(size, seq)
        half = size // 2 if len(stamps) == 2 else size
        counts = [half, size - half] if len(stamps) == 2 else [size]
        logstore.store_batch(run_id, Batch(seq, list(zip(stamps, counts, strict=True)), lines))
        at = [stamp.isoformat() for stamp, count in zip(stamps, counts, strict=True) for _ in range(count)]
        expected.extend(StoredLine(seq + i, r, s, t, at[i]) for i, (r, s, t) in enumerate(lines))
        seq += size
    return expected


@pytest.mark.django_db
def test_readers_return_each_line_once_in_order_across_chunks(world: Any) -> None:
    run = make_run(world.alice.user, world.team_a)
    expected = _store(run.pk)
    assert LogChunk.objects.filter(run=run).count() == 3
    run.refresh_from_db()
    assert run.log_seq == 3100
    assert list(logstore.lines(run.pk)) == expected
    # catch-up from inside a chunk, and across a chunk's end
    assert list(logstore.lines(run.pk, after=1999)) == expected[1999:]
    assert [d["seq"] for d in logstore.page(run.pk, after=1995, limit=10)] == list(range(1996, 2006))
    assert logstore.page(run.pk, after=2998, limit=2) == [line._asdict() for line in expected[2998:3000]]
    assert logstore.page(run.pk, after=3100) == []
    # one rank, an attempt's range, tails
    assert list(logstore.lines(run.pk, rank=-1)) == [line for line in expected if line.rank == -1]
    assert list(logstore.lines(run.pk, after=100, until=2500, rank=1)) == [
        line for line in expected[100:2500] if line.rank == 1
    ]
    stderr = [line for line in expected if line.stream == "stderr"]
    assert logstore.tail(run.pk, 30, lambda line: line.stream == "stderr") == stderr[-30:]
    assert logstore.tail(run.pk, 5, rank=0) == [line for line in expected if line.rank == 0][-5:]
    assert logstore.count_between(run.pk, 1990, 3005) == 1016
    assert logstore.count(run.pk, lambda line: line.rank == 0 and line.stream == "stdout") == sum(
        1 for line in expected if line.rank == 0 and line.stream == "stdout"
    )
    text = "".join(logstore.iter_text(run.pk))
    assert text.splitlines()[:7] == [
        "[rank 1] line 1",
        "[rank 0] line 2",
        "[rank 1] line 3",
        "[rank 0] line 4",
        "[rank 1 !] line 5",
        "[rank 0] line 6",
        "[runyard] system 7",
    ]
    assert len(text.splitlines()) == 3100
    assert "".join(logstore.iter_text(run.pk, rank=0)).splitlines() == [x.text for x in expected if x.rank == 0]


@pytest.mark.django_db
def test_a_text_page_is_the_message_of_the_same_lines(world: Any) -> None:
    # The websocket catch-up builds its pages as text from the stored JSON: the same
    # message, byte for byte, as encoding page()'s dicts, for any window and limit; a page
    # ends where a stored chunk does, so each chunk is parsed once.
    run = make_run(world.alice.user, world.team_a)
    _store(run.pk)
    # (a lone surrogate cannot be stored; the pipe reader never decodes one)
    tricky = [(i % 2, "stdout", t) for i, t in enumerate(TRICKY) if t != "lone \ud800"]
    logstore.store_batch(run.pk, Batch(3101, [(T0, len(tricky))], tricky))
    top = 3100 + len(tricky)
    windows = [(0, None, 10), (0, None, 5000), (1995, None, 10), (1999, 2003, 100), (2998, None, 2)]
    windows += [(3000, 3001, 5), (3100, None, 50), (3095, 3105, 1000), (top, None, 10), (5, 6, 10), (0, 3000, 5000)]
    chunk_ends = [2000, 2999, 3100, top]
    for after, before, limit in windows:
        # at least ``limit`` lines: to the end of the chunk holding the limit-th line
        end = next((e for e in chunk_ends if e >= after + limit), top)
        want = [d for d in logstore.page(run.pk, after=after, limit=10_000) if d["seq"] <= end]
        want = [d for d in want if before is None or d["seq"] < before]
        got = logstore.page_text(run.pk, after=after, before=before, limit=limit)
        message = logstore.LOGS_PREFIX + got.body + logstore.LOGS_SUFFIX
        assert message == logstore.logs_message(want), (after, before, limit)
        assert (got.size, got.last) == (len(want), want[-1]["seq"] if want else after), (after, before, limit)


@pytest.mark.django_db
def test_a_retried_batch_is_stored_once(world: Any) -> None:
    run = make_run(world.alice.user, world.team_a)
    batch = Batch(1, [(T0, 3)], _lines(3))
    logstore.store_batch(run.pk, batch)
    logstore.store_batch(run.pk, batch)  # its commit was not reported: the writer stores it again
    assert [line.seq for line in logstore.lines(run.pk)] == [1, 2, 3]


def test_the_websocket_encoding_is_json_dumps_of_the_lines() -> None:
    texts = ['quote " back \\ slash', "tab\tnew\nline", "\x01\x1f ctl", "日本 ünï ☃ 🎉", "lone \ud800", "", "</script>"]
    lines = [(i % 3 - 1, ("stdout", "stderr", "system")[i % 3], t) for i, t in enumerate(texts)]
    batch = Batch(41, [(T0, 4), (T0 + timedelta(microseconds=-T0.microsecond), 3)], lines)
    encoded = logstore.serialize(batch)
    stamps = [T0.isoformat()] * 4 + [T0.replace(microsecond=0).isoformat()] * 3
    want = [{"seq": 41 + i, "rank": r, "stream": s, "text": t, "at": stamps[i]} for i, (r, s, t) in enumerate(lines)]
    assert encoded == logstore.logs_message(want)
    assert json.loads(encoded) == {"type": "logs", "lines": want}


TRICKY = [
    'a", "b',  # the separator the per-segment encoders split at, inside a text
    "ends with a backslash \\",
    '", "',
    "{} {0} {seq} }{",  # str.format's fields, in a text the format does not parse
    "",
    "",
    'quote " back \\ slash',
    "日本 ünï ☃ 🎉",
    "lone \ud800",
    "plain",
]


def test_segments_encode_exactly_as_json_dumps_of_their_lines() -> None:
    # Runs of one rank and stream of several lines each (as pipe reads give them), with
    # the texts the splitting encoders could get wrong, in two stamps.
    lines = [(0, "stdout", t) for t in TRICKY] + [(1, "stderr", t) for t in TRICKY[:3]] + [(0, "stdout", "x")]
    later = T0 + timedelta(seconds=1)
    batch = Batch(7, [(T0, len(TRICKY) + 1), (later, 3)], lines)
    assert [len(segment.texts) for segment in batch.segments] == [len(TRICKY), 1, 2, 1]
    assert batch.lines == lines and batch.last == 7 + len(lines) - 1
    stamps = [T0.isoformat()] * (len(TRICKY) + 1) + [later.isoformat()] * 3
    want = [{"seq": 7 + i, "rank": r, "stream": s, "text": t, "at": stamps[i]} for i, (r, s, t) in enumerate(lines)]
    assert logstore.serialize(batch) == logstore.logs_message(want)
    ranks, packed_stamps, packed = logstore.pack(batch)
    assert packed == json.dumps(lines, ensure_ascii=False)
    assert ranks == ",0,1,"
    assert json.loads(packed_stamps) == [[T0.isoformat(), len(TRICKY) + 1], [later.isoformat(), 3]]
    empty = Batch(3, [], [])
    assert empty.size == 0 and logstore.serialize(empty) == logstore.logs_message([])


def test_the_migration_packs_existing_lines_into_chunks_and_back(transactional_db: Any, world: Any) -> None:
    from django.db import connection
    from django.db.migrations.executor import MigrationExecutor

    run = make_run(world.alice.user, world.team_a)
    before, after = [("runs", "0015_scheduling_heads_indexes")], [("runs", "0016_log_chunks")]
    executor = MigrationExecutor(connection)
    executor.migrate(before)
    old = executor.loader.project_state(before).apps
    log_line = old.get_model("runs", "LogLine")
    # 4500 lines, a gap (seq 1201 was never stored: a batch that failed), two times
    rows = [(seq, *line) for seq, line in zip(range(1, 4502), _lines(4501), strict=True) if seq != 1201]
    log_line.objects.bulk_create(
        log_line(run_id=run.pk, seq=seq, rank=r, stream=s, text=t, at=T0 if seq < 2000 else T0 + timedelta(seconds=1))
        for seq, r, s, t in rows
    )
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(after)
    expected = [
        StoredLine(seq, r, s, t, (T0 if seq < 2000 else T0 + timedelta(seconds=1)).isoformat()) for seq, r, s, t in rows
    ]
    try:
        assert list(logstore.lines(run.pk)) == expected
        # the gap starts a chunk; then at most 2000 lines each
        assert list(LogChunk.objects.filter(run=run).values_list("first_seq", "last_seq")) == [
            (1, 1200),
            (1202, 3201),
            (3202, 4501),
        ]
        assert logstore.count_between(run.pk, 1, 4501) == 4500
        executor = MigrationExecutor(connection)
        executor.loader.build_graph()
        executor.migrate(before)  # and back: the same rows
        old = executor.loader.project_state(before).apps
        back = old.get_model("runs", "LogLine").objects.filter(run_id=run.pk).order_by("seq")
        assert [(x.seq, x.rank, x.stream, x.text, x.at.isoformat()) for x in back] == [tuple(e) for e in expected]
    finally:
        executor = MigrationExecutor(connection)
        executor.loader.build_graph()
        executor.migrate(executor.loader.graph.leaf_nodes())
