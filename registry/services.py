"""Registering, editing and deleting model versions.

A registration (algorithm, as for dataset versions): gather the files into the blob
store's ``tmp/`` while hashing them (uploaded parts are already there; a run's artifacts
are copied only when their blob is not stored yet), check every relative path, then
under the shared blob lock move each temp file to its content-addressed blob and, in
one transaction with the model row locked, number the version (max + 1) and insert it
with its files, its lineage and an audit event. Any failure deletes the temp files and
the blobs this registration created that nothing references.

Lineage is copied from the run at registration: the dataset versions it consumed, its
environment version, and its metrics as they are then (the last value of each scalar),
so the version shows what the model was trained on even after the run changes.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Max

from accounts.models import Team
from audit.services import record
from common import archives
from common.errors import InvalidInput
from datasets import storage
from datasets.models import Dataset, DatasetVersion
from datasets.services import InUse  # one "in use by runs" error for datasets and models
from registry.models import MODEL_NAME, ModelFile, ModelVersion, RegisteredModel
from runs import metricstore
from runs.models import Artifact, Run, RunInput


def _bad(field_name: str, message: str) -> InvalidInput:
    return InvalidInput({field_name: [message]})


def check_name(name: str) -> str:
    name = (name or "").strip()
    if not name:
        raise _bad("model_name", "Give the model's name.")
    try:
        MODEL_NAME(name)
    except ValidationError as exc:
        raise _bad("model_name", f"'{name}': {exc.messages[0]}") from None
    return name


def string_map(value: Any, field_name: str) -> dict[str, str]:
    """Tags and properties: an object of names to strings (None → "")."""
    if value in (None, ""):
        return {}
    if not isinstance(value, dict) or not all(isinstance(k, str) and k for k in value):
        raise _bad(field_name, "Must be a JSON object of names to values.")
    return {k: "" if v is None else str(v) for k, v in value.items()}


@dataclass
class Lineage:
    """Where a version came from: the run, and datasets named by the caller."""

    run: Run | None = None
    source_path: str = ""
    datasets: list[DatasetVersion] = field(default_factory=list)


@dataclass
class Registration:
    """What a caller asks to register; the files come separately (spooled)."""

    name: str
    team: Team
    description: str = ""
    tags: dict[str, str] = field(default_factory=dict)
    properties: dict[str, str] = field(default_factory=dict)
    framework: str = ""
    framework_version: str = ""
    lineage: Lineage = field(default_factory=Lineage)


# ---- where files come from ------------------------------------------------------------
@dataclass
class Gathered:
    """A registration's files: spooled into ``tmp/`` (``ingest``), or already a blob
    (``stored``: their ``tmp`` is never read)."""

    ingest: storage.Ingest = field(default_factory=storage.Ingest)
    stored: list[storage.Spooled] = field(default_factory=list)

    @property
    def files(self) -> list[storage.Spooled]:
        return [*self.ingest.files, *self.stored]


def from_uploads(uploads: list[Any]) -> Gathered:
    """Spooled multipart parts (filename = relative path) as the version's files."""
    if not uploads:
        raise _bad("files", "Send the model's files in 'files' (each part's filename is its path).")
    try:
        rels = [archives.clean_path(u.name, "File", field="files") for u in uploads]
        archives.check_tree(rels, "File", field="files")
    except archives.UnsafeArchive as exc:
        raise _bad("files", str(exc)) from None
    return Gathered(storage.Ingest(files=[u.as_spooled(rel) for u, rel in zip(uploads, rels, strict=True)]))


