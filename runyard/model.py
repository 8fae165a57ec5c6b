"""Registered models (``azureml.core.Model``): named, versioned sets of files with lineage.

``Model.register(ws, model_path, model_name)`` uploads a local file or folder;
``run.register_model(model_name, model_path)`` registers a run's own artifacts (nothing
is uploaded again). ``Model(ws, name, version=None)`` gets one (the latest by default),
``Model.list(ws, ...)`` finds them, ``model.download(target_dir)`` fetches the files.

Inside a run, ``Model.get_model_path(name, version=None)`` returns where the model was
made available to the run: declare it as an input (an argument ``model`` or
``model.as_input()``, ``runyard submit --model NAME[:VERSION]``), and the worker mounts
it read-only at ``azureml-models/<name>/<version>/`` before the script starts, as
Azure's model cache lays it out. Outside a run it looks in that local cache (and with
``_workspace`` downloads into it), as Azure does.
"""

from __future__ import annotations

import builtins
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from runyard.exceptions import ModelNotFoundException, UserErrorException, WebserviceException
from runyard.http import CHUNK, FilePart
from runyard.progress import ProgressBar

if TYPE_CHECKING:
    from runyard.workspace import Workspace

MODELS_DIR = "azureml-models"


class Framework:
    """Azure's framework constants (``Model.Framework.SCIKITLEARN`` …)."""

    CUSTOM = "Custom"
    TENSORFLOW = "TensorFlow"
    SCIKITLEARN = "ScikitLearn"
    ONNX = "Onnx"
    TFKERAS = "TfKeras"
    PYTORCH = "PyTorch"
    MULTI = "Multi"


@dataclass(frozen=True)
class ModelInput:
    """A model as a run input: the script's argument becomes the model's local path."""

    name: str
    version: int | None
    input_name: str | None = None
    mode: str = "mount"

    def to_input(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "model": self.name,
            "version": self.version if self.version is not None else "latest",
            "mode": self.mode,
        }
        if self.input_name:
            body["name"] = self.input_name
        return body


def model_files(model_path: str | os.PathLike[str], child_paths: list[str] | None = None) -> list[tuple[Path, str]]:
    """(local file, path in the model) for a file or folder: a folder keeps its own name
    as the top level (``outputs/model/`` → ``model/...``), as Azure registers it."""
    root = Path(model_path)
    if root.is_file():
        if child_paths:
            raise UserErrorException("child_paths needs model_path to be a folder.")
        return [(root, root.name)]
    if not root.is_dir():
        raise UserErrorException(f"No such local file or folder: {root}")
    top = root.resolve().name
    files = [
        (path, f"{top}/{path.relative_to(root).as_posix()}")
        for path in sorted(root.rglob("*"))
        if path.is_file() and not path.is_symlink()
    ]
    if child_paths is not None:
        wanted = {Path(p).as_posix().strip("/") for p in child_paths}
        missing = sorted(wanted - {rel.split("/", 1)[1] for _, rel in files})
        if missing:
            raise UserErrorException(f"child_paths not found under {root}: {', '.join(missing)}")
        files = [(path, rel) for path, rel in files if rel.split("/", 1)[1] in wanted]
    if not files:
        raise UserErrorException(f"{root} holds no files to register.")
    return files


def dataset_references(datasets: Any) -> list[dict[str, Any]]:
    """Azure's ``datasets=[("training data", ds), ...]`` (or bare datasets) as the API's list."""
    out = []
    for item in datasets or []:
        dataset = item[1] if isinstance(item, tuple) and len(item) == 2 else item
        name = getattr(dataset, "name", None)
        if not name:
            raise UserErrorException(f"datasets: {dataset!r} is not a registered dataset.")
        version = getattr(dataset, "version", None)
        out.append({"name": name, "version": version if version is not None else "latest"})
    return out


def registration_fields(
    model_name: str,
    tags: dict[str, Any] | None,
    properties: dict[str, Any] | None,
    description: str | None,
    model_framework: str | None,
    model_framework_version: str | None,
    datasets: Any,
) -> dict[str, Any]:
    if not model_name:
        raise UserErrorException("Give the model a name (model_name).")
    if model_framework is None and model_framework_version is not None:
        raise UserErrorException("Model framework version cannot be provided without a valid framework.")
    return {
        "model_name": model_name,
        "tags": {k: "" if v is None else str(v) for k, v in (tags or {}).items()},
        "properties": {k: "" if v is None else str(v) for k, v in (properties or {}).items()},
        "description": description or "",
        "model_framework": model_framework or "",
        "model_framework_version": model_framework_version or "",
        "datasets": dataset_references(datasets),
    }


