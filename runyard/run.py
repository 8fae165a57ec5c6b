"""Run: a submitted run seen from outside (status, logs, metrics, files) and, inside a
running script, ``Run.get_context()`` to log metrics, upload files and tag the run."""

from __future__ import annotations

import io
import json
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from runyard.exceptions import ActivityFailedException, UserErrorException
from runyard.http import FilePart
from runyard.logging_mixin import MetricLoggingMixin
from runyard.logstream import TERMINAL, LogFollower

if TYPE_CHECKING:
    from runyard.experiment import Experiment
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
        return _CONTEXT

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

    def _post_metrics(self, points: list[dict[str, Any]]) -> None:
        self.workspace.client.post(self._path("metrics/"), {"points": points})

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
        """Azure-shaped details (runId, status, target, times, inputs…) plus ``runyard`` = the raw record."""
        raw = self.refresh()
        inputs = self.workspace.client.get(self._path("inputs/")) if raw.get("status") != "NotStarted" else []
        return {
            "runId": self.id,
            "status": raw.get("status"),
            "target": raw.get("compute_target"),
            "experiment": raw.get("experiment"),
            "startTimeUtc": raw.get("running_at"),
            "endTimeUtc": raw.get("ended_at"),
            "error": raw.get("error") or None,
            "exitCode": raw.get("exit_code"),
            "tags": raw.get("tags", {}),
            "inputDatasets": inputs,
            "runDefinition": {
                "script": raw.get("script"),
                "command": raw.get("command"),
                "arguments": raw.get("arguments"),
                "environment": raw.get("environment_version") or raw.get("environment"),
                "distributed": raw.get("distributed"),
                "maxRunDurationSeconds": raw.get("max_run_duration_seconds"),
            },
            "portalUrl": raw.get("portal_url"),
            "runyard": raw,
        }

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
        self, count: int | None = None, tag_key: str | None = None, tag_values: list[str] | None = None
    ) -> list[Run]:
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
        tags: dict[str, str] | None = None,
        properties: dict[str, Any] | None = None,
        type: str | None = None,
        status: str | None = None,
        _rehydrate_runs: bool = True,
    ) -> list[Run]:
        """This run's children, oldest first (``recursive``: their children too, depth first)."""
        params: dict[str, Any] = {"parent": self.number, "ordering": "created_at"}
        if status:
            params["status"] = status
        if tags:
            key, value = next(iter(tags.items()))
            params["tag"] = f"{key}={value}"
        if properties:
            params["property"] = [f"{k}={'' if v is None else v}" for k, v in properties.items()]
        out: list[Run] = []
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
        """{name: value} for a metric logged once, {name: [values]} for one logged repeatedly (Azure's shape)."""
        self.flush()
        params = {"name": name} if name else {}
        grouped = self.workspace.client.get(self._path("metrics/"), **params)
        return {metric: metric_value(points) for metric, points in grouped.items()}

    def get_file_names(self) -> list[str]:
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
        append_prefix: bool = True,
    ) -> list[Path]:
        root = Path(output_directory or ".")
        out = []
        for name in self.get_file_names():
            if prefix and not name.startswith(prefix):
                continue
            rel = name if append_prefix or not prefix else name[len(prefix) :].lstrip("/")
            out.append(self.download_file(name, root / rel))
        return out

    def upload_file(self, name: str, path_or_stream: str | os.PathLike[str] | io.IOBase) -> dict[str, Any]:
        """Store a file on the run under ``name`` (e.g. ``outputs/model.pt``)."""
        if isinstance(path_or_stream, io.IOBase):
            data = path_or_stream.read()
            return self._upload_artifact(name, content=data.encode() if isinstance(data, str) else data)
        return self._upload_artifact(name, path=Path(path_or_stream))

    def upload_files(self, names: list[str], paths: list[str]) -> None:
        for name, path in zip(names, paths, strict=True):
            self.upload_file(name, path)

    def upload_folder(self, name: str, path: str | os.PathLike[str]) -> None:
        root = Path(path)
        for file in sorted(root.rglob("*")):
            if file.is_file():
                self.upload_file(f"{name.rstrip('/')}/{file.relative_to(root).as_posix()}", file)

    def tag(self, key: str, value: Any = None) -> None:
        self.set_tags({key: value})

    def set_tags(self, tags: dict[str, Any]) -> None:
        answer = self.workspace.client.post(
            self._path("tag/"), {"tags": {k: "" if v is None else str(v) for k, v in tags.items()}}
        )
        self._details["tags"] = answer.get("tags", {})

    @property
    def input_datasets(self) -> dict[str, str]:
        """{input name: local path} of the run's dataset and datastore inputs (inside the run)."""
        raw = os.environ.get("RUNYARD_INPUTS")
        if raw and os.environ.get("RUNYARD_RUN_ID") == self.id:
            return dict(json.loads(raw))
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
