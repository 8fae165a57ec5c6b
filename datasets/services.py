"""Registering and deleting dataset versions, datastore checks and uploads.

A registration (algorithm): gather the files into the store's ``tmp/`` while hashing
them (uploaded parts are already there; archive members and datastore files are
streamed in), check every relative path, then under the shared blob lock move each
temp file to its content-addressed blob and, in one transaction with the dataset row
locked, number the version (max + 1) and insert it with its file rows and an audit
event. Any failure rolls the transaction back, deletes the temp files and removes the
blobs this registration created that nothing references: no half-made version and no
stray blob is left behind.
"""

from __future__ import annotations

import contextlib
import os
import shutil
from collections.abc import Collection, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from django.db import transaction
from django.db.models import Max, Q

from audit.services import record
from common import archives
from datasets import storage
from datasets.conf import archive_limits, datastore_roots
from datasets.models import Dataset, DatasetFile, DatasetVersion, Datastore


class DatasetError(ValueError):
    """A user error, with the field it concerns (``field``) and a message naming the problem."""

    def __init__(self, message: str, field: str = "detail") -> None:
        super().__init__(message)
        self.field = field


class InUse(Exception):
    """The object is used by runs (or versions) and cannot be deleted."""

    def __init__(self, message: str, runs: list[int] | None = None) -> None:
        super().__init__(message)
        self.runs = runs or []


# ---- datastores -----------------------------------------------------------------------
def check_root_path(value: str) -> str:
    """An absolute, existing folder under one of the allowed roots; returns it normalised."""
    if not value or not os.path.isabs(value):
        raise DatasetError("Give an absolute path of a folder on the worker hosts.", "root_path")
    path = Path(value)
    if storage.allowed_root_of(path) is None:
        allowed = ", ".join(str(p) for p in datastore_roots())
        raise DatasetError(f"'{value}' is outside the allowed datastore roots ({allowed}).", "root_path")
    if not path.is_dir():
        raise DatasetError(f"'{value}' is not an existing folder.", "root_path")
    return str(path.resolve())


def store_root(store: Datastore) -> Path:
    """The datastore's folder, re-checked against the allowed roots at every use."""
    root = Path(store.root_path)
    if storage.allowed_root_of(root) is None:
        raise DatasetError(f"Datastore '{store.name}' points outside the allowed datastore roots.", "datastore")
    return root.resolve()


TEAM_FOLDERS = "teams"


def team_folder(store: Datastore, team: Any) -> str:
    """The folder of ``team`` in the shared default datastore ("" elsewhere): there each
    team sees, uploads to and registers from its own folder only, so no team reads or
    overwrites another's files while every team keeps a default datastore."""
    if team is None or not store.is_default or store.team_id is not None:
        return ""
    return f"{TEAM_FOLDERS}/{team.slug}"


def view_root(store: Datastore, team: Any = None) -> Path:
    """The root that paths given by (or shown to) ``team`` are relative to."""
    root = store_root(store)
    folder = team_folder(store, team)
    return root / folder if folder else root


def store_path(store: Datastore, rel: str, team: Any = None) -> Path:
    """``rel`` inside the datastore as ``team`` sees it (its own folder of the default
    datastore); recorded paths are relative to ``store_root`` and resolved with no team."""
    try:
        return storage.inside(view_root(store, team), rel)
    except archives.UnsafeArchive as exc:
        if exc.reason is not archives.Reason.ESCAPE:
            raise DatasetError(str(exc), "path") from None
    except storage.StorageError:
        pass
    raise DatasetError(f"'{rel}' is outside datastore '{store.name}'.", "path")


def visible_datastores(team: Any) -> Any:
    """Datastores ``team`` may name: the shared ones and its own."""
    return Datastore.objects.filter(Q(team__isnull=True) | Q(team=team))


def default_datastore() -> Datastore:
    store = Datastore.objects.filter(is_default=True).first()
    if store is not None:
        return store
    from datasets.conf import default_datastore_root

    root = default_datastore_root()
    root.mkdir(parents=True, exist_ok=True)
    store, _ = Datastore.objects.get_or_create(
        name="workspaceblobstore",
        defaults={"root_path": str(root), "is_default": True, "description": "The default datastore."},
    )
    return store


