"""Why a run ended: a fixed taxonomy of causes, each with typed evidence.

Every run that ends Failed or Canceled carries a ``cause`` (a ``Cause``) and its
``cause_evidence`` (an ``Evidence``); a Completed run has none. The cause is decided
where the run ends and by what ended it, in this order of trust:

1. what ended it from outside: a cancel (``canceled``), the time limit (``time_limit``),
   the hang watchdog (``hang``), a lost worker (``worker_lost``);
2. what the backend saw: the kernel OOM killer in the run's memory cgroup, a container
   the engine marks OOMKilled, a Slurm end state (``Job.end_cause``);
3. the preparation step that raised: the environment build, input materialization,
   the engine or scheduler (``infrastructure``);
4. the script's own exit: a non-zero exit is ``user_error``, with the last frames and
   exception line of the traceback parsed from the failing rank's stderr (a
   ``MemoryError`` traceback under a memory limit is ``oom``).

``transition`` fills in a default when a caller forgot one (Failed →
``infrastructure``, Canceled → ``canceled``), so no ended run is left without a cause.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, TypedDict

from django.db import models


class Cause(models.TextChoices):
    USER_ERROR = "user_error"
    OOM = "oom"
    TIME_LIMIT = "time_limit"
    CANCELED = "canceled"
    PREEMPTED = "preempted"
    HANG = "hang"
    NODE_LOST = "node_lost"
    WORKER_LOST = "worker_lost"
    ENVIRONMENT_BUILD = "environment_build"
    INPUT_MATERIALIZATION = "input_materialization"
    INFRASTRUCTURE = "infrastructure"


class Frame(TypedDict):
    file: str
    line: int
    function: str
    code: str


class Evidence(TypedDict, total=False):
    """What shows the cause; only the keys that apply are present."""

    summary: str  # one sentence, always present
    exit_code: int
    signal: str  # "SIGKILL" when the exit code says a signal ended the process
    rank: int  # the failing rank whose stderr was read
    exception: str  # "ValueError: bad learning rate"
    frames: list[Frame]  # the traceback's last frames, innermost last
    oom_source: str  # "cgroup" (kernel OOM killer), "container" (engine), "slurm", "rlimit", "sigkill"
    oom_kills: int  # the cgroup's oom_kill counter
    memory_limit: int  # bytes
    containers: list[str]
    slurm_state: str
    idle_seconds: float  # hang: seconds without output or metric
    limit_seconds: int  # time_limit / hang: the configured limit
    worker: str  # worker_lost: the worker that died
    log_tail: str  # last stderr lines (masked)
    beneficiary: int  # preempted: the run it made room for
    grace_seconds: float  # preempted: SIGTERM to SIGKILL


@dataclass(frozen=True)
class Ending:
    """A cause and its evidence, written with the terminal transition."""

    cause: Cause
    evidence: Evidence = field(default_factory=lambda: Evidence())

    def fields(self) -> dict[str, Any]:
        return {"cause": self.cause.value, "cause_evidence": dict(self.evidence)}


def ending(cause: Cause, summary: str, **evidence: Any) -> Ending:
    return Ending(cause, Evidence(summary=summary, **evidence))  # type: ignore[typeddict-item]


# Frames kept from a traceback: the innermost ones say where it broke.
FRAMES_KEPT = 5
_FRAME = re.compile(r'^\s*File "(?P<file>[^"]+)", line (?P<line>\d+)(?:, in (?P<function>.+))?$')
_RANK_PREFIX = re.compile(r"^\[rank \d+\] ")


@dataclass(frozen=True)
class Traceback:
    frames: list[Frame]
    exception: str

    @property
    def exception_name(self) -> str:
        return self.exception.split(":", 1)[0].rsplit(".", 1)[-1]


def parse_traceback(lines: Iterable[str]) -> Traceback | None:
    """The last Python traceback in ``lines`` (stderr, oldest first): its last
    ``FRAMES_KEPT`` frames and its exception line. None if there is none."""
    found: Traceback | None = None
    frames: list[Frame] | None = None
    pending: Frame | None = None
    for raw in lines:
        line = _RANK_PREFIX.sub("", raw.rstrip("\n"))
        if line.startswith("Traceback (most recent call last):"):
            frames, pending = [], None
            continue
        if frames is None:
            continue
        match = _FRAME.match(line)
        if match:
            pending = Frame(
                file=match["file"], line=int(match["line"]), function=(match["function"] or "").strip(), code=""
            )
            frames.append(pending)
            continue
        if line.startswith(("    ", "\t")) or not line.strip():
            if pending is not None and not pending["code"] and line.strip() and set(line.strip()) - set("^~ "):
                pending["code"] = line.strip()
            continue
        if line.startswith("During handling") or line.startswith("The above exception"):
            continue
        # The first unindented line after the frames: the exception.
        found = Traceback(frames[-FRAMES_KEPT:], line.strip()[:1000])
        frames, pending = None, None
    return found


def signal_name(code: int | None) -> str:
    """The signal an exit code stands for (-9 from Popen, 137 from a shell or engine)."""
    import signal as _signal

    if code is None:
        return ""
    number = -code if code < 0 else code - 128 if 128 < code < 160 else 0
    if not number:
        return ""
    try:
        return _signal.Signals(number).name
    except ValueError:
        return f"signal {number}"


def from_exit(code: int, stderr_tail: list[str], *, memory_limit: int | None = None) -> Ending:
    """The cause of a non-zero exit the backend had nothing to say about."""
    tail = "\n".join(stderr_tail[-20:])
    tb = parse_traceback(stderr_tail)
    sig = signal_name(code)
    base: dict[str, Any] = {"exit_code": code, "log_tail": tail}
    if sig:
        base["signal"] = sig
    rank = _failing_rank(stderr_tail)
    if rank is not None:
        base["rank"] = rank
    if tb is not None:
        base.update(exception=tb.exception, frames=tb.frames)
        if tb.exception_name == "MemoryError" and memory_limit:
            return ending(
                Cause.OOM,
                f"The script ran out of memory under its limit of {memory_limit} bytes (MemoryError).",
                oom_source="rlimit",
                memory_limit=memory_limit,
                **base,
            )
        return ending(Cause.USER_ERROR, f"The script raised {tb.exception}"[:300], **base)
    if sig == "SIGKILL" and memory_limit:
        # Killed under a limit with no OOM record (an engine that does not report
        # OOMKilled, a cgroup we could not read): the limit, said as such.
        return ending(
            Cause.OOM,
            f"The script was killed (SIGKILL) under a memory limit of {memory_limit} bytes.",
            oom_source="sigkill",
            memory_limit=memory_limit,
            **base,
        )
    summary = f"The script exited with code {code}" + (f" ({sig})." if sig else ".")
    return ending(Cause.USER_ERROR, summary, **base)


def _failing_rank(lines: list[str]) -> int | None:
    for line in reversed(lines):
        match = re.match(r"^\[rank (\d+)\] ", line)
        if match:
            return int(match.group(1))
    return None


# Slurm's end states (sacct/squeue) and the cause each stands for.
SLURM_CAUSES: dict[str, Cause] = {
    "TIMEOUT": Cause.TIME_LIMIT,
    "DEADLINE": Cause.TIME_LIMIT,
    "NODE_FAIL": Cause.NODE_LOST,
    "OUT_OF_MEMORY": Cause.OOM,
    "CANCELLED": Cause.CANCELED,
    "PREEMPTED": Cause.PREEMPTED,
    "BOOT_FAIL": Cause.INFRASTRUCTURE,
}


def default_for(status: str, reason: str = "") -> Ending | None:
    """The cause a terminal move gets when its caller gave none."""
    from runs.status import Status

    if status == Status.CANCELED:
        return ending(Cause.CANCELED, reason or "The run was canceled.")
    if status == Status.FAILED:
        return ending(Cause.INFRASTRUCTURE, reason or "Runyard ended the run without a more precise cause.")
    return None
