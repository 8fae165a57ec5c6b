"""The source-directory snapshot sent with every run.

Files are chosen by walking the folder top-down; in each folder the first ignore file
found among ``.runyardignore``, ``.amlignore`` and ``.gitignore`` adds its rules (gitignore
syntax: ``*``, ``**``, ``?``, ``[...]``, trailing ``/`` for folders, leading ``/`` or an
inner ``/`` to anchor, ``!`` to re-include; the last matching rule wins). An ignored
folder is not entered. ``.git``, ``.runyard`` (which holds your token) and
``__pycache__`` are never sent. A snapshot over the size or file-count limit is refused
before anything is uploaded, naming the limit and the largest files.
"""

from __future__ import annotations

import os
import re
import tarfile
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from runyard.exceptions import SnapshotTooLargeException, UserErrorException
from runyard.progress import human_bytes

IGNORE_FILES = (".runyardignore", ".amlignore", ".gitignore")
ALWAYS_EXCLUDED = {".git", ".runyard", "__pycache__", ".hg", ".svn"}
DEFAULT_MAX_BYTES = 200 * 1024 * 1024  # the server's default RUNYARD_SNAPSHOT_MAX_BYTES
DEFAULT_MAX_FILES = 20000


def max_bytes() -> int:
    return int(os.environ.get("RUNYARD_SNAPSHOT_MAX_BYTES") or DEFAULT_MAX_BYTES)


def max_files() -> int:
    return int(os.environ.get("RUNYARD_SNAPSHOT_MAX_FILES") or DEFAULT_MAX_FILES)


def _glob_to_regex(pattern: str) -> str:
    out, i = [], 0
    while i < len(pattern):
        if pattern.startswith("**/", i):
            out.append("(?:.*/)?")
            i += 3
        elif pattern.startswith("/**", i) and i + 3 == len(pattern):
            out.append("/.*")
            i += 3
        elif pattern.startswith("**", i):
            out.append(".*")
            i += 2
        elif pattern[i] == "*":
            out.append("[^/]*")
            i += 1
        elif pattern[i] == "?":
            out.append("[^/]")
            i += 1
        elif pattern[i] == "[":
            end = pattern.find("]", i + 1)
            if end == -1:
                out.append(re.escape("["))
                i += 1
            else:
                body = pattern[i + 1 : end].replace("\\", "\\\\")
                out.append("[" + ("^" + body[1:] if body.startswith("!") else body) + "]")
                i = end + 1
        elif pattern[i] == "\\" and i + 1 < len(pattern):
            out.append(re.escape(pattern[i + 1]))
            i += 2
        else:
            out.append(re.escape(pattern[i]))
            i += 1
    return "".join(out)


@dataclass(frozen=True)
class IgnoreRule:
    """One line of an ignore file, relative to the folder (``base``) that holds the file."""

    base: str
    regex: re.Pattern[str]
    negated: bool
    dir_only: bool

    @staticmethod
    def parse(line: str, base: str) -> IgnoreRule | None:
        text = line.rstrip("\n")
        if not text.strip() or text.startswith("#"):
            return None
        text = text.rstrip() if not text.endswith("\\ ") else text
        negated = text.startswith("!")
        if negated:
            text = text[1:]
        if text.startswith(("\\#", "\\!")):
            text = text[1:]
        dir_only = text.endswith("/")
        text = text.rstrip("/")
        if not text:
            return None
        anchored = "/" in text
        text = text.lstrip("/")
        regex = _glob_to_regex(text) if anchored else "(?:.*/)?" + _glob_to_regex(text)
        return IgnoreRule(base, re.compile(f"^{regex}$"), negated, dir_only)

    def matches(self, rel_path: str, is_dir: bool) -> bool:
        if self.dir_only and not is_dir:
            return False
        if self.base:
            if not rel_path.startswith(self.base + "/"):
                return False
            rel_path = rel_path[len(self.base) + 1 :]
        return bool(self.regex.match(rel_path))


def is_ignored(rules: list[IgnoreRule], rel_path: str, is_dir: bool) -> bool:
    ignored = False
    for rule in rules:
        if rule.matches(rel_path, is_dir):
            ignored = not rule.negated
    return ignored