def datastore_users(store: Datastore) -> tuple[list[str], list[int]]:
    from runs.models import RunInput

    versions = [str(v) for v in DatasetVersion.objects.filter(datastore=store).select_related("dataset")[:20]]
    runs = sorted(set(RunInput.objects.filter(datastore=store).values_list("run_id", flat=True)[:1000]))
    return versions, runs


def upload_to_datastore(
    store: Datastore, uploads: list[Any], target_path: str, overwrite: bool, actor: Any, team: Any = None
) -> list[str]:
    """Move received parts into the datastore under ``target_path`` (in ``team``'s
    folder of the default datastore); return their paths as ``team`` sees them."""
    if store.read_only:
        raise DatasetError(f"Datastore '{store.name}' is read-only.", "datastore")
    if not uploads:
        raise DatasetError("Send one or more files in 'files'.", "files")
    root = view_root(store, team)
    root.mkdir(parents=True, exist_ok=True)
    plan: list[tuple[Any, str, Path]] = []
    try:
        target = archives.clean_path(target_path, "target_path", empty_ok=True) if target_path else ""
        rels = [archives.clean_path(u.name, "File") for u in uploads]
        archives.check_tree(rels, "File")
    except archives.UnsafeArchive as exc:
        raise DatasetError(str(exc), "files") from None
    for upload, rel in zip(uploads, rels, strict=True):
        full = f"{target}/{rel}" if target else rel
        try:
            dest = storage.inside(root, full)
        except storage.StorageError:
            raise DatasetError(f"'{full}' is outside datastore '{store.name}'.", "files") from None
        if dest.is_dir():
            raise DatasetError(f"'{full}' is a folder in datastore '{store.name}'.", "files")
        plan.append((upload, full, dest))
    existing = [full for _, full, dest in plan if dest.exists()]
    if existing and not overwrite:
        shown = ", ".join(existing[:10]) + (" …" if len(existing) > 10 else "")
        raise DatasetError(
            f"Already in datastore '{store.name}': {shown}. Pass overwrite=true to replace.", "overwrite"
        )
    done: list[str] = []
    for upload, full, dest in plan:
        dest.parent.mkdir(parents=True, exist_ok=True)
        if storage.inside(root, full) != dest:  # a folder on the way is a link out of the store
            raise DatasetError(f"'{full}' is outside datastore '{store.name}'.", "files")
        staging = dest.with_name(f".{dest.name}.runyard-upload")
        shutil.move(str(upload.tmp), staging)
        staging.chmod(0o644)
        os.replace(staging, dest)
        done.append(full)
    record(
        "datasets.datastore.uploaded",
        actor=actor,
        obj=store,
        changes={"files": done[:100], "count": len(done), "overwrite": overwrite},
    )
    return done


def list_datastore(store: Datastore, rel: str, limit: int = 1000, team: Any = None) -> dict[str, Any]:
    folder = store_path(store, rel, team)
    if not folder.exists() and not rel.strip("/") and team_folder(store, team):
        with contextlib.suppress(OSError):  # a team's folder of the default datastore, never used yet
            folder.mkdir(parents=True, exist_ok=True)
    if not folder.exists():
        raise DatasetError(f"Datastore '{store.name}' has no path '{rel}'.", "path")
    root = view_root(store, team)
    entries: list[dict[str, Any]] = []
    truncated = False
    if folder.is_file():
        items = [folder]
    else:
        items = sorted(folder.iterdir(), key=lambda p: p.name)
    for item in items:
        if item.name.endswith(".runyard-upload"):
            continue
        if len(entries) >= limit:
            truncated = True
            break
        try:
            info = item.stat()
        except OSError:
            continue
        entries.append(
            {
                "name": item.name,
                "path": item.relative_to(root).as_posix(),
                "type": "dir" if item.is_dir() else "file",
                "size": None if item.is_dir() else info.st_size,
            }
        )
    path = folder.relative_to(root).as_posix()
    return {"datastore": store.name, "path": "" if path == "." else path, "entries": entries, "truncated": truncated}


