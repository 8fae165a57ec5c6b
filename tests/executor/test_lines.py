"""The line reader (bytes → lines) and the router (lines → ranks), on their own."""

from __future__ import annotations

import os
import sys
from typing import Any

import pytest
from django.test import override_settings
from django.utils import timezone

from execution.backends.base import ProcessInfo
from execution.backends.docker_job import Node, line_sink, sink_lines
from execution.lines import LineReader, RoutedStream, RouteKind, Router, split_torchrun_line
from runs import logstore
from tests.factories import make_run

SYSTEM = -1
LIMIT = 64 * 1024
MARK = f" …[line cut at {LIMIT} bytes]"


def read_all(pieces: list[bytes], limit: int = LIMIT) -> list[str]:
    reader = LineReader(limit)
    out: list[str] = []
    for piece in pieces:
        out += reader.feed(piece)
    return out + reader.flush()


def bytewise(data: bytes) -> list[bytes]:
    return [data[i : i + 1] for i in range(len(data))]


# The reader


def test_lines_across_reads_and_flush_of_the_last_line() -> None:
    assert read_all([b"ab", b"c\nd", b"\n\n", b"tail"]) == ["abc", "d", "", "tail"]
    assert read_all([b""]) == []
    assert read_all([b"x\n"]) == ["x"]  # no phantom empty line at the end


def test_nul_becomes_replacement_character() -> None:
    assert read_all([b"a\x00b\n\x00\n", b"end\x00"]) == ["a\ufffdb", "\ufffd", "end\ufffd"]


def test_invalid_utf8_is_replaced_not_raised() -> None:
    assert read_all([b"bad \xff\xfe here\n", b"\xc3\n", b"lone \x80"]) == [
        "bad \ufffd\ufffd here",
        "\ufffd",
        "lone \ufffd",
    ]


def test_multibyte_characters_split_across_reads_decode_whole() -> None:
    text = "größe: 日本語 🚀 done\nnext ✓\n"
    assert read_all(bytewise(text.encode())) == ["größe: 日本語 🚀 done", "next ✓"]
    # A character cut by the end of the stream is invalid: one replacement, not a crash.
    assert read_all([b"x \xe6\x97"]) == ["x \ufffd"]


def test_crlf_is_one_line_end_even_split_between_reads() -> None:
    assert read_all([b"a\r\nb\r", b"\nc\r\n\r\n"]) == ["a", "b", "c", ""]
    assert read_all(bytewise(b"one\r\ntwo\r\n")) == ["one", "two"]


def test_lone_cr_ends_a_line_like_a_progress_bar_update() -> None:
    # tqdm: "\r" before each update, "\n" at the end. Each update is a line of its own (a
    # watcher sees it advance); the empty "line" before a leading CR is dropped.
    bar = b"\r  0%|     |\r 50%|##   |\r100%|#####|\ndone\n"
    expected = ["  0%|     |", " 50%|##   |", "100%|#####|", "done"]
    assert read_all([bar]) == expected
    assert read_all(bytewise(bar)) == expected
    assert read_all([b"a\r\rb\r", b"c"]) == ["a", "b", "c"]
    assert read_all([b"last\r"]) == ["last"]  # a final CR ends the stream's last line


def test_a_cr_at_the_end_of_a_read_waits_for_the_next_byte() -> None:
    reader = LineReader(LIMIT)
    assert reader.feed(b"a\r") == []  # may be the first half of a CRLF
    assert reader.held == 2
    assert reader.feed(b"\n") == ["a"]
    assert reader.held == 0
    assert reader.feed(b"b\r") == []
    assert reader.feed(b"c") == ["b"]
    assert reader.flush() == ["c"]


