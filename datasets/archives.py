"""Safe reading of uploaded zip and tar archives (and of uploaded relative paths).

Algorithm: ``inspect`` reads every member header before a byte is unpacked and refuses
the whole archive on the first problem, naming the member: absolute paths, ``..``
components, symbolic or hard links, device files and FIFOs, encrypted zip members,
duplicate paths, a path that is both a file and a folder, more files or more unpacked
bytes than the limits, and a compression ratio (unpacked ÷ packed, per zip member and
for the whole archive) above the limit. ``iter_files`` then streams each regular file
and refuses a member that produces more bytes than its header declared, so a lying
header cannot get past the size limit.
"""

from __future__ import annotations

import stat
import tarfile
import zipfile
import zlib
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import IO

from datasets.conf import ArchiveLimits

MAX_PATH_CHARS = 1000


class UnsafeArchive(ValueError):
    """The archive (or an uploaded path) is malformed, too large, or escapes its root."""


@dataclass(frozen=True)
class Member:
    path: str
    size: int


def clean_path(name: str, what: str = "Member") -> str:
    """A safe relative POSIX path, or UnsafeArchive naming the problem."""
    if "\x00" in name:
        raise UnsafeArchive(f"{what} {name!r} contains a NUL byte.")
    if any(not ch.isprintable() for ch in name):
        raise UnsafeArchive(f"{what} {name!r} contains control characters.")
    normal = name.replace("\\", "/")
    if normal.startswith("/") or (len(normal) > 1 and normal[1] == ":"):
        raise UnsafeArchive(f"{what} '{name}' has an absolute path.")
    parts = [p for p in PurePosixPath(normal).parts if p not in ("", ".")]
    if any(p == ".." for p in parts):
        raise UnsafeArchive(f"{what} '{name}' escapes the target with '..'.")
    out = "/".join(parts)
    if len(out) > MAX_PATH_CHARS:
        raise UnsafeArchive(f"{what} '{out[:80]}…' has a path longer than {MAX_PATH_CHARS} characters.")
    return out


def check_tree(paths: Iterable[str], what: str = "Member") -> None:
    """Refuse duplicates and a path that is a file and also a folder of another file."""
    seen: set[str] = set()
    folders: set[str] = set()
    for path in paths:
        if path in seen:
            raise UnsafeArchive(f"{what} '{path}' appears twice.")
        seen.add(path)
        parts = path.split("/")
        for i in range(1, len(parts)):
            folders.add("/".join(parts[:i]))
    clash = sorted(seen & folders)
    if clash:
        raise UnsafeArchive(f"{what} '{clash[0]}' is both a file and a folder.")


def _zip_members(zf: zipfile.ZipFile) -> Iterator[tuple[zipfile.ZipInfo, str, bool]]:
    for info in zf.infolist():
        mode = (info.external_attr >> 16) & 0o170000
        if mode and stat.S_ISLNK(mode):
            raise UnsafeArchive(f"Member '{info.filename}' is a symbolic link; links are not allowed.")
        if mode and not (stat.S_ISREG(mode) or stat.S_ISDIR(mode)):
            raise UnsafeArchive(
                f"Member '{info.filename}' is a device file or FIFO; only files and folders are allowed."
            )
        if info.flag_bits & 0x1:
            raise UnsafeArchive(f"Member '{info.filename}' is encrypted.")
        yield info, clean_path(info.filename), info.is_dir()


def _tar_members(tf: tarfile.TarFile) -> Iterator[tuple[tarfile.TarInfo, str, bool]]:
    for tinfo in tf:
        if tinfo.issym() or tinfo.islnk():
            raise UnsafeArchive(f"Member '{tinfo.name}' is a link; links are not allowed.")
        if tinfo.isdev() or tinfo.isfifo():
            raise UnsafeArchive(f"Member '{tinfo.name}' is a device file or FIFO; only files and folders are allowed.")
        if not (tinfo.isfile() or tinfo.isdir()):
            raise UnsafeArchive(f"Member '{tinfo.name}' is not a regular file or folder.")
        yield tinfo, clean_path(tinfo.name), tinfo.isdir()