# ---- versions -------------------------------------------------------------------------
@dataclass
class Source:
    """Where a version's files come from: exactly one of uploads, an archive, a datastore
    path, web URLs, or a subset of an existing version's files (``take``/``random_split``
    results registered)."""

    uploads: list[Any] | None = None  # SpooledUpload parts (relative path in .name)
    archive: Any = None  # a SpooledUpload (or an object with .tmp: Path)
    datastore: Datastore | None = None
    path: str = ""
    urls: list[str] | None = None
    from_version: DatasetVersion | None = None
    files: list[str] | None = None  # with from_version: the paths kept (None: all)
    single_file: bool = False  # uploads: the user named one file, not a folder


def _from_uploads(uploads: list[Any], ingest: storage.Ingest) -> None:
    try:
        rels = [archives.clean_path(u.name, "File") for u in uploads]
        archives.check_tree(rels, "File")
    except archives.UnsafeArchive as exc:
        raise DatasetError(str(exc), "files") from None
    for upload, rel in zip(uploads, rels, strict=True):
        ingest.files.append(upload.as_spooled(rel))


def _from_archive(archive: Any, ingest: storage.Ingest) -> None:
    # One streaming pass: a refusal midway leaves only temp files, which the caller drops.
    try:
        for member, stream in archives.entries(Path(archive.tmp), archive_limits()):
            if stream is not None:
                ingest.files.append(storage.spool(stream, member.path))
    except archives.UnsafeArchive as exc:
        raise DatasetError(str(exc), "archive") from None
    if not ingest.files:
        raise DatasetError("The archive has no files.", "archive")


def _from_datastore(store: Datastore, rel: str, ingest: storage.Ingest, team: Any) -> str:
    source = store_path(store, rel, team)
    if not source.exists():
        raise DatasetError(f"Datastore '{store.name}' has no path '{rel}'.", "path")
    for rel_file, path in storage.walk_files(source):
        with open(path, "rb") as stream:
            ingest.files.append(storage.spool(stream, rel_file))
    if not ingest.files:
        raise DatasetError(f"Path '{rel}' of datastore '{store.name}' holds no files.", "path")
    return source.relative_to(view_root(store, team)).as_posix()


def clean_tags(value: Any) -> dict[str, str]:
    if value in (None, ""):
        return {}
    if not isinstance(value, dict):
        raise DatasetError("Tags must be a JSON object of names to values.", "tags")
    return {str(k): "" if v is None else str(v) for k, v in value.items()}


def create_version(
    dataset: Dataset, source: Source, *, actor: Any, description: str = "", tags: dict[str, str] | None = None
) -> DatasetVersion:
    """Register a new immutable version of ``dataset``; see the module docstring."""
    given = [
        source.uploads is not None and len(source.uploads) > 0,
        source.archive is not None,
        source.datastore is not None,
        source.urls is not None,
        source.from_version is not None,
    ]
    if sum(given) != 1:
        raise DatasetError("Give exactly one of: files, an archive, a datastore path, urls, or from_version.")
    if source.urls is not None or source.from_version is not None:
        return _create_by_reference(dataset, source, actor=actor, description=description, tags=tags or {})
    ingest = storage.Ingest()
    source_path = ""
    single = bool(source.single_file and source.uploads and len(source.uploads) == 1)
    try:
        if source.uploads:
            _from_uploads(source.uploads, ingest)
        elif source.archive is not None:
            _from_archive(source.archive, ingest)
        else:
            assert source.datastore is not None
            source_path = _from_datastore(source.datastore, source.path, ingest, dataset.team)
            single = store_path(source.datastore, source.path, dataset.team).is_file()
        with storage.blob_lock():
            for item in ingest.files:
                if storage.adopt(item):
                    ingest.created.append(item.sha256)
            version = _commit(
                dataset,
                [DatasetFile(path=f.path, size=f.size, sha256=f.sha256) for f in ingest.files],
                actor=actor,
                description=description,
                tags=tags or {},
                datastore=source.datastore,
                source_path=source_path,
                single_file=single,
            )
    except BaseException:
        ingest.discard_temp()
        storage.remove_unreferenced(ingest.created)
        raise
    return version


