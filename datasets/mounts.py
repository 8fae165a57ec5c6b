"""Read-only bind mounts (Linux, needs root / CAP_SYS_ADMIN), through mount(2).

``bind_readonly(source, target)`` binds ``source`` onto ``target`` and remounts the
bind read-only, so even root gets EROFS writing through ``target``. A bind whose
read-only remount fails is undone at once (a writable view of stored data must never
stay). ``unmount_under(folder)`` detaches every mount at or below ``folder``, deepest
first, reading /proc/self/mountinfo, so cleanup works even after a crash lost the list.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
import os
from functools import lru_cache
from pathlib import Path

log = logging.getLogger(__name__)

MS_RDONLY = 1
MS_NOSUID = 2
MS_NODEV = 4
MS_REMOUNT = 32
MS_BIND = 4096
MNT_DETACH = 2


class MountError(OSError):
    pass


@lru_cache(maxsize=1)
def _libc() -> ctypes.CDLL | None:
    name = ctypes.util.find_library("c")
    try:
        return ctypes.CDLL(name or "libc.so.6", use_errno=True)
    except OSError:
        return None


def _mount(source: str | None, target: str, flags: int) -> None:
    libc = _libc()
    if libc is None:
        raise MountError(0, "libc is not available")
    src = source.encode() if source is not None else None
    if libc.mount(src, target.encode(), None, ctypes.c_ulong(flags), None) != 0:
        err = ctypes.get_errno()
        raise MountError(err, f"mount {source or ''} {target}: {os.strerror(err)}")


def supported() -> bool:
    """Bind mounts can be tried: Linux, libc found, running as root."""
    return os.name == "posix" and os.path.exists("/proc/self/mountinfo") and os.geteuid() == 0 and _libc() is not None


def bind_readonly(source: Path, target: Path) -> None:
    """Bind ``source`` onto ``target`` (which must exist, of the same kind) read-only."""
    # Not recursive: a recursive bind would carry along submounts that stay writable.
    _mount(str(source), str(target), MS_BIND)
    try:
        _mount(None, str(target), MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID | MS_NODEV)
    except MountError:
        unmount(target)
        raise
    if not is_read_only(target):
        unmount(target)
        raise MountError(0, f"{target} did not become read-only")


def unmount(target: Path) -> None:
    libc = _libc()
    if libc is None:
        return
    if libc.umount2(str(target).encode(), MNT_DETACH) != 0:
        err = ctypes.get_errno()
        raise MountError(err, f"umount {target}: {os.strerror(err)}")


def _decode(field: str) -> str:
    # mountinfo escapes space, tab, newline and backslash as \\ooo.
    if "\\" not in field:
        return field  # most paths: no escape to undo (a launch reads the whole table thrice)
    out, i = [], 0
    while i < len(field):
        code = field[i + 1 : i + 4]
        if field[i] == "\\" and len(code) == 3 and all(c in "01234567" for c in code):
            out.append(chr(int(code, 8)))
            i += 4
        else:
            out.append(field[i])
            i += 1
    return "".join(out)


def _mountinfo() -> list[tuple[str, list[str]]]:
    try:
        text = Path("/proc/self/mountinfo").read_text()
    except OSError:
        return []
    rows = []
    for line in text.splitlines():
        fields = line.split()
        if len(fields) > 5:
            rows.append((_decode(fields[4]), fields[5].split(",")))
    return rows


def mounts_under(folder: Path) -> list[Path]:
    base = str(folder.resolve() if folder.exists() else folder)
    found = [Path(point) for point, _ in _mountinfo() if point == base or point.startswith(base.rstrip("/") + "/")]
    return sorted(set(found), key=lambda p: len(p.parts), reverse=True)


def is_read_only(target: Path) -> bool:
    wanted = str(target.resolve())
    options = [opts for point, opts in _mountinfo() if point == wanted]
    return bool(options) and "ro" in options[-1]


def unmount_under(folder: Path) -> list[Path]:
    """Detach every mount at or below ``folder``; return the mount points released."""
    released = []
    for point in mounts_under(folder):
        try:
            unmount(point)
            released.append(point)
        except MountError as exc:
            log.warning("could not unmount %s: %s", point, exc)
    return released
