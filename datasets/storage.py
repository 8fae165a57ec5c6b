"""Content-addressed dataset storage.

Layout under ``DATASET_DIR``::

    blobs/<sha[:2]>/<sha>   every distinct file content once, read-only (0444)
    trees/<content sha>/    a version's tree of hard links to its blobs (0555/0444),
                            keyed by the version's content hash so identical versions
                            share one and a tree can never be stale
    derived/<content sha>/  trees of what runs got that no version stores as is: a
                            subset of a version's files, a web dataset's fetched content
    url-cache/              web files fetched by workers (datasets/fetch.py)
    tmp/                    files being received or hashed; never referenced

Writing (algorithm): content is streamed into ``tmp/`` in 1 MiB chunks while it is
hashed (no whole file in memory). Under the *shared* blob lock, each finished temp
file is renamed to its blob path (or dropped when the blob already exists: identical
content is stored once) and the version's rows are committed. Removing blobs (a failed
registration's new blobs, a deleted version's blobs) takes the *exclusive* lock and
deletes only blobs no ``DatasetFile`` row references, so a blob that a concurrent
registration is about to reference is never removed under it.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import hashlib
import logging
import os
import shutil
import stat
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from common.archives import clean_path
from datasets.conf import dataset_dir, datastore_roots

log = logging.getLogger(__name__)
CHUNK = 1 << 20


# Other owners of blobs and trees (the model registry registers itself here from its
# AppConfig.ready): a blob or tree any of them still uses is never collected.
BLOB_USERS: list[Callable[[list[str]], set[str]]] = []  # sha256s -> those still referenced
TREE_USERS: list[Callable[[list[str] | None], set[str]]] = []  # content hashes (None: all) -> those in use


class Reader(Protocol):
    def read(self, size: int = -1, /) -> bytes: ...


class StorageError(Exception):
    """A stored file is missing or a path is not usable; the message says which."""


def root() -> Path:
    return dataset_dir()


def tmp_dir() -> Path:
    path = root() / "tmp"
    path.mkdir(parents=True, exist_ok=True)
    return path


def blob_path(sha256: str) -> Path:
    return root() / "blobs" / sha256[:2] / sha256


def tree_dir(content_sha256: str) -> Path:
    return root() / "trees" / content_sha256


def content_hash(files: Iterable[tuple[str, str, int]]) -> str:
    """A version's identity: sha256 over its sorted (path, sha256, size) entries."""
    digest = hashlib.sha256()
    for path, sha, size in sorted(files):
        digest.update(f"{path}\0{sha}\0{size}\n".encode())
    return digest.hexdigest()


