"""Dataset and datastore inputs given in a run's arguments.

An argument may be an object instead of a string (Azure ML's ``as_named_input(name)
.as_mount()`` / ``.as_download()`` and the older ``datastore.path(p).as_mount()``)::

    {"dataset": "mnist", "version": 2, "mode": "mount", "name": "train"}
    {"datastore": "workspaceblobstore", "path": "raw/2024/", "mode": "download"}

or web files, an unregistered ``Dataset.File.from_files(urls)`` (fetched by the worker
as a registered web dataset is; the URLs are checked as at registration)::

    {"urls": ["https://example.org/data/Titanic.csv"], "mode": "download", "name": "titanic"}

or an output (Azure's ``OutputFileDatasetConfig``), a writable folder whose files go to
the datastore (default: the default datastore) when the script succeeds, optionally
registered as a new version of a dataset; ``{run-id}`` in the path is the run's id::

    {"output": "model", "datastore": "workspaceblobstore", "path": "models/{run-id}", "register": "model"}

A registered model (``Model.get_model_path`` inside the run; always read-only)::

    {"model": "mnist-cnn", "version": 3, "name": "cnn"}

``version`` is a number or "latest" (the default); ``mode`` defaults to "mount";
a dataset input may name ``files``, a subset of the version's file paths (what the SDK's
``FileDataset.take`` / ``random_split`` send), so only those are mounted or downloaded;
``name`` defaults to the dataset's name (or datastore + path), made identifier-safe.
At submission each is resolved (the dataset version pinned) and recorded as a RunInput;
at Preparing ``execution.materialize`` makes it a local path and puts that path where the
object was.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from accounts.models import Team
from common.errors import InvalidInput
from datasets.models import Dataset, DatasetVersion, Datastore
from runs.models import Run, RunInput

_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]{0,127}$")
DATASET_KEYS = {"dataset", "version", "mode", "name", "files"}
DATASTORE_KEYS = {"datastore", "path", "mode", "name"}
WEB_KEYS = {"urls", "mode", "name"}
OUTPUT_KEYS = {"output", "datastore", "path", "mode", "register"}
MODEL_KEYS = {"model", "version", "mode", "name"}
MODES = ("mount", "download")
RUN_ID = "{run-id}"


@dataclass
class ResolvedInput:
    index: int
    name: str
    mode: str
    dataset_version: DatasetVersion | None = None
    datastore: Datastore | None = None
    datastore_path: str = ""
    register_as: str = ""
    files: list[str] | None = None
    urls: list[tuple[str, str]] | None = None
    model_version: Any = None  # registry.models.ModelVersion


def is_placeholder(arg: Any) -> bool:
    return isinstance(arg, dict) and any(key in arg for key in ("dataset", "datastore", "output", "urls", "model"))


def _identifier(text: str) -> str:
    # The same rule as the SDK's runyard.datastore.input_name.
    name = re.sub(r"[^A-Za-z0-9_-]", "_", text).strip("_") or "input"
    return (name if re.match(r"^[A-Za-z_]", name) else f"input_{name}")[:128]


def input_name(arg: dict[str, Any]) -> str:
    """The input's name: the one given, else one derived from the dataset or datastore path.

    Deterministic from the argument alone, so materialize finds each placeholder's input.
    """
    if "output" in arg:
        return str(arg["output"] or "output")
    if arg.get("name"):
        return str(arg["name"])
    if "dataset" in arg:
        return _identifier(str(arg["dataset"]))
    if "urls" in arg:
        first = arg["urls"][0] if isinstance(arg["urls"], list) and arg["urls"] else arg["urls"]
        return _identifier(str(first).rstrip("/").rsplit("/", 1)[-1].split("?", 1)[0])
    if "model" in arg:
        return _identifier(str(arg["model"]))
    rel = str(arg.get("path", "")).strip("/")
    return _identifier(f"{arg['datastore']}_{rel}" if rel else str(arg["datastore"]))


def _fail(where: str, message: str) -> InvalidInput:
    return InvalidInput({where.split("[", 1)[0]: [f"{where}: {message}"]})


def resolve(team: Team, arguments: list[Any], where: str = "arguments", actor: Any = None) -> list[ResolvedInput]:
    """Check every placeholder and pin what it refers to; errors name the argument.
    ``actor`` (the submitter) is who web-URL inputs are checked for (datasets.webpolicy)."""
    out: list[ResolvedInput] = []
    names: set[str] = set()
    for index, arg in enumerate(arguments):
        if isinstance(arg, (str, int, float)):
            continue
        label = f"{where}[{index}]"
        mode = _checked_shape(arg, label)
        if "output" in arg:
            item = _output(team, arg, index, label)
        elif "urls" in arg:
            item = _web_input(arg, index, mode, label, actor)
        elif "dataset" in arg:
            item = _dataset_input(team, arg, index, mode, label)
        elif "model" in arg:
            item = _model_input(team, arg, index, mode, label)
        else:
            item = _datastore_input(team, arg, index, mode, label)
        if not _NAME.match(item.name):
            raise _fail(
                label,
                f"input name '{item.name}' is not valid (letters, digits, '_' and '-', starting with a letter or '_').",
            )
        if item.name in names:
            raise _fail(label, f"two inputs are named '{item.name}'; give each a different 'name'.")
        names.add(item.name)
        out.append(item)
    return out


def _checked_shape(arg: Any, label: str) -> str:
    """The placeholder's mode, once its keys are known to be right."""
    if not is_placeholder(arg):
        raise _fail(
            label,
            "must be a string, a number, or a dataset input "
            '({"dataset": name, "mode": "mount"|"download"} or {"datastore": name, "path": p}).',
        )
    if sum(key in arg for key in ("dataset", "datastore", "urls", "model")) > 1 and "output" not in arg:
        raise _fail(label, "give one of 'dataset', 'datastore', 'urls' or 'model'.")
    output = "output" in arg
    allowed = (
        OUTPUT_KEYS
        if output
        else DATASET_KEYS
        if "dataset" in arg
        else WEB_KEYS
        if "urls" in arg
        else MODEL_KEYS
        if "model" in arg
        else DATASTORE_KEYS
    )
    unknown = sorted(set(arg) - allowed)
    if unknown:
        raise _fail(label, f"unknown key(s) {', '.join(unknown)}; allowed: {', '.join(sorted(allowed))}.")
    mode = str(arg.get("mode") or ("upload" if output else "mount"))
    if output and mode != "upload":
        raise _fail(label, f"an output's mode is 'upload', not {mode!r}.")
    if not output and mode not in MODES:
        raise _fail(label, f"mode must be 'mount' or 'download', not {mode!r}.")
    return mode