@transaction.atomic
def _commit(
    dataset: Dataset,
    rows: list[DatasetFile],
    *,
    actor: Any,
    description: str,
    tags: dict[str, str],
    datastore: Datastore | None,
    source_path: str,
    single_file: bool = False,
) -> DatasetVersion:
    # The row lock serialises version numbering on PostgreSQL; SQLite's immediate
    # transactions do the same; the unique constraint is the backstop.
    Dataset.objects.select_for_update().filter(pk=dataset.pk).first()
    number = (dataset.versions.aggregate(n=Max("version"))["n"] or 0) + 1
    version = DatasetVersion.objects.create(
        dataset=dataset,
        version=number,
        description=description,
        tags=tags,
        datastore=datastore,
        source_path=source_path,
        total_size=sum(r.size for r in rows),
        file_count=len(rows),
        content_sha256=storage.content_hash(_identity(r) for r in rows),
        single_file=single_file,
        created_by=actor if getattr(actor, "is_authenticated", False) else None,
    )
    for row in rows:
        row.version = version
    DatasetFile.objects.bulk_create(rows, batch_size=1000)
    record(
        "datasets.datasetversion.created",
        actor=actor,
        obj=version,
        changes={
            "dataset": dataset.name,
            "version": number,
            "file_count": version.file_count,
            "total_size": version.total_size,
            "datastore": datastore.name if datastore else None,
            "source_path": source_path,
            "urls": [r.url for r in rows if r.url][:100],
            "tags": tags,
        },
    )
    return version


def _identity(row: DatasetFile) -> tuple[str, str, int]:
    """A file's part of its version's content hash; a web file is known by its URL."""
    return (row.path, row.sha256 or f"url:{row.url}", row.size)


def _create_by_reference(
    dataset: Dataset, source: Source, *, actor: Any, description: str, tags: dict[str, str]
) -> DatasetVersion:
    """A version whose files are URLs, or rows shared with another version: no content is
    copied (blobs are referenced again; URLs are fetched when a run uses them)."""
    from datasets import webpolicy

    if source.urls is not None:
        try:
            pairs = webpolicy.checked_urls(source.urls, actor)
        except webpolicy.UrlRefused as exc:
            raise DatasetError(str(exc), "urls") from None
        rows = [DatasetFile(path=path, size=0, sha256="", url=url) for path, url in pairs]
        single = len(rows) == 1
    else:
        parent = source.from_version
        assert parent is not None
        if parent.dataset.team_id != dataset.team_id:
            raise DatasetError("from_version must be a version of a dataset of the same team.", "from_version")
        known = {f.path: f for f in parent.files.all()}
        wanted = sorted(known) if source.files is None else subset_paths(source.files, known, "files")
        rows = [DatasetFile(path=p, size=known[p].size, sha256=known[p].sha256, url=known[p].url) for p in wanted]
        single = parent.single_file
    with storage.blob_lock():  # the shared blobs must not be collected before the rows exist
        return _commit(
            dataset,
            rows,
            actor=actor,
            description=description,
            tags=tags,
            datastore=None,
            source_path="",
            single_file=single,
        )


def subset_paths(files: Any, known: Collection[str], field: str) -> list[str]:
    """``files`` checked as a non-empty list of paths out of ``known``; sorted, unique."""
    if not isinstance(files, list) or not all(isinstance(p, str) for p in files):
        raise DatasetError(f"{field}: give a list of file paths of the version.", field)
    missing = [p for p in files if p not in known]
    if missing:
        raise DatasetError(f"{field}: the version has no file '{missing[0]}'.", field)
    if not files:
        raise DatasetError(f"{field}: selects no files.", field)
    return sorted(set(files))


