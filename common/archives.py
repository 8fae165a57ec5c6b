"""Safe reading of uploaded zip and tar archives, and of uploaded relative paths.

One module for run snapshots, dataset archives, datastore uploads and artifact names,
so every way in refuses the same things with the same messages: NUL and control
characters, absolute paths and drive letters, ``..``, over-long names, symbolic and
hard links, device files and FIFOs, encrypted zip members, duplicate paths (also the
same name in two Unicode forms), a path that is both a file and a folder, and archives
past the limits (entries, bytes in all, bytes of one file, expansion ratio).

Algorithm. A zip's central directory is checked entry by entry before any member is
decompressed; the declared sizes decide the size and ratio limits there, for nothing.
Reading a member then stops at its declared size, and zipfile checks its CRC at the
end, so a lying header is refused instead of getting past the limits. Only stored and
deflated members are read: zipfile decompresses bzip2 and lzma members without an
output bound. A tar (plain, .gz, .bz2 or .xz) is read as one forward stream through a
counting reader that sits between the decompressor and tarfile. Each header is checked
when it arrives, before its data; a tar member's declared size is exactly the data that
follows, so the size and ratio limits are decided at the header too. The counting
reader lets the stream run only as far as the admitted headers entitle it (their data,
plus room for the next header), so a gzip bomb or a giant pax header is refused at the
first chunk past that point instead of after expanding everything.
"""

from __future__ import annotations

import bz2
import gzip
import lzma
import stat
import tarfile
import unicodedata
import zipfile
import zlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import IO, Protocol

from common.sizes import human_bytes, limit_text

MIB = 1024 * 1024
MAX_PATH_CHARS = 1000
MAX_NAME_BYTES = 255  # NAME_MAX on Linux: a longer component could never be written
CHUNK = MIB
# Room for one tar entry's headers (pax records, GNU long names, padding) plus tarfile's
# read-ahead. Legitimate headers are a few KiB: anything past this is a bomb.
HEADER_ROOM = MIB
_TAR_BUFSIZE = 64 * 1024
_READ_ERRORS = (OSError, EOFError, zlib.error, lzma.LZMAError, zipfile.BadZipFile, tarfile.TarError)


class _Readable(Protocol):
    def read(self, size: int = -1, /) -> bytes: ...


class Reason(StrEnum):
    """Which check refused an archive or a path."""

    PATH = "path"
    ESCAPE = "escape"  # a '..' component
    LINK = "link"
    SPECIAL = "special"
    ENCRYPTED = "encrypted"
    UNSUPPORTED = "unsupported"
    DUPLICATE = "duplicate"
    TOO_MANY_ENTRIES = "too_many_entries"
    TOO_LARGE = "too_large"
    ENTRY_TOO_LARGE = "entry_too_large"
    RATIO = "ratio"
    CORRUPT = "corrupt"
    NOT_AN_ARCHIVE = "not_an_archive"


class UnsafeArchive(ValueError):
    """A refused archive or path: a domain error that the API layers answer with a 400
    on ``field``. ``expanded`` is how many decompressed bytes had been read by then."""

    def __init__(self, message: str, reason: Reason, *, field: str = "archive", expanded: int = 0) -> None:
        super().__init__(message)
        self.reason = reason
        self.field = field
        self.expanded = expanded


@dataclass(frozen=True)
class Limits:
    """What an archive may unpack to. Each limit is the most that passes: ``max_entries``
    entries (files and folders) are accepted, one more is refused."""

    max_bytes: int  # all files together
    max_entries: int
    max_entry_bytes: int  # one file
    max_ratio: float  # unpacked ÷ packed, per zip member and for the whole archive
    # Below this many unpacked bytes the ratio is not checked: tiny files of zeros
    # compress 1000× and harm nobody.
    ratio_floor: int = MIB


