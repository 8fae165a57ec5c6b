"""Source snapshots: checked at submission, stored by content, extracted safely.

Archives (zip or tar, optionally compressed) are inspected member by member before a
byte is written: absolute paths, ``..`` components, links, device files, too many
files or too many bytes are refused with the offending member named.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import stat
import tarfile
import tempfile
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import IO, Any

from django.conf import settings


class UnsafeArchive(ValueError):
    """The archive is malformed, too large, or has a member that escapes its root."""


@dataclass(frozen=True)
class Member:
    path: str
    size: int
    is_dir: bool


@dataclass(frozen=True)
class StoredSnapshot:
    sha256: str
    path: Path
    size: int
    files: list[str]


def _limits() -> tuple[int, int]:
    cfg = settings.RUNYARD
    return int(cfg["SNAPSHOT_MAX_BYTES"]), int(cfg["SNAPSHOT_MAX_FILES"])


def _clean(name: str) -> str:
    if "\x00" in name:
        raise UnsafeArchive(f"Member name {name!r} contains a NUL byte.")
    if name.startswith(("/", "\\")) or (len(name) > 1 and name[1] == ":"):
        raise UnsafeArchive(f"Member '{name}' has an absolute path.")
    parts = [p for p in PurePosixPath(name.replace("\\", "/")).parts if p not in ("", ".")]
    if any(p == ".." for p in parts):
        raise UnsafeArchive(f"Member '{name}' escapes the snapshot with '..'.")
    return "/".join(parts)


def _members(archive: Path) -> Iterator[Member]:
    if zipfile.is_zipfile(archive):
        with zipfile.ZipFile(archive) as zf:
            for info in zf.infolist():
                mode = (info.external_attr >> 16) & 0o170000
                if mode and stat.S_ISLNK(mode):
                    raise UnsafeArchive(f"Member '{info.filename}' is a symbolic link; links are not allowed.")
                if mode and not (stat.S_ISREG(mode) or stat.S_ISDIR(mode)):
                    raise UnsafeArchive(f"Member '{info.filename}' is not a regular file or folder.")
                yield Member(_clean(info.filename), info.file_size, info.is_dir())
        return
    try:
        tf = tarfile.open(archive)  # noqa: SIM115 - closed by the with below; open errors need their own message
    except tarfile.TarError:
        raise UnsafeArchive("The snapshot is neither a zip nor a tar archive.") from None
    with tf:
        for tinfo in tf:
            if tinfo.issym() or tinfo.islnk():
                raise UnsafeArchive(f"Member '{tinfo.name}' is a link; links are not allowed.")
            if not (tinfo.isfile() or tinfo.isdir()):
                raise UnsafeArchive(f"Member '{tinfo.name}' is not a regular file or folder.")
            yield Member(_clean(tinfo.name), tinfo.size, tinfo.isdir())


def inspect(archive: Path) -> list[Member]:
    """All members, after every safety check and limit; raises UnsafeArchive."""
    max_bytes, max_files = _limits()
    total, out = 0, []
    try:
        for member in _members(archive):
            if not member.path:
                continue
            total += member.size
            out.append(member)
            if total > max_bytes:
                raise UnsafeArchive(f"The snapshot unpacks to more than the limit of {max_bytes} bytes.")
            if len(out) > max_files:
                raise UnsafeArchive(f"The snapshot has more than the limit of {max_files} files.")
    except (zipfile.BadZipFile, tarfile.TarError, EOFError, OSError) as exc:
        raise UnsafeArchive(f"The snapshot archive is corrupt: {exc}") from None
    return out


def store(upload: IO[bytes]) -> StoredSnapshot:
    """Stream an uploaded archive to disk, check it, and keep it under its SHA-256."""
    max_bytes, _ = _limits()
    root = Path(settings.RUNYARD["SNAPSHOT_DIR"])
    root.mkdir(parents=True, exist_ok=True)
    digest = hashlib.sha256()
    size = 0
    with tempfile.NamedTemporaryFile(dir=root, delete=False, suffix=".part") as tmp:
        for chunk in iter(lambda: upload.read(1 << 20), b""):
            size += len(chunk)
            if size > max_bytes:
                tmp.close()
                os.unlink(tmp.name)
                raise UnsafeArchive(f"The snapshot is larger than the limit of {max_bytes} bytes.")
            digest.update(chunk)
            tmp.write(chunk)
    tmp_path = Path(tmp.name)
    try:
        members = inspect(tmp_path)
    except UnsafeArchive:
        tmp_path.unlink(missing_ok=True)
        raise
    final = root / f"{digest.hexdigest()}.archive"
    os.replace(tmp_path, final)
    return StoredSnapshot(digest.hexdigest(), final, size, [m.path for m in members if not m.is_dir])


def path_of(sha256: str) -> Path:
    return Path(settings.RUNYARD["SNAPSHOT_DIR"]) / f"{sha256}.archive"


def extract(sha256: str, target: Path) -> list[str]:
    """Extract a stored snapshot into ``target`` (re-checking every member)."""
    archive = path_of(sha256)
    members = inspect(archive)
    target.mkdir(parents=True, exist_ok=True)
    root = target.resolve()
    wanted = {m.path for m in members}

    def dest(name: str) -> Path:
        out = (root / name).resolve()
        if out != root and root not in out.parents:
            raise UnsafeArchive(f"Member '{name}' escapes the run directory.")
        return out

    if zipfile.is_zipfile(archive):
        with zipfile.ZipFile(archive) as zf:
            for info in zf.infolist():
                name = _clean(info.filename)
                if not name or name not in wanted:
                    continue
                out = dest(name)
                if info.is_dir():
                    out.mkdir(parents=True, exist_ok=True)
                    continue
                out.parent.mkdir(parents=True, exist_ok=True)
                with zf.open(info) as src, open(out, "wb") as dst:
                    _copy_limited(src, dst, info.file_size, name)
                mode = (info.external_attr >> 16) & 0o777
                if mode:
                    out.chmod(mode | 0o600)
    else:
        with tarfile.open(archive) as tf:
            for tinfo in tf:
                name = _clean(tinfo.name)
                if not name or name not in wanted:
                    continue
                out = dest(name)
                if tinfo.isdir():
                    out.mkdir(parents=True, exist_ok=True)
                    continue
                out.parent.mkdir(parents=True, exist_ok=True)
                member = tf.extractfile(tinfo)
                if member is None:
                    continue
                with member, open(out, "wb") as dst:
                    _copy_limited(member, dst, tinfo.size, name)
                out.chmod((tinfo.mode & 0o777) | 0o600)
    return sorted(m.path for m in members if not m.is_dir)


def _copy_limited(src: IO[bytes], dst: IO[bytes], declared: int, name: str) -> None:
    # A lying header (declared size smaller than the data) must not bypass the limit.
    written = 0
    for chunk in iter(lambda: src.read(1 << 20), b""):
        written += len(chunk)
        if written > declared:
            raise UnsafeArchive(f"Member '{name}' is larger than its header says.")
        dst.write(chunk)


def make_archive(source_dir: Path, out: Path, ignore: Any = None) -> Path:
    """Pack a folder as a tar.gz (used for resubmission and tests)."""
    with tarfile.open(out, "w:gz") as tf:
        for path in sorted(source_dir.rglob("*")):
            rel = path.relative_to(source_dir).as_posix()
            if ignore and ignore(rel):
                continue
            if path.is_file() and not path.is_symlink():
                tf.add(path, arcname=rel, recursive=False)
    return out


def remove_tree(path: Path) -> None:
    shutil.rmtree(path, ignore_errors=True)
