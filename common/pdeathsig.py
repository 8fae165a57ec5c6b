"""Children that die with their parent (Linux ``PR_SET_PDEATHSIG``), standard library only:
the lean supervisor (``stack.supervisor``) and the worker's backends both use it."""

from __future__ import annotations

import ctypes
import signal

PR_SET_PDEATHSIG = 1


def die_with_parent(sig: int = signal.SIGKILL) -> None:
    """``preexec_fn``: the kernel sends ``sig`` to the child when the thread that
    started it exits (a killed worker process leaves no rank behind; bubblewrap's
    --die-with-parent does the same for sandboxed ranks; the supervisor's children get
    SIGTERM)."""
    try:
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(PR_SET_PDEATHSIG, sig)
    except OSError:
        pass  # not glibc: the recoverer still reaps what a dead worker left
