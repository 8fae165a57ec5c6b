"""Source snapshots: checked at submission, stored by content, extracted safely.

An uploaded archive (zip or tar, optionally compressed) is streamed to disk within the
size limit and then fully inspected by ``common.archives`` (every check, every zip CRC)
before it is kept; the run is refused with the offending member named. Extraction on
the worker streams it again through the same checks.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tarfile
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from django.conf import settings

from common import archives
from common.archives import Limits, Member, Reason, UnsafeArchive
from common.sizes import limit_text


@dataclass(frozen=True)
class StoredSnapshot:
    sha256: str
    path: Path
    size: int
    files: list[str]


def limits() -> Limits:
    cfg = settings.RUNYARD
    max_bytes = int(cfg["SNAPSHOT_MAX_BYTES"])
    return Limits(
        max_bytes=max_bytes,
        max_entries=int(cfg["SNAPSHOT_MAX_FILES"]),
        max_entry_bytes=int(cfg.get("SNAPSHOT_MAX_FILE_BYTES") or max_bytes),
        max_ratio=float(cfg.get("SNAPSHOT_MAX_RATIO", 200.0)),
    )


def inspect(archive: Path) -> list[Member]:
    """All members, after every safety check and limit; raises UnsafeArchive."""
    return archives.inspect(archive, limits(), field="snapshot")


def store(upload: IO[bytes]) -> StoredSnapshot:
    """Stream an uploaded archive to disk, check it, and keep it under its SHA-256."""
    max_bytes = limits().max_bytes
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
                raise UnsafeArchive(
                    f"The snapshot is larger than the limit of {limit_text(max_bytes)}.",
                    Reason.TOO_LARGE,
                    field="snapshot",
                )
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
    """Extract a stored snapshot into ``target``, checking every member again as it streams."""
    target.mkdir(parents=True, exist_ok=True)
    root = target.resolve()
    files = []
    for member, reader in archives.entries(path_of(sha256), limits(), field="snapshot"):
        out = (root / member.path).resolve()
        if out != root and root not in out.parents:  # a folder on the way became a link
            raise UnsafeArchive(f"Member '{member.path}' escapes the run directory.", Reason.PATH, field="snapshot")
        if reader is None:
            out.mkdir(parents=True, exist_ok=True)
            continue
        out.parent.mkdir(parents=True, exist_ok=True)
        with open(out, "wb") as dst:
            while chunk := reader.read(archives.CHUNK):
                dst.write(chunk)
        if member.mode:
            out.chmod(member.mode | 0o600)
        files.append(member.path)
    return sorted(files)


def zip_of(sha256: str) -> Path:
    """The stored snapshot as a zip (Azure's ``restore_snapshot`` hands out zips): the upload
    itself when it is one, else a zip written once beside it (snapshots are immutable, named
    by content) from the members read through the same checks as an extraction."""
    stored = path_of(sha256)
    if zipfile.is_zipfile(stored):
        return stored
    final = stored.with_suffix(".zip")
    if final.exists():
        return final
    with tempfile.NamedTemporaryFile(dir=stored.parent, delete=False, suffix=".zip.part") as tmp:
        try:
            with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=6) as out:
                for member, reader in archives.entries(stored, limits(), field="snapshot"):
                    if reader is None:
                        continue
                    info = zipfile.ZipInfo(member.path)
                    info.external_attr = ((member.mode or 0o644) | 0o100000) << 16
                    info.compress_type = zipfile.ZIP_DEFLATED
                    with out.open(info, "w", force_zip64=True) as dst:
                        while chunk := reader.read(archives.CHUNK):
                            dst.write(chunk)
        except BaseException:
            tmp.close()
            os.unlink(tmp.name)
            raise
    os.replace(tmp.name, final)
    return final


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