def test_a_10_mb_line_without_newline_is_cut_into_marked_pieces_in_bounded_memory() -> None:
    size = 10 * 1024 * 1024
    reader = LineReader(LIMIT)
    pieces: list[str] = []
    most_held = 0
    pattern = b"0123456789abcdef" * 4096  # 64 KiB
    for _ in range(size // len(pattern)):
        pieces += reader.feed(pattern)
        most_held = max(most_held, reader.held)
    pieces += reader.flush()
    assert most_held <= LIMIT + 1
    assert len(pieces) == size // LIMIT
    assert all(p.endswith(MARK) for p in pieces[:-1])
    assert not pieces[-1].endswith(MARK)  # the last piece is the line's real end
    body = [p.removesuffix(MARK) for p in pieces]
    assert all(len(p) == LIMIT for p in body)
    assert "".join(body) == "0123456789abcdef" * (size // 16)


def test_a_long_line_fed_at_once_and_followed_by_more_lines() -> None:
    line = b"z" * (LIMIT * 2 + 10)
    got = read_all([b"before\n" + line + b"\nafter\n"])
    assert got == ["before", "z" * LIMIT + MARK, "z" * LIMIT + MARK, "z" * 10, "after"]
    # The same when the long line starts in the unfinished rest of an earlier read.
    assert read_all([b"before\nzz", line[2:] + b"\nafter"]) == got


def test_a_line_of_exactly_the_limit_is_not_cut() -> None:
    assert read_all([b"y" * LIMIT + b"\n"]) == ["y" * LIMIT]
    assert read_all([b"y" * LIMIT, b"\r", b"\n"]) == ["y" * LIMIT]
    assert read_all([b"y" * (LIMIT + 1)]) == ["y" * LIMIT + MARK, "y"]


def test_cuts_never_split_a_character() -> None:
    limit = 100
    mark = f" …[line cut at {limit} bytes]"
    text = "ab" + "日本" * 200  # 3-byte characters: a cut at 100 bytes would land inside one
    pieces = read_all([text.encode()], limit=limit)
    body = [p.removesuffix(mark) for p in pieces]
    assert "".join(body) == text
    assert all(len(p.encode()) <= limit for p in body)
    assert "\ufffd" not in "".join(body)


def test_invalid_continuation_bytes_are_cut_where_they_are() -> None:
    pieces = read_all([b"\x80" * 250], limit=100)
    assert [p.count("\ufffd") for p in pieces] == [100, 100, 50]


def test_the_limit_comes_from_settings() -> None:
    with override_settings(RUNYARD={"MAX_LOG_LINE_BYTES": 100}):
        reader = LineReader()
    assert reader.feed(b"x" * 150) == ["x" * 100 + " …[line cut at 100 bytes]"]
    assert reader.flush() == ["x" * 50]
    with pytest.raises(ValueError):
        LineReader(2)


def test_text_input_from_a_json_stream() -> None:
    reader = LineReader(LIMIT)
    assert reader.feed_text("Step 1/3 : FROM x\n") + reader.feed_text("bad \ud800 half") == ["Step 1/3 : FROM x"]
    assert reader.feed_text("\x00 rest\r\n") == ["bad \ufffd\ufffd\ufffd half\ufffd rest"]


# The router


def collect(router: Router, stream: str = "stdout") -> tuple[list[tuple[int, str, str]], RoutedStream]:
    got: list[tuple[int, str, str]] = []
    return got, router.stream(stream, lambda rank, s, text: got.append((rank, s, text)))


def test_plain_lines_belong_to_the_one_rank() -> None:
    got, sink = collect(Router(RouteKind.PLAIN, ranks=(3,)), "stderr")
    sink("hello")
    assert got == [(3, "stderr", "hello")]


def test_agent_lines_go_to_the_system_rank_tagged() -> None:
    got, sink = collect(Router(RouteKind.AGENT, ranks=(), tag="[ry-1-node1] "))
    sink("orted: ready")
    assert got == [(SYSTEM, "stdout", "[ry-1-node1] orted: ready")]
    assert RouteKind("none") is RouteKind.AGENT  # saved Docker state before the enum


def test_torchrun_prefixes_and_untagged_lines() -> None:
    got, sink = collect(Router(RouteKind.TORCHRUN, node_rank=1, per_node=2, ranks=(2, 3), tag="[node1] "))
    for text in ["[0]:local zero", "[rank3]:global three", "[default1]:d", "torchrun: starting", "[x]:no"]:
        sink(text)
    assert got == [
        (2, "stdout", "local zero"),
        (3, "stdout", "global three"),
        (3, "stdout", "d"),
        (SYSTEM, "stdout", "[node1] torchrun: starting"),
        (SYSTEM, "stdout", "[node1] [x]:no"),
    ]


def test_mpi_interleaved_and_spliced_output_through_the_reader() -> None:
    # Unbuffered ranks write text and newline separately; mpirun splices another rank's
    # output in between, and reads cut anywhere (here: every few bytes).
    raw = (
        b"[1,0]<stdout>:step 1 of rank 0[1,1]<stdout>:step 1 of rank 1\n"
        b"[1,0]<stdout>:\n"
        b"[1,1]<stdout>:x\xff\x00\n"
        b"mpirun: a rank said goodbye\n"
        b"[1,2]<stdout>:no newline yet[1,0]<stdout>:last of 0\n"
    )
    got, sink = collect(Router(RouteKind.MPI, ranks=(0, 1, 2)))
    reader = LineReader(LIMIT)
    holding = []
    for start in range(0, len(raw), 7):
        for line in reader.feed(raw[start : start + 7]):
            sink(line)
            holding.append(sink.holding)
    for line in reader.flush():
        sink(line)
    assert sink.holding
    sink.flush()
    assert not sink.holding
    assert holding == [True, False, False, False, True]
    assert got == [
        (1, "stdout", "step 1 of rank 1"),
        (0, "stdout", "step 1 of rank 0"),
        (1, "stdout", "x\ufffd\ufffd"),
        (SYSTEM, "stdout", "mpirun: a rank said goodbye"),
        (0, "stdout", "last of 0"),
        (2, "stdout", "no newline yet"),
    ]


# Moved from test_launch_lines.py (runs.launch.MpiLines is the MPI router now).


def mpi_sink() -> tuple[list[tuple[int, str, str]], RoutedStream]:
    return collect(Router(RouteKind.MPI))


def test_open_mpi_5_tags_end_in_a_space_that_is_not_the_ranks() -> None:
    got, sink = collect(Router(RouteKind.MPI5))
    sink("[1,0]<stdout>: hello")
    sink("[1,1]<stdout>:  indented[1,0]<stdout>: ")
    sink("[1,1]<stdout>: ")
    assert got == [(0, "stdout", "hello"), (0, "stdout", ""), (1, "stdout", " indented")]


def test_mpi_tagged_lines_go_to_their_rank() -> None:
    got, sink = mpi_sink()
    sink("[1,0]<stdout>:hello")
    sink("[1,1]<stderr>:oops")
    assert got == [(0, "stdout", "hello"), (1, "stderr", "oops")]


def test_mpi_spliced_line_is_held_until_that_ranks_newline() -> None:
    # An unbuffered rank writes text and newline separately; mpirun puts rank 1's whole
    # line between them, so rank 0's text shares a line with rank 1's tag.
    got, sink = mpi_sink()
    sink("[1,0]<stdout>:mpi rank 0 of 2[1,1]<stdout>:mpi rank 1 of 2")
    sink("[1,0]<stdout>:")
    assert got == [(1, "stdout", "mpi rank 1 of 2"), (0, "stdout", "mpi rank 0 of 2")]


def test_mpi_untagged_text_goes_to_the_system_rank_and_leftovers_flush() -> None:
    got, sink = mpi_sink()
    sink("mpirun noticed that process rank 1 exited")
    sink("[1,0]<stdout>:partial[1,1]<stdout>:whole")
    sink.flush()
    assert got == [
        (SYSTEM, "stdout", "mpirun noticed that process rank 1 exited"),
        (1, "stdout", "whole"),
        (0, "stdout", "partial"),
    ]


def test_torchrun_prefixes_local_and_global() -> None:
    assert split_torchrun_line("[1]:x", node_rank=1, per_node=2) == (3, "x")
    assert split_torchrun_line("[rank3]:y", node_rank=0, per_node=2) == (3, "y")
    assert split_torchrun_line("no prefix", 0, 2) is None


# Docker resumes a container's stream by counting the stored lines its router wrote.


def _store(run: Any, rows: list[tuple[int, str, str]]) -> None:
    logstore.store_lines(run.pk, 1, rows, timezone.now())


@pytest.mark.django_db
def test_docker_sink_lines_count_exactly_what_each_nodes_router_wrote(world: Any) -> None:
    prefix = "runyard-x-7-"
    ranks = [[ProcessInfo(rank=0), ProcessInfo(rank=1)], [ProcessInfo(rank=2), ProcessInfo(rank=3)]]
    torch = [
        Node(f"{prefix}node{k}", "worker", "torchrun", ranks[k], node_rank=k, per_node=2, tag=f"[{prefix}node{k}] ")
        for k in (0, 1)
    ]
    launcher = Node(f"{prefix}node0", "launcher", "mpi", [ProcessInfo(rank=0), ProcessInfo(rank=1)])
    agent = Node(f"{prefix}node1", "helper", "none", [], node_rank=1)
    plain = Node(f"{prefix}ps0", "ps", "plain", [ProcessInfo(rank=2, role="ps")])
    cases: list[tuple[list[Node], list[tuple[Node, str, list[str]]]]] = [
        (
            torch,
            [
                (torch[0], "stdout", ["[0]:a", "[1]:b", "torchrun: up"]),
                (torch[1], "stdout", ["[0]:c", "torchrun: up"]),
                (torch[1], "stderr", ["[1]:warn"]),
            ],
        ),
        ([launcher, agent], [(launcher, "stdout", ["[1,0]<stdout>:x", "mpirun: hi"]), (agent, "stdout", ["orted"])]),
        ([plain], [(plain, "stderr", ["serving"])]),
    ]
    for nodes, output in cases:
        run = make_run(world.alice.user, world.team_a)
        written: dict[tuple[str, str], int] = {}
        rows: list[tuple[int, str, str]] = []
        for node, stream, texts in output:
            sink = line_sink(lambda r, s, t, rows=rows: rows.append((r, s, t)), node, stream)
            for text in texts:
                sink(text)
            sink.flush()
            written[(node.name, stream)] = len(texts)
        _store(run, rows)
        for node in nodes:
            for stream in ("stdout", "stderr"):
                counted = logstore.count(run.pk, sink_lines(node, stream, prefix))
                assert counted == written.get((node.name, stream), 0), (node.name, node.router, stream)


# The venv build log (uv's output) goes through the same reader.


def test_build_step_output_is_read_by_the_line_reader() -> None:
    from environments.builder import _stream

    got: list[str] = []
    script = (
        "import sys; out = sys.stdout.buffer; "
        "out.write(b'Resolved \\x00 \\xff\\r\\nx\\rDownloading 50%\\rDownloading 100%\\n'); out.flush(); "
        "sys.stderr.write('warning: from stderr\\n'); sys.stderr.flush(); "
        "out.write(b'y' * (3 * 65536 + 5))"
    )
    _stream([sys.executable, "-c", script], dict(os.environ), got.append, lambda: False)
    assert got[:5] == ["Resolved \ufffd \ufffd", "x", "Downloading 50%", "Downloading 100%", "warning: from stderr"]
    assert got[5:] == ["y" * LIMIT + MARK] * 3 + ["y" * 5]
