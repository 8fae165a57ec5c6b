"""Process plumbing shared by backends that start local processes.

- ``OutputPump`` reads a pipe and hands each line (``execution.lines.LineReader``:
  bounded, decoded, NUL-free) to a sink, the lines of one read inside one
  ``logstore.chunk()`` so they reach the run's log writer together; backpressure
  comes from the writer's bounded buffer.
- ``descendants`` walks /proc to find the rank processes a launcher (torchrun,
  mpirun) started, so "every rank started" and "every rank is gone" can be checked.
"""

from __future__ import annotations

import ctypes
import os
import signal
import threading
from collections.abc import Callable
from pathlib import Path
from typing import IO

from execution.lines import READ_BYTES, LineReader
from runs import logstore


class OutputPump(threading.Thread):
    def __init__(self, pipe: IO[bytes], sink: Callable[[str], None], name: str) -> None:
        super().__init__(name=name, daemon=True)
        self.pipe = pipe
        self.sink = sink

    def run(self) -> None:
        read = getattr(self.pipe, "read1", None) or self.pipe.read
        sink = self.sink
        reader = LineReader()
        try:
            with self.pipe:
                while data := read(READ_BYTES):
                    with logstore.chunk():
                        for line in reader.feed(data):
                            sink(line)
        finally:
            # The process is gone (or the pipe broke): what it printed last still counts.
            with logstore.chunk():
                for line in reader.flush():
                    sink(line)
                # A sink that holds partial lines (mpirun's spliced tags) gives them up.
                flush = getattr(sink, "flush", None)
                if flush is not None:
                    flush()


PR_SET_PDEATHSIG = 1


def die_with_parent() -> None:
    """``preexec_fn``: the kernel SIGKILLs the child when the thread that started it
    exits (a killed worker process leaves no rank behind; bubblewrap's
    --die-with-parent does the same for sandboxed ranks)."""
    try:
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    except OSError:
        pass  # not glibc: the recoverer still reaps what a dead worker left


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
