"""What ``Run.get_context()`` returns outside Runyard: logs are printed, files copied locally."""

from __future__ import annotations

import json
import os
import shutil
import sys
import uuid
from pathlib import Path
from typing import Any

from runyard.logging_mixin import MetricLoggingMixin


class OfflineRun(MetricLoggingMixin):
    """A stand-in so the same training script runs on a laptop: prints metrics, keeps files in ``./outputs``."""

    number = 0

    def __init__(self, run_id: str | None = None) -> None:
        super().__init__()
        # Azure's offline runs have a usable, unique id too (code builds paths from run.id).
        self.id = run_id or f"OfflineRun_{uuid.uuid4()}"
        self.tags: dict[str, str] = {}
        self.properties: dict[str, str] = {}
        self.metrics: dict[str, list[Any]] = {}

    def __repr__(self) -> str:
        return f"OfflineRun(id={self.id!r})"

    # Preemption's surface, so a resumable script runs unchanged on a laptop: nothing
    # preempts it, it is attempt 1, and its checkpoints go to ./checkpoints.
    attempt = 1
    preempted = False

    @property
    def checkpoint_dir(self) -> Path:
        return Path("checkpoints")

    def on_preempt(self, callback: Any, exit: bool = True) -> None:
        """Nothing preempts an offline run: the callback is never called."""

    def __enter__(self) -> OfflineRun:
        return self

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        pass

    def _record(self, name: str, value: float | None, step: int | None, kind: str, payload: Any) -> None:
        shown = value if kind == "scalar" else payload
        self.metrics.setdefault(name, []).append(shown)
        at = f" (step {step})" if step is not None else ""
        print(f"Attempted to log {kind} metric {name}{at}: {json.dumps(shown, default=str)}", file=sys.stderr)

    def _upload_artifact(self, name: str, content: bytes | None = None, path: Path | None = None) -> dict[str, Any]:
        target = Path("outputs") / "offline-run" / name
        target.parent.mkdir(parents=True, exist_ok=True)
        if path is not None:
            shutil.copyfile(path, target)
        else:
            target.write_bytes(content or b"")
        return {"path": str(target)}

    def upload_file(self, name: str, path_or_stream: Any) -> dict[str, Any]:
        if hasattr(path_or_stream, "read"):
            data = path_or_stream.read()
            return self._upload_artifact(name, content=data.encode() if isinstance(data, str) else data)
        return self._upload_artifact(name, path=Path(path_or_stream))

    def alert(self, title: str, text: str = "", level: str = "info") -> None:
        print(f"Alert ({level}): {title}: {text}", file=sys.stderr)

    def tag(self, key: str, value: Any = None) -> None:
        self.tags[key] = "" if value is None else str(value)
        print(f"Attempted to tag the run: {key}={self.tags[key]}", file=sys.stderr)

    def set_tags(self, tags: dict[str, Any] | str) -> None:
        for key, value in ({tags: None} if isinstance(tags, str) else tags).items():
            self.tag(key, value)

    def get_tags(self) -> dict[str, str]:
        return dict(self.tags)

    def remove_tags(self, tags: list[str] | str) -> dict[str, str]:
        for key in [tags] if isinstance(tags, str) else tags:
            self.tags.pop(key, None)
        return dict(self.tags)

    def get_metrics(self, name: str | None = None, **kwargs: Any) -> dict[str, Any]:
        return {k: (v[0] if len(v) == 1 else list(v)) for k, v in self.metrics.items() if name in (None, k)}

    @property
    def input_datasets(self) -> dict[str, Any]:
        from runyard.tabular_dataset import with_tabular_inputs

        raw = os.environ.get("RUNYARD_INPUTS")
        return with_tabular_inputs(dict(json.loads(raw))) if raw else {}

    def get_status(self) -> str:
        return "Running"

    def complete(self, _set_status: bool = True) -> None:
        pass

    def fail(self, error_details: Any = None, error_code: str | None = None, **kwargs: Any) -> None:
        print(f"Attempted to fail the run: {error_details or error_code or ''}", file=sys.stderr)

    def child_run(self, name: str | None = None, run_id: str | None = None, **kwargs: Any) -> OfflineRun:
        """Another offline run, ``<this id>.<name>`` as Azure names it (not kept: get_children is empty)."""
        return OfflineRun(run_id or f"{self.id}.{name or uuid.uuid4()}")

    def get_children(self, **kwargs: Any) -> list[OfflineRun]:
        return []

    def add_properties(self, properties: dict[str, Any]) -> None:
        for key, value in properties.items():
            self.properties.setdefault(key, "" if value is None else str(value))

    def get_properties(self) -> dict[str, str]:
        return dict(self.properties)

    @property
    def parent(self) -> None:
        return None

    def flush(self, timeout: float = 60.0) -> None:
        pass
