"""HyperDriveRun (Azure's ``azureml.train.hyperdrive.run``): a sweep's parent run."""

from __future__ import annotations

import json
import sys
import time
from typing import TYPE_CHECKING, Any, TextIO

from runyard.run import Run

if TYPE_CHECKING:
    from runyard.experiment import Experiment
    from runyard.train.hyperdrive.runconfig import HyperDriveConfig

TERMINAL = ("Completed", "Failed", "Canceled")
POLL_SECONDS = 2.0


class HyperDriveRun(Run):
    """The parent run of a sweep; its children are ordinary runs (``get_children()``)."""

    def __init__(
        self,
        experiment: Experiment,
        run_id: int | str,
        hyperdrive_config: HyperDriveConfig | None = None,
        _details: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(experiment, run_id, _details)
        self._hyperdrive_config = hyperdrive_config
        self._sweep: dict[str, Any] = {}

    @property
    def hyperdrive_config(self) -> HyperDriveConfig | None:
        return self._hyperdrive_config

    def _sweep_path(self, suffix: str = "") -> str:
        return f"/api/sweeps/{self.number}/{suffix}"

    def get_sweep(self) -> dict[str, Any]:
        """The server's view of the sweep: config (seed included), counts, best child."""
        self._sweep = dict(self.workspace.client.get(self._sweep_path()))
        return self._sweep

    def _children_rows(self) -> list[dict[str, Any]]:
        return list(self.workspace.client.get(self._sweep_path("children/")))

    def _goal(self) -> str:
        config = self._sweep.get("config") or self.get_sweep()["config"]
        return str(config["primary_metric_config"]["goal"])

    def get_hyperparameters(self) -> dict[str, str]:
        """``{child run id: JSON of its parameters}``, as Azure returns them."""
        return {str(row["id"]): json.dumps(row["parameters"]) for row in self._children_rows()}

    def get_children_sorted_by_primary_metric(
        self, top: int = 0, reverse: bool = False, discard_no_metric: bool = False
    ) -> list[dict[str, Any]]:
        """Children by best primary metric (best first for the goal; ``reverse`` flips it).
        Each: run_id, hyperparameters (JSON), best_primary_metric, status. Children without
        the metric come last, or not at all with ``discard_no_metric``."""
        if not isinstance(top, int) or top < 0:
            raise ValueError("top must be 0 or a positive int")
        maximize = self._goal() == "maximize"
        scored: list[dict[str, Any]] = []
        unscored: list[dict[str, Any]] = []
        for row in self._children_rows():
            child = {
                "run_id": str(row["id"]),
                "hyperparameters": json.dumps(row["parameters"]),
                "best_primary_metric": row["best_primary_metric"],
                "status": row["status"],
            }
            (scored if row["best_primary_metric"] is not None else unscored).append(child)
        scored.sort(key=lambda c: c["best_primary_metric"], reverse=maximize != reverse)
        ordered = scored + ([] if discard_no_metric else unscored)
        return ordered[:top] if top else ordered

    def get_best_run_by_primary_metric(
        self, include_failed: bool = True, include_canceled: bool = True, include_resume_from_runs: bool = True
    ) -> Run | None:
        """The child with the best primary metric, or None when no child logged it."""
        for child in self.get_children_sorted_by_primary_metric(discard_no_metric=True):
            if child["status"] == "Failed" and not include_failed:
                continue
            if child["status"] == "Canceled" and not include_canceled:
                continue
            return Run.get(self.workspace, child["run_id"])
        return None

    def get_metrics(self, *args: Any, **kwargs: Any) -> dict[str, dict[str, Any]]:  # type: ignore[override]
        """Every child's metrics: ``{child run id: {name: value or list}}``."""
        return {child.id: child.get_metrics() for child in self.get_children()}

    def cancel(self, reason: str = "") -> bool:  # type: ignore[override]
        """Cancel the sweep and every child still queued or running."""
        self._sweep = dict(self.workspace.client.post(self._sweep_path("cancel/"), {"reason": reason}))
        return True

    def fail(self, *args: Any, **kwargs: Any) -> None:
        raise NotImplementedError("A HyperDrive run ends by itself; cancel() stops it.")

    def wait_for_completion(  # type: ignore[override]
        self,
        show_output: bool = False,
        wait_post_processing: bool = False,
        raise_on_error: bool = True,
        stream: TextIO | None = None,
    ) -> dict[str, Any]:
        """Block until the sweep ends; with ``show_output`` a live table of the children
        (redrawn in place on a terminal, one line per change otherwise)."""
        from runyard.exceptions import ActivityFailedException

        out = stream or sys.stdout
        table = LiveTable(out)
        if show_output:
            out.write(f"RunId: {self.id}\nWeb View: {self.get_portal_url()}\n\n")
            out.flush()
        while True:
            sweep = self.get_sweep()
            if show_output:
                table.show(sweep, self._children_rows())
            if sweep["status"] in TERMINAL:
                break
            time.sleep(POLL_SECONDS)
        details = self.get_details()
        if show_output:
            best = sweep.get("best_child")
            why = sweep.get("end_reason") or sweep.get("status_reason")
            out.write(f"\nSweep {self.id} {sweep['status']}: {why}\n")
            if best:
                params = json.dumps(best["parameters"])
                out.write(f"Best run {best['id']}: {best['best_primary_metric']} with {params}\n")
            out.flush()
        if raise_on_error and sweep["status"] == "Failed":
            raise ActivityFailedException(f"Sweep {self.id} failed: {details.get('error') or sweep['status_reason']}")
        return details


class LiveTable:
    """The children of a sweep as a table: index, run, status, primary metric, parameters, why stopped."""

    def __init__(self, out: TextIO) -> None:
        self.out = out
        self.tty = bool(getattr(out, "isatty", lambda: False)())
        self.drawn = 0
        self.last: dict[int, str] = {}

    def rows(self, sweep: dict[str, Any], children: list[dict[str, Any]]) -> list[str]:
        metric = sweep["config"]["primary_metric_config"]["name"]
        best = (sweep.get("best_child") or {}).get("id")
        head = f"{'#':>3}  {'run':>6}  {'status':<15}  {metric[:14]:>14}  parameters"
        lines = [head]
        for c in children:
            value = c["best_primary_metric"]
            shown = "-" if value is None else f"{value:.6g}"
            params = " ".join(f"{k}={v}" for k, v in c["parameters"].items())
            why = f"  [{c['terminated_by']}]" if c["terminated_by"] else ""
            mark = " *" if c["id"] == best else ""
            lines.append(f"{c['index']:>3}  {c['id']:>6}  {c['status']:<15}  {shown:>14}  {params}{why}{mark}")
        done = sum(n for s, n in sweep["children_by_status"].items() if s in TERMINAL)
        total = sweep["config"]["max_total_runs"]
        lines.append(f"{sweep['proposed']}/{total} proposed, {done} finished, status {sweep['status']}")
        return lines

    def show(self, sweep: dict[str, Any], children: list[dict[str, Any]]) -> None:
        lines = self.rows(sweep, children)
        if self.tty:
            if self.drawn:
                self.out.write(f"\x1b[{self.drawn}F\x1b[J")  # back to the table's first line, clear below
            self.out.write("\n".join(lines) + "\n")
            self.drawn = len(lines)
        else:
            if not self.last:
                self.out.write(lines[0] + "\n")
            for c, line in zip(children, lines[1:-1], strict=True):
                if self.last.get(c["id"]) != line:
                    self.out.write(line + "\n")
                    self.last[c["id"]] = line
        self.out.flush()