# ---- the blob lock -----------------------------------------------------------------
@contextmanager
def blob_lock(exclusive: bool = False, timeout: float | None = None) -> Iterator[None]:
    """flock on ``DATASET_DIR/.blobs.lock``: shared for adding blobs, exclusive for removing.

    With ``timeout`` it raises TimeoutError instead of waiting longer.
    """
    root().mkdir(parents=True, exist_ok=True)
    with open(root() / ".blobs.lock", "a+b") as handle:
        mode = fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH
        if timeout is None:
            fcntl.flock(handle, mode)
        else:
            deadline = time.monotonic() + timeout
            while True:
                try:
                    fcntl.flock(handle, mode | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    if time.monotonic() > deadline:
                        raise TimeoutError("the dataset blob store is busy") from None
                    time.sleep(0.05)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


# ---- receiving content ---------------------------------------------------------------
@dataclass
class Spooled:
    """A file's content hashed into ``tmp/``, waiting to become a blob."""

    path: str  # relative path inside the version
    tmp: Path
    size: int
    sha256: str


def spool(stream: Reader, rel_path: str) -> Spooled:
    """Copy a stream into a temp file in 1 MiB chunks, hashing as it goes."""
    digest = hashlib.sha256()
    size = 0
    fd, name = tempfile.mkstemp(dir=tmp_dir(), suffix=".part")
    try:
        with os.fdopen(fd, "wb") as out:
            while chunk := stream.read(CHUNK):
                digest.update(chunk)
                out.write(chunk)
                size += len(chunk)
    except BaseException:
        Path(name).unlink(missing_ok=True)
        raise
    return Spooled(rel_path, Path(name), size, digest.hexdigest())


def adopt(item: Spooled) -> bool:
    """Move a spooled file to its blob path; True if that created a new blob.

    Call under ``blob_lock()``. Identical content already stored: the temp file is dropped.
    """
    dest = blob_path(item.sha256)
    if dest.exists():
        item.tmp.unlink(missing_ok=True)
        return False
    dest.parent.mkdir(parents=True, exist_ok=True)
    item.tmp.chmod(0o444)
    os.replace(item.tmp, dest)
    return True


@dataclass
class Ingest:
    """Spooled files of one registration and the blobs it created (for cleanup)."""

    files: list[Spooled] = field(default_factory=list)
    created: list[str] = field(default_factory=list)

    def discard_temp(self) -> None:
        for item in self.files:
            item.tmp.unlink(missing_ok=True)


def remove_unreferenced(shas: Iterable[str], timeout: float = 60) -> int:
    """Delete the given blobs that no DatasetFile (or BLOB_USERS owner) references; return how many went.

    If the store stays busy past ``timeout`` the blobs are left for ``gc`` to remove.
    """
    from datasets.models import DatasetFile

    wanted = sorted(set(shas) - {""})  # "": a web file's row, which has no blob
    if not wanted:
        return 0
    removed = 0
    try:
        with blob_lock(exclusive=True, timeout=timeout):
            for start in range(0, len(wanted), 500):
                chunk = wanted[start : start + 500]
                used = set(DatasetFile.objects.filter(sha256__in=chunk).values_list("sha256", flat=True))
                for users in BLOB_USERS:
                    used |= users(chunk)
                for sha in chunk:
                    if sha not in used and blob_path(sha).exists():
                        blob_path(sha).unlink(missing_ok=True)
                        removed += 1
    except TimeoutError:
        log.warning("blob store busy: %d unreferenced blob(s) left for the next gc", len(wanted))
    return removed


def gc(tmp_older_than: float = 24 * 3600) -> dict[str, int]:
    """Remove blobs no version references, stale temp files, and trees of deleted versions."""
    from datasets.models import DatasetVersion

    shas = [p.name for p in (root() / "blobs").glob("*/*") if p.is_file()]
    removed = remove_unreferenced(shas, timeout=600)
    stale = 0
    cutoff = time.time() - tmp_older_than
    for path in (root() / "tmp").glob("*"):
        try:
            if path.stat().st_mtime < cutoff:
                force_rmtree(path) if path.is_dir() else path.unlink()
                stale += 1
        except FileNotFoundError:
            pass
    trees = 0
    wanted = set(DatasetVersion.objects.values_list("content_sha256", flat=True))
    for users in TREE_USERS:
        wanted |= users(None)
    for path in (root() / "trees").glob("*"):
        if path.name not in wanted:
            remove_tree(path.name)
            trees += 1
    return {"blobs": removed, "temp_files": stale, "version_trees": trees}


# ---- reading ---------------------------------------------------------------------------
def version_tree(content_sha256: str, files: Iterable[tuple[str, str]]) -> Path:
    """The read-only tree of hard links to a version's blobs, made on first use.

    ``files`` is (relative path, sha256). The tree appears by one atomic rename of a
    private staging folder, so it exists only when complete; concurrent callers each
    build their own and the loser discards it.
    """
    return link_tree(tree_dir(content_sha256), ((rel, blob_path(sha), sha) for rel, sha in files))


def derived_tree(content_sha256: str, files: Iterable[tuple[str, Path, str]]) -> Path:
    """A tree for what a run got that is no stored version: a subset of a version's files
    (``take``/``random_split``) or a web dataset's fetched content. Kept apart from
    ``trees/`` because ``gc`` removes trees no version names, which would pull these from
    under a running run; they are hard links, so they cost folders, not content."""
    target = root() / "derived" / content_sha256
    if target.is_dir():
        with contextlib.suppress(OSError):
            os.utime(target)  # its mtime is its last use: prune_derived keeps recent ones
    return link_tree(target, files)


def prune_derived(older_than: float) -> int:
    """Remove derived trees not used for ``older_than`` seconds; a run that has used one
    for longer than that (and still does) would lose it, so keep the age generous."""
    cutoff = time.time() - older_than
    removed = 0
    for path in (root() / "derived").glob("*"):
        try:
            if path.stat().st_mtime < cutoff:
                doomed = tmp_dir() / f"doomed-derived-{path.name}-{time.monotonic_ns()}"
                os.rename(path, doomed)
                force_rmtree(doomed)
                removed += 1
        except FileNotFoundError:
            pass
    return removed


def link_tree(target: Path, files: Iterable[tuple[str, Path, str]]) -> Path:
    """Build ``target`` as a read-only tree of hard links: (relative path, blob, sha256)."""
    if target.is_dir():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=tmp_dir(), prefix="tree-"))
    try:
        for rel, blob, sha in files:
            dest = staging / rel
            dest.parent.mkdir(parents=True, exist_ok=True)
            try:
                os.link(blob, dest)
            except FileNotFoundError:
                raise StorageError(f"The stored content of '{rel}' ({sha[:12]}…) is missing.") from None
            except OSError as exc:
                if exc.errno not in (errno.EXDEV, errno.EMLINK, errno.EPERM):
                    raise
                shutil.copyfile(blob, dest)  # no hard links here: a read-only copy instead
        make_read_only(staging)
        try:
            os.rename(staging, target)
        except OSError as exc:
            if exc.errno not in (errno.ENOTEMPTY, errno.EEXIST):
                raise
    finally:
        if staging.exists():
            force_rmtree(staging)  # another process finished first, or we failed
    return target