def _pairs(items: Any, what: str) -> list[str]:
    """Azure's filter lists ``['key', ['key2', 'value']]`` as ``key`` / ``key=value``."""
    if items is None:
        return []
    if not isinstance(items, list):
        raise UserErrorException(f'Expected {what} to be a list, e.g. ["key", ["key2", "key2 value"]].')
    out = []
    for item in items:
        if isinstance(item, (list, tuple)) and len(item) == 2:
            out.append(f"{item[0]}={item[1]}")
        else:
            out.append(str(item))
    return out


class Model:
    """A registered model version. ``Model(ws, name)`` is the latest version of ``name``."""

    Framework = Framework

    def __init__(  # noqa: PLR0913 - Azure's signature
        self,
        workspace: Workspace | None,
        name: str | None = None,
        id: str | None = None,
        tags: list[Any] | None = None,
        properties: list[Any] | None = None,
        version: int | None = None,
        run_id: str | int | None = None,
        model_framework: str | None = None,
        expand: bool = True,
        **kwargs: Any,
    ) -> None:
        item = kwargs.get("_model_dto")
        if item is None:
            if workspace is None:
                raise UserErrorException("Model(workspace, name) needs a workspace.")
            if id:
                name, _, number = id.partition(":")
                version = int(number) if number.isdigit() else version
            if not name and run_id is None and not tags and not properties:
                raise UserErrorException("Give the model's name or id.")
            found = Model._query(workspace, name, tags, properties, run_id, False, model_framework, version)
            if not found:
                what = f"'{name}'" + (f" version {version}" if version is not None else "")
                raise ModelNotFoundException(f"Model {what} not found in this workspace.")
            item = max(found, key=lambda v: (v["name"] == name, v["version"], v["id"]))
        self._load(workspace, item)

    def _load(self, workspace: Workspace | None, item: dict[str, Any]) -> None:
        self.workspace = workspace
        self._item = item
        self.name: str = item["name"]
        self.version: int = int(item["version"])
        self.id = f"{self.name}:{self.version}"
        self.description: str = item.get("description") or ""
        self.tags: dict[str, str] = dict(item.get("tags") or {})
        self.properties: dict[str, str] = dict(item.get("properties") or {})
        self.model_framework: str | None = item.get("framework") or None
        self.model_framework_version: str | None = item.get("framework_version") or None
        number = item.get("run_number")
        self.run_id: str | None = None if number is None else str(number)
        self.experiment_name: str | None = item.get("experiment_name") or None
        self.created_by: dict[str, Any] = {"userName": item.get("created_by")}
        self.created_time: str | None = item.get("created_at")
        self.datasets: dict[str, list[Any]] = {"training": list(item.get("datasets") or [])}
        self.metrics: dict[str, Any] = dict(item.get("metrics") or {})
        self.environment: str | None = item.get("environment")
        self.file_count: int = int(item.get("file_count") or 0)
        self.total_size: int = int(item.get("total_size") or 0)
        self._version_id = int(item["id"])

    @classmethod
    def _from_api(cls, workspace: Workspace | None, item: dict[str, Any]) -> Model:
        return cls(workspace, _model_dto=item)

    def __repr__(self) -> str:
        return (
            f"Model(workspace={self.workspace!r}, name={self.name}, id={self.id}, version={self.version}, "
            f"tags={self.tags}, properties={self.properties})"
        )

    @property
    def url(self) -> str:
        """The version's page in the dashboard."""
        base = self._client().url if self.workspace is not None else ""
        return f"{base}/models/versions/{self._version_id}"

    @property
    def run(self) -> Any:
        """The producing run (None when registered from files, or the run is gone)."""
        if self.run_id is None or self.workspace is None:
            return None
        from runyard.run import Run

        try:
            return Run.get(self.workspace, self.run_id)
        except WebserviceException:
            return None

    def _client(self) -> Any:
        if self.workspace is None:
            raise UserErrorException("This model has no workspace.")
        return self.workspace.client

    def _path(self, suffix: str = "") -> str:
        return f"/api/model-versions/{self._version_id}/{suffix}"

    # ---- finding ----------------------------------------------------------------------------
    @staticmethod
    def _query(
        workspace: Workspace,
        name: str | None,
        tags: list[Any] | None,
        properties: list[Any] | None,
        run_id: str | int | None,
        latest: bool,
        model_framework: str | None,
        version: int | None = None,
    ) -> list[dict[str, Any]]:
        params: dict[str, Any] = {"name": name, "version": version, "framework": model_framework}
        if run_id is not None:
            params["run"] = int(run_id)
        if latest:
            params["latest"] = "true"
        params["tag"] = _pairs(tags, "tags") or None
        params["property"] = _pairs(properties, "properties") or None
        return list(workspace.client.paged("/api/model-versions/", **params))

    @staticmethod
    def list(  # noqa: PLR0913 - Azure's signature
        workspace: Workspace,
        name: str | None = None,
        tags: list[Any] | None = None,
        properties: list[Any] | None = None,
        run_id: str | int | None = None,
        latest: bool = False,
        dataset_id: str | None = None,
        expand: bool = True,
        page_count: int = 255,
        model_framework: str | None = None,
    ) -> list[Model]:
        """Models of the workspace, newest first; ``latest``: only each name's latest version."""
        items = Model._query(workspace, name, tags, properties, run_id, latest, model_framework)
        return [Model._from_api(workspace, item) for item in items]

    # ---- registering ------------------------------------------------------------------------
    @staticmethod
    def register(  # noqa: PLR0913 - Azure's signature
        workspace: Workspace,
        model_path: str | os.PathLike[str],
        model_name: str,
        tags: dict[str, Any] | None = None,
        properties: dict[str, Any] | None = None,
        description: str | None = None,
        datasets: Any = None,
        model_framework: str | None = None,
        model_framework_version: str | None = None,
        child_paths: builtins.list[str] | None = None,
        sample_input_dataset: Any = None,
        sample_output_dataset: Any = None,
        resource_configuration: Any = None,
        show_progress: bool = True,
    ) -> Model:
        """Upload a local file or folder as a new version of ``model_name``, with a progress bar."""
        fields = registration_fields(
            model_name, tags, properties, description, model_framework, model_framework_version, datasets
        )
        files = model_files(model_path, child_paths)
        print(f"Registering model {model_name}")
        bar = ProgressBar(sum(p.stat().st_size for p, _ in files), f"Uploading model {model_name}", show_progress)
        form = {k: v if isinstance(v, str) else json.dumps(v) for k, v in fields.items()}
        try:
            parts = [FilePart("files", rel, path=path) for path, rel in files]
            item = workspace.client.post_multipart("/api/models/register/", form, parts, on_bytes=bar.update)
        finally:
            bar.close()
        return Model._from_api(workspace, item)

    # ---- editing ------------------------------------------------------------------------------
    def update_tags_properties(
        self,
        add_tags: dict[str, Any] | None = None,
        remove_tags: builtins.list[str] | str | None = None,
        add_properties: dict[str, Any] | None = None,
    ) -> None:
        """Merge ``add_tags``, drop ``remove_tags``, add ``add_properties`` (add-only), on the server."""
        if isinstance(remove_tags, str):
            remove_tags = [remove_tags]
        body = {
            "add_tags": {k: "" if v is None else str(v) for k, v in (add_tags or {}).items()},
            "remove_tags": list(remove_tags or []),
            "add_properties": {k: "" if v is None else str(v) for k, v in (add_properties or {}).items()},
        }
        self._load(self.workspace, self._client().post(self._path("tags/"), body))

    def add_tags(self, tags: dict[str, Any]) -> None:
        self.update_tags_properties(add_tags=tags)
        print("Model tag add operation complete.")

    def remove_tags(self, tags: builtins.list[str] | str) -> None:
        self.update_tags_properties(remove_tags=tags)
        print("Model tag remove operation complete.")

    def add_properties(self, properties: dict[str, Any]) -> None:
        self.update_tags_properties(add_properties=properties)
        print("Model properties add operation complete.")

    def update(self, tags: dict[str, Any] | None = None, description: str | None = None, **kwargs: Any) -> None:
        """Replace the tags and/or the description."""
        body: dict[str, Any] = {}
        if tags is not None:
            body["tags"] = {k: "" if v is None else str(v) for k, v in tags.items()}
        if description is not None:
            body["description"] = description
        if body:
            self._load(self.workspace, self._client().request("PATCH", self._path(), json_body=body))

    def delete(self) -> None:
        """Delete this version (refused while a run consumes it: the error names the runs)."""
        self._client().request("DELETE", self._path())

    def serialize(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "version": self.version,
            "description": self.description,
            "tags": self.tags,
            "properties": self.properties,
            "modelFramework": self.model_framework,
            "modelFrameworkVersion": self.model_framework_version,
            "runId": self.run_id,
            "experimentName": self.experiment_name,
            "createdTime": self.created_time,
            "url": self.url,
        }

    # ---- using -----------------------------------------------------------------------------------
    def as_input(self, name: str | None = None, mode: str = "mount") -> ModelInput:
        """This version as a run input (``mode`` "mount", read-only, or "download")."""
        if mode not in ("mount", "download"):
            raise UserErrorException(f"mode must be 'mount' or 'download', not {mode!r}.")
        return ModelInput(self.name, self.version, name, mode)

    def to_input(self) -> dict[str, Any]:
        return self.as_input().to_input()

    def download(self, target_dir: str | os.PathLike[str] = ".", exist_ok: bool = False, exists_ok: Any = None) -> str:
        """Download the files under ``target_dir``; returns the model's path there (its one
        top-level file or folder)."""
        if exists_ok is not None:
            exist_ok = bool(exists_ok)
        root = Path(target_dir)
        files = self._client().get(self._path())["files"]
        targets = [(f, root / f["path"]) for f in files]
        present = [str(t) for _, t in targets if t.exists()]
        if present and not exist_ok:
            raise WebserviceException(f"File already exists: {present[0]} (pass exist_ok=True to replace).")
        bar = ProgressBar(sum(int(f["size"]) for f in files), f"Downloading model {self.id}")
        try:
            for item, target in targets:
                _fetch(self._client(), self._path("download/"), item["path"], target, bar.update)
        finally:
            bar.close()
        return os.path.commonpath([str(t) for _, t in targets]) if len(targets) > 1 else str(targets[0][1])

    @staticmethod
    def get_model_path(model_name: str, version: int | None = None, _workspace: Workspace | None = None) -> str:
        """Where the model is: inside a run, the run's model input (mounted read-only at
        ``azureml-models/<name>/<version>/``); elsewhere the local cache
        ``azureml-models/<name>/<version>/``, then ``./<model_name>``; with ``_workspace``
        a missing version is downloaded into the cache first."""
        if version is not None and (not isinstance(version, int) or isinstance(version, bool)):
            raise WebserviceException("version should be an int")
        if os.environ.get("RUNYARD_RUN_ID") and os.environ.get("RUNYARD_RUN_TOKEN"):
            return _path_in_run(model_name, version)
        try:
            return _path_in_cache(model_name, version)
        except ModelNotFoundException:
            if _workspace is None:
                raise
        model = Model(_workspace, model_name, version=version)
        folder = Path(MODELS_DIR) / model.name / str(model.version)
        return model.download(folder, exist_ok=True)


