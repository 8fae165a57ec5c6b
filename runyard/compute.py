"""Compute targets, looked up by name (``ws.compute_targets['local']`` or ``ComputeTarget(ws, 'local')``)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from runyard.exceptions import ComputeTargetException

if TYPE_CHECKING:
    from runyard.workspace import Workspace


class ComputeTarget:
    """A named place runs execute (``local``, ``docker``, ``slurm``…); created by admins in the dashboard."""

    def __init__(self, workspace: Workspace, name: str) -> None:
        item = workspace.client.first("/api/compute-targets/", name=name)
        if item is None:
            known = ", ".join(sorted(t["name"] for t in workspace.client.paged("/api/compute-targets/"))) or "none"
            raise ComputeTargetException(f"No compute target named '{name}'. Known targets: {known}.")
        self._load(workspace, item)

    def _load(self, workspace: Workspace, item: dict[str, Any]) -> None:
        self.workspace = workspace
        self.name: str = item["name"]
        self.id: int = item["id"]
        self.type: str = item.get("kind", "")
        self.max_concurrent_runs: int = item.get("max_concurrent_runs", 1)
        self.max_nodes: int = item.get("max_nodes", 1)
        self.max_processes_per_node: int = item.get("max_processes_per_node", 1)
        self.enabled: bool = item.get("enabled", True)
        self.description: str = item.get("description", "")
        self.details = item

    @classmethod
    def _from_api(cls, workspace: Workspace, item: dict[str, Any]) -> ComputeTarget:
        target = cls.__new__(cls)
        target._load(workspace, item)
        return target

    def get_status(self) -> dict[str, Any]:
        fresh = self.workspace.client.get(f"/api/compute-targets/{self.id}/")
        return {
            "enabled": fresh.get("enabled"),
            "running_runs": fresh.get("running_runs"),
            "queued_runs": fresh.get("queued_runs"),
        }

    def __repr__(self) -> str:
        return f"ComputeTarget(name={self.name!r}, type={self.type!r})"


def target_name(target: Any) -> str:
    """The name to submit with: compute targets may be given as objects or names (default ``local``)."""
    if target is None:
        return "local"
    if isinstance(target, str):
        return target
    name = getattr(target, "name", None)
    if isinstance(name, str):
        return name
    raise ComputeTargetException(f"compute_target must be a name or a ComputeTarget, got {type(target).__name__}.")
