"""Follows files that other hosts write into a shared directory (per-rank logs).

Each file is read from a byte offset in bounded chunks through its own
``execution.lines.LineReader``; an unfinished last line waits for its line end (or
is flushed at the end). ``offsets`` are exact line boundaries (where the last line
handed to the sink ended, a cut piece included) and ``lines`` how many lines were
handed over up to there.

Resuming after a worker restart: the saved (offset, lines) trail what the log writer
stored, or lead it (lines still queued in the dead worker's writer were lost). So the
caller says how many lines of each file are stored (``stored``): with at least the
saved count stored, reading continues at the saved offset and drops the surplus lines
already stored; with fewer, the file is read again from its start and the first
``stored`` lines are dropped. Either way no line is lost or repeated.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path

from execution.lines import READ_BYTES, LineReader


class FileTail(threading.Thread):
    def __init__(
        self,
        folder: Path,
        pattern: str,
        sink: Callable[[str, str], None],  # (file name, line)
        offsets: dict[str, int] | None = None,
        interval: float = 0.1,
        lines: dict[str, int] | None = None,
        stored: Callable[[str], int] | None = None,
    ) -> None:
        super().__init__(name=f"tail-{folder.name}", daemon=True)
        self.folder = folder
        self.pattern = pattern
        self.sink = sink
        self.offsets: dict[str, int] = dict(offsets or {})
        self.lines: dict[str, int] = dict(lines or {})
        self.read_to: dict[str, int] = dict(self.offsets)  # bytes read: the boundary + what the reader holds
        self.stored = stored
        self.skip: dict[str, int] = {}  # lines still to drop (already stored) per file
        self.readers: dict[str, LineReader] = {}
        self.interval = interval
        self.stop_event = threading.Event()
        self.lock = threading.Lock()

    def run(self) -> None:
        while not self.stop_event.wait(self.interval):
            self.read_once()
        self.read_once(final=True)

    def files(self) -> list[Path]:
        return sorted(self.folder.glob(self.pattern))

    def read_once(self, final: bool = False) -> None:
        with self.lock:
            for path in self.files():
                self._read(path, final)

    def _resume(self, name: str) -> None:
        """Where to continue ``name`` after a restart (see the module docstring)."""
        if self.stored is None:
            return
        stored = self.stored(name)
        saved = self.lines.get(name)
        if saved is not None and stored >= saved:
            self.skip[name] = stored - saved
        else:  # no saved count, or lines lost with the dead worker's writer
            self.read_to[name] = self.offsets[name] = self.lines[name] = 0
            self.skip[name] = stored

    def _emit(self, name: str, line: str) -> None:
        self.lines[name] = self.lines.get(name, 0) + 1
        if self.skip.get(name):
            self.skip[name] -= 1
            return
        self.sink(name, line)

    def _read(self, path: Path, final: bool) -> None:
        name = path.name
        reader = self.readers.get(name)
        if reader is None:
            reader = self.readers[name] = LineReader()
            self._resume(name)
        offset = self.read_to.get(name, 0)
        try:
            with open(path, "rb") as f:
                f.seek(offset)
                while data := f.read(READ_BYTES):
                    offset += len(data)
                    for line in reader.feed(data):
                        self._emit(name, line)
        except FileNotFoundError:
            pass  # removed under us: what was read still counts
        if final:
            for line in reader.flush():
                self._emit(name, line)
        self.read_to[name] = offset
        self.offsets[name] = offset - reader.held

    def finish(self) -> None:
        self.stop_event.set()
        self.join(timeout=30)