def run_artifacts(run: Run, model_path: str) -> list[tuple[Artifact, str]]:
    """The run's artifacts under ``model_path`` (a file or a folder) and the path each has
    in the model: relative to model_path's folder, so ``outputs/model.pkl`` is
    ``model.pkl`` and ``outputs/model/`` is ``model/...`` (Azure's layout)."""
    try:
        path = archives.clean_path(model_path.strip().rstrip("/"), "model_path", field="model_path")
    except archives.UnsafeArchive as exc:
        raise _bad("model_path", str(exc)) from None
    found = list(run.artifacts.filter(path=path))
    if not found:
        found = list(run.artifacts.filter(path__startswith=path + "/").order_by("path"))
    if not found:
        known = list(run.artifacts.order_by("path").values_list("path", flat=True)[:10])
        shown = ", ".join(known) if known else "none yet"
        raise _bad("model_path", f"Run {run.pk} has no file or folder '{path}' in its artifacts (it has: {shown}).")
    parent = path.rsplit("/", 1)[0] + "/" if "/" in path else ""
    return [(a, a.path[len(parent) :]) for a in found]


def from_artifacts(run: Run, model_path: str) -> Gathered:
    """The run's stored artifacts, taken without re-uploading: a file whose content is
    already a blob is referenced as it is; others are copied into ``tmp/`` and hashed."""
    from runs import artifacts

    out = Gathered()
    for art, rel in run_artifacts(run, model_path):
        if art.sha256 and storage.blob_path(art.sha256).exists():
            out.stored.append(storage.Spooled(rel, storage.blob_path(art.sha256), art.size, art.sha256))
            continue
        try:
            with open(artifacts.file_of(art), "rb") as stream:
                out.ingest.files.append(storage.spool(stream, rel))
        except FileNotFoundError:
            out.ingest.discard_temp()
            raise _bad("model_path", f"The stored file of artifact '{art.path}' is missing.") from None
    return out


# ---- registering --------------------------------------------------------------------------
def register(reg: Registration, gathered: Gathered, *, actor: Any) -> ModelVersion:
    """A new immutable version of ``reg.name`` in ``reg.team`` (the name is created on
    first use); see the module docstring."""
    ingest = gathered.ingest
    try:
        name = check_name(reg.name)
        if not gathered.files:
            raise _bad("files", "A model needs at least one file.")
        with storage.blob_lock():
            for item in ingest.files:
                if storage.adopt(item):
                    ingest.created.append(item.sha256)
            for item in gathered.stored:  # checked under the lock: the collector cannot take it now
                if not storage.blob_path(item.sha256).exists():
                    raise _bad("model_path", f"The stored content of '{item.path}' went away; register again.")
            version = _commit(reg, name, gathered.files, actor=actor)
    except BaseException:
        ingest.discard_temp()
        storage.remove_unreferenced(ingest.created)
        raise
    return version


def run_metrics(run: Run) -> dict[str, Any]:
    """The run's metrics now: each scalar's last value (texts: the last text)."""
    return metricstore.latest_values(run.pk)


@transaction.atomic
def _commit(reg: Registration, name: str, files: list[storage.Spooled], *, actor: Any) -> ModelVersion:
    user = actor if getattr(actor, "is_authenticated", False) else None
    model, made = RegisteredModel.objects.get_or_create(
        team=reg.team, name=name, defaults={"created_by": user, "description": reg.description}
    )
    # The row lock serialises version numbering on PostgreSQL (SQLite's immediate
    # transactions do the same); the unique constraint is the backstop.
    RegisteredModel.objects.select_for_update().filter(pk=model.pk).first()
    number = (model.versions.aggregate(n=Max("version"))["n"] or 0) + 1
    run = reg.lineage.run
    version = ModelVersion.objects.create(
        model=model,
        version=number,
        description=reg.description,
        tags=reg.tags,
        properties=reg.properties,
        framework=reg.framework,
        framework_version=reg.framework_version,
        run=run,
        run_number=run.pk if run else None,
        experiment_name=run.experiment.name if run else "",
        source_path=reg.lineage.source_path,
        environment_version=run.environment_version if run else None,
        metrics=run_metrics(run) if run else {},
        total_size=sum(f.size for f in files),
        file_count=len(files),
        content_sha256=storage.content_hash((f.path, f.sha256, f.size) for f in files),
        created_by=user,
    )
    ModelFile.objects.bulk_create(
        (ModelFile(version=version, path=f.path, size=f.size, sha256=f.sha256) for f in files), batch_size=1000
    )
    consumed = list(DatasetVersion.objects.filter(run_inputs__run=run).distinct()) if run is not None else []
    version.datasets.set({*consumed, *reg.lineage.datasets})
    record(
        "registry.modelversion.registered",
        actor=actor,
        obj=version,
        team=reg.team,
        changes={
            "model": name,
            "version": number,
            "new_name": made,
            "file_count": version.file_count,
            "total_size": version.total_size,
            "run": version.run_number,
            "source_path": version.source_path,
            "tags": reg.tags,
            "properties": reg.properties,
            "framework": reg.framework,
        },
    )
    return version