@dataclass(frozen=True)
class Member:
    path: str  # cleaned relative POSIX path
    size: int
    is_dir: bool
    mode: int = 0  # permission bits recorded in the archive, 0 when none


# ---- paths ----------------------------------------------------------------------------
def clean_path(name: str, what: str = "Member", *, field: str = "archive", empty_ok: bool = False) -> str:
    """A safe relative POSIX path, or UnsafeArchive naming the problem.

    Backslashes count as separators (archives made on Windows use them); empty and ``.``
    components are dropped. ``empty_ok`` lets a name that is only the root through as "".
    """

    def refuse(message: str) -> UnsafeArchive:
        return UnsafeArchive(message, Reason.PATH, field=field)

    if "\x00" in name:
        raise refuse(f"{what} {name!r} contains a NUL byte.")
    if not name.isprintable():
        raise refuse(f"{what} {name!r} contains control characters.")
    normal = name.replace("\\", "/")
    if normal.startswith("/") or (len(normal) > 1 and normal[1] == ":"):
        raise refuse(f"{what} '{name}' has an absolute path.")
    parts = [p for p in normal.split("/") if p not in ("", ".")]
    if ".." in parts:
        raise UnsafeArchive(f"{what} '{name}' escapes the target with '..'.", Reason.ESCAPE, field=field)
    out = "/".join(parts)
    if len(out) > MAX_PATH_CHARS:
        raise refuse(f"{what} '{out[:80]}…' has a path longer than {MAX_PATH_CHARS} characters.")
    if any(len(p.encode()) > MAX_NAME_BYTES for p in parts):
        raise refuse(f"{what} '{out[:80]}…' has a name longer than {MAX_NAME_BYTES} bytes.")
    if not out and not empty_ok:
        raise refuse(f"{what} {name!r} names no file.")
    return out


class _Tree:
    """Paths seen so far, refusing duplicates and a path that is a file and a folder."""

    def __init__(self, what: str, field: str) -> None:
        self.what = what
        self.field = field
        self.files: set[str] = set()
        self.folders: set[str] = set()
        self.forms: dict[str, str] = {}  # NFC form → path as given

    def _refuse(self, message: str) -> UnsafeArchive:
        return UnsafeArchive(message, Reason.DUPLICATE, field=self.field)

    def _form(self, path: str) -> None:
        # The same name in two Unicode forms (é composed or not) is two files on Linux
        # and one on macOS: refuse rather than guess which one the user meant.
        key = unicodedata.normalize("NFC", path)
        other = self.forms.setdefault(key, path)
        if other != path:
            raise self._refuse(f"{self.what} '{path}' and '{other}' are the same name in different Unicode forms.")

    def add(self, path: str, is_dir: bool) -> None:
        self._form(path)
        if is_dir:
            if path in self.files:
                raise self._refuse(f"{self.what} '{path}' is both a file and a folder.")
        elif path in self.files:
            raise self._refuse(f"{self.what} '{path}' appears twice.")
        elif path in self.folders:
            raise self._refuse(f"{self.what} '{path}' is both a file and a folder.")
        parts = path.split("/")
        for i in range(len(parts) - 1, 0, -1):
            folder = "/".join(parts[:i])
            if folder in self.files:
                raise self._refuse(f"{self.what} '{folder}' is both a file and a folder.")
            if folder in self.folders:
                break  # its parents were added with it
            self._form(folder)
            self.folders.add(folder)
        (self.folders if is_dir else self.files).add(path)


def check_tree(paths: Iterable[str], what: str = "Member", *, field: str = "archive") -> None:
    """Refuse duplicates and a path that is a file and also a folder of another file."""
    tree = _Tree(what, field)
    for path in paths:
        tree.add(path, is_dir=False)


