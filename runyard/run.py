"""Run: a submitted run seen from outside (status, logs, metrics, files) and, inside a
running script, ``Run.get_context()`` to log metrics, upload files and tag the run."""

from __future__ import annotations

import builtins
import io
import json
import os
import sys
import tempfile
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from runyard import preemption
from runyard.exceptions import ActivityFailedException, UserErrorException
from runyard.http import FilePart
from runyard.logging_mixin import MetricLoggingMixin
from runyard.logstream import TERMINAL, LogFollower
from runyard.progress import ProgressBar
from runyard.run_details import azure_details, log_files
from runyard.snapshot import build_archive

if TYPE_CHECKING:
    from runyard.environment import Environment
    from runyard.experiment import Experiment
    from runyard.model import Model
    from runyard.workspace import Workspace

_CONTEXT: Run | None = None


def format_line(line: dict[str, Any], distributed: bool) -> str:
    """A log line as shown by wait_for_completion / ``runyard logs``: ranks prefixed when there are several."""
    rank = line.get("rank", 0)
    text = str(line.get("text", ""))
    if rank is None or rank < 0:
        return f"[runyard] {text}"
    return f"[rank {rank}] {text}" if distributed else text


class Run(MetricLoggingMixin):
    """One run. ``Run(experiment, run_id)``, ``Run.get(ws, run_id)``, or ``Experiment.submit(...)``'s result."""

    def __init__(self, experiment: Experiment, run_id: int | str, _details: dict[str, Any] | None = None) -> None:
        self.experiment = experiment
        self.number = int(run_id)
        self.id = str(self.number)
        self._details: dict[str, Any] = _details or {}
        self._steps: preemption.StepCounter | None = None  # a resumed attempt's continuing steps
        super().__init__()

    @classmethod
    def _from_api(cls, experiment: Experiment, item: dict[str, Any]) -> Run:
        return cls(experiment, item["id"], item)

    @staticmethod
    def get(workspace: Workspace, run_id: int | str) -> Run:
        from runyard.experiment import Experiment

        item = workspace.client.get(f"/api/runs/{int(run_id)}/")
        experiment = Experiment(workspace, item["experiment"])
        if (item.get("properties") or {}).get("azureml.runsource") == "hyperdrive":
            from runyard.train.hyperdrive.run import HyperDriveRun  # a sweep's parent, as Azure rehydrates it

            return HyperDriveRun(experiment, item["id"], _details=item)
        return Run(experiment, item["id"], item)

    @staticmethod
    def list(
        experiment: Experiment,
        type: str | None = None,
        tags: dict[str, Any] | str | None = None,
        properties: dict[str, Any] | str | None = None,
        status: str | None = None,
        include_children: bool = False,
        _rehydrate_runs: bool = True,
    ) -> builtins.list[Run]:
        """The experiment's runs, newest first (``experiment.get_runs`` as a list)."""
        return builtins.list(
            experiment.get_runs(tags=tags, properties=properties, status=status, include_children=include_children)
        )

    @classmethod
    def get_context(cls, allow_offline: bool = True, used_for_context_manager: bool = False, **kwargs: Any) -> Any:
        """The current run inside a Runyard run; elsewhere an offline run that prints what it logs."""
        global _CONTEXT
        if _CONTEXT is not None:
            return _CONTEXT
        run_id = os.environ.get("RUNYARD_RUN_ID")
        url = os.environ.get("RUNYARD_URL")
        token = os.environ.get("RUNYARD_RUN_TOKEN")
        if not (run_id and url and token):
            if not allow_offline:
                raise UserErrorException("Not inside a Runyard run (RUNYARD_RUN_ID is not set).")
            from runyard.offline_run import OfflineRun

            return OfflineRun()
        from runyard.experiment import Experiment
        from runyard.workspace import Workspace

        workspace = Workspace(url, token)
        _CONTEXT = cls(Experiment(workspace, os.environ.get("RUNYARD_EXPERIMENT") or "default"), run_id)
        _CONTEXT._enter_context()
        return _CONTEXT

    # ---- preemption (runyard.preemption) ---------------------------------------------------
    def _enter_context(self) -> None:
        """Inside the run: handle the scheduler's SIGTERM; a resumed attempt continues steps."""
        if preemption.preemptible():
            preemption.STATE.install()
        if preemption.attempt() > 1:
            try:
                # A short timeout: a container that cannot reach the API must not wait long here.
                summaries = self.workspace.client.request("GET", self._path(), timeout=10).get("metrics") or {}
            except Exception as exc:  # steps then restart; the run itself must go on
                print(f"runyard: could not read earlier attempts' steps: {exc}", file=sys.stderr)
                summaries = {}
            self._steps = preemption.StepCounter(preemption.next_steps(summaries))

    def _record(self, name: str, value: float | None, step: int | None, kind: str, payload: Any) -> None:
        if step is None and kind == "scalar" and self._steps is not None:
            step = self._steps.step(name)
        super()._record(name, value, step, kind, payload)

    def on_preempt(self, callback: preemption.Callback, exit: bool = True) -> None:
        """Call ``callback(seconds_left)`` once when the scheduler preempts this run (in
        the main thread, before SIGKILL); the script then exits unless ``exit=False``."""
        preemption.STATE.on_preempt(callback, exit=exit)

    @property
    def preempted(self) -> bool:
        """True once the scheduler asked this run to stop (it will resume as a new attempt)."""
        return preemption.STATE.preempted and os.environ.get("RUNYARD_RUN_ID") == self.id

    @property
    def attempt(self) -> int:
        """This attempt's number (1, then 2 after a preemption or a retry)."""
        if os.environ.get("RUNYARD_RUN_ID") == self.id:
            return preemption.attempt()
        return int(self._details.get("attempt") or self.refresh().get("attempt") or 1)

    @property
    def checkpoint_dir(self) -> Path | None:
        """RUNYARD_CHECKPOINT_DIR: kept across this run's attempts (None outside the run)."""
        return preemption.checkpoint_dir() if os.environ.get("RUNYARD_RUN_ID") == self.id else None

    def __repr__(self) -> str:
        return f"Run(id={self.id}, experiment={self.experiment.name!r}, status={self._details.get('status')!r})"

    def __enter__(self) -> Run:
        return self

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        """``with experiment.start_logging() as run:`` ends the run: Completed, or Failed on an exception."""
        if self._details.get("interactive") and self._details.get("status") == "Running":
            if exc is None:
                self.complete()
            else:
                self.fail(error_details=f"{exc_type.__name__}: {exc}")
        else:
            self.flush()

    # ---- plumbing -------------------------------------------------------------------------
    @property
    def workspace(self) -> Workspace:
        return self.experiment.workspace

    def _path(self, suffix: str = "") -> str:
        return f"/api/runs/{self.id}/{suffix}"

    def _post_metrics(self, body: bytes) -> None:
        headers = {"Content-Type": "application/json"}
        with self.workspace.client.open("POST", self._path("metrics/"), data=body, headers=headers) as answer:
            answer.read()

    def _upload_artifact(self, name: str, content: bytes | None = None, path: Path | None = None) -> dict[str, Any]:
        part = FilePart("file", Path(name).name or "file", path=path, content=content)
        answer: dict[str, Any] = self.workspace.client.post_multipart(self._path("artifacts/"), {"name": name}, [part])
        return answer

    def refresh(self) -> dict[str, Any]:
        self._details = self.workspace.client.get(self._path())
        return self._details

    # ---- status and details -------------------------------------------------------------------
    @property
    def status(self) -> str | None:
        return self._details.get("status")

    @property
    def display_name(self) -> str:
        return str(self._details.get("display_name") or "")

    @property
    def tags(self) -> dict[str, str]:
        return dict(self.refresh().get("tags") or {})

    def get_tags(self) -> dict[str, str]:
        return self.tags

    def get_status(self) -> str:
        return str(self.refresh()["status"])

    def get_details(self) -> dict[str, Any]:
        """Azure's details (runId, status, target, times, properties, inputDatasets,
        runDefinition, logFiles as {name: URL}, submittedBy) plus ``runyard``, the raw record."""
        return self._azure_details(with_logs=False)

    def get_details_with_logs(self) -> dict[str, Any]:
        """``get_details()`` with ``logFiles`` holding each log file's text: one per process
        (``user_logs/std_log.txt``, or ``std_log_process_N.txt`` when distributed) and
        Runyard's own lines (``system_logs/runyard.txt``)."""
        return self._azure_details(with_logs=True)

    def get_all_logs(self, destination: str | os.PathLike[str] | None = None) -> builtins.list[str]:
        """Write every log file under ``destination`` (default ``assets/<run id>``); their paths."""
        root = Path(destination) if destination else Path("assets") / self.id
        if root.exists() and not root.is_dir():
            raise UserErrorException(f"{root} exists and is not a directory.")
        written = []
        for name, text in self.get_details_with_logs()["logFiles"].items():
            target = root / name
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(text)
            written.append(str(target))
        return written

    def _azure_details(self, with_logs: bool) -> dict[str, Any]:
        raw = self.refresh()
        started = raw.get("status") != "NotStarted"
        inputs = self.workspace.client.get(self._path("inputs/")) if started else []
        ranks = [p["rank"] for p in self.workspace.client.get(self._path("processes/"))] if started else []
        contents: dict[str, str] = {}
        for log in log_files(raw, ranks):
            if with_logs:
                contents[log.name] = self.workspace.client.read_text(self._path("logs/download/"), {"rank": log.rank})
            else:
                contents[log.name] = self.workspace.client.absolute(self._path("logs/download/"), {"rank": log.rank})
        return azure_details(raw, inputs, contents)

    def get_environment(self) -> Environment:
        """The Environment (that exact version) the run used."""
        version = self.refresh().get("environment_version")
        if not version:
            raise UserErrorException(
                f"Run {self.id} has no environment: it is an interactive run (start_logging / child_run)."
            )
        from runyard.environment import Environment

        # One run-scoped route, so a script's run token can read it too.
        answer = self.workspace.client.get(self._path("environment/"))
        return Environment._from_api(answer["environment"], answer["version"], self.workspace)

    def get_snapshot_id(self) -> str | None:
        """The id of the run's source snapshot (its SHA-256); None for an interactive run."""
        return str(self.refresh().get("snapshot_sha256") or "") or None

    def take_snapshot(self, file_or_folder_path: str | os.PathLike[str]) -> str:
        """Store a file or folder (ignore files honoured, as at submit) as this interactive
        run's snapshot, replacing an earlier one; its snapshot id. A submitted run's snapshot
        is the code it ran and cannot change."""
        archive, _chosen = build_archive(file_or_folder_path, allow_file=True)
        size = archive.stat().st_size
        bar = ProgressBar(size, "Uploading snapshot", enabled=sys.stderr.isatty() and size > 1024 * 1024)
        try:
            part = FilePart("snapshot", "snapshot.tar.gz", path=archive)
            self._details = self.workspace.client.post_multipart(
                self._path("snapshot/"), {}, [part], on_bytes=bar.update
            )
        finally:
            bar.close()
            archive.unlink(missing_ok=True)
        return str(self._details["snapshot_sha256"])

    def restore_snapshot(self, snapshot_id: str | None = None, path: str | os.PathLike[str] | None = None) -> str:
        """Download a snapshot (the run's unless ``snapshot_id`` names another of your runs')
        as ``<snapshot id>.zip`` in ``path`` (default: the temp folder); the zip's absolute path."""
        wanted = snapshot_id or self.get_snapshot_id()
        if not wanted:
            raise UserErrorException(
                f"Run {self.id} has no snapshot: an interactive run that took none (run.take_snapshot(path))."
            )
        folder = Path(path) if path is not None else Path(tempfile.gettempdir())
        target = folder / f"{wanted}.zip"
        params = {"snapshot_id": wanted} if snapshot_id else None
        return str(self.workspace.client.download(self._path("snapshot/"), target, params).resolve())

    def get_portal_url(self) -> str:
        return str(
            self._details.get("portal_url")
            or self.refresh().get("portal_url")
            or f"{self.workspace.url}/runs/{self.id}"
        )

    def cancel(self, reason: str = "") -> str:
        """Ask the server to stop the run (SIGTERM to every rank, grace period, SIGKILL)."""
        self._details = self.workspace.client.post(self._path("cancel/"), {"reason": reason} if reason else {})
        return str(self._details.get("status"))

    def set_priority(self, priority: str) -> str:
        """Runyard's: change a Queued run's priority (low, normal, high, urgent) within its team's cap."""
        self._details = self.workspace.client.post(self._path("priority/"), {"priority": priority})
        return str(self._details.get("priority"))

    # ---- child runs and properties (Azure's hierarchy) ----------------------------------------
    @property
    def parent(self) -> Run | None:
        parent_id = self._details.get("parent") if "parent" in self._details else self.refresh().get("parent")
        return None if parent_id is None else Run.get(self.workspace, parent_id)

    def child_run(self, name: str | None = None, run_id: str | None = None, outputs: str | None = None) -> Run:
        """A new child of this run, Running: log to it, then ``child.complete()``."""
        body: dict[str, Any] = {"parent": self.number, "display_name": name or ""}
        return Run._from_api(self.experiment, self.workspace.client.post("/api/runs/start-logging/", body))

    def create_children(
        self, count: int | None = None, tag_key: str | None = None, tag_values: builtins.list[str] | None = None
    ) -> builtins.list[Run]:
        """``count`` children, or one per value of ``tag_values`` tagged ``tag_key=value``."""
        if tag_values is not None:
            if not tag_key:
                raise UserErrorException("create_children(tag_values=...) needs tag_key.")
            bodies = [{"parent": self.number, "tags": {tag_key: str(v)}} for v in tag_values]
        elif count is not None and count > 0:
            bodies = [{"parent": self.number} for _ in range(count)]
        else:
            raise UserErrorException("create_children needs count > 0 or tag_key and tag_values.")
        return [
            Run._from_api(self.experiment, self.workspace.client.post("/api/runs/start-logging/", b)) for b in bodies
        ]

    def get_children(
        self,
        recursive: bool = False,
        tags: dict[str, Any] | str | None = None,
        properties: dict[str, Any] | str | None = None,
        type: str | None = None,
        status: str | None = None,
        _rehydrate_runs: bool = True,
    ) -> builtins.list[Run]:
        """This run's children, oldest first (``recursive``: their children too, depth first)."""
        params: dict[str, Any] = {"parent": self.number, "ordering": "created_at"}
        if status:
            params["status"] = status
        if tags:
            params["tag"] = tag_filters(tags)
        if properties:
            params["property"] = property_filters(properties)
        out: builtins.list[Run] = []
        for item in self.workspace.client.paged("/api/runs/", **params):
            child = Run._from_api(self.experiment, item)
            out.append(child)
            if recursive:
                out.extend(child.get_children(recursive=True, tags=tags, properties=properties, status=status))
        return out

    def add_properties(self, properties: dict[str, Any]) -> None:
        """Add properties: new keys only (a set key cannot change, as in Azure)."""
        answer = self.workspace.client.post(self._path("properties/"), {"properties": properties})
        self._details["properties"] = answer.get("properties", {})

    def get_properties(self) -> dict[str, str]:
        return dict(self.refresh().get("properties") or {})

    @property
    def properties(self) -> dict[str, str]:
        return self.get_properties()

    # ---- waiting and streaming ----------------------------------------------------------------
    def wait_for_completion(
        self,
        show_output: bool = False,
        wait_post_processing: bool = False,
        raise_on_error: bool = True,
        stream: TextIO | None = None,
    ) -> dict[str, Any]:
        """Block until the run ends; with ``show_output`` stream its live log, then print a summary."""
        out = stream or sys.stdout
        details = self.refresh()
        distributed = bool(details.get("distributed"))
        if show_output:
            out.write(f"RunId: {self.id}\nWeb View: {self.get_portal_url()}\n\n")
            entry = details.get("script") or " ".join(details.get("command") or [])
            out.write(
                f"Streaming log of run {self.id} ({entry} on {details.get('compute_target')}, "
                f"environment {details.get('environment')})\n"
            )
            out.write("=" * 60 + "\n")
            out.flush()

        def on_line(line: dict[str, Any]) -> None:
            out.write(format_line(line, distributed) + "\n")
            out.flush()

        if details.get("status") not in TERMINAL or show_output:
            follower = LogFollower(self.workspace.client, self.id, on_line if show_output else lambda line: None)
            try:
                follower.follow()
            except KeyboardInterrupt:
                out.write(f"\nStopped watching; run {self.id} goes on (run.cancel() stops it).\n")
                raise
        final = self.get_details()
        if show_output:
            out.write(summary(final))
            out.flush()
        if raise_on_error and final["status"] == "Failed":
            raise ActivityFailedException(f"Run {self.id} failed: {final.get('error') or 'see its log'}", final)
        return final

    def get_logs(self) -> str:
        return self.workspace.client.read_text(self._path("logs/download/"))

    # ---- metrics, files, tags -------------------------------------------------------------------
    def get_metrics(
        self, name: str | None = None, recursive: bool = False, run_type: Any = None, populate: bool = False
    ) -> dict[str, Any]:
        """{name: value} for a metric logged once, {name: [values]} for one logged repeatedly
        (Azure's shape); ``recursive``: {run id: that} for this run and every run under it."""
        if recursive:
            runs = [self, *self.get_children(recursive=True)]
            return {run.id: run.get_metrics(name) for run in runs}
        self.flush()
        params = {"name": name} if name else {}
        grouped = self.workspace.client.get(self._path("metrics/"), **params)
        return {metric: metric_value(points) for metric, points in grouped.items()}

    def get_file_names(self) -> builtins.list[str]:
        return [item["path"] for item in self.workspace.client.get(self._path("artifacts/"))]

    def download_file(
        self, name: str, output_file_path: str | os.PathLike[str] | None = None, _validate_checksum: bool = False
    ) -> Path:
        target = Path(output_file_path) if output_file_path else Path(Path(name).name)
        if target.is_dir():
            target = target / Path(name).name
        return self.workspace.client.download(self._path("artifacts/download/"), target, {"path": name})

    def download_files(
        self,
        prefix: str | None = None,
        output_directory: str | os.PathLike[str] | None = None,
        output_paths: builtins.list[str] | None = None,
        batch_size: int = 100,
        append_prefix: bool = True,
        timeout_seconds: int | None = None,
    ) -> builtins.list[Path]:
        """Download the run's files under the folder ``prefix`` (all of them by default), as
        Azure does: to their own names, or to ``output_paths`` (one per file, in name order),
        under ``output_directory`` when given, where ``append_prefix=False`` drops the prefix."""
        folder = prefix.replace("\\", "/").rstrip("/") + "/" if prefix else ""
        names = [n for n in self.get_file_names() if n.startswith(folder)]
        targets = list(names)
        if output_paths is not None:
            if len(output_paths) == len(names) and len(set(output_paths)) == len(output_paths):
                targets = [str(path) for path in output_paths]
            else:
                warnings.warn(
                    f"output_paths has {len(output_paths)} paths (or repeats one) for {len(names)} files; "
                    "using the files' own names.",
                    stacklevel=2,
                )
                output_paths = None
        if output_directory is not None:
            if not append_prefix and output_paths is None:
                targets = [name[len(folder) :] for name in targets]
            targets = [os.path.join(output_directory, target) for target in targets]
        return [self.download_file(name, target) for name, target in zip(names, targets, strict=True)]

    def upload_file(self, name: str, path_or_stream: str | os.PathLike[str] | io.IOBase) -> dict[str, Any]:
        """Store a file on the run under ``name`` (e.g. ``outputs/model.pt``)."""
        if isinstance(path_or_stream, io.IOBase):
            data = path_or_stream.read()
            return self._upload_artifact(name, content=data.encode() if isinstance(data, str) else data)
        return self._upload_artifact(name, path=Path(path_or_stream))

    def upload_files(self, names: builtins.list[str], paths: builtins.list[str]) -> None:
        for name, path in zip(names, paths, strict=True):
            self.upload_file(name, path)

    def upload_folder(self, name: str, path: str | os.PathLike[str]) -> None:
        root = Path(path)
        for file in sorted(root.rglob("*")):
            if file.is_file():
                self.upload_file(f"{name.rstrip('/')}/{file.relative_to(root).as_posix()}", file)

    def tag(self, key: str, value: Any = None) -> None:
        self.set_tags({key: value})

    def alert(self, title: str, text: str = "", level: str = "info") -> None:
        """Notify the run's subscribers (bell, email, webhooks), e.g. when a metric
        crosses a threshold. ``level``: "info", "warn" or "error"."""
        self.workspace.client.post(self._path("alert/"), {"title": title, "text": text, "level": level})

    def set_tags(self, tags: dict[str, Any] | str) -> None:
        """Add or change tags (a bare name: a tag without value); others are left alone."""
        wanted = {tags: None} if isinstance(tags, str) else tags
        answer = self.workspace.client.post(
            self._path("tag/"), {"tags": {k: "" if v is None else str(v) for k, v in wanted.items()}}
        )
        self._details["tags"] = answer.get("tags", {})

    def remove_tags(self, tags: builtins.list[str] | str) -> dict[str, str]:
        """Delete these tags from the run; the tags left."""
        names = [tags] if isinstance(tags, str) else [str(t) for t in tags]
        answer = self.workspace.client.post(self._path("tag/"), {"remove": names})
        self._details["tags"] = answer.get("tags", {})
        return dict(self._details["tags"])

    # ---- models ------------------------------------------------------------------------------
    def register_model(  # noqa: PLR0913 - Azure's signature
        self,
        model_name: str,
        model_path: str | None = None,
        tags: dict[str, Any] | None = None,
        properties: dict[str, Any] | None = None,
        model_framework: str | None = None,
        model_framework_version: str | None = None,
        description: str | None = None,
        datasets: Any = None,
        sample_input_dataset: Any = None,
        sample_output_dataset: Any = None,
        resource_configuration: Any = None,
        **kwargs: Any,
    ) -> Model:
        """Register the run's file or folder ``model_path`` (default: ``model_name``), e.g.
        ``outputs/model.pkl``, as a new version of ``model_name``, with the run's lineage.

        Files already stored on the run (collected outputs, uploads) are not sent again;
        inside the running script, files under ``model_path`` that the run has not stored
        yet (or that changed) are uploaded to it first."""
        from runyard.model import Model, registration_fields

        body = registration_fields(
            model_name, tags, properties, description, model_framework, model_framework_version, datasets
        )
        path = (model_path or model_name).replace(os.sep, "/").strip("/")
        if os.environ.get("RUNYARD_RUN_ID") == self.id:
            self.flush()  # the version records the metrics logged so far
            self._store_local_files(path)
        item = self.workspace.client.post(self._path("register-model/"), {**body, "model_path": path})
        return Model._from_api(self.workspace, item)

    def _store_local_files(self, path: str) -> None:
        """Upload what the script wrote under ``path`` that the run does not hold yet."""
        import hashlib

        local = Path(path)
        if not local.exists():
            return
        stored = {a["path"]: a["sha256"] for a in self.workspace.client.get(self._path("artifacts/"))}
        files = (
            [local] if local.is_file() else sorted(p for p in local.rglob("*") if p.is_file() and not p.is_symlink())
        )
        for file in files:
            name = file.as_posix()
            digest = hashlib.sha256()
            with open(file, "rb") as handle:
                for chunk in iter(lambda: handle.read(1 << 20), b""):
                    digest.update(chunk)
            if stored.get(name) != digest.hexdigest():
                self._upload_artifact(name, path=file)

    @property
    def input_datasets(self) -> dict[str, Any]:
        """{input name: local path} of the run's dataset and datastore inputs (inside the
        run); a tabular dataset input is a TabularDataset over its local copy."""
        raw = os.environ.get("RUNYARD_INPUTS")
        if raw and os.environ.get("RUNYARD_RUN_ID") == self.id:
            from runyard.tabular_dataset import with_tabular_inputs

            return with_tabular_inputs(dict(json.loads(raw)))
        return {item["name"]: item.get("local_path", "") for item in self.workspace.client.get(self._path("inputs/"))}

    def complete(self, _set_status: bool = True) -> None:
        """Send every buffered metric, then end an interactive or child run Completed (a
        submitted run completes when its script exits)."""
        self.flush()
        if _set_status and self._interactive():
            self._details = self.workspace.client.post(self._path("complete/"), {"status": "Completed"})

    def fail(
        self, error_details: Any = None, error_code: str | None = None, _set_status: bool = True, **kwargs: Any
    ) -> None:
        """Send buffered metrics, then end an interactive or child run Failed with ``error_details``."""
        self.flush()
        if _set_status and self._interactive():
            error = str(error_details or error_code or "failed by the client")
            self._details = self.workspace.client.post(self._path("complete/"), {"status": "Failed", "error": error})

    def _interactive(self) -> bool:
        known = self._details.get("interactive")
        return bool(self.refresh().get("interactive") if known is None else known)


