"""Slots: directories a sandbox is started with empty, a run's directories attached later.

A held launch (``execution.backends.held``) starts the sandbox before the run exists, so
it cannot bind the run's directory (``WORK_DIR/<id>``) or its checkpoint dir. Instead the
sandbox binds a *slot* at each of their parents (``WORK_DIR``, ``CHECKPOINT_DIR``): a
host directory made a shared mount of its own (``share``), empty while the sandbox
waits. Bubblewrap makes every mount of the sandbox a slave of the host's, so a mount
made later inside the slot on the host appears inside the sandbox at the same place
below the parent, and only there. ``attach`` puts a run's directory into a slot: a
detached recursive clone of it (``open_tree``, carrying the dataset inputs mounted
read-only inside it), made ``nosuid,nodev`` like bubblewrap's own binds
(``mount_setattr``), then moved into the slot (``move_mount``). The sandbox then sees the
run's directory at its real path, as a cold start's bind shows it, and nothing else of
the parent. ``detach`` undoes it; the unmount propagates too.

Linux 5.12+ (mount_setattr) and root (CAP_SYS_ADMIN) only: ``available`` says whether
it works here, and held launches are not used for sandboxed runs where it does not.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import functools
import os
import shutil
import tempfile
from pathlib import Path

from datasets.mounts import MountError, unmount_under

# The same numbers on x86_64 and every asm-generic architecture (arm64, riscv).
SYS_OPEN_TREE = 428
SYS_MOVE_MOUNT = 429
SYS_MOUNT_SETATTR = 442
OPEN_TREE_CLONE = 1
AT_FDCWD = -100
AT_EMPTY_PATH = 0x1000
AT_RECURSIVE = 0x8000
MOVE_MOUNT_F_EMPTY_PATH = 0x4
MOUNT_ATTR_NOSUID = 0x2
MOUNT_ATTR_NODEV = 0x4
MS_BIND = 4096
MS_PRIVATE = 1 << 18
MS_SHARED = 1 << 20
MNT_DETACH = 2


class _MountAttr(ctypes.Structure):
    _fields_ = [
        ("attr_set", ctypes.c_uint64),
        ("attr_clr", ctypes.c_uint64),
        ("propagation", ctypes.c_uint64),
        ("userns_fd", ctypes.c_uint64),
    ]


@functools.lru_cache(maxsize=1)
def _libc() -> ctypes.CDLL:
    return ctypes.CDLL(None, use_errno=True)


def _check(result: int, what: str) -> int:
    if result < 0:
        err = ctypes.get_errno()
        raise MountError(err, f"{what}: {os.strerror(err)}")
    return result


def _mount(source: str | None, target: str, flags: int) -> None:
    src = source.encode() if source is not None else None
    _check(_libc().mount(src, target.encode(), None, ctypes.c_ulong(flags), None), f"mount {target}")


def share(path: Path) -> None:
    """Make ``path`` (an existing directory) a shared mount of its own, in a peer group
    of its own: mounts made inside it later reach the sandboxes that bound it."""
    _mount(str(path), str(path), MS_BIND)
    try:
        _mount(None, str(path), MS_PRIVATE)  # out of the parent's peer group, if it had one
        _mount(None, str(path), MS_SHARED)
    except MountError:
        unshare(path)
        raise


def unshare(path: Path) -> None:
    """Unmount a slot and whatever is attached in it."""
    _check(_libc().umount2(str(path).encode(), MNT_DETACH), f"umount {path}")


def attach(source: Path, dest: Path) -> None:
    """Mount a nosuid,nodev recursive clone of ``source`` at ``dest`` (created, inside a slot)."""
    libc = _libc()
    fd = _check(
        libc.syscall(SYS_OPEN_TREE, AT_FDCWD, str(source).encode(), OPEN_TREE_CLONE | os.O_CLOEXEC | AT_RECURSIVE),
        f"open_tree {source}",
    )
    try:
        attr = _MountAttr(MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV, 0, 0, 0)
        _check(
            libc.syscall(
                SYS_MOUNT_SETATTR, fd, b"", AT_EMPTY_PATH | AT_RECURSIVE, ctypes.byref(attr), ctypes.sizeof(attr)
            ),
            f"mount_setattr {source}",
        )
        dest.mkdir(mode=0o755)
        try:
            _check(
                libc.syscall(SYS_MOVE_MOUNT, fd, b"", AT_FDCWD, str(dest).encode(), MOVE_MOUNT_F_EMPTY_PATH),
                f"move_mount {dest}",
            )
        except MountError:
            dest.rmdir()
            raise
    finally:
        os.close(fd)


def detach(dest: Path) -> None:
    """Undo ``attach`` (safe when it is attached no more, or never was)."""
    if _libc().umount2(str(dest).encode(), MNT_DETACH) != 0 and ctypes.get_errno() not in (errno.EINVAL, errno.ENOENT):
        raise MountError(ctypes.get_errno(), f"umount {dest}: {os.strerror(ctypes.get_errno())}")
    with contextlib.suppress(FileNotFoundError):
        dest.rmdir()


@functools.lru_cache(maxsize=1)
def available() -> bool:
    """Whether slots work here: root, and the kernel has the new mount API (tried once)."""
    if os.name != "posix" or os.geteuid() != 0:
        return False
    probe = Path(tempfile.mkdtemp(prefix="runyard-slot-probe-"))
    try:
        (probe / "slot").mkdir()
        (probe / "source").mkdir()
        share(probe / "slot")
        try:
            attach(probe / "source", probe / "slot" / "x")
            detach(probe / "slot" / "x")
        finally:
            unshare(probe / "slot")
        return True
    except (MountError, OSError):
        return False
    finally:
        unmount_under(probe)
        shutil.rmtree(probe, ignore_errors=True)
