"""What a FileDataset's files are on the client, and bringing them here: ``to_path()``,
``download()``, ``mount()`` and the subsets (``take``, ``skip``, ``random_split``).

Stored files of a registered version come from the server
(``/api/dataset-versions/{id}/download/``); web files straight from their URL, without
Runyard credentials (the token must never go to another host); local files of an
unregistered dataset are copied.
"""

from __future__ import annotations

import os
import random
import shutil
import tempfile
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from runyard.exceptions import UserErrorException

if TYPE_CHECKING:
    from runyard.workspace import Workspace

CHUNK = 1 << 20


@dataclass(frozen=True)
class FileEntry:
    """One file of a dataset as the client knows it; exactly one source is set."""

    path: str  # inside the dataset
    url: str = ""  # a web file
    version_id: int | None = None  # a stored file of this version
    local: Path | None = None  # a local file of an unregistered dataset


def subset(entries: Sequence[FileEntry], paths: Sequence[str]) -> list[FileEntry]:
    keep = set(paths)
    return [e for e in entries if e.path in keep]


def take(paths: Sequence[str], count: int) -> list[str]:
    return list(paths[: _count(count)])


def skip(paths: Sequence[str], count: int) -> list[str]:
    return list(paths[_count(count) :])


def _count(count: Any) -> int:
    if isinstance(count, bool) or not isinstance(count, int) or count < 0:
        raise UserErrorException(f"count must be a non-negative integer, not {count!r}.")
    return count


def random_split(paths: Sequence[str], percentage: Any, seed: int | None) -> tuple[list[str], list[str]]:
    """Shuffle with ``seed`` and cut at ``round(percentage × n)``; each part keeps the
    dataset's order. Azure splits "approximately"; this split is exact and repeatable."""
    if isinstance(percentage, bool) or not isinstance(percentage, (int, float)) or not 0.0 <= percentage <= 1.0:
        raise UserErrorException(f"percentage must be a number between 0.0 and 1.0, not {percentage!r}.")
    order = list(range(len(paths)))
    random.Random(seed).shuffle(order)
    first = set(order[: round(percentage * len(paths))])
    return [p for i, p in enumerate(paths) if i in first], [p for i, p in enumerate(paths) if i not in first]


def _ensure_target(target_path: str | os.PathLike[str] | None) -> tuple[Path, bool]:
    """(folder, is empty), made if missing; a temp folder when none is given (as Azure)."""
    if target_path is None or not str(target_path).strip():
        return Path(tempfile.mkdtemp(prefix="runyard-dataset-")), True
    folder = Path(target_path).absolute()
    folder.mkdir(parents=True, exist_ok=True)
    return folder, not any(folder.iterdir())


def _fetch_web(url: str, out: Path) -> None:
    # A plain urllib request: no Runyard token, no cookies of ours.
    request = urllib.request.Request(url, headers={"User-Agent": "runyard-sdk"})
    try:
        with urllib.request.urlopen(request, timeout=60) as response, open(out, "wb") as handle:
            shutil.copyfileobj(response, handle, CHUNK)
    except OSError as exc:
        out.unlink(missing_ok=True)
        raise UserErrorException(f"Downloading {url} failed: {exc}") from None


def download(
    workspace: Workspace | None,
    entries: Sequence[FileEntry],
    target_path: str | os.PathLike[str] | None,
    overwrite: bool,
) -> list[str]:
    """Azure's ``FileDataset.download``: the absolute path of each file written."""
    folder, empty = _ensure_target(target_path)
    outs = [folder / e.path for e in entries]
    if not empty and not overwrite:
        for out in outs:
            if out.exists():
                raise UserErrorException(
                    f'File "{out}" already exists. Set overwrite=True to overwrite it, or choose an empty target path.'
                )
    written = []
    for entry, out in zip(entries, outs, strict=True):
        out.parent.mkdir(parents=True, exist_ok=True)
        partial = out.with_name(out.name + ".part")
        if entry.url:
            _fetch_web(entry.url, partial)
        elif entry.local is not None:
            shutil.copyfile(entry.local, partial)
        else:
            if workspace is None or entry.version_id is None:
                raise UserErrorException("This dataset has no workspace to download from.")
            workspace.client.download(
                f"/api/dataset-versions/{entry.version_id}/download/", partial, {"path": entry.path}
            )
        os.replace(partial, out)
        written.append(str(out))
    return written


class MountContext:
    """Azure's ``MountContext`` (``with ds.mount() as ctx: ctx.mount_point``). Runyard has
    no FUSE client: ``start()`` downloads the files into the mount point read-only and
    ``stop()`` removes them (and the folder when it was a temporary one)."""

    def __init__(
        self, workspace: Workspace | None, entries: Sequence[FileEntry], mount_point: str | os.PathLike[str] | None
    ) -> None:
        self._workspace = workspace
        self._entries = list(entries)
        self._temporary = mount_point is None or not str(mount_point).strip()
        self._requested = None if self._temporary else Path(str(mount_point)).absolute()
        self._point: Path | None = None

    @property
    def mount_point(self) -> str:
        point = self._point or self._requested
        return str(point) if point is not None else ""

    def start(self) -> None:
        folder, empty = _ensure_target(self._requested)
        if not empty:
            raise UserErrorException(f'Dataset mount point "{folder}" must be empty.')
        self._point = folder
        download(self._workspace, self._entries, folder, overwrite=False)
        for dirpath, _dirs, files in os.walk(folder):
            for name in files:
                os.chmod(os.path.join(dirpath, name), 0o444)

    def stop(self) -> None:
        if self._point is None:
            return
        point, self._point = self._point, None
        for dirpath, _dirs, files in os.walk(point, topdown=False):
            for name in files:
                os.chmod(os.path.join(dirpath, name), 0o644)
                os.unlink(os.path.join(dirpath, name))
            if Path(dirpath) != point:
                os.rmdir(dirpath)
        if self._temporary:
            point.rmdir()

    def __enter__(self) -> MountContext:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
