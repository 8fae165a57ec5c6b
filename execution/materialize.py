"""Turns a run's dataset inputs into local paths at Preparing, and releases them after.

Each input gets ``<workdir>/inputs/<name>``:

- ``download``: the files are copied there (writable copies; the run may change them).
  A dataset made from one file (and a datastore path naming a file) is given as the file
  itself, ``<workdir>/inputs/<name>/<file name>``, as Azure does.
- web files of a URL dataset are fetched first, through the worker's URL cache
  (``datasets.fetch``): revalidated each time, transferred again only when changed.
- a registered model appears at ``<workdir>/azureml-models/<model>/<version>/`` (where
  Azure's ``Model.get_model_path`` looks), mounted like a dataset; its path for the
  script is the version's one top-level file or folder.
- ``mount``: nothing is copied. A dataset version's stored tree of hard links to its
  blobs (a datastore folder, for DataReference inputs) is bind-mounted there read-only,
  so writes fail with EROFS even for root. Without root (or CAP_SYS_ADMIN), or with
  ``DATASET_READONLY_MOUNTS`` off, the path is a symlink to the stored tree whose files
  are 0444 in 0555 folders: that stops other users, not root; the run's log says so.

The executor must call ``release(run, workdir)`` when the run ends (before removing
the workdir, and before re-creating a workdir that may hold a stale one): it detaches
every mount under the workdir.
"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

from runs.inputs import input_name, is_placeholder
from runs.models import Run, RunInput

OUTPUTS_DIR = "output-datasets"  # <workdir>/output-datasets/<name>: an output's writable folder
MODELS_DIR = "azureml-models"  # <workdir>/azureml-models/<model>/<version>: Azure's model cache layout


class InputError(Exception):
    """An input cannot be made available (or an output not stored); the message names it and why."""


def _size(n: int) -> str:
    value = float(n)
    for unit in ("B", "KB", "MB", "GB"):
        if value < 1024 or unit == "GB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{n} B"


def _expose(source: Path, target: Path, say: Callable[[str], None], name: str) -> str:
    """Make ``source`` visible read-only at ``target``; return how it was protected."""
    from datasets import conf, mounts

    if source.is_file():
        target.parent.mkdir(parents=True, exist_ok=True)
    if conf.readonly_mounts() and mounts.supported():
        if source.is_dir():
            target.mkdir(parents=True, exist_ok=True)
        else:
            target.touch()
        try:
            mounts.bind_readonly(source, target)
            return "read-only bind mount"
        except mounts.MountError as exc:
            say(f"Input '{name}': read-only bind mount failed ({exc}); using a link instead.")
            target.rmdir() if target.is_dir() else target.unlink(missing_ok=True)
    target.parent.mkdir(parents=True, exist_ok=True)
    os.symlink(source, target, target_is_directory=source.is_dir())
    return "a link; read-only by file permissions only, which do not stop root: bind mounts need root/CAP_SYS_ADMIN"


def _datastore_download(source: Path, target: Path) -> tuple[int, int]:
    from datasets import storage

    count = size = 0
    for rel, path in storage.walk_files(source):
        out = target / rel
        out.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, out)
        count += 1
        size += out.stat().st_size
    return count, size


def _clear(target: Path, name: str) -> None:
    """Make room at ``target``: drop our own stale link or empty folder, refuse snapshot content."""
    if target.is_symlink():
        target.unlink()  # snapshots cannot hold links: this is a previous attempt's
    elif target.is_dir() and not any(target.iterdir()):
        target.rmdir()
    elif target.exists():
        raise InputError(f"Input '{name}': the snapshot already has 'inputs/{name}'; rename one of them.")


def _label(version: Any, rows: list[tuple[str, str, int, str]], subset: bool) -> str:
    web = sum(1 for row in rows if row[3])
    count = f"{len(rows)} of {version.file_count} files" if subset else f"{len(rows)} files"
    if web:
        return f"dataset {version.dataset.name}:{version.version} ({count}, {web} from the web)"
    return f"dataset {version.dataset.name}:{version.version} ({count}, {_size(sum(r[2] for r in rows))})"


def _dataset(item: RunInput, target: Path, say: Callable[[str], None]) -> tuple[Path, Path | None]:
    """A dataset version's files (or the subset the input names), web files fetched first.

    A version made from one file is given as that file (``inputs/<name>/<file>``), as
    Azure gives a single-file dataset; otherwise as the folder ``inputs/<name>``.
    """
    from datasets import fetch, services, storage

    version = item.dataset_version
    subset = item.files is not None
    if version is not None:
        rows = list(version.files.order_by("path").values_list("path", "sha256", "size", "url"))
        if subset:
            keep = set(item.files or [])
            rows = [row for row in rows if row[0] in keep]
        label = _label(version, rows, subset)
        one_file = version.single_file
    else:  # web files given inline (an unregistered URL dataset)
        rows = sorted((str(path), "", 0, str(url)) for path, url in item.urls or [])
        label = f"{len(rows)} web file(s)"
        one_file = len(rows) == 1
    try:
        web = [(path, url) for path, _sha, _size, url in rows if url]
        if web:
            say(f"Input '{item.name}': fetching {len(web)} web file(s) of {label}")
        fetched = {f.path: f for f in fetch.fetch_all(web, say)}
        blobs = [
            (p, fetched[p].blob, fetched[p].sha256) if url else (p, storage.blob_path(sha), sha)
            for p, sha, _size, url in rows
        ]
        single = one_file and len(rows) == 1
        path = target / Path(rows[0][0]).name if single else target
        if item.mode == RunInput.Mode.DOWNLOAD:
            if single:
                storage.copy_blobs([(path.name, blobs[0][1], blobs[0][2])], target)
            else:
                storage.copy_blobs(blobs, target)
            say(f"Input '{item.name}': {label} downloaded to {path}")
            return path, None
        if version is not None and not web and not subset:
            tree = services.version_tree(version)
        else:
            got = [(p, fetched[p].sha256, fetched[p].size) if url else (p, sha, size) for p, sha, size, url in rows]
            tree = storage.derived_tree(storage.content_hash(got), blobs)
    except fetch.FetchError as exc:
        raise InputError(f"Input '{item.name}' ({label}): fetching failed: {exc}") from None
    except storage.StorageError as exc:
        raise InputError(f"Input '{item.name}' ({label}): {exc}") from None
    source = tree / rows[0][0] if single else tree
    how = _expose(source, path, say, item.name)
    say(f"Input '{item.name}': {label} mounted at {path} ({how})")
    return path, source


def _one(run: Run, item: RunInput, workdir: Path, say: Callable[[str], None]) -> tuple[Path, Path | None]:
    """Materialize one input: (path for the script, stored source if mounted)."""
    from datasets import services

    if item.mode == RunInput.Mode.UPLOAD:
        target = workdir / OUTPUTS_DIR / item.name
        target.mkdir(parents=True, exist_ok=True)
        store = item.datastore
        assert store is not None
        where = f"datastore {store.name}:/{item.datastore_path}"
        say(f"Output '{item.name}': write to {target}; uploaded to {where} when the script succeeds")
        return target, None
    target = workdir / "inputs" / item.name
    _clear(target, item.name)
    if item.dataset_version is not None or item.urls is not None:
        return _dataset(item, target, say)
    store = item.datastore
    assert store is not None
    label = f"datastore {store.name}:/{item.datastore_path}"
    try:
        source = services.store_path(store, item.datastore_path, run.team)
    except services.DatasetError as exc:
        raise InputError(f"Input '{item.name}' ({label}): {exc}") from None
    if not source.exists():
        raise InputError(f"Input '{item.name}': datastore '{store.name}' has no path '{item.datastore_path}'.")
    # A single file appears under the input's folder with its own name.
    path = target / source.name if source.is_file() else target
    if item.mode == RunInput.Mode.DOWNLOAD:
        count, size = _datastore_download(source, target)
        say(f"Input '{item.name}': {label} downloaded to {path} ({count} files, {_size(size)})")
        return path, None
    how = _expose(source, path, say, item.name)
    say(f"Input '{item.name}': {label} mounted at {path} ({how})")
    return path, source


def _model(item: RunInput, workdir: Path, say: Callable[[str], None]) -> tuple[Path, Path | None, Path]:
    """Materialize a model input: (path for the script, stored tree if mounted, where it is)."""
    from datasets import storage
    from registry import services

    version = item.model_version
    assert version is not None
    target = workdir / MODELS_DIR / version.model.name / str(version.version)
    _clear(target, item.name)
    label = f"model {version.model.name}:{version.version} ({version.file_count} files, {_size(version.total_size)})"
    try:
        if item.mode == RunInput.Mode.DOWNLOAD:
            storage.copy_files(services.version_files(version), target)
            say(f"Input '{item.name}': {label} downloaded to {target}")
            return services.model_path_in(version, target), None, target
        tree = services.version_tree(version)
    except storage.StorageError as exc:
        raise InputError(f"Input '{item.name}' ({label}): {exc}") from None
    how = _expose(tree, target, say, item.name)
    say(f"Input '{item.name}': {label} mounted at {target} ({how})")
    return services.model_path_in(version, target), tree, target


def inputs(run: Run, workdir: Path, say: Callable[[str], None]) -> tuple[list[str], dict[str, str], list[Any]]:
    """Return (arguments with placeholders replaced by local paths, {input name: path},
    mounts as (stored source, path in the run, read-only)).

    Records each input's local path on its RunInput. On failure whatever was mounted is
    released before the error propagates.
    """
    resolved: dict[str, str] = {}
    mounts: list[tuple[Path, Path, bool]] = []
    # Most runs have no inputs: a plain look-up answers them, without building the five-table join.
    has_inputs = RunInput.objects.filter(run=run).exists()
    items = (
        list(
            RunInput.objects.filter(run=run)
            .select_related("dataset_version__dataset", "datastore", "model_version__model")
            .order_by("id")
        )
        if has_inputs
        else []
    )
    release(run, workdir)  # mounts left by an earlier attempt that was not released
    try:
        for item in items:
            if item.model_version is not None:
                path, source, at = _model(item, workdir, say)
            else:
                path, source = _one(run, item, workdir, say)
                at = path
            RunInput.objects.filter(pk=item.pk).update(local_path=str(path))
            resolved[item.name] = str(path)
            if source is not None:
                mounts.append((source, at, True))
        arguments: list[str] = []
        for index, arg in enumerate(run.arguments or []):
            if is_placeholder(arg):
                name = input_name(arg)
                if name not in resolved:
                    raise InputError(f"arguments[{index}]: input '{name}' was not recorded at submission.")
                arguments.append(resolved[name])
            else:
                arguments.append(_expand_references(str(arg), resolved))
    except BaseException:
        release(run, workdir)
        raise
    return arguments, resolved, mounts


_REFERENCE = re.compile(r"\$(?:AZUREML_DATAREFERENCE|RUNYARD_INPUT)_([A-Za-z_][A-Za-z0-9_-]*)")


def _expand_references(text: str, resolved: dict[str, str]) -> str:
    """``--data=$AZUREML_DATAREFERENCE_raw`` (Azure's string form) → the input's path."""
    return _REFERENCE.sub(lambda m: resolved.get(m.group(1), m.group(0)), text)


def release(run: Run | int | None, workdir: Path) -> list[Path]:
    """Detach every mount under the run's workdir (call at cleanup, in every case).

    Safe to call when nothing is mounted, more than once, and after a crash.
    """
    from datasets import mounts

    if not workdir.exists():
        return []
    return mounts.unmount_under(workdir)


def upload_outputs(run: Run, say: Callable[[str], None]) -> None:
    """Copy each output's folder into its datastore path and register it if asked
    (``register_on_complete``). Called at Finalizing of a run whose script succeeded."""
    from datasets import services, storage
    from datasets.models import Dataset

    items = RunInput.objects.filter(run=run, mode=RunInput.Mode.UPLOAD).select_related("datastore").order_by("id")
    for item in items:
        store = item.datastore
        assert store is not None
        label = f"Output '{item.name}'"
        try:
            dest = services.store_path(store, item.datastore_path, run.team)  # as the team sees it
        except services.DatasetError as exc:
            raise InputError(f"{label}: {exc}") from None
        source = Path(item.local_path)
        count = size = 0
        for rel, path in storage.walk_files(source):
            out = dest / rel
            out.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(path, out)
            count += 1
            size += out.stat().st_size
        say(f"{label}: {count} file(s), {_size(size)} uploaded to datastore {store.name}:/{item.datastore_path}")
        if item.register_as and count:
            dataset, _ = Dataset.objects.get_or_create(
                team=run.team, name=item.register_as, defaults={"created_by": run.submitted_by}
            )
            try:
                version = services.create_version(
                    dataset,
                    services.Source(datastore=store, path=item.datastore_path),
                    actor=run.submitted_by,
                    description=f"Output '{item.name}' of run {run.pk}",
                )
            except services.DatasetError as exc:
                raise InputError(f"{label}: registering dataset '{item.register_as}' failed: {exc}") from None
            say(f"{label}: registered as dataset {dataset.name}:{version.version}")
