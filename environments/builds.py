"""The one environment-build lifecycle, for virtualenvs and container images alike.

Algorithm (``ensure``): find-or-create the EnvironmentBuild row for (kind, location,
content hash). A finished build already there (``Builder.ready``) is a cache hit.
Else take an exclusive file lock per content hash (concurrent runs on any process
sharing the lock's folder build once; waiting ends when the run is canceled), look
again (the lock holder may have just finished), and build: the row is started, the
builder's own steps run with their output streamed into the build's log (and mirrored
into the run's), and the outcome is recorded on the row. A failed or canceled build
discards what it left behind, keeps its log and raises ``BuildFailed`` (with the
log's tail) or ``BuildCanceled``.

What differs per kind lives in a ``Builder``: where the build lives, how to tell it is
there, and the steps (``environments.builder``: uv; ``environments.image_builder``:
the Docker Engine API).
"""

from __future__ import annotations

import abc
import fcntl
import logging
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from environments.models import BuildLogLine, EnvironmentBuild, IllegalBuildTransition
from runs.logstore import LogWriter, Pending

log = logging.getLogger(__name__)

Say = Callable[[str], None]
Canceled = Callable[[], bool]


class BuildFailed(Exception):
    def __init__(self, message: str, log_tail: str) -> None:
        super().__init__(message)
        self.log_tail = log_tail


class BuildCanceled(Exception):
    pass


@contextmanager
def build_lock(path: Path, what: str, say: Say, canceled: Canceled) -> Iterator[None]:
    """Hold the per-content-hash build lock: concurrent runs asking for the same
    environment (on this host or another sharing the folder) build it once. Waiting is
    said once in the build log and ends early when the run is canceled."""
    with open(path, "w") as lock:
        waited = False
        while True:
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if not waited:
                    say(f"Waiting for another build of {what} to finish…")
                    waited = True
                if canceled():
                    raise BuildCanceled() from None
                time.sleep(0.1)
        yield


class BuildLog:
    """Stores a build's lines (numbered) and mirrors them to a callback (the run's log)."""

    def __init__(self, build: EnvironmentBuild, mirror: Say | None) -> None:
        self.build = build
        self.mirror = mirror
        self.lines: list[str] = []
        self.writer = LogWriter(build.pk, start_seq=0, store=_store_build_lines, group=f"build.{build.pk}")

    def __call__(self, text: str) -> None:
        self.lines.append(text)
        if len(self.lines) > 400:
            del self.lines[:200]
        self.writer.write(0, "stdout", text)
        if self.mirror:
            self.mirror(text)

    def tail(self, n: int = 40) -> str:
        return "\n".join(self.lines[-n:])

    def close(self) -> None:
        self.writer.close()


def _store_build_lines(build_id: int, numbered: list[tuple[int, Pending]]) -> None:
    BuildLogLine.objects.bulk_create(
        [BuildLogLine(build_id=build_id, seq=seq, text=p.text) for seq, p in numbered],
        ignore_conflicts=True,
    )
    EnvironmentBuild.objects.filter(pk=build_id).update(log_seq=numbered[-1][0])


class Builder(abc.ABC):
    """One kind of build: where it lives and its own steps, nothing of the lifecycle."""

    kind: EnvironmentBuild.Kind
    # The message of a BuildFailed raised for an unexpected error in the steps.
    failure: str

    @property
    @abc.abstractmethod
    def content_hash(self) -> str: ...

    @property
    @abc.abstractmethod
    def location(self) -> str:
        """The row's location: builds of one hash in different places are different builds."""

    @property
    @abc.abstractmethod
    def artifact(self) -> str:
        """What the row's ``path`` records: the venv directory or the image tag."""

    @property
    @abc.abstractmethod
    def lock_path(self) -> Path: ...

    @property
    @abc.abstractmethod
    def what(self) -> str:
        """How the log names the build ("environment 1a2b…", "image runyard-env:…")."""

    @abc.abstractmethod
    def ready(self) -> bool:
        """Whether a finished build is there (the cache check, made twice)."""

    @abc.abstractmethod
    def build(self, say: Say, canceled: Canceled) -> None:
        """Run the steps, streaming their output to ``say``; raise BuildFailed or
        BuildCanceled. On return ``ready()`` holds."""

    @abc.abstractmethod
    def ready_message(self, seconds: float) -> str: ...

    def discard(self) -> None:
        """Remove what a failed or canceled build left behind."""


@dataclass(frozen=True)
class Ensured:
    build: EnvironmentBuild
    cache_hit: bool


def _quiet(_text: str) -> None:
    pass


def ensure(
    builder: Builder,
    *,
    log: Say | None = None,
    canceled: Canceled = lambda: False,
    row: EnvironmentBuild | None = None,
) -> Ensured:
    """Return the finished build ``builder`` describes, building it if it is not there
    (``row``: that build's row as the caller just read it; else it is read here)."""
    if row is None or (row.kind, row.location, row.content_hash) != (
        builder.kind,
        builder.location,
        builder.content_hash,
    ):
        row = EnvironmentBuild.for_content(builder.kind, builder.location, builder.content_hash)
    if _reuse(builder, row, lock_held=False):
        return Ensured(row, cache_hit=True)
    say = log or _quiet
    builder.lock_path.parent.mkdir(parents=True, exist_ok=True)
    with build_lock(builder.lock_path, builder.what, say, canceled):
        row.refresh_from_db()
        if _reuse(builder, row, lock_held=True):
            say(f"{builder.what[:1].upper()}{builder.what[1:]} was built meanwhile; reusing it.")
            return Ensured(row, cache_hit=True)
        return Ensured(_build(builder, row, say, canceled), cache_hit=False)


def _reuse(builder: Builder, row: EnvironmentBuild, *, lock_held: bool) -> bool:
    if not builder.ready():
        return False
    try:
        row.adopt(builder.artifact, lock_held=lock_held)
    except IllegalBuildTransition:
        return False  # a builder is recording it: wait for it under the lock
    return True


def _build(builder: Builder, row: EnvironmentBuild, say: Say, canceled: Canceled) -> EnvironmentBuild:
    row.start()
    buildlog = BuildLog(row, say)
    try:
        error = _steps(builder, buildlog, canceled)
    finally:
        buildlog.close()  # the whole log is stored before anyone sees the outcome
    if error is None:
        row.succeed(builder.artifact)
        return row
    try:
        if isinstance(error, BuildCanceled):
            row.cancel()
        else:
            row.fail(f"{error}\n{error.log_tail}")
    except IllegalBuildTransition:
        # A newer attempt owns the row (this builder was presumed dead); its outcome stands.
        log.warning("build %s of %s: outcome not recorded, a newer attempt owns it", row.pk, builder.what)
    raise error


def _steps(builder: Builder, buildlog: BuildLog, canceled: Canceled) -> BuildCanceled | BuildFailed | None:
    """Run the builder's steps; the error that ends the build, if any (handled here
    once for every kind of build)."""
    started = time.monotonic()
    try:
        builder.build(buildlog, canceled)
    except BuildCanceled as exc:
        builder.discard()
        buildlog("Build canceled.")
        return exc
    except BuildFailed as exc:
        builder.discard()
        return BuildFailed(str(exc), buildlog.tail())
    except Exception as exc:  # an engine gone, a full disk, a bug: a failed build too, not one left Building
        log.exception("the build of %s failed", builder.what)
        builder.discard()
        return BuildFailed(f"{builder.failure}: {exc}", buildlog.tail())
    buildlog(builder.ready_message(time.monotonic() - started))
    return None