def named_datasets(team: Team, items: Any) -> list[DatasetVersion]:
    """Azure's ``datasets=[("training data", ds), ...]`` as sent by the SDK:
    ``[{"name": ..., "version": n | "latest"}]`` (a role, if given, is not kept)."""
    from datasets import services as dataset_services

    if items in (None, ""):
        return []
    if not isinstance(items, list):
        raise _bad("datasets", 'Must be a list of {"name": dataset, "version": n}.')
    out = []
    for index, item in enumerate(items):
        if not isinstance(item, dict) or not item.get("name"):
            raise _bad("datasets", f'datasets[{index}]: must be {{"name": dataset, "version": n}}.')
        dataset = Dataset.objects.filter(team=team, name=str(item["name"])).first()
        if dataset is None:
            raise _bad("datasets", f"datasets[{index}]: no dataset named '{item['name']}' in team '{team.slug}'.")
        try:
            out.append(dataset_services.resolve_version(dataset, item.get("version")))
        except dataset_services.DatasetError as exc:
            raise _bad("datasets", f"datasets[{index}]: {exc}") from None
    return out


# ---- tags and properties ------------------------------------------------------------------
def update_tags(
    version: ModelVersion,
    *,
    actor: Any,
    add_tags: dict[str, str] | None = None,
    remove_tags: Iterable[str] = (),
    add_properties: dict[str, str] | None = None,
) -> ModelVersion:
    """Azure's ``update_tags_properties``: merge and remove tags, add properties (a key
    already set to another value is refused: properties are add-only)."""
    with transaction.atomic():
        locked = ModelVersion.objects.select_for_update().select_related("model").get(pk=version.pk)
        before = {"tags": dict(locked.tags), "properties": dict(locked.properties)}
        tags = {**locked.tags, **(add_tags or {})}
        for key in remove_tags:
            tags.pop(str(key), None)
        properties = dict(locked.properties)
        for key, value in (add_properties or {}).items():
            if key in properties and properties[key] != value:
                raise _bad(
                    "properties", f"Property '{key}' is already set to '{properties[key]}'; properties are add-only."
                )
            properties[key] = value
        locked.tags, locked.properties = tags, properties
        locked.save(update_fields=["tags", "properties"])
        changes = {k: [before[k], getattr(locked, k)] for k in before if before[k] != getattr(locked, k)}
        if changes:
            record("registry.modelversion.updated", actor=actor, obj=locked, team=locked.model.team, changes=changes)
    return locked


# ---- deleting ---------------------------------------------------------------------------------
def runs_using(versions: Iterable[ModelVersion]) -> list[int]:
    ids = [v.pk for v in versions]
    return sorted(set(RunInput.objects.filter(model_version_id__in=ids).values_list("run_id", flat=True)))


def _in_use(what: str, runs: list[int]) -> InUse:
    shown = ", ".join(str(r) for r in runs[:20]) + (f" and {len(runs) - 20} more" if len(runs) > 20 else "")
    plural = "s" if len(runs) > 1 else ""
    return InUse(f"{what} is an input of run{plural} {shown}; delete those runs first.", runs)