def _fetch(client: Any, endpoint: str, rel: str, target: Path, on_bytes: Any) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(target.name + ".part")
    with client.open("GET", endpoint, params={"path": rel}, timeout=3600) as response, open(partial, "wb") as out:
        while chunk := response.read(CHUNK):
            out.write(chunk)
            on_bytes(len(chunk))
    os.replace(partial, target)


def _path_in_run(model_name: str, version: int | None) -> str:
    from runyard.run import Run

    run = Run.get_context(allow_offline=False)
    inputs = [i for i in run.workspace.client.get(run._path("inputs/")) if i.get("model") == model_name]
    chosen = [i for i in inputs if version is None or i.get("version") == version]
    if not chosen:
        have = ", ".join(f"{i['model']}:{i['version']}" for i in inputs) or "none"
        raise ModelNotFoundException(
            f"Model '{model_name}'{f' version {version}' if version is not None else ''} is not an input of run "
            f"{run.id} (its model inputs: {have}). Declare it when submitting: an argument "
            "Model(ws, name) or model.as_input(), or `runyard submit --model NAME[:VERSION]`."
        )
    best = max(chosen, key=lambda i: i.get("version") or 0)
    return str(best["local_path"])


def _path_in_cache(model_name: str, version: int | None) -> str:
    candidate = Path(MODELS_DIR) / model_name
    if candidate.is_dir():
        versions = sorted(int(p.name) for p in candidate.iterdir() if p.name.isdigit())
        chosen = version if version is not None else (versions[-1] if versions else None)
        folder = candidate / str(chosen)
        if chosen is not None and folder.is_dir():
            entries = [p for p in folder.iterdir() if not p.name.endswith(".part")]
            return str(entries[0]) if len(entries) == 1 else str(folder)
    if Path(model_name).exists():
        return model_name
    raise ModelNotFoundException(
        f"Model {model_name} not found in cache at {os.path.abspath(MODELS_DIR)} or in current working directory "
        f"{os.getcwd()}."
    )
