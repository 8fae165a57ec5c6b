"""Keeps the stack's processes up: restart what crashes, give up only on a crash loop.

Algorithm (one loop, every ``TICK`` seconds):
- a child process that exited while the supervisor is not stopping counts as a crash;
  it is restarted after a backoff that doubles with each crash inside ``window``
  seconds (1 s, 2 s, 4 s … capped at ``max_backoff``), with a log line saying so;
- a *check* (a service the supervisor does not own as a child, e.g. the embedded
  Redis, which daemonizes) is probed every ``CHECK_EVERY`` seconds and restarted the
  same way when it stops answering;
- more than ``max_crashes`` crashes of one child inside ``window`` seconds is a crash
  loop: everything is stopped and ``run`` returns the reason, naming the child and its
  last exit code.
Children get SIGTERM when the supervisor dies (PR_SET_PDEATHSIG), so a killed
supervisor leaves no orphans behind; a graceful stop is SIGTERM, a grace period, then
SIGKILL.

The standalone stack runs it as its own lean program (``python -m stack.supervisor
PLAN``): ``runyard_serve`` takes the data directory's lock, migrates, seeds and prints the
banner with Django loaded, writes the ``Plan`` (the children's command lines, the
embedded Redis to watch), then execs this module in the same process, keeping the lock's
file descriptor. The supervisor only spawns, watches and restarts processes, so it
imports the standard library and ``stack``'s stdlib-only modules and nothing else:
~15 MB instead of the ~120 MB a process holding Django takes (``tests/test_stack.py``
checks that it maps no third-party extension module).
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from types import FrameType

from common.pdeathsig import die_with_parent
from stack import embedded_redis, instance
from stack.processes import NODE, WorkerName

TICK = 0.2
CHECK_EVERY = 1.0


@dataclass
class _Watched:
    name: str
    crashes: deque[float] = field(default_factory=deque)
    restart_at: float | None = None
    last_code: int | None = None


@dataclass
class _Child(_Watched):
    # Called at every (re)start: a restarted worker gets a new node name.
    argv: Callable[[], list[str]] = list
    proc: subprocess.Popen[bytes] | None = None


@dataclass
class _Check(_Watched):
    alive: Callable[[], bool] = lambda: True
    restart: Callable[[], None] = lambda: None
    checked_at: float = 0.0


class Supervisor:
    def __init__(
        self,
        env: dict[str, str],
        say: Callable[[str], None],
        *,
        max_crashes: int = 5,
        window: float = 60.0,
        max_backoff: float = 30.0,
        grace: float = 15.0,
    ) -> None:
        self.env = env
        self.say = say
        self.max_crashes = max_crashes
        self.window = window
        self.max_backoff = max_backoff
        self.grace = grace
        self.children: list[_Child] = []
        self.checks: list[_Check] = []
        self.stopping = threading.Event()

    def add(self, name: str, argv: list[str] | Callable[[], list[str]]) -> None:
        self.children.append(_Child(name, argv=argv if callable(argv) else lambda: list(argv)))

    def add_check(self, name: str, alive: Callable[[], bool], restart: Callable[[], None]) -> None:
        self.checks.append(_Check(name, alive=alive, restart=restart))

    def pids(self) -> dict[str, int]:
        return {c.name: c.proc.pid for c in self.children if c.proc is not None and c.proc.poll() is None}

    def _start(self, child: _Child) -> None:
        child.proc = subprocess.Popen(
            child.argv(), env=self.env, preexec_fn=functools.partial(die_with_parent, signal.SIGTERM)
        )
        child.restart_at = None

    def _crashed(self, watched: _Watched, now: float, what: str) -> str | None:
        """Count a crash; schedule the restart or return the crash-loop reason."""
        watched.crashes.append(now)
        while watched.crashes and watched.crashes[0] < now - self.window:
            watched.crashes.popleft()
        if len(watched.crashes) > self.max_crashes:
            return (
                f"{watched.name} crashed {len(watched.crashes)} times in {self.window:g}s "
                f"(last: {what}); stopping Runyard."
            )
        delay = min(self.max_backoff, 2.0 ** (len(watched.crashes) - 1))
        watched.restart_at = now + delay
        self.say(f"{watched.name} {what}; restarting it in {delay:g}s.")
        return None

    def run(self) -> str | None:
        """Start everything and supervise until ``stop()``; return a crash-loop reason or None."""
        for child in self.children:
            self._start(child)
        try:
            while not self.stopping.wait(TICK):
                reason = self._tick(time.monotonic())
                if reason:
                    self.say(reason)
                    return reason
            return None
        finally:
            self.stop_all()

    def _tick(self, now: float) -> str | None:
        return self._tick_children(now) or self._tick_checks(now)

    def _tick_children(self, now: float) -> str | None:
        for child in self.children:
            if child.restart_at is not None:
                if now >= child.restart_at and not self.stopping.is_set():
                    self._start(child)
                    self.say(f"{child.name} restarted (pid {child.proc.pid if child.proc else '?'}).")
                continue
            code = child.proc.poll() if child.proc is not None else None
            if code is None or self.stopping.is_set():
                continue
            child.last_code = code
            reason = self._crashed(child, now, f"exited with code {code}")
            if reason:
                return reason
        return None

    def _tick_checks(self, now: float) -> str | None:
        for check in self.checks:
            due = check.restart_at if check.restart_at is not None else check.checked_at + CHECK_EVERY
            if now < due:
                continue
            check.checked_at = now
            if check.restart_at is not None:
                check.restart_at = None
                try:
                    check.restart()
                    self.say(f"{check.name} restarted.")
                except Exception as exc:  # a failed restart is one more crash
                    reason = self._crashed(check, now, f"failed to restart ({exc})")
                    if reason:
                        return reason
            elif not check.alive():
                reason = self._crashed(check, now, "stopped answering")
                if reason:
                    return reason
        return None

    def stop(self) -> None:
        self.stopping.set()

    def stop_all(self) -> None:
        running = [c.proc for c in self.children if c.proc is not None and c.proc.poll() is None]
        for proc in running:
            proc.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + self.grace
        for proc in running:
            try:
                proc.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


# ---- the standalone stack's lean supervisor process -------------------------------------
@dataclass(frozen=True)
class ChildPlan:
    """One supervised child. A worker's argv holds ``processes.NODE`` where its Celery node
    name goes: each (re)start gets a fresh name (``WorkerName``)."""

    name: str
    argv: list[str]
    node_role: str | None = None

    def command(self) -> list[str]:
        if self.node_role is None:
            return list(self.argv)
        node = WorkerName.new(self.node_role).node()
        return [node if part == NODE else part for part in self.argv]


@dataclass(frozen=True)
class Plan:
    """What ``runyard_serve`` hands the supervisor: written with Django loaded, read without."""

    data_dir: str
    embedded_redis: bool
    children: list[ChildPlan]

    def dump(self, path: Path) -> None:
        path.write_text(json.dumps(asdict(self), indent=1))

    @classmethod
    def load(cls, path: Path) -> Plan:
        raw = json.loads(path.read_text())
        children = [ChildPlan(c["name"], list(c["argv"]), c.get("node_role")) for c in raw["children"]]
        return cls(str(raw["data_dir"]), bool(raw["embedded_redis"]), children)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m stack.supervisor", description=__doc__.split("\n\n")[0])
    parser.add_argument("plan", type=Path, help="the JSON plan runyard_serve wrote")
    parser.add_argument("--lock-fd", type=int, help="the data directory's instance lock, held across exec")
    options = parser.parse_args(argv)
    plan = Plan.load(options.plan)
    data_dir = Path(plan.data_dir)
    lock = instance.InstanceLock.adopt(data_dir, options.lock_fd) if options.lock_fd is not None else None

    def say(text: str) -> None:
        print(f"[runyard] {text}", flush=True)

    def restart_redis() -> None:
        embedded_redis.ensure_running(data_dir)

    supervisor = Supervisor(dict(os.environ), say)
    if plan.embedded_redis:
        supervisor.add_check(
            "embedded Redis",
            alive=lambda: embedded_redis.alive(embedded_redis.socket_path(data_dir)),
            restart=restart_redis,
        )
    for child in plan.children:
        supervisor.add(child.name, child.command)

    def stop(signum: int, frame: FrameType | None) -> None:
        supervisor.stop()

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    try:
        reason = supervisor.run()
    finally:
        if plan.embedded_redis:
            embedded_redis.stop(data_dir)
        print("Runyard stopped.", flush=True)
        if lock is not None:
            lock.release()
    return 1 if reason else 0


if __name__ == "__main__":
    sys.exit(main())