def read_ignore_rules(folder: Path, base: str) -> list[IgnoreRule]:
    for name in IGNORE_FILES:
        path = folder / name
        if path.is_file():
            rules = [IgnoreRule.parse(line, base) for line in path.read_text(errors="replace").splitlines()]
            return [rule for rule in rules if rule is not None]
    return []


@dataclass
class SnapshotFiles:
    root: Path
    files: list[tuple[Path, str, int]] = field(default_factory=list)  # (path, relative name, size)

    @property
    def total_size(self) -> int:
        return sum(size for _, _, size in self.files)


def select_files(source_directory: str | os.PathLike[str]) -> SnapshotFiles:
    """Every file of the folder the ignore files let through, in a stable order."""
    root = Path(source_directory)
    if not root.is_dir():
        raise UserErrorException(f"source_directory '{root}' is not a directory.")
    chosen = SnapshotFiles(root)
    rules_by_dir: dict[str, list[IgnoreRule]] = {}
    for current, dirnames, filenames in os.walk(root):
        folder = Path(current)
        rel_dir = folder.relative_to(root).as_posix()
        rel_dir = "" if rel_dir == "." else rel_dir
        parent_rules = rules_by_dir.get(rel_dir.rpartition("/")[0] if "/" in rel_dir else "", []) if rel_dir else []
        rules = parent_rules + read_ignore_rules(folder, rel_dir)
        rules_by_dir[rel_dir] = rules

        def rel(name: str, prefix: str = rel_dir) -> str:
            return f"{prefix}/{name}" if prefix else name

        dirnames[:] = sorted(
            d
            for d in dirnames
            if d not in ALWAYS_EXCLUDED and not (folder / d).is_symlink() and not is_ignored(rules, rel(d), True)
        )
        for name in sorted(filenames):
            path = folder / name
            if path.is_symlink() or not path.is_file() or is_ignored(rules, rel(name), False):
                continue
            chosen.files.append((path, rel(name), path.stat().st_size))
    return chosen


def check_limits(chosen: SnapshotFiles, limit_bytes: int | None = None, limit_files: int | None = None) -> None:
    limit_bytes = max_bytes() if limit_bytes is None else limit_bytes
    limit_files = max_files() if limit_files is None else limit_files
    total = chosen.total_size
    if total <= limit_bytes and len(chosen.files) <= limit_files:
        return
    largest = sorted(chosen.files, key=lambda f: f[2], reverse=True)[:5]
    biggest = ", ".join(f"{name} ({human_bytes(size)})" for _, name, size in largest)
    what = (
        f"{human_bytes(total)}, over the snapshot limit of {human_bytes(limit_bytes)} ({limit_bytes} bytes)"
        if total > limit_bytes
        else f"{len(chosen.files)} files, over the snapshot limit of {limit_files} files"
    )
    raise SnapshotTooLargeException(
        f"The source directory '{chosen.root}' is {what}. Largest files: {biggest}. Exclude files with a "
        ".runyardignore (gitignore syntax; .amlignore and .gitignore are read too) or move data to a "
        "datastore or dataset."
    )


def build_archive(
    source_directory: str | os.PathLike[str],
    limit_bytes: int | None = None,
    limit_files: int | None = None,
    allow_file: bool = False,
) -> tuple[Path, SnapshotFiles]:
    """Write the snapshot as a temporary tar.gz (the caller deletes it). With ``allow_file``
    the source may also be one file (``run.take_snapshot('train.py')``), kept under its name."""
    source = Path(source_directory)
    if allow_file and source.is_file():
        chosen = SnapshotFiles(source.parent, [(source, source.name, source.stat().st_size)])
    else:
        chosen = select_files(source)
    check_limits(chosen, limit_bytes, limit_files)
    handle, name = tempfile.mkstemp(prefix="runyard-snapshot-", suffix=".tar.gz")
    os.close(handle)
    with tarfile.open(name, "w:gz", compresslevel=6) as archive:
        for path, rel_name, _ in chosen.files:
            info = archive.gettarinfo(str(path), arcname=rel_name)
            info.uid = info.gid = 0
            info.uname = info.gname = ""
            with open(path, "rb") as data:
                archive.addfile(info, data)
    return Path(name), chosen
