"""A memory limit for a local run: a cgroup of its own, or RLIMIT_AS where none can be made.

With a writable memory controller (cgroup v2's ``memory.max`` or v1's
``memory.limit_in_bytes``), each launcher is moved into ``<our cgroup>/runyard-run-<id>``
before it execs, so every rank it starts is charged there and the kernel's OOM killer
acts inside it. Afterwards the group's ``oom_kill`` counter (v2 ``memory.events``, v1
``memory.oom_control``) says whether it did: the evidence of an ``oom`` cause without
reading dmesg. Without a usable controller, the address-space rlimit is the fallback:
allocations then fail with MemoryError, which ``runs.causes`` also reads as ``oom``.
"""

from __future__ import annotations

import logging
import os
import resource
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger(__name__)
ROOT = Path("/sys/fs/cgroup")


@dataclass(frozen=True)
class MemoryGroup:
    path: Path | None  # None: the rlimit fallback
    limit: int
    v2: bool

    @property
    def mode(self) -> str:
        return "rlimit" if self.path is None else "cgroup"

    def enter(self) -> None:
        """In the launcher's child before exec (preexec_fn): join the group, or set the rlimit."""
        if self.path is not None:
            (self.path / "cgroup.procs").write_text(str(os.getpid()))
        else:
            resource.setrlimit(resource.RLIMIT_AS, (self.limit, self.limit))

    def oom_kills(self) -> int:
        """How many processes the kernel OOM killer ended in the group."""
        if self.path is None:
            return 0
        name = "memory.events" if self.v2 else "memory.oom_control"
        try:
            for line in (self.path / name).read_text().splitlines():
                key, _, value = line.partition(" ")
                if key == "oom_kill":
                    return int(value)
        except OSError:
            pass
        return 0

    def remove(self) -> None:
        if self.path is not None:
            try:
                self.path.rmdir()
            except OSError:
                log.warning("could not remove cgroup %s", self.path)


def _own_group() -> tuple[Path, bool] | None:
    """The directory of this process's memory cgroup, and whether it is v2."""
    try:
        lines = Path("/proc/self/cgroup").read_text().splitlines()
    except OSError:
        return None
    for line in lines:
        _, controllers, path = line.split(":", 2)
        if "memory" in controllers.split(","):
            return ROOT / "memory" / path.lstrip("/"), False
    for line in lines:
        if line.startswith("0::"):
            base = ROOT / line[3:].lstrip("/")
            try:
                if "memory" in (base / "cgroup.controllers").read_text().split():
                    return base, True
            except OSError:
                return None
    return None


def create(run_id: int, name: str, limit: int) -> MemoryGroup:
    """A fresh group for one launcher of ``run_id`` limited to ``limit`` bytes."""
    return create_group(f"runyard-run-{run_id}-{name}", limit)


def create_group(dirname: str, limit: int) -> MemoryGroup:
    """A fresh group ``dirname`` under ours limited to ``limit`` bytes (a held launch's is
    made before its run exists: ``execution.backends.held``)."""
    own = _own_group()
    if own is not None:
        base, v2 = own
        path = base / dirname
        try:
            path.mkdir(exist_ok=True)
            (path / ("memory.max" if v2 else "memory.limit_in_bytes")).write_text(str(limit))
            if v2:
                (path / "memory.swap.max").write_text("0") if (path / "memory.swap.max").exists() else None
            return MemoryGroup(path, limit, v2)
        except OSError as exc:
            log.info("no memory cgroup %s (%s): using RLIMIT_AS", dirname, exc)
            try:
                path.rmdir()
            except OSError:
                pass
    return MemoryGroup(None, limit, False)
