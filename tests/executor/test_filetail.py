"""Following per-rank files (the Slurm path): saved offsets are exact line boundaries,
so a follower started from them neither loses nor repeats a line."""

from __future__ import annotations

from pathlib import Path

from execution.backends.filetail import FileTail
from execution.lines import LineReader


def tail_once(folder: Path, offsets: dict[str, int] | None = None) -> tuple[FileTail, list[tuple[str, str]]]:
    got: list[tuple[str, str]] = []
    tail = FileTail(folder, "rank-*.out", lambda name, text: got.append((name, text)), offsets)
    tail.read_once()
    return tail, got


def test_offsets_stop_where_a_complete_line_ended_and_resume_exactly(tmp_path: Path) -> None:
    out = tmp_path / "rank-0.out"
    out.write_bytes(b"one\r\ntwo\nhalf of thr")
    tail, got = tail_once(tmp_path)
    assert got == [("rank-0.out", "one"), ("rank-0.out", "two")]
    assert tail.offsets == {"rank-0.out": len(b"one\r\ntwo\n")}  # not past the unfinished line
    with out.open("ab") as f:
        f.write(b"ee\x00\nfour\r")  # a final CR may be half of a CRLF: not a boundary yet
    tail.read_once()
    assert got[2:] == [("rank-0.out", "half of three\ufffd")]
    assert tail.offsets["rank-0.out"] == len(b"one\r\ntwo\nhalf of three\x00\n")

    # A restarted worker follows from the saved offsets: the rest, once.
    again, more = tail_once(tmp_path, dict(tail.offsets))
    with out.open("ab") as f:
        f.write(b"\nfive")
    again.read_once()
    again.read_once(final=True)
    assert more == [("rank-0.out", "four"), ("rank-0.out", "five")]
    assert again.offsets["rank-0.out"] == out.stat().st_size


def test_a_long_unfinished_line_is_cut_and_the_offset_follows_the_cut(tmp_path: Path) -> None:
    limit = LineReader().limit
    out = tmp_path / "rank-1.out"
    out.write_bytes(b"x" * (limit + 100))
    tail, got = tail_once(tmp_path)
    assert [text[:3] for _name, text in got] == ["xxx"] and got[0][1].endswith(f"cut at {limit} bytes]")
    assert tail.offsets["rank-1.out"] == limit  # the 100 bytes after the cut are read again on a resume
    again, more = tail_once(tmp_path, dict(tail.offsets))
    again.read_once(final=True)
    assert more == [("rank-1.out", "x" * 100)]
