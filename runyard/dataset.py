"""File datasets (``azureml.core.Dataset``): versioned sets of files a run mounts or downloads.

``Dataset.File.from_files((datastore, 'folder/'))`` references files already in a
datastore; ``Dataset.File.from_files('https://…/file.csv')`` (or a list of URLs) names
web files, which workers fetch when a run uses them; ``Dataset.File.from_files('local/dir')``
uploads local files when it is registered. ``take``, ``skip`` and ``random_split`` of a
registered dataset are new, unregistered datasets: a subset of the version's files, which
a run can use as they are and which ``register`` saves as a new version.

A registered dataset goes into a run's arguments as
``ds.as_named_input('train').as_mount()`` (or ``.as_download()``); the script receives
the local path there, and ``Run.get_context().input_datasets['train']`` has it too.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from runyard import dataset_files, weburl
from runyard.dataset_files import FileEntry, MountContext
from runyard.datastore import DataReference, Datastore, collect_files, input_name, upload_in_batches
from runyard.exceptions import UserErrorException

if TYPE_CHECKING:
    from runyard.workspace import Workspace

DatastorePath = tuple[Datastore, str]


class DatasetConsumptionConfig:
    """How a run consumes a dataset: its input name and mode (``mount`` or ``download``)."""

    def __init__(self, name: str, dataset: FileDataset, mode: str = "mount", path_on_compute: str | None = None):
        self.name = name
        self.dataset = dataset
        self.mode = mode
        self.path_on_compute = path_on_compute

    def as_mount(self, path_on_compute: str | None = None) -> DatasetConsumptionConfig:
        return DatasetConsumptionConfig(self.name, self.dataset, "mount", path_on_compute)

    def as_download(self, path_on_compute: str | None = None) -> DatasetConsumptionConfig:
        return DatasetConsumptionConfig(self.name, self.dataset, "download", path_on_compute)

    def to_input(self) -> dict[str, Any]:
        """The run argument object the server resolves to a local path."""
        ds = self.dataset
        if ds.name is not None:
            return {
                "dataset": ds.name,
                "version": ds.version if ds.version is not None else "latest",
                "mode": self.mode,
                "name": self.name,
            }
        if ds._origin is not None:
            return {
                "dataset": ds._origin.name,
                "version": ds._origin.version,
                "files": list(ds._subset or []),
                "mode": self.mode,
                "name": self.name,
            }
        if ds.urls:
            return {"urls": list(ds.urls), "mode": self.mode, "name": self.name}
        if ds.datastore_path is not None:
            store, folder = ds.datastore_path
            return DataReference(store, self.name, folder, self.mode).to_input()
        raise UserErrorException(
            "A dataset made from local files must be registered before a run can use it: ds = ds.register(ws, 'name')."
        )

    def to_code(self) -> str:
        return f"{self.dataset.to_code()}.as_named_input({self.name!r}).as_{self.mode}()"

    def __repr__(self) -> str:
        return f"DatasetConsumptionConfig(name={self.name!r}, dataset={self.dataset!r}, mode={self.mode!r})"


@dataclass(frozen=True)
class _Origin:
    """The registered version an unregistered subset (``take``, ``random_split``) comes from."""

    name: str
    version: int
    version_id: int
    dataset_id: int


class FileDataset:
    """A (possibly unregistered) file dataset. Registered ones have ``name``, ``version`` and ``id``."""

    def __init__(
        self,
        datastore_path: DatastorePath | None = None,
        local_files: list[tuple[Path, str]] | None = None,
        urls: list[str] | None = None,
        single_file: bool = False,
    ):
        self.datastore_path = datastore_path
        self.local_files = local_files or []
        self.urls = urls or []
        self.single_file = single_file
        self.version_id: int | None = None
        self._origin: _Origin | None = None
        self._subset: list[str] | None = None
        self._entries: list[FileEntry] | None = None
        self.name: str | None = None
        self.version: int | None = None
        self.id: int | None = None
        self.description = ""
        self.tags: dict[str, str] = {}
        self.workspace: Workspace | None = None
        self.file_count: int | None = None
        self.total_size: int | None = None

    @classmethod
    def _registered(cls, workspace: Workspace, dataset: dict[str, Any], version: dict[str, Any]) -> FileDataset:
        ds = cls()
        ds.workspace = workspace
        ds.name = dataset["name"]
        ds.id = dataset["id"]
        ds.description = dataset.get("description") or ""
        ds.version = version.get("version")
        ds.tags = version.get("tags") or {}
        ds.file_count = version.get("file_count")
        ds.total_size = version.get("total_size")
        ds.version_id = version.get("id")
        ds.single_file = bool(version.get("single_file"))
        return ds

    def __repr__(self) -> str:
        if self.name:
            return f"FileDataset(name={self.name!r}, version={self.version!r})"
        if self._origin is not None:
            origin = f"{self._origin.name}:{self._origin.version}"
            return f"FileDataset(subset of {origin}: {len(self._subset or [])} files)"
        if self.urls:
            return f"FileDataset(urls={self.urls!r})"
        if self.datastore_path:
            return f"FileDataset(datastore={self.datastore_path[0].name!r}, path={self.datastore_path[1]!r})"
        return f"FileDataset(local files: {len(self.local_files)})"

    # ---- consumption --------------------------------------------------------------------
    def as_named_input(self, name: str) -> DatasetConsumptionConfig:
        return DatasetConsumptionConfig(name, self)

    def _default_input_name(self) -> str:
        if self.name:
            return input_name(self.name)
        if self._origin is not None:
            return input_name(self._origin.name)
        if self.urls:  # the first file's name, as the server names an unnamed web input
            return input_name(self.urls[0].split("?", 1)[0].rstrip("/").rsplit("/", 1)[-1])
        if self.datastore_path:
            return input_name(f"{self.datastore_path[0].name}_{self.datastore_path[1]}")
        return "input"

    def as_mount(self, path_on_compute: str | None = None) -> DatasetConsumptionConfig:
        return DatasetConsumptionConfig(self._default_input_name(), self, "mount", path_on_compute)

    def as_download(self, path_on_compute: str | None = None) -> DatasetConsumptionConfig:
        return DatasetConsumptionConfig(self._default_input_name(), self, "download", path_on_compute)

    def to_code(self) -> str:
        if self._origin is not None:
            # The subset itself has no Azure spelling (it came from take/skip/random_split).
            return f"Dataset.get_by_name(ws, {self._origin.name!r}, version={self._origin.version!r})"
        if self.urls:
            return f"Dataset.File.from_files({self.urls if len(self.urls) > 1 else self.urls[0]!r})"
        if self.name:
            version = "'latest'" if self.version is None else repr(self.version)
            return f"Dataset.get_by_name(ws, {self.name!r}, version={version})"
        if self.datastore_path:
            return (
                f"Dataset.File.from_files((Datastore.get(ws, {self.datastore_path[0].name!r}), "
                f"{self.datastore_path[1]!r}))"
            )
        return "Dataset.File.from_files('<local files>')"

    # ---- registration -------------------------------------------------------------------
    def register(
        self,
        workspace: Workspace,
        name: str,
        description: str | None = None,
        tags: dict[str, str] | None = None,
        create_new_version: bool = False,
        show_progress: bool = True,
    ) -> FileDataset:
        """Register as dataset ``name`` (a new version when ``create_new_version``); local files are uploaded."""
        client = workspace.client
        existing = client.first("/api/datasets/", name=name)
        if existing is not None and existing.get("latest_version") and not create_new_version:
            raise UserErrorException(
                f"A dataset named '{name}' already exists; pass create_new_version=True "
                "to register a new version of it."
            )
        if existing is None:
            existing = client.post("/api/datasets/", {"name": name, "description": description or ""})
        endpoint = f"/api/datasets/{existing['id']}/versions/"
        common = {"description": description or "", "tags": tags or {}}
        if self._origin is not None:
            version = client.post(endpoint, {"from_version": self._origin.version_id, "files": self._subset, **common})
        elif self.urls:
            version = client.post(endpoint, {"urls": self.urls, **common})
        elif self.datastore_path is not None:
            store, folder = self.datastore_path
            version = client.post(
                endpoint,
                {"datastore": store.name, "path": folder, "description": description or "", "tags": tags or {}},
            )
        elif self.local_files:
            fields = {"description": description or "", "single_file": "true" if self.single_file else "false"}
            version = _upload_version(workspace, endpoint, self.local_files, fields, name, show_progress)
        else:
            raise UserErrorException("This dataset has no files to register.")
        registered = FileDataset._registered(workspace, existing, version)
        registered.datastore_path = self.datastore_path
        return registered

    # ---- files (Azure's to_path, download, mount, take, skip, random_split) --------------
    def _files(self) -> list[FileEntry]:
        if self._entries is not None:
            return self._entries
        if self.version_id is not None and self.workspace is not None:
            detail = self.workspace.client.get(f"/api/dataset-versions/{self.version_id}/")
            vid = self.version_id
            entries = [FileEntry(f["path"], url=f.get("url") or "", version_id=vid) for f in detail["files"]]
        elif self.urls:
            entries = [FileEntry(p, url=u) for p, u in zip(weburl.relative_paths(self.urls), self.urls, strict=True)]
        elif self.local_files:
            entries = [FileEntry(rel, local=path) for path, rel in sorted(self.local_files, key=lambda f: f[1])]
        else:
            raise UserErrorException(
                "Listing a datastore path's files needs it registered first: ds = ds.register(ws, 'name')."
            )
        self._entries = entries
        return entries

    def to_path(self) -> list[str]:
        """The path of each file, relative to where the dataset is mounted or downloaded."""
        return ["/" + e.path for e in self._files()]

    def download(self, target_path: str | os.PathLike[str] | None = None, overwrite: bool = False) -> list[str]:
        """Copy the files under ``target_path`` (a temporary folder if None); returns their paths."""
        return dataset_files.download(self.workspace, self._files(), target_path, overwrite)

    def mount(self, mount_point: str | os.PathLike[str] | None = None, **kwargs: Any) -> MountContext:
        """A context manager giving the files at ``mount_point`` (see MountContext: a read-only copy)."""
        return MountContext(self.workspace, self._files(), mount_point)

    def _derived(self, paths: list[str]) -> FileDataset:
        """A new unregistered dataset holding ``paths`` of this one's files."""
        entries = dataset_files.subset(self._files(), paths)
        if self.version_id is not None or self._origin is not None:
            ds = FileDataset(single_file=self.single_file)
            ds.workspace = self.workspace
            origin = self._origin
            if origin is None:
                assert self.name and self.version is not None and self.version_id is not None and self.id is not None
                origin = _Origin(self.name, self.version, self.version_id, self.id)
            ds._origin, ds._subset, ds.version_id = origin, [e.path for e in entries], origin.version_id
        elif self.urls:
            ds = FileDataset(urls=[e.url for e in entries])
        else:
            ds = FileDataset(local_files=[(e.local, e.path) for e in entries if e.local is not None])
        ds._entries = entries
        return ds

    def take(self, count: int) -> FileDataset:
        """The first ``count`` files, as a new unregistered dataset."""
        return self._derived(dataset_files.take([e.path for e in self._files()], count))

    def skip(self, count: int) -> FileDataset:
        """All but the first ``count`` files, as a new unregistered dataset."""
        return self._derived(dataset_files.skip([e.path for e in self._files()], count))

    def random_split(self, percentage: float, seed: int | None = None) -> tuple[FileDataset, FileDataset]:
        """Two new unregistered datasets: ``percentage`` of the files (chosen at random with
        ``seed``) and the rest."""
        first, second = dataset_files.random_split([e.path for e in self._files()], percentage, seed)
        return self._derived(first), self._derived(second)

    # ---- reading ------------------------------------------------------------------------
    @staticmethod
    def get_by_name(workspace: Workspace, name: str, version: int | str = "latest") -> FileDataset:
        client = workspace.client
        item = client.first("/api/datasets/", name=name)
        if item is None:
            known = ", ".join(sorted(d["name"] for d in client.paged("/api/datasets/"))) or "none"
            raise UserErrorException(f"No dataset named '{name}'. Known datasets: {known}.")
        if version in (None, "latest"):
            chosen = item.get("latest_version")
        else:
            chosen = next(
                (
                    v
                    for v in client.paged("/api/dataset-versions/", dataset=item["id"])
                    if str(v["version"]) == str(version)
                ),
                None,
            )
        if chosen is None:
            raise UserErrorException(f"Dataset '{name}' has no version {version}.")
        return FileDataset._registered(workspace, item, chosen)

    def get_versions(self) -> list[dict[str, Any]]:
        if self.workspace is None or self.id is None:
            return []
        return list(self.workspace.client.paged("/api/dataset-versions/", dataset=self.id))