# ---- archives -------------------------------------------------------------------------
class _Scan:
    """The running totals of one pass over an archive, and the checks on each entry."""

    def __init__(self, limits: Limits, packed: int, field: str) -> None:
        self.limits = limits
        self.packed = max(packed, 1)
        self.field = field
        self.entries = 0
        self.total = 0
        self.expanded = 0  # decompressed bytes read so far (headers included for tar)
        self.allowed = HEADER_ROOM  # how far a tar stream may run (see the module docstring)
        # The tar member being streamed: (path, expanded and packed bytes when its data began).
        self.window: tuple[str, int, int] | None = None
        self.tree = _Tree("Member", field)

    def refuse(self, message: str, reason: Reason) -> UnsafeArchive:
        return UnsafeArchive(message, reason, field=self.field, expanded=self.expanded)

    def kind(self, name: str, link: bool, special: bool) -> None:
        if link:
            raise self.refuse(f"Member '{name}' is a link; links are not allowed.", Reason.LINK)
        if special:
            raise self.refuse(
                f"Member '{name}' is a device file or FIFO; only regular files and folders are allowed.",
                Reason.SPECIAL,
            )

    def admit(self, name: str, size: int, is_dir: bool, mode: int, packed: int | None = None) -> Member | None:
        """Check one entry's header against every limit; None for the archive's root."""
        lim = self.limits
        path = clean_path(name, field=self.field, empty_ok=is_dir)
        if not path:
            return None
        self.entries += 1
        if self.entries > lim.max_entries:
            raise self.refuse(
                f"The archive has more than the limit of {lim.max_entries} files and folders.",
                Reason.TOO_MANY_ENTRIES,
            )
        if not is_dir:
            if size > lim.max_entry_bytes:
                raise self.refuse(
                    f"Member '{path}' unpacks to {human_bytes(size)}, more than the limit of "
                    f"{limit_text(lim.max_entry_bytes)} for one file.",
                    Reason.ENTRY_TOO_LARGE,
                )
            if packed is not None and size > lim.ratio_floor and (packed <= 0 or size / packed > lim.max_ratio):
                raise self.refuse(
                    f"Member '{path}' expands more than {lim.max_ratio:g}× (a zip bomb?); refused.", Reason.RATIO
                )
            self.total += size
            if self.total > lim.max_bytes:
                raise self.refuse(
                    f"The archive unpacks to more than the limit of {limit_text(lim.max_bytes)}.", Reason.TOO_LARGE
                )
            if self.total > lim.ratio_floor and self.total / self.packed > lim.max_ratio:
                raise self.refuse(
                    f"The archive expands more than {lim.max_ratio:g}× its packed size (a zip bomb?); refused.",
                    Reason.RATIO,
                )
        self.tree.add(path, is_dir)
        return Member(path, size, is_dir, mode)


class _Counted:
    """The decompressed tar stream, counted, and cut off where the headers allow."""

    def __init__(self, src: _Readable, raw: IO[bytes], scan: _Scan) -> None:
        self.src = src
        self.raw = raw  # the packed file, whose position says how much of it was used
        self.scan = scan

    def packed(self) -> int:
        return self.raw.tell()

    def read(self, size: int = -1) -> bytes:
        scan = self.scan
        size = CHUNK if size < 0 else min(size, CHUNK)
        try:
            chunk = self.src.read(size)
        except _READ_ERRORS as exc:
            raise scan.refuse(f"The archive is corrupt: {exc}", Reason.CORRUPT) from None
        scan.expanded += len(chunk)
        if scan.expanded > scan.allowed:
            raise scan.refuse(
                f"The archive has headers larger than {HEADER_ROOM} bytes (a tar bomb?); refused.", Reason.TOO_LARGE
            )
        if scan.window is not None:
            # A tar member's own ratio, as zip has per member: its packed size is only
            # known while it streams, so check it as it grows.
            path, start, packed_start = scan.window
            grown = scan.expanded - start
            lim = scan.limits
            if grown > lim.ratio_floor and grown / max(self.packed() - packed_start, 1) > lim.max_ratio:
                raise scan.refuse(
                    f"Member '{path}' expands more than {lim.max_ratio:g}× (a zip bomb?); refused.", Reason.RATIO
                )
        return chunk


