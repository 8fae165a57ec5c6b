"""Registering tabular versions, previewing them and profiling them (see the package doc)."""

from __future__ import annotations

import datetime
import math
from dataclasses import replace
from pathlib import Path
from typing import Any

from django.db import transaction
from django.utils import timezone

from audit.services import record
from datasets import services, storage
from datasets.models import Dataset, DatasetVersion, TabularProfile
from runyard.tabular import definition as defs
from runyard.tabular import reader

PREVIEW_MAX = 1000


def _error(exc: Exception) -> services.DatasetError:
    if isinstance(exc, reader.TabularError):
        return services.DatasetError(str(exc), "files")
    if isinstance(exc, defs.DefinitionError):
        return services.DatasetError(str(exc), exc.field)
    raise exc


def parse_definition(raw: Any) -> defs.Definition:
    try:
        return defs.from_dict(raw)
    except defs.DefinitionError as exc:
        raise _error(exc) from None


def definition_of(version: DatasetVersion) -> defs.Definition:
    if version.dataset_type != DatasetVersion.Type.TABULAR:
        raise services.DatasetError(f"{version} is a file dataset; only tabular versions preview.", "version")
    return defs.from_dict(version.tabular)


def source_files(version: DatasetVersion) -> list[reader.SourceFile]:
    rows = list(version.files.order_by("path").values_list("path", "sha256", "url"))
    web = [path for path, _, url in rows if url]
    if web:
        raise services.DatasetError(
            f"Tabular datasets read stored files; '{web[0]}' is a web file (not stored here).", "files"
        )
    return [reader.SourceFile(rel, storage.blob_path(sha)) for rel, sha, _ in rows]


def complete(files: list[reader.SourceFile], definition: defs.Definition) -> defs.Definition:
    """The definition with its columns inferred from ``files`` (bounded sample per file,
    overrides applied) and its steps checked against them."""
    try:
        columns = reader.infer_columns(files, definition.parse, definition.overrides)
        done = replace(definition, columns=columns)
        reader.output_columns(done)
        return done
    except (reader.TabularError, defs.DefinitionError) as exc:
        raise _error(exc) from None


def register(
    dataset: Dataset,
    source: services.Source,
    raw: Any,
    *,
    actor: Any,
    description: str = "",
    tags: dict[str, str] | None = None,
) -> DatasetVersion:
    """A new tabular version: its files stored as for a file version, then its columns
    inferred; a file that does not parse undoes the whole registration (400)."""
    definition = parse_definition(raw)
    created: list[str] = []
    try:
        with transaction.atomic():
            version = services.create_version(dataset, source, actor=actor, description=description, tags=tags)
            created = [sha for _, sha in services.version_files(version)]
            done = complete(source_files(version), definition)
            # Versions are immutable once saved; this completes the row inside its creation.
            DatasetVersion.objects.filter(pk=version.pk).update(
                dataset_type=DatasetVersion.Type.TABULAR, tabular=done.to_dict()
            )
            version.refresh_from_db()
    except services.DatasetError:
        if created:
            storage.remove_unreferenced(created)
        raise
    return version


def _cell(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, (datetime.datetime, datetime.date)):
        return value.isoformat()
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return value


def preview_files(files: list[reader.SourceFile], definition: defs.Definition, rows: int) -> dict[str, Any]:
    """``{columns: [{name, type}], rows: [[...]]}``: the first ``rows`` rows, read lazily."""
    try:
        table = reader.head(files, definition, max(0, min(rows, PREVIEW_MAX)))
        columns = reader.output_columns(definition)
    except (reader.TabularError, defs.DefinitionError) as exc:
        raise _error(exc) from None
    data = table.to_pydict()
    names = [c.name for c in columns]
    return {
        "columns": [{"name": c.name, "type": c.type} for c in columns],
        "rows": [[_cell(data[n][i]) for n in names] for i in range(table.num_rows)],
    }


def preview(version: DatasetVersion, rows: int = 50) -> dict[str, Any]:
    return preview_files(source_files(version), definition_of(version), rows)


def draft_preview(source: services.Source, raw: Any, team: Any, rows: int = 50) -> dict[str, Any]:
    """A preview before registering: of uploaded parts (the browser sends the first
    megabyte of each file) or of a datastore path; nothing is stored."""
    definition = parse_definition(raw)
    if source.uploads:
        files = [reader.SourceFile(u.name, Path(u.tmp)) for u in source.uploads]
    elif source.datastore is not None:
        root = services.store_path(source.datastore, source.path, team)
        if not root.exists():
            raise services.DatasetError(f"Datastore '{source.datastore.name}' has no path '{source.path}'.", "path")
        files = [reader.SourceFile(rel, path) for rel, path in storage.walk_files(root)][:1000]
    else:
        raise services.DatasetError("Send files or a datastore path to preview.", "files")
    done = complete(files, definition)
    answer = preview_files(files, done, rows)
    answer["definition"] = done.to_dict()
    return answer


# ---- profile --------------------------------------------------------------------------
def request_profile(version: DatasetVersion, *, actor: Any, again: bool = False) -> TabularProfile:
    """The version's profile row; queues the task when there is none yet, or the last
    one failed, or ``again``."""
    definition_of(version)
    from datasets.tasks import profile_version

    with transaction.atomic():
        profile, made = TabularProfile.objects.select_for_update().get_or_create(version=version)
        if made or again or profile.status == TabularProfile.Status.FAILED:
            TabularProfile.objects.filter(pk=profile.pk).update(
                status=TabularProfile.Status.QUEUED, progress=0.0, error="", result={}, finished_at=None
            )
            profile.refresh_from_db()
            record("datasets.datasetversion.profiled", actor=actor, obj=version)
            transaction.on_commit(lambda: profile_version.delay(profile.pk))
    return profile


def run_profile(profile_id: int) -> None:
    """The task body: stream the files, store the result (or the error) on the row."""
    from datasets.tabular.profile import compute

    profile = TabularProfile.objects.select_related("version").get(pk=profile_id)
    TabularProfile.objects.filter(pk=profile_id).update(status=TabularProfile.Status.RUNNING, progress=0.0)
    last = [0.0]

    def progress(fraction: float) -> None:
        if fraction - last[0] >= 0.02 or fraction >= 1.0:
            last[0] = fraction
            TabularProfile.objects.filter(pk=profile_id).update(progress=round(fraction, 4))

    try:
        result = compute(source_files(profile.version), definition_of(profile.version), progress)
    except (reader.TabularError, defs.DefinitionError) as exc:
        TabularProfile.objects.filter(pk=profile_id).update(
            status=TabularProfile.Status.FAILED, error=str(exc), finished_at=timezone.now()
        )
        return
    data = result.to_dict()
    for col in data["columns"]:
        col["min"], col["max"] = _cell(col["min"]), _cell(col["max"])
        for item in col["top_values"]:
            item["value"] = _cell(item["value"])
    TabularProfile.objects.filter(pk=profile_id).update(
        status=TabularProfile.Status.DONE, progress=1.0, result=data, finished_at=timezone.now()
    )


def tabular_inputs(run: Any) -> dict[str, Any]:
    """{input name: definition} of a run's tabular dataset inputs (RUNYARD_TABULAR_INPUTS)."""
    inputs = run.inputs.filter(dataset_version__dataset_type=DatasetVersion.Type.TABULAR).select_related(
        "dataset_version"
    )
    return {item.name: item.dataset_version.tabular for item in inputs}