def _upload_version(
    workspace: Workspace,
    endpoint: str,
    files: list[tuple[Path, str]],
    fields: dict[str, str],
    name: str,
    show_progress: bool,
) -> dict[str, Any]:
    """One request (a version is one upload): stream every file with a progress bar."""
    from runyard.http import FilePart
    from runyard.progress import ProgressBar

    bar = ProgressBar(sum(p.stat().st_size for p, _ in files), f"Uploading dataset {name}", enabled=show_progress)
    try:
        parts = [FilePart("files", rel, path=path) for path, rel in files]
        answer: dict[str, Any] = workspace.client.post_multipart(endpoint, fields, parts, on_bytes=bar.update)
    finally:
        bar.close()
    return answer


class _FileFactory:
    """``Dataset.File``: builds FileDatasets from datastore paths or local files."""

    @staticmethod
    def from_files(
        path: Any, validate: bool = True, partition_format: str | None = None, is_file: bool = False
    ) -> FileDataset:
        """A dataset from a (datastore, path) tuple, a DataReference, one or more http(s)
        URLs, or a local file or folder (uploaded by ``register``). ``validate``: URLs are
        checked for form here and fetched by the worker when a run uses them."""
        if partition_format:
            raise UserErrorException("partition_format is not supported by Runyard's file datasets.")
        items = path if isinstance(path, list) else [path]
        web = _FileFactory._from_urls(items)
        if web is not None:
            return web
        if len(items) != 1:
            raise UserErrorException(
                "Give one source per dataset: a (datastore, 'folder/') tuple, a DataReference, "
                "or a local file or folder."
            )
        source = items[0]
        if isinstance(source, tuple) and len(source) == 2 and isinstance(source[0], Datastore):
            return FileDataset(datastore_path=(source[0], str(source[1]).strip("/") + "/"))
        if isinstance(source, DataReference):
            return FileDataset(datastore_path=(source.datastore, source.path_on_datastore + "/"))
        if isinstance(source, (str, os.PathLike)):
            local = Path(source)
            if local.is_dir():
                return FileDataset(local_files=collect_files(local))
            if local.is_file():
                return FileDataset(local_files=[(local, local.name)], single_file=True)
            raise UserErrorException(f"No such local file or folder: {local}")
        raise UserErrorException(f"Cannot make a file dataset from {source!r}.")

    @staticmethod
    def _from_urls(items: list[Any]) -> FileDataset | None:
        """A web dataset if the items are URLs; None if none looks like one."""
        urlish = [i for i in items if isinstance(i, str) and "://" in i]
        if not urlish:
            return None
        if len(urlish) != len(items):
            raise UserErrorException("A list of paths can't include both URLs and other sources together.")
        try:
            urls = [weburl.check(u, f"path[{i}]") for i, u in enumerate(urlish)]  # refuses other schemes
            weburl.relative_paths(urls)
        except weburl.BadUrl as exc:
            raise UserErrorException(str(exc)) from None
        return FileDataset(urls=urls, single_file=len(urls) == 1)

    @staticmethod
    def upload_directory(
        src_dir: str | os.PathLike[str],
        target: Any,
        pattern: str | None = None,
        overwrite: bool = False,
        show_progress: bool = True,
    ) -> FileDataset:
        """Azure's helper: upload a folder to ``target`` = (datastore, 'folder/') and reference it."""
        if not (isinstance(target, tuple) and isinstance(target[0], Datastore)):
            raise UserErrorException("target must be a (datastore, 'folder/') tuple.")
        store, folder = target
        files = collect_files(src_dir)
        if pattern:
            import fnmatch

            files = [(p, rel) for p, rel in files if fnmatch.fnmatch(rel, pattern)]
        fields = {"target_path": str(folder).strip("/"), "overwrite": "true" if overwrite else "false"}
        upload_in_batches(
            store.workspace,
            f"/api/datastores/{store.id}/upload/",
            files,
            fields,
            f"Uploading to {store.name}",
            show_progress,
        )
        return FileDataset(datastore_path=(store, str(folder).strip("/") + "/"))


class Dataset:
    """Entry point as in Azure: ``Dataset.File.from_files(...)``, ``Dataset.get_by_name(ws, name)``."""

    File = _FileFactory

    @staticmethod
    def get_by_name(workspace: Workspace, name: str, version: int | str = "latest") -> FileDataset:
        return FileDataset.get_by_name(workspace, name, version)

    @staticmethod
    def get_all(workspace: Workspace) -> dict[str, FileDataset]:
        return workspace.datasets
