"""Follows files that other hosts write into a shared directory (per-rank logs).

Each file is read from a byte offset in bounded chunks; a partial last line waits for
its newline (or is flushed at the end). Offsets are exposed so a restarted worker
can resume where the previous one stopped.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path

CHUNK = 256 * 1024
MAX_PARTIAL = 64 * 1024


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
        self.partial: dict[str, bytes] = {}
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
        offset = self.offsets.get(name, 0)
        try:
            with open(path, "rb") as f:
                f.seek(offset)
                while True:
                    data = f.read(CHUNK)
                    if not data:
                        break
                    offset += len(data)
                    self._emit(name, self.partial.pop(name, b"") + data)
        except FileNotFoundError:
            return
        self.offsets[name] = offset
        rest = self.partial.get(name)
        if rest and (final or len(rest) > MAX_PARTIAL):
            self.sink(name, rest.decode("utf-8", errors="replace"))
            self.partial.pop(name, None)

    def _emit(self, name: str, data: bytes) -> None:
        *lines, rest = data.split(b"\n")
        for line in lines:
            self.sink(name, line.decode("utf-8", errors="replace").rstrip("\r"))
        if rest:
            self.partial[name] = rest

    def finish(self) -> None:
        self.stop_event.set()
        self.join(timeout=30)