def _dataset_input(team: Team, arg: dict[str, Any], index: int, mode: str, label: str) -> ResolvedInput:
    from datasets import services

    dataset = Dataset.objects.filter(team=team, name=str(arg["dataset"])).first()
    if dataset is None:
        raise _fail(label, f"no dataset named '{arg['dataset']}' in team '{team.slug}'.")
    try:
        version = services.resolve_version(dataset, arg.get("version"))
        files = None
        if arg.get("files") is not None:
            known = set(version.files.values_list("path", flat=True))
            files = services.subset_paths(arg["files"], known, "files")
    except services.DatasetError as exc:
        raise _fail(label, str(exc)) from None
    return ResolvedInput(index, input_name(arg), mode, dataset_version=version, files=files)


def _web_input(arg: dict[str, Any], index: int, mode: str, label: str, actor: Any) -> ResolvedInput:
    from datasets import webpolicy

    try:
        pairs = webpolicy.checked_urls(arg["urls"], actor, field="urls")
    except webpolicy.UrlRefused as exc:
        raise _fail(label, str(exc)) from None
    return ResolvedInput(index, input_name(arg), mode, urls=pairs)


def _model_input(team: Team, arg: dict[str, Any], index: int, mode: str, label: str) -> ResolvedInput:
    from registry import services
    from registry.models import RegisteredModel

    model = RegisteredModel.objects.filter(team=team, name=str(arg["model"])).first()
    if model is None:
        raise _fail(label, f"no model named '{arg['model']}' in team '{team.slug}'.")
    try:
        version = services.resolve_version(model, arg.get("version"))
    except InvalidInput as exc:
        raise _fail(label, "; ".join(str(m) for m in exc.errors.get("version", []))) from None
    return ResolvedInput(index, input_name(arg), mode, model_version=version)


def _datastore_input(team: Team, arg: dict[str, Any], index: int, mode: str, label: str) -> ResolvedInput:
    from datasets import services

    store = services.visible_datastores(team).filter(name=str(arg["datastore"])).first()
    if store is None:
        raise _fail(label, f"no datastore named '{arg['datastore']}'.")
    rel = str(arg.get("path") or "").strip()
    try:
        source = services.store_path(store, rel, team)
    except services.DatasetError as exc:
        raise _fail(label, str(exc)) from None
    if not source.exists():
        raise _fail(label, f"datastore '{store.name}' has no path '{rel}'.")
    # As the team sees it: materialize resolves it in the run's team's view again.
    clean = source.relative_to(services.view_root(store, team)).as_posix()
    return ResolvedInput(index, input_name(arg), mode, datastore=store, datastore_path="" if clean == "." else clean)


def _output(team: Team, arg: dict[str, Any], index: int, label: str) -> ResolvedInput:
    """An OutputFileDatasetConfig: a writable folder uploaded to the datastore at Finalizing."""
    from datasets import services
    from datasets.models import DATASET_NAME

    if arg.get("datastore"):
        store = services.visible_datastores(team).filter(name=str(arg["datastore"])).first()
    else:
        store = services.default_datastore()
    if store is None:
        raise _fail(label, f"no datastore named '{arg['datastore']}'.")
    if store.read_only:
        raise _fail(label, f"datastore '{store.name}' is read-only: an output cannot go there.")
    name = input_name(arg)
    rel = str(arg.get("path") or f"dataset/{RUN_ID}/{name}").strip().strip("/")
    try:
        # Checked with a stand-in id: the real one exists only once the run does.
        services.store_path(store, rel.replace(RUN_ID, "0"), team)
    except services.DatasetError as exc:
        raise _fail(label, str(exc)) from None
    register = str(arg.get("register") or "")
    if register:
        try:
            DATASET_NAME(register)
        except Exception:
            raise _fail(label, f"'{register}' is not a valid dataset name to register the output as.") from None
    return ResolvedInput(index, name, "upload", datastore=store, datastore_path=rel, register_as=register)


def attach(run: Run, resolved: list[ResolvedInput]) -> None:
    RunInput.objects.bulk_create(
        RunInput(
            run=run,
            name=item.name,
            mode=item.mode,
            dataset_version=item.dataset_version,
            model_version=item.model_version,
            datastore=item.datastore,
            datastore_path=item.datastore_path.replace(RUN_ID, str(run.pk)),
            register_as=item.register_as,
            files=item.files,
            urls=[list(pair) for pair in item.urls] if item.urls is not None else None,
        )
        for item in resolved
    )
