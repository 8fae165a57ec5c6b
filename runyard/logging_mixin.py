"""The metric-logging methods shared by a real run and the offline run (Azure's names)."""

from __future__ import annotations

import io
import itertools
import math
import os
import sys
from pathlib import Path
from typing import Any

from runyard.exceptions import UserErrorException
from runyard.metrics import MetricBatcher, encode_batch, env_number


def as_number(value: Any) -> float | None:
    """The float of a scalar metric value, or None when it is not a number."""
    if isinstance(value, bool):
        return float(value)
    if isinstance(value, int | float):
        return float(value)
    item = getattr(value, "item", None)  # numpy / torch scalars, without importing them
    if callable(item):
        try:
            return float(item())
        except (TypeError, ValueError):
            return None
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return None
    return None


def as_cell(value: Any) -> Any:
    """A JSON-friendly list element or table cell: numbers stay numbers (ints stay ints), others become text."""
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)  # JSON has no NaN/Infinity
    if value is None or isinstance(value, bool | int | float | str):
        return value
    number = as_number(value)
    return number if number is not None else str(value)


class MetricLoggingMixin:
    """``log``, ``log_list``, ``log_row``, ``log_table``, ``log_image``; points go through ``_record``."""

    def __init__(self) -> None:
        self._batcher: MetricBatcher | None = None
        self._image_counter = itertools.count(1)

    # Subclasses provide these two.
    def _post_metrics(self, body: bytes) -> None:
        """POST one batch, already encoded (``runyard.metrics.encode_batch``)."""
        raise NotImplementedError

    def _upload_artifact(self, name: str, content: bytes | None = None, path: Path | None = None) -> dict[str, Any]:
        raise NotImplementedError

    def _record(self, name: str, value: float | None, step: int | None, kind: str, payload: Any) -> None:
        if self._batcher is None:
            # Tuning knobs for a run's environment (docs/sdk.md, "Metrics queue").
            self._batcher = MetricBatcher(
                self._post_metrics,
                interval=env_number("RUNYARD_METRICS_INTERVAL", 0.2),
                batch_size=int(env_number("RUNYARD_METRICS_BATCH", 5000)),
                max_queue=int(env_number("RUNYARD_METRICS_MAX_QUEUE", 100_000)),
                encode=encode_batch,
            )
        self._batcher.add(name, value, step, kind, payload)

    def flush(self, timeout: float = 60.0) -> None:
        """Wait until every metric point logged so far is sent (at most ``timeout`` seconds;
        points still waiting then stay queued and go on being sent in the background)."""
        if self._batcher is not None and not self._batcher.flush(timeout):
            print(
                f"runyard: {self._batcher.pending} metric points still wait for the server after {timeout:g}s "
                f"({self._batcher.last_error or 'slow'}); they are sent in the background.",
                file=sys.stderr,
                flush=True,
            )

    @property
    def metrics_dropped(self) -> int:
        """Metric points logged here that were not stored: the queue was full (the server
        too slow or away for long), or the server refused them. Also stored on the run as
        the metric ``system/metrics_dropped``."""
        return self._batcher.dropped if self._batcher is not None else 0

    # ---- Azure's logging API -----------------------------------------------------------
    def log(self, name: str, value: Any, description: str = "", step: int | None = None) -> None:
        """A scalar (numbers, numpy/torch scalars); any other value is kept as its text and
        reads back as that string (``get_metrics()['kernel'] == 'linear'``, as in Azure)."""
        number = as_number(value)
        if number is None:
            self._record(name, None, step, "text", str(value))
        else:
            self._record(name, number, step, "scalar", None)

    def log_list(self, name: str, value: list[Any], description: str = "") -> None:
        values = [as_cell(v) for v in value]
        self._record(name, None, None, "list", values)

    def log_row(self, name: str, description: str | None = None, **kwargs: Any) -> None:
        row = {k: as_cell(v) for k, v in kwargs.items()}
        self._record(name, None, None, "row", row)

    def log_table(self, name: str, value: dict[str, list[Any]], description: str = "") -> None:
        columns = list(value)
        for cells in zip(*(value[c] for c in columns), strict=False):
            self.log_row(name, **dict(zip(columns, cells, strict=True)))

    def log_image(
        self, name: str, path: str | os.PathLike[str] | None = None, plot: Any = None, description: str = ""
    ) -> None:
        """An image file (``path``) or a matplotlib figure/pyplot (``plot``), stored as a run file."""
        if (path is None) == (plot is None):
            raise UserErrorException("log_image needs exactly one of path= or plot=.")
        number = next(self._image_counter)
        if path is not None:
            source = Path(path)
            artifact = f"images/{name}/{number}{source.suffix or '.png'}"
            stored = self._upload_artifact(artifact, path=source)
        else:
            buffer = io.BytesIO()
            plot.savefig(buffer, format="png")
            artifact = f"images/{name}/{number}.png"
            stored = self._upload_artifact(artifact, content=buffer.getvalue())
        self._record(name, None, None, "image", {"path": stored.get("path", artifact)})