class MemberReader:
    """One file member's content: refuses more bytes than declared and maps read errors."""

    def __init__(self, src: IO[bytes], member: Member, scan: _Scan, counts: bool) -> None:
        self.src = src
        self.member = member
        self.scan = scan
        self.counts = counts  # zip members count here; tar bytes are counted by _Counted
        self.read_bytes = 0

    def read(self, size: int = -1) -> bytes:
        size = CHUNK if size < 0 else min(size, CHUNK)
        try:
            chunk = self.src.read(size)
        except _READ_ERRORS as exc:
            raise self.scan.refuse(f"Member '{self.member.path}' is corrupt: {exc}", Reason.CORRUPT) from None
        self.read_bytes += len(chunk)
        if self.counts:
            self.scan.expanded += len(chunk)
        if self.read_bytes > self.member.size:
            raise self.scan.refuse(f"Member '{self.member.path}' is larger than its header says.", Reason.CORRUPT)
        return chunk


def _zip_entries(zf: zipfile.ZipFile, scan: _Scan) -> Iterator[tuple[Member, MemberReader | None]]:
    admitted: list[tuple[Member, zipfile.ZipInfo]] = []
    for info in zf.infolist():
        kind = (info.external_attr >> 16) & 0o170000
        if kind and stat.S_ISLNK(kind):
            raise scan.refuse(f"Member '{info.filename}' is a symbolic link; links are not allowed.", Reason.LINK)
        scan.kind(info.filename, False, bool(kind) and not (stat.S_ISREG(kind) or stat.S_ISDIR(kind)))
        if info.flag_bits & 0x1:
            raise scan.refuse(f"Member '{info.filename}' is encrypted.", Reason.ENCRYPTED)
        if not info.is_dir() and info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
            raise scan.refuse(
                f"Member '{info.filename}' is not stored or deflated; zip members must use deflate "
                "(or send a .tar.bz2 / .tar.xz).",
                Reason.UNSUPPORTED,
            )
        mode = (info.external_attr >> 16) & 0o777
        member = scan.admit(info.filename, info.file_size, info.is_dir(), mode, info.compress_size)
        if member is not None:
            admitted.append((member, info))
    for member, info in admitted:
        if member.is_dir:
            yield member, None
            continue
        try:
            src = zf.open(info)
        except _READ_ERRORS as exc:
            raise scan.refuse(f"Member '{member.path}' is corrupt: {exc}", Reason.CORRUPT) from None
        with src:
            yield member, MemberReader(src, member, scan, counts=True)


def _decompressed(raw: IO[bytes]) -> _Readable:
    magic = raw.read(6)
    raw.seek(0)
    if magic.startswith(b"\x1f\x8b"):
        return gzip.GzipFile(fileobj=raw, mode="rb")
    if magic.startswith(b"BZh"):
        return bz2.BZ2File(raw)
    if magic == b"\xfd7zXZ\x00":
        return lzma.LZMAFile(raw)
    return raw


