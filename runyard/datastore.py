"""Datastores and DataReferences (``azureml.core.Datastore``, ``azureml.data.data_reference``).

``datastore.upload()`` streams files to the server in batches with a progress bar.
``datastore.path('folder').as_mount()`` is the old DataReference style of giving a
run a folder: put the reference (or ``str()`` of it) in the run's arguments and the
script receives the folder's local path there.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

from runyard.exceptions import UserErrorException
from runyard.http import FilePart
from runyard.progress import ProgressBar

if TYPE_CHECKING:
    from runyard.workspace import Workspace

BATCH_FILES = 500
BATCH_BYTES = 256 * 1024 * 1024
REFERENCE_PREFIX = "$AZUREML_DATAREFERENCE_"


def input_name(text: str) -> str:
    """A valid run input name (letters, digits, '_' and '-', not starting with a digit)."""
    name = re.sub(r"[^A-Za-z0-9_-]", "_", text).strip("_") or "input"
    return (name if re.match(r"^[A-Za-z_]", name) else f"input_{name}")[:128]


def collect_files(src_dir: str | os.PathLike[str]) -> list[tuple[Path, str]]:
    """(file, path relative to ``src_dir``) for every regular file below it."""
    root = Path(src_dir)
    if not root.is_dir():
        raise UserErrorException(f"Not a directory: {root}")
    return [
        (path, path.relative_to(root).as_posix())
        for path in sorted(root.rglob("*"))
        if path.is_file() and not path.is_symlink()
    ]


def upload_in_batches(
    workspace: Workspace,
    endpoint: str,
    files: list[tuple[Path, str]],
    fields: dict[str, str],
    label: str,
    show_progress: bool,
) -> list[str]:
    """POST files in batches (≤ BATCH_FILES files, ≤ BATCH_BYTES each); returns the server's answers' paths."""
    total = sum(path.stat().st_size for path, _ in files)
    bar = ProgressBar(total, label, enabled=show_progress)
    uploaded: list[str] = []
    batch: list[tuple[Path, str]] = []
    size = 0
    try:
        for index, (path, rel) in enumerate(files):
            batch.append((path, rel))
            size += path.stat().st_size
            last = index == len(files) - 1
            if last or len(batch) >= BATCH_FILES or size >= BATCH_BYTES:
                parts = [FilePart("files", name, path=p) for p, name in batch]
                answer = workspace.client.post_multipart(endpoint, fields, parts, on_bytes=bar.update)
                uploaded.extend((answer or {}).get("uploaded", [name for _, name in batch]))
                batch, size = [], 0
    finally:
        bar.close()
    return uploaded


class Datastore:
    """A storage location registered by an admin; ``ws.get_default_datastore()`` is ``workspaceblobstore``."""

    def __init__(self, workspace: Workspace, name: str | None = None) -> None:
        item = Datastore._lookup(workspace, name)
        self._load(workspace, item)

    @staticmethod
    def _lookup(workspace: Workspace, name: str | None) -> dict[str, Any]:
        stores = list(workspace.client.paged("/api/datastores/"))
        for item in stores:
            if (name is None and item.get("is_default")) or item["name"] == name:
                return item
        known = ", ".join(sorted(s["name"] for s in stores)) or "none"
        wanted = f"named '{name}'" if name else "marked default"
        raise UserErrorException(f"No datastore {wanted}. Known datastores: {known}.")

    def _load(self, workspace: Workspace, item: dict[str, Any]) -> None:
        self.workspace = workspace
        self.name: str = item["name"]
        self.id: int = item["id"]
        self.is_default = bool(item.get("is_default"))
        self.read_only = bool(item.get("read_only"))
        self.datastore_type = "Local"

    @classmethod
    def _from_api(cls, workspace: Workspace, item: dict[str, Any]) -> Datastore:
        store = cls.__new__(cls)
        store._load(workspace, item)
        return store

    @staticmethod
    def get(workspace: Workspace, datastore_name: str) -> Datastore:
        return Datastore(workspace, datastore_name)

    @staticmethod
    def get_default(workspace: Workspace) -> Datastore:
        return Datastore(workspace, None)

    def __repr__(self) -> str:
        return f"Datastore(name={self.name!r})"

    # ---- uploads ------------------------------------------------------------------------
    def upload(
        self,
        src_dir: str | os.PathLike[str],
        target_path: str | None = None,
        overwrite: bool = False,
        show_progress: bool = True,
    ) -> DataReference:
        """Upload a folder's files under ``target_path``; returns a reference to that folder."""
        files = collect_files(src_dir)
        if not files:
            raise UserErrorException(f"No files to upload in {src_dir}.")
        self._send(files, target_path, overwrite, show_progress)
        return self.path(target_path)

    def upload_files(
        self,
        files: list[str | os.PathLike[str]],
        relative_root: str | None = None,
        target_path: str | None = None,
        overwrite: bool = False,
        show_progress: bool = True,
    ) -> DataReference:
        """Upload single files; their names are kept relative to ``relative_root`` (default: base names)."""
        pairs: list[tuple[Path, str]] = []
        for item in files:
            path = Path(item)
            if not path.is_file():
                raise UserErrorException(f"Not a file: {path}")
            rel = path.resolve().relative_to(Path(relative_root).resolve()).as_posix() if relative_root else path.name
            pairs.append((path, rel))
        self._send(pairs, target_path, overwrite, show_progress)
        return self.path(target_path)

    def _send(
        self, files: list[tuple[Path, str]], target_path: str | None, overwrite: bool, show_progress: bool
    ) -> list[str]:
        fields = {"target_path": (target_path or "").strip("/"), "overwrite": "true" if overwrite else "false"}
        return upload_in_batches(
            self.workspace,
            f"/api/datastores/{self.id}/upload/",
            files,
            fields,
            f"Uploading to {self.name}",
            show_progress,
        )

    # ---- references ---------------------------------------------------------------------
    def path(self, path: str | None = None, data_reference_name: str | None = None) -> DataReference:
        return DataReference(self, data_reference_name=data_reference_name, path_on_datastore=path)

    def as_mount(self) -> DataReference:
        return self.path().as_mount()

    def as_download(self, path_on_compute: str | None = None) -> DataReference:
        return self.path().as_download(path_on_compute)


