"""A dependency-free progress bar for uploads and builds (stderr, redrawn in place on a TTY)."""

from __future__ import annotations

import sys
import time
from typing import TextIO


def human_bytes(size: float) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if abs(size) < 1024 or unit == "GB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{size:.1f} GB"


class ProgressBar:
    """``update(n)`` as bytes go by; ``close()`` prints the final line.

    On a terminal the bar is redrawn at most 10 times a second; elsewhere (CI logs,
    pipes) only every 25% is printed, so logs stay short.
    """

    WIDTH = 30

    def __init__(self, total: int, label: str, enabled: bool = True, stream: TextIO | None = None) -> None:
        self.total = max(total, 0)
        self.label = label
        self.enabled = enabled
        self.stream = stream or sys.stderr
        self.done = 0
        self.started = time.monotonic()
        self._last_draw = 0.0
        self._last_quarter = -1
        self._tty = bool(getattr(self.stream, "isatty", lambda: False)())
        self._closed = False

    def update(self, amount: int) -> None:
        self.done += amount
        if not self.enabled:
            return
        now = time.monotonic()
        if self._tty:
            if now - self._last_draw >= 0.1:
                self._last_draw = now
                self.stream.write("\r" + self._line())
                self.stream.flush()
            return
        quarter = int(self.fraction() * 4)
        if quarter != self._last_quarter and quarter < 4:
            self._last_quarter = quarter
            self.stream.write(self._line() + "\n")
            self.stream.flush()

    def fraction(self) -> float:
        return 1.0 if self.total == 0 else min(self.done / self.total, 1.0)

    def _line(self) -> str:
        filled = int(self.fraction() * self.WIDTH)
        bar = "#" * filled + "." * (self.WIDTH - filled)
        elapsed = max(time.monotonic() - self.started, 1e-6)
        rate = human_bytes(self.done / elapsed)
        return (
            f"{self.label} [{bar}] {self.fraction() * 100:5.1f}% "
            f"{human_bytes(self.done)}/{human_bytes(self.total)} {rate}/s"
        )

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        if self.enabled:
            self.stream.write(("\r" if self._tty else "") + self._line() + "\n")
            self.stream.flush()