def _tar_entries(raw: IO[bytes], scan: _Scan) -> Iterator[tuple[Member, MemberReader | None]]:
    stream = _Counted(_decompressed(raw), raw, scan)
    try:
        tf = tarfile.open(fileobj=stream, mode="r|", bufsize=_TAR_BUFSIZE)  # type: ignore[call-overload]  # noqa: SIM115
    except tarfile.ReadError:
        raise scan.refuse(
            "The archive is neither a zip nor a tar (.tar, .tar.gz, .tar.bz2, .tar.xz) file.", Reason.NOT_AN_ARCHIVE
        ) from None
    except _READ_ERRORS as exc:
        raise scan.refuse(f"The archive is corrupt: {exc}", Reason.CORRUPT) from None
    with tf:
        while True:
            try:
                tinfo = tf.next()
            except _READ_ERRORS as exc:
                raise scan.refuse(f"The archive is corrupt: {exc}", Reason.CORRUPT) from None
            if tinfo is None:
                return
            scan.kind(tinfo.name, tinfo.issym() or tinfo.islnk(), tinfo.isdev() or tinfo.isfifo())
            if tinfo.issparse() or not (tinfo.isfile() or tinfo.isdir()):
                raise scan.refuse(f"Member '{tinfo.name}' is not a regular file or folder.", Reason.SPECIAL)
            member = scan.admit(tinfo.name, tinfo.size, tinfo.isdir(), tinfo.mode & 0o777)
            scan.allowed = tf.offset + HEADER_ROOM  # the data just admitted, and the next header
            scan.window = (member.path, scan.expanded, stream.packed()) if member and not member.is_dir else None
            if member is None:
                continue
            if member.is_dir:
                yield member, None
                continue
            src = tf.extractfile(tinfo)
            if src is None:
                raise scan.refuse(f"Member '{member.path}' cannot be read.", Reason.CORRUPT)
            with src:
                yield member, MemberReader(src, member, scan, counts=False)


def _is_zip(raw: IO[bytes]) -> bool:
    head = raw.read(4)
    raw.seek(0)
    return head in (b"PK\x03\x04", b"PK\x05\x06")


def _zip_declared_entries(raw: IO[bytes]) -> int:
    """The entry count of the end-of-central-directory record (zip64's when it says so).

    zipfile builds an object per central-directory entry before anything can be checked,
    and a small zip can hold millions of entries: an honest count refuses it first."""
    size = raw.seek(0, 2)
    raw.seek(max(0, size - 22 - 0xFFFF))  # the record, then at most a 64 KiB comment
    tail = raw.read()
    raw.seek(0)
    at = tail.rfind(b"PK\x05\x06")
    if at < 0 or len(tail) < at + 22:
        return 0  # zipfile will say what is wrong
    count = int.from_bytes(tail[at + 10 : at + 12], "little")
    locator = tail.rfind(b"PK\x06\x07", 0, at)
    if count == 0xFFFF and locator >= 0:
        raw.seek(int.from_bytes(tail[locator + 8 : locator + 16], "little"))
        record = raw.read(56)
        raw.seek(0)
        if record[:4] == b"PK\x06\x06":
            count = int.from_bytes(record[32:40], "little")
    return count


def entries(archive: Path, limits: Limits, *, field: str = "archive") -> Iterator[tuple[Member, MemberReader | None]]:
    """Each member in archive order, with a reader for files (None for folders), after
    its header passed every check. Read a member before asking for the next one.
    Raises UnsafeArchive (with ``field``) on the first problem."""
    scan = _Scan(limits, archive.stat().st_size, field)
    with open(archive, "rb") as raw:
        if _is_zip(raw):
            if _zip_declared_entries(raw) > limits.max_entries:
                raise scan.refuse(
                    f"The archive has more than the limit of {limits.max_entries} files and folders.",
                    Reason.TOO_MANY_ENTRIES,
                )
            try:
                zf = zipfile.ZipFile(raw)
            except (*_READ_ERRORS, ValueError) as exc:
                raise scan.refuse(f"The archive is corrupt: {exc}", Reason.CORRUPT) from None
            with zf:
                yield from _zip_entries(zf, scan)
        else:
            yield from _tar_entries(raw, scan)


def inspect(archive: Path, limits: Limits, *, field: str = "archive") -> list[Member]:
    """Every member after every check, each file read through once (CRC and real size
    verified); raises UnsafeArchive. The reading is bounded by the limits."""
    out = []
    for member, reader in entries(archive, limits, field=field):
        if reader is not None:
            while reader.read(CHUNK):
                pass
        out.append(member)
    return out
