"""One running Runyard per data directory.

``runyard_serve`` holds an exclusive ``flock`` on ``<data dir>/instance.lock`` for its
whole life and writes who holds it (pid, host, URL, start time) into the file. A second
start on the same data directory fails at once with that description and touches
nothing: not the database, not the embedded Redis, not the first instance's runs.
The kernel releases the lock when the holder dies, however it dies, so a stale file
never blocks a restart. ``runyard_serve`` execs the lean supervisor with the lock's
descriptor open (``inherit`` / ``adopt``): same process, same pid, the lock never let go.
"""

from __future__ import annotations

import fcntl
import json
import os
import socket
import time
from dataclasses import dataclass
from pathlib import Path
from typing import IO


class AlreadyRunning(RuntimeError):
    """Another live process holds the data directory."""


@dataclass
class InstanceLock:
    path: Path
    handle: IO[str]

    def inherit(self) -> int:
        """The lock's descriptor, kept open across ``exec`` (``runyard_serve`` becomes the
        lean supervisor in the same process and must not drop the lock on the way)."""
        self.handle.flush()
        fd = self.handle.fileno()
        os.set_inheritable(fd, True)
        return fd

    @classmethod
    def adopt(cls, data_dir: Path, fd: int) -> InstanceLock:
        """Take over a descriptor ``inherit`` passed across ``exec`` (the flock stays held:
        it belongs to the open file, not to the program)."""
        os.set_inheritable(fd, False)  # children started from here must not hold it
        return cls(lock_path(data_dir), open(fd, "a+", closefd=True))

    def release(self) -> None:
        try:
            self.handle.seek(0)
            self.handle.truncate()
            fcntl.flock(self.handle, fcntl.LOCK_UN)
        finally:
            self.handle.close()


def lock_path(data_dir: Path) -> Path:
    return data_dir / "instance.lock"


def holder(data_dir: Path) -> dict[str, object]:
    """What the lock file says about its holder ({} when unreadable or empty)."""
    try:
        parsed = json.loads(lock_path(data_dir).read_text() or "{}")
    except (OSError, ValueError):
        return {}
    return parsed if isinstance(parsed, dict) else {}


def acquire(data_dir: Path, url: str) -> InstanceLock:
    """Take the data directory, or raise AlreadyRunning naming the holder."""
    data_dir.mkdir(parents=True, exist_ok=True)
    path = lock_path(data_dir)
    handle = open(path, "a+")  # noqa: SIM115 - held open for the process's life
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.close()
        info = holder(data_dir)
        where = f" at {info['url']}" if info.get("url") else ""
        who = f"pid {info.get('pid', '?')} on {info.get('host', '?')}"
        raise AlreadyRunning(
            f"Another Runyard ({who}) is already running{where} on the data directory {data_dir}. "
            "Stop it first, or give this one its own RUNYARD_DATA_DIR."
        ) from None
    handle.seek(0)
    handle.truncate()
    handle.write(json.dumps({"pid": os.getpid(), "host": socket.gethostname(), "url": url, "since": time.time()}))
    handle.flush()
    return InstanceLock(path, handle)