def remove_tree(content_sha256: str) -> None:
    """Move the tree out of sight atomically, then delete it."""
    target = tree_dir(content_sha256)
    if not target.exists():
        return
    doomed = tmp_dir() / f"doomed-{content_sha256}-{os.getpid()}-{time.monotonic_ns()}"
    try:
        os.rename(target, doomed)
    except FileNotFoundError:
        return
    force_rmtree(doomed)


def copy_files(files: Iterable[tuple[str, str]], dest: Path) -> int:
    """Copy blobs out as (relative path, sha256) under ``dest`` (writable copies)."""
    return copy_blobs(((rel, blob_path(sha), sha) for rel, sha in files), dest)


def copy_blobs(files: Iterable[tuple[str, Path, str]], dest: Path) -> int:
    """Copy (relative path, blob, sha256) under ``dest`` as writable files."""
    dest.mkdir(parents=True, exist_ok=True)
    count = 0
    for rel, blob, sha in files:
        out = dest / rel
        out.parent.mkdir(parents=True, exist_ok=True)
        try:
            shutil.copyfile(blob, out)
        except FileNotFoundError:
            raise StorageError(f"The stored content of '{rel}' ({sha[:12]}…) is missing.") from None
        out.chmod(0o644)
        count += 1
    return count


def make_read_only(path: Path) -> None:
    for dirpath, _dirnames, filenames in os.walk(path, topdown=False):
        for name in filenames:
            os.chmod(os.path.join(dirpath, name), 0o444, follow_symlinks=False)
        os.chmod(dirpath, 0o555)


def force_rmtree(path: Path) -> None:
    """rmtree that also works on read-only folders when not running as root."""

    def onexc(func: object, failed: str, exc: BaseException) -> None:
        parent = os.path.dirname(failed)
        try:
            os.chmod(parent, 0o755)
            if os.path.isdir(failed) and not os.path.islink(failed):
                os.chmod(failed, 0o755)
                shutil.rmtree(failed, ignore_errors=True)
            else:
                os.unlink(failed)
        except OSError:
            pass

    if path.is_symlink() or path.is_file():
        path.unlink(missing_ok=True)
    elif path.exists():
        shutil.rmtree(path, onerror=lambda f, p, e: onexc(f, p, e[1]))


# ---- datastores -----------------------------------------------------------------------
def allowed_root_of(path: Path) -> Path | None:
    """The allowed datastore root that contains ``path`` (resolved), if any."""
    resolved = path.resolve()
    for allowed in datastore_roots():
        if resolved == allowed or allowed in resolved.parents:
            return allowed
    return None


def inside(base: Path, rel: str) -> Path:
    """``base/rel`` resolved, refusing anything that ends up outside base (through a symlink).

    ``rel`` is cleaned first (a leading ``/`` means the datastore's root): a path that
    ``clean_path`` refuses (NUL, ``..``, …) raises its UnsafeArchive.
    """
    base = base.resolve()
    path = (base / clean_path(rel.lstrip("/"), "Path", field="path", empty_ok=True)).resolve()
    if path != base and base not in path.parents:
        raise StorageError(f"'{rel}' is outside the datastore.")
    return path


def walk_files(source: Path) -> Iterator[tuple[str, Path]]:
    """(relative path, absolute path) of every regular file under ``source``, sorted.

    Symbolic links are followed only when they stay inside ``source``; others are skipped.
    """
    source = source.resolve()
    if source.is_file():
        yield source.name, source
        return
    for dirpath, dirnames, filenames in os.walk(source, followlinks=False):
        base = Path(dirpath)
        dirnames.sort()
        for name in sorted(filenames):
            path = base / name
            real = path.resolve()
            if real != source and source not in real.parents:
                log.warning("skipping %s: it links outside %s", path, source)
                continue
            try:
                mode = real.stat().st_mode
            except OSError:
                continue
            if stat.S_ISREG(mode):
                yield path.relative_to(source).as_posix(), real
