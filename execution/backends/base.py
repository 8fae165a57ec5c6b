"""The interface every compute backend implements, and what the executor hands it.

The executor (``execution.executor``) owns the lifecycle: claiming, statuses, heartbeats,
cancel, time limit, finalizing. A backend only knows how to make an environment
ready, start a run's ranks, report when they have all started and when they ended,
and stop them. It never reads the run's rows: what it needs about the run and its
target comes in the ``RunContext``, resolved by the executor.
"""

from __future__ import annotations

import abc
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from compute.configs import TargetConfig
from environments.models import EnvironmentVersion
from runs.causes import Ending
from runs.distributed import Rank, Shape

if TYPE_CHECKING:
    from compute.models import ComputeTarget
    from runs.logstore import LineTest

# A backend's config type: ``get_backend(kind)`` and ``ComputeTarget.typed_config``
# both follow the target's kind, so a backend only ever sees its own kind's config.
C = TypeVar("C", bound=TargetConfig)


@dataclass(frozen=True)
class Target(Generic[C]):
    """The compute target a run executes on."""

    id: int
    name: str
    kind: str
    max_nodes: int
    max_processes_per_node: int
    config: C  # the kind's validated settings

    @classmethod
    def of(cls, target: ComputeTarget) -> Target[Any]:
        """``configs.ConfigError`` (naming the key) if the stored config is invalid."""
        return Target(
            target.pk, target.name, target.kind, target.max_nodes, target.max_processes_per_node, target.typed_config
        )


@dataclass(frozen=True)
class Prepared:
    """What ``prepare_environment`` made ready, for ``start`` (each backend its own kind)."""

    build_id: int  # the EnvironmentBuild the run uses, recorded on the run
    cache_hit: bool


@dataclass(frozen=True)
class PreparedVenv(Prepared):
    """A virtualenv (local: on this host; Slurm: in the shared directory)."""

    venv: Path

    @property
    def python(self) -> Path:
        return self.venv / "bin" / "python"


@dataclass(frozen=True)
class PreparedImage(Prepared):
    image: str  # the engine's tag


P = TypeVar("P", bound=Prepared)


@dataclass(frozen=True)
class Limits:
    max_run_duration_seconds: int | None = None  # the executor stops the run then; Slurm's limit backs it up


@dataclass(frozen=True)
class RunContext(Generic[C]):
    """Everything a backend needs about one run, resolved by the executor."""

    run_id: int
    workdir: Path  # the run's directory: snapshot extracted here, outputs/ under it
    entrypoint: list[str]  # script + arguments (or command), placeholders resolved
    is_command: bool
    shape: Shape
    env_version: EnvironmentVersion
    env: dict[str, str]  # variables for every rank (spec variables + RUNYARD_*)
    target: Target[C]
    limits: Limits
    write_log: Callable[[int, str, str], None]  # (rank, stream, text)
    system_log: Callable[[str], None]
    canceled: Callable[[], bool]
    # How many of the run's stored log lines the test accepts (it reads rank, stream,
    # text): a re-attached container stream skips what is stored already.
    stored_lines: Callable[[LineTest], int]
    # The job ids the target's active runs stored in their backend_state (Slurm reads
    # every one of them with one squeue).
    active_job_ids: Callable[[], list[int]]
    mounts: list[tuple[Path, str, bool]] = field(default_factory=list)  # (host path, run path, read-only)
    # RUNYARD_CHECKPOINT_DIR: read-write for the ranks, kept across attempts (preemption).
    checkpoint_dir: Path | None = None
    # write_log of a pipe read's lines at once (rank, stream, texts): a plain rank's
    # output pump hands them on without a Python step per line. None: line by line.
    write_logs: Callable[[int, str, list[str]], None] | None = None
    # The EnvironmentBuild row the executor read for this run's build when it is a cache
    # hit: a backend's prepare_environment may start from it instead of reading it again.
    build: Any = None


@dataclass
class ProcessInfo:
    rank: int
    node_rank: int = 0
    local_rank: int = 0
    role: str = "worker"
    host: str = ""
    pid: int | None = None
    exit_code: int | None = None

    @classmethod
    def of(cls, rank: Rank) -> ProcessInfo:
        return cls(rank=rank.rank, node_rank=rank.node_rank, local_rank=rank.local_rank, role=rank.role)


