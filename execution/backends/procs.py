"""Process plumbing shared by backends that start local processes.

- ``OutputPump`` reads a pipe and hands its lines (``execution.lines.LineReader``:
  bounded, decoded, NUL-free) to a sink, the lines of one read inside one
  ``logstore.chunk()`` (and in one ``many`` call when the sink is a routed stream)
  so they reach the run's log writer together; backpressure
  comes from the writer's bounded buffer.
- ``descendants`` (psutil) finds the rank processes a launcher (torchrun,
  mpirun) started, so "every rank started" and "every rank is gone" can be checked.
"""

from __future__ import annotations

import os
import signal
import threading
from collections.abc import Callable
from typing import IO

import psutil

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
        # A routed stream takes a read's lines in one call (``RoutedStream.many``): a
        # plain rank's then reach the writer as one list, with no Python step per line.
        many: Callable[[list[str]], None] | None = getattr(sink, "many", None)
        reader = LineReader()
        try:
            with self.pipe:
                while data := read(READ_BYTES):
                    with logstore.chunk():
                        if many is not None:
                            many(reader.feed(data))
                        else:
                            for line in reader.feed(data):
                                sink(line)
        finally:
            # The process is gone (or the pipe broke): what it printed last still counts.
            with logstore.chunk():
                if many is not None:
                    many(reader.flush())
                else:
                    for line in reader.flush():
                        sink(line)
                # A sink that holds partial lines (mpirun's spliced tags) gives them up.
                flush = getattr(sink, "flush", None)
                if flush is not None:
                    flush()


def descendants(root: int) -> list[int]:
    """Every process below ``root`` (children, theirs, …), from the host's /proc.

    Walked down through ``/proc/<pid>/task/<tid>/children`` (a few reads for a launcher's
    tree) where the kernel has them; psutil's walk reads every process's status instead,
    which on the launch path cost more than the rest of handing a run to its hold."""
    if not _CHILDREN_FILES:
        return _descendants_psutil(root)
    found: list[int] = []
    todo = [root]
    while todo:
        pid = todo.pop()
        try:
            tids = os.listdir(f"/proc/{pid}/task")
        except (FileNotFoundError, ProcessLookupError):
            continue  # it ended meanwhile: nothing below it to find
        except PermissionError:
            return _descendants_psutil(root)
        for tid in tids:
            try:
                with open(f"/proc/{pid}/task/{tid}/children") as listing:
                    kids = [int(k) for k in listing.read().split()]
            except (FileNotFoundError, ProcessLookupError):
                continue  # that thread ended meanwhile (its children are another thread's now)
            except PermissionError:
                return _descendants_psutil(root)
            found.extend(kids)
            todo.extend(kids)
    return found


_CHILDREN_FILES = os.path.exists(f"/proc/self/task/{os.getpid()}/children")


def _descendants_psutil(root: int) -> list[int]:
    try:
        return [child.pid for child in psutil.Process(root).children(recursive=True)]
    except psutil.Error:
        return []


def cmdline(pid: int) -> list[str]:
    try:
        return list(psutil.Process(pid).cmdline())
    except psutil.Error:  # gone, or a zombie
        return []


def environ(pid: int) -> dict[str, str]:
    try:
        return dict(psutil.Process(pid).environ())
    except psutil.Error:
        return {}


def exists(pid: int) -> bool:
    """The process is there and not a zombie (one waiting to be reaped ran its course)."""
    try:
        return bool(psutil.Process(pid).status() != psutil.STATUS_ZOMBIE)
    except psutil.Error:
        return False


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
