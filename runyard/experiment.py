"""Experiments group runs; ``Experiment(ws, name).submit(config)`` snapshots the source and starts a run."""

from __future__ import annotations

import json
import os
import sys
import uuid
from typing import TYPE_CHECKING, Any

from runyard.exceptions import UserErrorException
from runyard.http import FilePart
from runyard.progress import ProgressBar
from runyard.snapshot import build_archive

if TYPE_CHECKING:
    from collections.abc import Iterator

    from runyard.run import Run
    from runyard.script_run_config import ScriptRunConfig
    from runyard.workspace import Workspace


class Experiment:
    """A named group of runs in the workspace (created by its first run)."""

    def __init__(self, workspace: Workspace, name: str, _skip_name_validation: bool = False, **kwargs: Any) -> None:
        import re

        if not re.match(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$", name):
            raise UserErrorException(f"Experiment name {name!r}: use letters, digits, '.', '-' and '_' (max 128).")
        self.workspace = workspace
        self.name = name

    def __repr__(self) -> str:
        return f"Experiment(name={self.name!r})"

    @staticmethod
    def list(workspace: Workspace) -> list[Experiment]:
        return [Experiment(workspace, item["name"]) for item in workspace.client.paged("/api/experiments/")]

    def get_runs(
        self,
        tags: dict[str, Any] | str | None = None,
        status: str | None = None,
        properties: dict[str, Any] | str | None = None,
        include_children: bool = False,
        **kwargs: Any,
    ) -> Iterator[Run]:
        """This experiment's runs, newest first (top-level runs unless ``include_children``)."""
        from runyard.run import Run, property_filters, tag_filters

        params: dict[str, Any] = {"experiment": self.name}
        if status:
            params["status"] = status
        if tags:
            params["tag"] = tag_filters(tags)
        if properties:
            params["property"] = property_filters(properties)
        for item in self.workspace.client.paged("/api/runs/", **params):
            if include_children or item.get("parent") is None:
                yield Run._from_api(self, item)

    def start_logging(
        self, *args: Any, display_name: str = "", tags: dict[str, str] | None = None, **kwargs: Any
    ) -> Run:
        """An interactive run (notebook logging): Running now, ended by ``run.complete()``."""
        from runyard.run import Run

        body: dict[str, Any] = {"experiment": self.name, "display_name": display_name}
        if tags:
            body["tags"] = {k: "" if v is None else str(v) for k, v in tags.items()}
        return Run._from_api(self, self.workspace.client.post("/api/runs/start-logging/", body))

    def submit(self, config: Any, tags: dict[str, str] | None = None, **kwargs: Any) -> Run:
        """Submit a ScriptRunConfig (or a deprecated Estimator); returns the queued Run."""
        from runyard.script_run_config import ScriptRunConfig

        submit_hook = getattr(config, "_submit_to", None)
        if submit_hook is not None:
            return submit_hook(self, tags=tags, **kwargs)  # type: ignore[no-any-return]
        if not isinstance(config, ScriptRunConfig):
            raise UserErrorException(f"Experiment.submit takes a ScriptRunConfig, got {type(config).__name__}.")
        return self.submit_script_run_config(config, tags=tags, **kwargs)

    def submit_script_run_config(
        self,
        config: ScriptRunConfig,
        tags: dict[str, str] | None = None,
        show_progress: bool | None = None,
        display_name: str | None = None,
        priority: str | None = None,
        preemptible: bool | None = None,
    ) -> Run:
        """``priority``, ``preemptible`` (Runyard's): override the config's for this submit."""
        fields = self.submission_fields(config, tags, display_name)
        if priority:
            fields["priority"] = priority
        if preemptible is not None:
            fields["preemptible"] = "true" if preemptible else "false"
        return self.post_run(config, fields, show_progress)

    def post_run(self, config: ScriptRunConfig, fields: dict[str, str], show_progress: bool | None = None) -> Run:
        """Snapshot ``config.source_directory`` and POST it with ``fields``."""
        from runyard.run import Run

        return Run._from_api(self, self.post_snapshot(config, fields, show_progress))

    def post_snapshot(
        self, config: ScriptRunConfig, fields: dict[str, str], show_progress: bool | None, path: str = "/api/runs/"
    ) -> dict[str, Any]:
        """POST ``fields`` and the snapshot of ``config.source_directory`` to ``path`` (a run,
        or a sweep); the answer's body."""
        archive, chosen = build_archive(config.source_directory)
        if config.script and config.script not in {rel for _, rel, _ in chosen.files}:
            archive.unlink(missing_ok=True)
            raise UserErrorException(
                f"Script '{config.script}' is not in the snapshot of {config.source_directory} "
                "(missing, or excluded by an ignore file)."
            )
        size = archive.stat().st_size
        if show_progress is None:
            show_progress = sys.stderr.isatty() and size > 1024 * 1024
        bar = ProgressBar(size, "Uploading snapshot", enabled=show_progress)
        try:
            item: dict[str, Any] = self.workspace.client.post_multipart(
                path,
                fields,
                [FilePart("snapshot", "snapshot.tar.gz", path=archive)],
                on_bytes=bar.update,
                # One key per submit: a retry after a lost answer cannot create a second run.
                idempotency_key=uuid.uuid4().hex,
            )
        finally:
            bar.close()
            archive.unlink(missing_ok=True)
        return item

    def submission_fields(
        self, config: ScriptRunConfig, tags: dict[str, str] | None, display_name: str | None = None
    ) -> dict[str, str]:
        """The multipart form fields of ``POST /api/runs/`` (everything but the snapshot)."""
        run_config = config.run_config
        fields: dict[str, str] = {
            "experiment": self.name,
            "arguments": json.dumps(config.api_arguments()),
            "compute_target": config.api_target(),
        }
        if config.script:
            fields["script"] = config.script.replace(os.sep, "/").removeprefix("./")
        command = config.api_command()
        if command:
            fields["command"] = json.dumps(command)
        environment = environment_reference(run_config.environment, self)
        if environment:
            fields["environment"] = environment
        distributed = run_config.distributed()
        if distributed is not None:
            fields["distributed"] = json.dumps(distributed.to_api())
        if tags:
            fields["tags"] = json.dumps({str(k): "" if v is None else str(v) for k, v in tags.items()})
        if run_config.max_run_duration_seconds:
            fields["max_run_duration_seconds"] = str(int(run_config.max_run_duration_seconds))
        if display_name:
            fields["display_name"] = display_name
        if getattr(config, "priority", None):
            fields["priority"] = str(config.priority)
        if getattr(run_config, "preemptible", None) is not None:
            fields["preemptible"] = "true" if run_config.preemptible else "false"
        return fields


def environment_reference(environment: Any, experiment: Experiment) -> str:
    """ "" (the server's default), a name, or NAME:VERSION of a (possibly newly registered) environment."""
    from runyard.environment import Environment

    if environment is None:
        return ""
    if isinstance(environment, str):
        return environment
    if not isinstance(environment, Environment):
        raise UserErrorException(f"environment must be an Environment or a name, got {type(environment).__name__}.")
    if environment._is_placeholder:
        if environment.to_spec() == Environment(environment.name).to_spec():
            return ""
        environment.name = f"{experiment.name}-environment"
        environment._is_placeholder = False
    return environment.reference(experiment.workspace)