def delete_version(version: ModelVersion, *, actor: Any) -> None:
    """Delete a version no run consumes, then its tree and blobs nothing else uses."""
    with transaction.atomic():
        locked = ModelVersion.objects.select_for_update().select_related("model__team").get(pk=version.pk)
        runs = runs_using([locked])
        if runs:
            raise _in_use(f"Model '{locked.model.name}' version {locked.version}", runs)
        shas = list(locked.files.values_list("sha256", flat=True).distinct())
        content, team, repr_ = locked.content_sha256, locked.model.team, str(locked)
        changes = {"file_count": [locked.file_count, None], "total_size": [locked.total_size, None]}
        locked.delete()
        record("registry.modelversion.deleted", actor=actor, object_repr=repr_, team=team, changes=changes)
        transaction.on_commit(lambda: _after_delete([content], shas))


def delete_model(model: RegisteredModel, *, actor: Any) -> None:
    """Delete a model name and every version, unless a run consumes one of them."""
    with transaction.atomic():
        locked = RegisteredModel.objects.select_for_update().select_related("team").get(pk=model.pk)
        versions = list(locked.versions.all())
        runs = runs_using(versions)
        if runs:
            raise _in_use(f"Model '{locked.name}'", runs)
        shas = list(ModelFile.objects.filter(version__model=locked).values_list("sha256", flat=True).distinct())
        contents = [v.content_sha256 for v in versions]
        team, repr_ = locked.team, str(locked)
        locked.delete()
        record(
            "registry.registeredmodel.deleted",
            actor=actor,
            object_repr=repr_,
            team=team,
            changes={"versions": [len(versions), None]},
        )
        transaction.on_commit(lambda: _after_delete(contents, shas))


def _after_delete(contents: list[str], shas: list[str]) -> None:
    used = set(ModelVersion.objects.filter(content_sha256__in=contents).values_list("content_sha256", flat=True))
    used |= set(DatasetVersion.objects.filter(content_sha256__in=contents).values_list("content_sha256", flat=True))
    for content in set(contents) - used:
        storage.remove_tree(content)
    storage.remove_unreferenced(shas)


# ---- reading ------------------------------------------------------------------------------------
def resolve_version(model: RegisteredModel, wanted: Any, field_name: str = "version") -> ModelVersion:
    """``wanted``: a version number, a numeric string, or None/"latest"."""
    versions = model.versions.order_by("-version")
    if wanted in (None, "", "latest"):
        latest = versions.first()
        if latest is None:
            raise _bad(field_name, f"Model '{model.name}' has no versions.")
        return latest
    number = wanted if isinstance(wanted, int) and not isinstance(wanted, bool) else None
    if number is None and isinstance(wanted, str) and wanted.isdigit():
        number = int(wanted)
    if number is None:
        raise _bad(field_name, f"Version must be a number or 'latest', not {wanted!r}.")
    found = versions.filter(version=number).first()
    if found is None:
        known = ", ".join(str(v) for v in versions.values_list("version", flat=True)[:10]) or "none"
        raise _bad(field_name, f"Model '{model.name}' has no version {number} (versions: {known}).")
    return found


def version_files(version: ModelVersion) -> list[tuple[str, str]]:
    return list(version.files.order_by("path").values_list("path", "sha256"))


def version_tree(version: ModelVersion) -> Path:
    """The version's read-only tree of hard links to its blobs (made on first use)."""
    return storage.version_tree(version.content_sha256, version_files(version))


def model_path_in(version: ModelVersion, root: Path) -> Path:
    """What ``Model.get_model_path`` returns for a version materialised at ``root``: its
    one top-level file or folder (Azure's rule), else ``root`` itself."""
    tops = {p.split("/", 1)[0] for p in version.files.values_list("path", flat=True)}
    return root / tops.pop() if len(tops) == 1 else root