class DataReference:
    """A folder of a datastore given to a run, mounted (read-only, no copy) or downloaded."""

    def __init__(
        self,
        datastore: Datastore,
        data_reference_name: str | None = None,
        path_on_datastore: str | None = None,
        mode: str = "mount",
        path_on_compute: str | None = None,
        overwrite: bool = False,
    ) -> None:
        if mode not in ("mount", "download"):
            raise UserErrorException(f"DataReference mode must be 'mount' or 'download', got {mode!r}.")
        self.datastore = datastore
        self.path_on_datastore = (path_on_datastore or "").strip("/")
        self.data_reference_name = data_reference_name or input_name(
            f"{datastore.name}_{self.path_on_datastore}" if self.path_on_datastore else datastore.name
        )
        self.mode = mode
        self.path_on_compute = path_on_compute
        self.overwrite = overwrite

    def _with(self, mode: str, path_on_compute: str | None = None, overwrite: bool = False) -> DataReference:
        return DataReference(
            self.datastore, self.data_reference_name, self.path_on_datastore, mode, path_on_compute, overwrite
        )

    def as_mount(self) -> DataReference:
        return self._with("mount")

    def as_download(self, path_on_compute: str | None = None, overwrite: bool = False) -> DataReference:
        return self._with("download", path_on_compute, overwrite)

    def path(self, path: str | None = None, data_reference_name: str | None = None) -> DataReference:
        joined = "/".join(p for p in (self.path_on_datastore, (path or "").strip("/")) if p)
        return DataReference(self.datastore, data_reference_name, joined, self.mode)

    def to_config(self) -> DataReference:
        """Azure returned a DataReferenceConfiguration; the reference itself serves here."""
        return self

    def to_input(self) -> dict[str, Any]:
        """The run argument object the server resolves to a local path."""
        folder = f"{self.path_on_datastore}/" if self.path_on_datastore else ""
        return {"datastore": self.datastore.name, "path": folder, "mode": self.mode, "name": self.data_reference_name}

    def to_code(self) -> str:
        call = "as_mount()" if self.mode == "mount" else "as_download()"
        return f"Datastore.get(ws, {self.datastore.name!r}).path({self.path_on_datastore!r}).{call}"

    def __str__(self) -> str:
        return f"{REFERENCE_PREFIX}{self.data_reference_name}"

    def __repr__(self) -> str:
        return (
            f"DataReference(datastore={self.datastore.name!r}, path={self.path_on_datastore!r}, "
            f"mode={self.mode!r}, name={self.data_reference_name!r})"
        )
