"""Follows files that other hosts write into a shared directory (per-rank logs).

Each file is read from a byte offset in bounded chunks through its own
``execution.lines.LineReader``; an unfinished last line waits for its line end (or
is flushed at the end). ``offsets`` are exact line boundaries (where the last line
handed to the sink ended, a cut piece included), so a restarted worker resumes there
and neither loses nor repeats a line.
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
    ) -> None:
        super().__init__(name=f"tail-{folder.name}", daemon=True)
        self.folder = folder
        self.pattern = pattern
        self.sink = sink
        self.offsets: dict[str, int] = dict(offsets or {})
        self.read_to: dict[str, int] = dict(self.offsets)  # bytes read: the boundary + what the reader holds
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

    def _read(self, path: Path, final: bool) -> None:
        name = path.name
        reader = self.readers.get(name) or self.readers.setdefault(name, LineReader())
        offset = self.read_to.get(name, 0)
        try:
            with open(path, "rb") as f:
                f.seek(offset)
                while data := f.read(READ_BYTES):
                    offset += len(data)
                    for line in reader.feed(data):
                        self.sink(name, line)
        except FileNotFoundError:
            pass  # removed under us: what was read still counts
        if final:
            for line in reader.flush():
                self.sink(name, line)
        self.read_to[name] = offset
        self.offsets[name] = offset - reader.held

    def finish(self) -> None:
        self.stop_event.set()
        self.join(timeout=30)