def tag_filters(tags: dict[str, Any] | str) -> list[str]:
    """Azure's ``tags=`` of get_runs / get_children as ``?tag=`` values: a name (runs that
    have the tag) or {name: value} (every pair must match; a None value: has the tag)."""
    if isinstance(tags, str):
        return [tags]
    return [key if value is None else f"{key}={value}" for key, value in tags.items()]


def property_filters(properties: dict[str, Any] | str) -> list[str]:
    """``properties=`` as ``?property=`` values: a name (runs that have it) or {name: value}."""
    if isinstance(properties, str):
        return [properties]
    return [f"{k}={'' if v is None else v}" for k, v in properties.items()]


def metric_value(points: list[dict[str, Any]]) -> Any:
    kind = points[0].get("kind", "scalar") if points else "scalar"
    if kind == "row":
        columns: dict[str, list[Any]] = {}
        for point in points:
            for key, value in (point.get("payload") or {}).items():
                columns.setdefault(key, []).append(value)
        return columns
    if kind in ("list", "text"):
        values = [point.get("payload") for point in points]
        return values[0] if len(values) == 1 else values
    if kind == "image":
        paths = [(point.get("payload") or {}).get("path") for point in points]
        return paths[0] if len(paths) == 1 else paths
    scalars = [point.get("value") for point in points]
    return scalars[0] if len(scalars) == 1 else scalars


def summary(details: dict[str, Any]) -> str:
    raw = details.get("runyard", {})
    took = raw.get("duration_seconds")
    lines = [
        "",
        "Execution Summary",
        "=================",
        f"RunId: {details['runId']}",
        f"Web View: {details.get('portalUrl')}",
        f"Status: {details['status']}"
        + (f" (exit code {details['exitCode']})" if details.get("exitCode") is not None else "")
        + (f" after {took:.1f}s" if took else ""),
    ]
    if details.get("error"):
        lines.append(f"Error: {details['error']}")
    return "\n".join(lines) + "\n\n"
