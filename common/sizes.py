"""Byte counts as people read them (limits in messages and on the upload forms)."""

from __future__ import annotations


def human_bytes(n: int) -> str:
    """1024-based, as the web app's formatBytes: 209715200 → '200 MB', 21474836480 → '20 GB'."""
    value = float(n)
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if value < 1024 or unit == "TB":
            return f"{value:.0f} {unit}" if unit == "B" or value >= 10 or value.is_integer() else f"{value:.1f} {unit}"
        value /= 1024
    raise AssertionError("unreachable")


def limit_text(n: int) -> str:
    """'200 MB (209715200 bytes)': readable, and exact for scripts that parse it."""
    return f"{human_bytes(n)} ({n} bytes)"