@contextmanager
def _open(archive: Path) -> Iterator[zipfile.ZipFile | tarfile.TarFile]:
    if zipfile.is_zipfile(archive):
        with zipfile.ZipFile(archive) as zf:
            yield zf
        return
    try:
        tf = tarfile.open(archive)  # noqa: SIM115 - closed by the with below
    except tarfile.TarError:
        raise UnsafeArchive("The archive is neither a zip nor a tar (.tar, .tar.gz, .tar.bz2, .tar.xz) file.") from None
    with tf:
        yield tf


def inspect(archive: Path, limits: ArchiveLimits) -> list[Member]:
    """Every regular file of the archive, after all the checks; raises UnsafeArchive."""
    packed = max(archive.stat().st_size, 1)
    total, out = 0, []
    try:
        with _open(archive) as handle:
            if isinstance(handle, zipfile.ZipFile):
                entries: Iterator[tuple[zipfile.ZipInfo | tarfile.TarInfo, str, bool]] = _zip_members(handle)
            else:
                entries = _tar_members(handle)
            for info, path, is_dir in entries:
                if is_dir or not path:
                    continue
                size = info.file_size if isinstance(info, zipfile.ZipInfo) else info.size
                if (
                    isinstance(info, zipfile.ZipInfo)
                    and size > limits.ratio_floor
                    and (info.compress_size <= 0 or size / info.compress_size > limits.max_ratio)
                ):
                    raise UnsafeArchive(
                        f"Member '{path}' expands more than {limits.max_ratio:g}× (a zip bomb?); refused."
                    )
                total += size
                out.append(Member(path, size))
                if total > limits.max_bytes:
                    raise UnsafeArchive(f"The archive unpacks to more than the limit of {limits.max_bytes} bytes.")
                if len(out) > limits.max_files:
                    raise UnsafeArchive(f"The archive has more than the limit of {limits.max_files} files.")
    except (zipfile.BadZipFile, tarfile.TarError, EOFError, OSError) as exc:
        raise UnsafeArchive(f"The archive is corrupt: {exc}") from None
    if total > limits.ratio_floor and total / packed > limits.max_ratio:
        raise UnsafeArchive(
            f"The archive expands {total / packed:.0f}× (limit {limits.max_ratio:g}×: a zip bomb?); refused."
        )
    check_tree(m.path for m in out)
    if not out:
        raise UnsafeArchive("The archive has no files.")
    return out


def iter_files(archive: Path, limits: ArchiveLimits) -> Iterator[tuple[Member, _Limited]]:
    """Inspect, then yield (member, readable stream) for each regular file in order."""
    wanted = {m.path: m for m in inspect(archive, limits)}
    try:
        with _open(archive) as handle:
            if isinstance(handle, zipfile.ZipFile):
                for zinfo, path, is_dir in _zip_members(handle):
                    if not is_dir and path in wanted:
                        with handle.open(zinfo) as stream:
                            yield wanted[path], _Limited(stream, wanted[path])
            else:
                for tinfo, path, is_dir in _tar_members(handle):
                    if not is_dir and path in wanted:
                        src = handle.extractfile(tinfo)
                        if src is None:
                            raise UnsafeArchive(f"Member '{path}' cannot be read.")
                        with src:
                            yield wanted[path], _Limited(src, wanted[path])
    except (zipfile.BadZipFile, tarfile.TarError, EOFError) as exc:
        raise UnsafeArchive(f"The archive is corrupt: {exc}") from None


class _Limited:
    """A reader that refuses to produce more bytes than the member's header declared."""

    def __init__(self, src: IO[bytes], member: Member) -> None:
        self.src = src
        self.member = member
        self.read_bytes = 0

    def read(self, size: int = -1) -> bytes:
        try:
            chunk = self.src.read(size)
        except (zipfile.BadZipFile, tarfile.TarError, EOFError, zlib.error) as exc:
            raise UnsafeArchive(f"Member '{self.member.path}' is corrupt: {exc}") from None
        self.read_bytes += len(chunk)
        if self.read_bytes > self.member.size:
            raise UnsafeArchive(f"Member '{self.member.path}' is larger than its header says.")
        return chunk
