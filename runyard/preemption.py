"""Preemption inside a run: the SIGTERM handler, ``run.on_preempt`` callbacks, the
checkpoint directory, and step counters that continue across attempts.

The handler is installed only in runs submitted preemptible (``RUNYARD_PREEMPTIBLE=1``):
a run made preemptible while it runs ends at the scheduler's SIGTERM without callbacks.

When the scheduler preempts a run, the worker writes a notice (``RUNYARD_PREEMPT_NOTICE``,
with the time of the coming SIGKILL) and sends SIGTERM. ``Run.get_context()`` installs a
handler for it (main thread only, and only if the script kept the default handler):

- with a notice: ``run.preempted`` becomes True and the callbacks run once, in the main
  thread, each given the seconds left until SIGKILL; then the script exits (SystemExit, so
  ``atexit`` still sends buffered metrics) unless a callback was registered with
  ``exit=False``, in which case the script goes on and stops where it likes;
- without one (a cancel): SIGTERM does what it did before the handler (the process ends).

Steps: a scalar logged without a step in attempt 2 or later gets the step after the
last one its metric reached in the earlier attempts. The SDK reads those once at start
(the run's metric summary: count and last step per name) rather than the server
assigning steps on every stored batch: the ingest path stays a plain insert, and a
point's step is fixed when it is logged, as it would be with an explicit step.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import threading
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

Callback = Callable[[float], Any]


class Preemption:
    """The process's preemption state (one per process: signals are per process)."""

    def __init__(self) -> None:
        self.preempted = False
        self.callbacks: list[Callback] = []
        self.keep_running = False
        self.fired = False
        self.installed = False

    def install(self) -> bool:
        """Handle SIGTERM, if this is the main thread and the script has not taken it."""
        if self.installed:
            return True
        if threading.current_thread() is not threading.main_thread():
            return False
        if signal.getsignal(signal.SIGTERM) not in (signal.SIG_DFL, None):
            return False  # the script's own handler wins
        signal.signal(signal.SIGTERM, self._handle)
        self.installed = True
        return True

    def on_preempt(self, callback: Callback, exit: bool = True) -> None:
        self.callbacks.append(callback)
        if not exit:
            self.keep_running = True

    def _handle(self, signum: int, frame: Any) -> None:
        notice = read_notice()
        if notice is None:
            # Not a preemption (a cancel, the time limit): end as SIGTERM always did.
            signal.signal(signal.SIGTERM, signal.SIG_DFL)
            os.kill(os.getpid(), signal.SIGTERM)
            return
        self.preempted = True
        if self.fired:
            return
        self.fired = True
        left = max(0.0, float(notice.get("deadline", time.time())) - time.time())
        print(f"runyard: preempted ({notice.get('why', '')}); {left:.1f}s until SIGKILL.", file=sys.stderr, flush=True)
        for callback in self.callbacks:
            try:
                callback(left)
            except Exception:  # one failing callback must not keep the others from saving
                traceback.print_exc()
        if not self.keep_running:
            raise SystemExit(0)


STATE = Preemption()


def read_notice() -> dict[str, Any] | None:
    path = os.environ.get("RUNYARD_PREEMPT_NOTICE")
    if not path:
        return None
    try:
        data = json.loads(Path(path).read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def preemptible() -> bool:
    """Whether the run was submitted preemptible: only then is SIGTERM handled in Python
    (a handler runs between bytecodes, so a cancel of a script inside a long C call would
    otherwise wait for SIGKILL instead of ending at SIGTERM)."""
    return os.environ.get("RUNYARD_PREEMPTIBLE") == "1"


def attempt() -> int:
    try:
        return max(1, int(os.environ.get("RUNYARD_ATTEMPT") or 1))
    except ValueError:
        return 1


def checkpoint_dir() -> Path | None:
    raw = os.environ.get("RUNYARD_CHECKPOINT_DIR")
    return Path(raw) if raw else None


def grace_seconds() -> float | None:
    raw = os.environ.get("RUNYARD_PREEMPT_GRACE_SECONDS")
    try:
        return float(raw) if raw else None
    except ValueError:
        return None


def next_steps(summaries: dict[str, Any]) -> dict[str, int]:
    """The first step of each metric in this attempt, from the run's metric summaries
    (``{name: {"count": n, "step": last or None}}``): after the last explicit step, and
    after every point logged so far (a step-less point counts as the next index)."""
    out: dict[str, int] = {}
    for name, summary in (summaries or {}).items():
        if not isinstance(summary, dict):
            continue
        count = int(summary.get("count") or 0)
        last = summary.get("step")
        out[name] = max(count, int(last) + 1 if isinstance(last, int) else 0)
    return out


class StepCounter:
    """Steps for step-less scalars of a resumed attempt, continuing each metric's count."""

    def __init__(self, start: dict[str, int]) -> None:
        self.next = dict(start)
        self.lock = threading.Lock()

    def step(self, name: str) -> int | None:
        """The step for ``name``'s next point; None for a metric earlier attempts never logged."""
        with self.lock:
            value = self.next.get(name)
            if value is None:
                return None
            self.next[name] = value + 1
            return value
