"""Compute targets by name (``ws.compute_targets['local']``, ``ComputeTarget(ws, 'local')``),
and Azure's cluster cell: ``ComputeTarget.create(ws, name, AmlCompute.provisioning_configuration(...))``.

Creating one registers a compute target on the server (admins only), of the kind and
config the server's operator chose for clusters (``RUNYARD_CLUSTER_KIND`` /
``RUNYARD_CLUSTER_CONFIG``). Nothing is provisioned, so it is ready at once; ``max_nodes``
becomes how many runs it takes at once (on a local target, which has one node) or its
node count. ``vm_size`` and the other VM settings have no meaning here and are kept
only in the target's description.
"""

from __future__ import annotations

import builtins
import sys
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from runyard.exceptions import ComputeTargetException, WebserviceException

if TYPE_CHECKING:
    from runyard.workspace import Workspace

ADMIN_ACTION = (
    "registering or deleting a compute target is an admin action: ask an admin to run this cell or to add "
    "the target on the dashboard's Compute page"
)


@dataclass(frozen=True)
class AmlComputeProvisioningConfiguration:
    """What ``AmlCompute.provisioning_configuration()`` returns (Azure's arguments, kept as given)."""

    vm_size: str = ""
    vm_priority: str = "dedicated"
    min_nodes: int = 0
    max_nodes: int = 4
    idle_seconds_before_scaledown: int | None = None
    description: str = ""

    def target_fields(self, name: str) -> dict[str, Any]:
        """The POST /api/compute-targets/ body: no kind, so the server's cluster kind is used."""
        if self.max_nodes < 1:
            raise ComputeTargetException(f"max_nodes must be at least 1, got {self.max_nodes}.")
        note = f"Created as AmlCompute (vm_size {self.vm_size or 'unset'}, not used by Runyard)."
        return {
            "name": name,
            "max_nodes": self.max_nodes,
            "max_concurrent_runs": self.max_nodes,
            "description": f"{self.description} {note}".strip(),
        }


@dataclass(frozen=True)
class ComputeTargetStatus:
    """``get_status()``: the target's state now; ``serialize()`` gives Azure's keys."""

    provisioning_state: str
    enabled: bool
    running_runs: int
    queued_runs: int
    max_nodes: int
    max_concurrent_runs: int

    def serialize(self) -> dict[str, Any]:
        return {
            "provisioningState": self.provisioning_state,
            "allocationState": "Steady",
            "currentNodeCount": self.running_runs,
            "targetNodeCount": self.running_runs,
            "nodeStateCounts": {"runningNodeCount": self.running_runs, "idleNodeCount": 0},
            "scaleSettings": {"minNodeCount": 0, "maxNodeCount": self.max_nodes},
            "errors": None,
            "enabled": self.enabled,
            "runningRuns": self.running_runs,
            "queuedRuns": self.queued_runs,
            "maxConcurrentRuns": self.max_concurrent_runs,
        }

    def __getitem__(self, key: str) -> Any:
        # Earlier releases returned a dict with these three keys.
        if key in ("enabled", "running_runs", "queued_runs"):
            return getattr(self, key)
        raise KeyError(key)


class ComputeTarget:
    """A named place runs execute (``local``, ``docker``, ``slurm``…), registered by admins."""

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

    def __repr__(self) -> str:
        return f"ComputeTarget(name={self.name!r}, type={self.type!r})"

    @property
    def provisioning_state(self) -> str:
        return "Succeeded" if self.enabled else "Disabled"

    @staticmethod
    def create(
        workspace: Workspace, name: str, provisioning_configuration: AmlComputeProvisioningConfiguration
    ) -> ComputeTarget:
        """Register ``name`` (admins); a member gets a ComputeTargetException naming the admin action."""
        try:
            item = workspace.client.post("/api/compute-targets/", provisioning_configuration.target_fields(name))
        except WebserviceException as exc:
            if exc.status == 403:
                raise ComputeTargetException(f"Cannot create compute target '{name}': {ADMIN_ACTION}.") from None
            if exc.status == 400:
                raise ComputeTargetException(f"Cannot create compute target '{name}': {exc}") from None
            raise
        return ComputeTarget._from_api(workspace, item)

    def wait_for_completion(
        self, show_output: bool = False, min_node_count: int | None = None, timeout_in_minutes: int = 20, **_: Any
    ) -> None:
        """Registration is immediate: nothing to wait for; with ``show_output`` say so as Azure does."""
        self.refresh()
        if show_output:
            print(
                f"Compute target '{self.name}' ({self.type}, up to {self.max_concurrent_runs} concurrent runs): "
                f'provisioning operation finished, operation "{self.provisioning_state}"',
                file=sys.stdout,
                flush=True,
            )

    def refresh(self) -> None:
        self._load(self.workspace, self.workspace.client.get(f"/api/compute-targets/{self.id}/"))

    def get_status(self) -> ComputeTargetStatus:
        self.refresh()
        return ComputeTargetStatus(
            provisioning_state=self.provisioning_state,
            enabled=self.enabled,
            running_runs=int(self.details.get("running_runs") or 0),
            queued_runs=int(self.details.get("queued_runs") or 0),
            max_nodes=self.max_nodes,
            max_concurrent_runs=self.max_concurrent_runs,
        )

    def serialize(self) -> dict[str, Any]:
        return dict(self.details)

    def delete(self) -> None:
        """Remove the target (admins). One that runs still point at cannot go: disable it instead."""
        try:
            self.workspace.client.request("DELETE", f"/api/compute-targets/{self.id}/")
        except WebserviceException as exc:
            if exc.status == 403:
                raise ComputeTargetException(f"Cannot delete compute target '{self.name}': {ADMIN_ACTION}.") from None
            if exc.status == 409:
                raise ComputeTargetException(f"Cannot delete compute target '{self.name}': {exc}") from None
            raise

    # Last in the class: below this, ``list`` would name the method.
    @staticmethod
    def list(workspace: Workspace) -> builtins.list[ComputeTarget]:
        return [ComputeTarget._from_api(workspace, item) for item in workspace.client.paged("/api/compute-targets/")]


class AmlCompute(ComputeTarget):
    """Azure's managed cluster class: ``AmlCompute(ws, name)`` finds a target, and
    ``provisioning_configuration()`` describes one for ``ComputeTarget.create``."""

    @staticmethod
    def provisioning_configuration(
        vm_size: str = "",
        vm_priority: str = "dedicated",
        min_nodes: int = 0,
        max_nodes: int | None = None,
        idle_seconds_before_scaledown: int | None = None,
        description: str | None = None,
        **_azure_only: Any,
    ) -> AmlComputeProvisioningConfiguration:
        return AmlComputeProvisioningConfiguration(
            vm_size=vm_size,
            vm_priority=vm_priority,
            min_nodes=min_nodes,
            max_nodes=4 if max_nodes is None else int(max_nodes),
            idle_seconds_before_scaledown=idle_seconds_before_scaledown,
            description=description or "",
        )


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
