"""Routing launcher output to ranks: mpirun's tags and torchrun's prefixes."""

from __future__ import annotations

from runs import launch

SYSTEM = -1


def collect() -> tuple[list[tuple[int, str, str]], launch.MpiLines]:
    got: list[tuple[int, str, str]] = []
    return got, launch.MpiLines(lambda rank, stream, text: got.append((rank, stream, text)), SYSTEM, "stdout")


def test_mpi_tagged_lines_go_to_their_rank() -> None:
    got, sink = collect()
    sink("[1,0]<stdout>:hello")
    sink("[1,1]<stderr>:oops")
    assert got == [(0, "stdout", "hello"), (1, "stderr", "oops")]


def test_mpi_spliced_line_is_held_until_that_ranks_newline() -> None:
    # An unbuffered rank writes text and newline separately; mpirun puts rank 1's whole
    # line between them, so rank 0's text shares a line with rank 1's tag.
    got, sink = collect()
    sink("[1,0]<stdout>:mpi rank 0 of 2[1,1]<stdout>:mpi rank 1 of 2")
    sink("[1,0]<stdout>:")
    assert got == [(1, "stdout", "mpi rank 1 of 2"), (0, "stdout", "mpi rank 0 of 2")]


def test_mpi_untagged_text_goes_to_the_system_rank_and_leftovers_flush() -> None:
    got, sink = collect()
    sink("mpirun noticed that process rank 1 exited")
    sink("[1,0]<stdout>:partial[1,1]<stdout>:whole")
    sink.flush()
    assert got == [
        (SYSTEM, "stdout", "mpirun noticed that process rank 1 exited"),
        (1, "stdout", "whole"),
        (0, "stdout", "partial"),
    ]


def test_torchrun_prefixes_local_and_global() -> None:
    assert launch.split_torchrun_line("[1]:x", node_rank=1, per_node=2) == (3, "x")
    assert launch.split_torchrun_line("[rank3]:y", node_rank=0, per_node=2) == (3, "y")
    assert launch.split_torchrun_line("no prefix", 0, 2) is None
