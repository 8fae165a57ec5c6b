"""Building an environment ahead of a run, and following the build's log.

Builds are keyed by the spec's content hash on the server and shared: a build that
already succeeded is a cache hit and returns at once.
"""

from __future__ import annotations

import sys
import time
from typing import TYPE_CHECKING, Any, TextIO

from runyard.exceptions import ActivityFailedException, UserErrorException, WebserviceException

if TYPE_CHECKING:
    from runyard.workspace import Workspace

FINISHED = ("succeeded", "failed")


class EnvironmentBuild:
    """One server-side build: ``status`` is pending, building, succeeded or failed."""

    def __init__(self, workspace: Workspace, details: dict[str, Any]) -> None:
        self.workspace = workspace
        self.details = details
        self.id: int = details["id"]
        self.last_seq = 0

    @property
    def status(self) -> str:
        return str(self.details.get("status", ""))

    def refresh(self) -> dict[str, Any]:
        self.details = self.workspace.client.get(f"/api/environment-builds/{self.id}/")
        return self.details

    def new_log_lines(self) -> list[str]:
        page = self.workspace.client.get(f"/api/environment-builds/{self.id}/log/", after=self.last_seq, limit=1000)
        lines = page.get("lines", [])
        if lines:
            self.last_seq = lines[-1]["seq"]
        return [line["text"] for line in lines]

    def wait_for_completion(
        self, show_output: bool = True, timeout: float | None = None, stream: TextIO | None = None
    ) -> str:
        """Follow the build until it ends; print its log (with elapsed time) when ``show_output``."""
        out = stream or sys.stdout
        started = time.monotonic()
        if show_output:
            out.write(f"Environment build {self.id} ({self.details.get('content_hash', '')[:12]}): {self.status}\n")
        shown = self.status
        while True:
            if show_output and self.status != shown and self.status not in FINISHED:
                # pending → building: a queued build (or one waiting for another) has started
                out.write(f"[{time.monotonic() - started:6.1f}s] Build {self.status}.\n")
            shown = self.status
            lines = self.new_log_lines()
            for text in lines:
                if show_output:
                    out.write(f"[{time.monotonic() - started:6.1f}s] {text}\n")
            if show_output:
                out.flush()
            if self.status in FINISHED and not lines:
                break
            if not lines:
                if timeout is not None and time.monotonic() - started > timeout:
                    raise UserErrorException(f"Environment build {self.id} still {self.status} after {timeout}s.")
                time.sleep(1.0)
                self.refresh()
        if show_output:
            took = self.details.get("duration_seconds")
            out.write(f"Environment build {self.id} {self.status}" + (f" in {took:.1f}s" if took else "") + ".\n")
        if self.status == "failed":
            raise ActivityFailedException(
                f"Environment build {self.id} failed: {self.details.get('error', '')}", self.details
            )
        return self.status

    def __repr__(self) -> str:
        return f"EnvironmentBuild(id={self.id}, status={self.status!r})"


def start_build(
    workspace: Workspace, version_id: int, content_hash: str, compute_target: str | None = None
) -> EnvironmentBuild:
    """Ask the server to build a version (``POST /api/environment-versions/{id}/build/``)
    on ``compute_target`` (the server's default when None).

    A server without that action still reports a build that a run already made.
    """
    client = workspace.client
    try:
        body = {"compute_target": compute_target} if compute_target else {}
        details = client.post(f"/api/environment-versions/{version_id}/build/", body)
        return EnvironmentBuild(workspace, details)
    except WebserviceException as exc:
        if exc.status not in (404, 405):
            raise
    existing = client.first("/api/environment-builds/", content_hash=content_hash)
    if existing is not None:
        return EnvironmentBuild(workspace, existing)
    raise UserErrorException(
        "This Runyard server cannot build an environment ahead of a run; "
        "the environment will be built by the first run that uses it."
    )
