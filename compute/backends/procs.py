"""Process plumbing shared by backends that start local processes.

- ``OutputPump`` reads a pipe in bounded chunks (an enormous line cannot exhaust
  memory: it is handed over in ``CHUNK``-byte pieces) and hands each line to a sink,
  the lines of one read inside one ``logstore.chunk()`` so they reach the run's log
  writer together; backpressure comes from the writer's bounded buffer.
- ``descendants`` walks /proc to find the rank processes a launcher (torchrun,
  mpirun) started, so "every rank started" and "every rank is gone" can be checked.
"""

from __future__ import annotations

import os
import signal
import threading
from collections.abc import Callable
from pathlib import Path
from typing import IO

from runs import logstore

CHUNK = 64 * 1024


class OutputPump(threading.Thread):
    def __init__(self, pipe: IO[bytes], sink: Callable[[str], None], name: str) -> None:
        super().__init__(name=name, daemon=True)
        self.pipe = pipe
        self.sink = sink

    def run(self) -> None:
        read = getattr(self.pipe, "read1", None) or self.pipe.read
        sink = self.sink
        rest = b""  # an unfinished line, at most CHUNK bytes
        try:
            with self.pipe:
                while data := read(CHUNK):
                    with logstore.chunk():
                        rest = self._lines(rest + data if rest else data, sink)
        finally:
            # The process is gone (or the pipe broke): what it printed last still counts.
            with logstore.chunk():
                if rest:
                    sink(_text(rest))
                # A sink that holds partial lines (mpirun's spliced tags) gives them up.
                flush = getattr(sink, "flush", None)
                if flush is not None:
                    flush()

    @staticmethod
    def _lines(data: bytes, sink: Callable[[str], None]) -> bytes:
        """Hand the complete lines of ``data`` to ``sink``; return the unfinished rest."""
        end = data.rfind(b"\n") + 1
        if end:
            text = _text(data[:end])
            if "\r" in text:
                lines = [line.rstrip("\r") for line in text.split("\n")]
            else:
                lines = text.split("\n")
            lines.pop()  # what follows the last newline: nothing
            for line in lines:
                if len(line) > CHUNK:
                    for start in range(0, len(line), CHUNK):
                        sink(line[start : start + CHUNK])
                else:
                    sink(line)
            data = data[end:]
        # A line longer than CHUNK goes out in CHUNK-byte pieces, so memory stays bounded.
        while len(data) > CHUNK:
            sink(_text(data[:CHUNK]))
            data = data[CHUNK:]
        return data


def _text(raw: bytes) -> str:
    text = raw.decode("utf-8", errors="replace")
    # PostgreSQL text cannot hold NUL: one would make the whole batch fail to store.
    return text.replace("\x00", "\ufffd") if "\x00" in text else text


def _ppid_map() -> dict[int, int]:
    out: dict[int, int] = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            stat = Path(entry.path, "stat").read_text()
        except OSError:
            continue
        # The command name may contain spaces and parentheses: split after the last ')'.
        fields = stat[stat.rfind(")") + 2 :].split()
        out[int(entry.name)] = int(fields[1])
    return out


def descendants(root: int) -> list[int]:
    parents = _ppid_map()
    children: dict[int, list[int]] = {}
    for pid, ppid in parents.items():
        children.setdefault(ppid, []).append(pid)
    found, stack = [], [root]
    while stack:
        for child in children.get(stack.pop(), []):
            found.append(child)
            stack.append(child)
    return found


def cmdline(pid: int) -> list[str]:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace").split("\0")
    except OSError:
        return []


def exists(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return state[state.rfind(")") + 2 :].split()[0] != "Z"


def signal_tree(pids: list[int], sig: int) -> int:
    """Signal each pid's process group and the pid itself; return how many were hit."""
    hit = 0
    groups: set[int] = set()
    for pid in pids:
        try:
            groups.add(os.getpgid(pid))
        except ProcessLookupError:
            continue
    for group in groups:
        try:
            os.killpg(group, sig)
            hit += 1
        except (ProcessLookupError, PermissionError):
            pass
    for pid in pids:
        try:
            os.kill(pid, sig)
        except (ProcessLookupError, PermissionError):
            pass
    return hit


__all__ = ["OutputPump", "cmdline", "descendants", "exists", "signal", "signal_tree"]