class Job(abc.ABC):
    """A started run's ranks."""

    @abc.abstractmethod
    def processes(self) -> list[ProcessInfo]:
        """Known rank processes (pids filled in as they appear)."""

    @abc.abstractmethod
    def all_started(self) -> bool:
        """True once every rank process exists."""

    @abc.abstractmethod
    def poll(self) -> int | None:
        """The run's exit code once every rank ended (0 only if all succeeded), else None."""

    @abc.abstractmethod
    def signal_all(self, sig: int) -> None:
        """Send a signal to every rank's process group."""

    @abc.abstractmethod
    def alive(self) -> bool:
        """True while any process of the run exists."""

    def end_reason(self) -> str | None:
        """Why the job ended, when the scheduler (not the script) ended it."""
        return None

    def end_cause(self) -> Ending | None:
        """The cause of a failed end when the backend knows it better than the exit
        code does (an OOM kill, a scheduler state); None: read it from the exit."""
        return None

    def memory_limit(self) -> int | None:
        """The memory limit the ranks ran under (bytes), for reading a bare exit."""
        return None

    def pending_reason(self) -> str | None:
        """Why a cluster scheduler still holds the job (None: not pending)."""
        return None

    def close(self) -> None:
        """Wait for output readers and release resources."""

    def state(self) -> dict[str, Any]:
        """Handles to store on the run (pids, job ids) for recovery after a restart."""
        return {}


class Backend(abc.ABC, Generic[C, P]):
    """``C``: the kind's config (``compute.configs``); ``P``: what its ``prepare_environment`` returns."""

    kind: str

    @abc.abstractmethod
    def prepare_environment(self, ctx: RunContext[C]) -> P:
        """Make the run's environment ready; return what ``start`` needs (paths, image)."""

    @abc.abstractmethod
    def start(self, ctx: RunContext[C], prepared: P) -> Job:
        """Start every rank; return at once."""

    def env_root(self, config: C) -> Path:
        """Where this target's virtualenvs are built (a venv-based backend)."""
        from django.conf import settings

        return Path(settings.RUNYARD["ENV_DIR"])

    def build_environment(self, version: EnvironmentVersion, config: C) -> Any:
        """Build (or reuse) ``version``'s environment for this target, outside any run."""
        from environments.builder import ensure_venv

        return ensure_venv(version, self.env_root(config))

    def preflight(self, ctx: RunContext[C]) -> None:
        """Refuse the run before anything is built or linked for it (a local target whose
        required sandbox cannot start); by default nothing to check."""

    def build_record(self, version: EnvironmentVersion, config: C, shape: Shape | None = None) -> Any:
        """The EnvironmentBuild row this target's build of ``version`` (for a run of
        ``shape``, when it matters) uses."""
        from environments.builder import build_row

        return build_row(version.content_hash, str(self.env_root(config)))

    def workdir(self, run_id: int, config: C) -> Path:
        """The run's directory (on a cluster: inside the directory every node sees)."""
        from django.conf import settings

        return Path(settings.RUNYARD["WORK_DIR"]) / str(run_id)

    def checkpoint_dir(self, run_id: int, config: C) -> Path:
        """The run's RUNYARD_CHECKPOINT_DIR: outside its run dir (which each attempt
        recreates), kept until the run ends for good."""
        from django.conf import settings

        return Path(settings.RUNYARD["CHECKPOINT_DIR"]) / str(run_id)

    def sdk_dir(self, config: C) -> Path:
        """Where the runs' copy of the SDK lives (put on their PYTHONPATH)."""
        from execution.sdkdir import sdk_path

        return sdk_path()

    def cleanup(self, ctx: RunContext[C], prepared: P | None) -> None:
        """Remove per-run resources (containers, networks); called in every case
        (``prepared``: None when the run ended before its environment was ready)."""

    def prepare_next(self) -> None:
        """Called once a run's launch is recorded and again once it ended: work for the
        next runs that must stay off this one's path (the local backend's holds)."""

    def can_resume(self, state: dict[str, Any]) -> bool:
        """Whether ``state`` (a run's ``backend_state``) names a job that outlives its
        worker, for a restarted worker to ``reattach`` to instead of failing the run."""
        return False

    def reattach(self, ctx: RunContext[C], state: dict[str, Any]) -> Job | None:
        """Pick up a run a previous worker started (None: it cannot be resumed)."""
        return None

    def reap_orphans(self, state: dict[str, Any], target: Target[C], active: bool) -> None:
        """Stop what a previous worker left running for a run it can no longer finish
        (``active``: the run is still active, so a restarted worker may resume it)."""