def runs_using(versions: Iterable[DatasetVersion]) -> list[int]:
    from runs.models import RunInput

    ids = [v.pk for v in versions]
    return sorted(set(RunInput.objects.filter(dataset_version_id__in=ids).values_list("run_id", flat=True)))


def _in_use_message(what: str, runs: list[int]) -> str:
    shown = ", ".join(str(r) for r in runs[:20]) + (f" and {len(runs) - 20} more" if len(runs) > 20 else "")
    return f"{what} is used by run{'s' if len(runs) > 1 else ''} {shown}; delete those runs first."


def delete_version(version: DatasetVersion, *, actor: Any, via: str = "") -> None:
    """Delete a version no run uses, then its tree and the blobs nothing else references."""
    with transaction.atomic():
        locked = DatasetVersion.objects.select_for_update().select_related("dataset").get(pk=version.pk)
        runs = runs_using([locked])
        if runs:
            raise InUse(_in_use_message(f"Dataset '{locked.dataset.name}' version {locked.version}", runs), runs)
        shas = list(locked.files.values_list("sha256", flat=True).distinct())
        team, repr_ = locked.dataset.team, str(locked)
        content = locked.content_sha256
        locked.delete()
        record(
            "datasets.datasetversion.deleted",
            actor=actor,
            object_repr=repr_,
            team=team,
            via=via,
            changes={"file_count": [version.file_count, None], "total_size": [version.total_size, None]},
        )
        transaction.on_commit(lambda: _after_delete([content], shas))


def delete_dataset(dataset: Dataset, *, actor: Any, via: str = "") -> None:
    with transaction.atomic():
        locked = Dataset.objects.select_for_update().get(pk=dataset.pk)
        versions = list(locked.versions.all())
        runs = runs_using(versions)
        if runs:
            raise InUse(_in_use_message(f"Dataset '{locked.name}'", runs), runs)
        shas = list(DatasetFile.objects.filter(version__dataset=locked).values_list("sha256", flat=True).distinct())
        contents = [v.content_sha256 for v in versions]
        team, repr_ = locked.team, str(locked)
        locked.delete()
        record(
            "datasets.dataset.deleted",
            actor=actor,
            object_repr=repr_,
            team=team,
            via=via,
            changes={"versions": [len(contents), None]},
        )
        transaction.on_commit(lambda: _after_delete(contents, shas))


def _after_delete(contents: list[str], shas: list[str]) -> None:
    still_used = set(
        DatasetVersion.objects.filter(content_sha256__in=contents).values_list("content_sha256", flat=True)
    )
    for users in storage.TREE_USERS:  # a model version with the same files shares the tree
        still_used |= users(contents)
    for content in set(contents) - still_used:
        if content:
            storage.remove_tree(content)
    storage.remove_unreferenced(shas)


def resolve_version(dataset: Dataset, wanted: Any) -> DatasetVersion:
    """``wanted`` is a version number, a numeric string, or None/"latest"."""
    versions = dataset.versions.order_by("-version")
    if wanted in (None, "", "latest"):
        latest = versions.first()
        if latest is None:
            raise DatasetError(f"Dataset '{dataset.name}' has no versions yet.", "version")
        return latest
    number = wanted if isinstance(wanted, int) and not isinstance(wanted, bool) else None
    if number is None and isinstance(wanted, str) and wanted.isdigit():
        number = int(wanted)
    if number is None:
        raise DatasetError(f"Version must be a number or 'latest', not {wanted!r}.", "version")
    found = versions.filter(version=number).first()
    if found is None:
        known = ", ".join(str(v) for v in versions.values_list("version", flat=True)[:10]) or "none"
        raise DatasetError(f"Dataset '{dataset.name}' has no version {number} (versions: {known}).", "version")
    return found


def version_files(version: DatasetVersion) -> list[tuple[str, str]]:
    return list(version.files.order_by("path").values_list("path", "sha256"))


def version_tree(version: DatasetVersion) -> Path:
    """The version's read-only tree of hard links (made on first use)."""
    content = version.content_sha256 or storage.content_hash(version.files.values_list("path", "sha256", "size"))
    return storage.version_tree(content, version_files(version))
