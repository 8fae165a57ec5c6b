"""The Workspace: one Runyard server and the credentials to use it.

``Workspace.from_config()`` looks for ``.runyard/config.json`` (``{"url": ..., "token":
...}``) in the working directory and then in each parent, the way Azure ML looks for
``.azureml/config.json``. ``RUNYARD_URL`` / ``RUNYARD_TOKEN`` override what the file
says, and are enough on their own. Inside a run, the run's own URL and run token are
used when nothing else is configured.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlparse

from runyard.exceptions import UserErrorException
from runyard.http import Client

if TYPE_CHECKING:
    from runyard.compute import ComputeTarget
    from runyard.dataset import FileDataset
    from runyard.datastore import Datastore
    from runyard.environment import Environment
    from runyard.experiment import Experiment
    from runyard.model import Model

CONFIG_DIR = ".runyard"
CONFIG_FILE = "config.json"


def find_config(start: str | os.PathLike[str] | None = None) -> Path | None:
    """``.runyard/config.json`` (or a bare ``config.json`` given as a path) from ``start`` upward."""
    here = Path(start or os.getcwd()).resolve()
    if here.is_file():
        return here
    for folder in (here, *here.parents):
        for candidate in (folder / CONFIG_DIR / CONFIG_FILE, folder / CONFIG_FILE if folder == here else None):
            if candidate is not None and candidate.is_file():
                return candidate
    return None


def write_config(url: str, token: str, directory: str | os.PathLike[str] | None = None) -> Path:
    """Write ``<directory>/.runyard/config.json`` readable by its owner only."""
    folder = Path(directory or os.getcwd()) / CONFIG_DIR
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / CONFIG_FILE
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        json.dump({"url": url.rstrip("/"), "token": token}, handle, indent=2)
        handle.write("\n")
    os.chmod(path, 0o600)
    return path


class Workspace:
    """A Runyard server. ``Workspace(url, token)`` or ``Workspace.from_config()``."""

    def __init__(self, url: str, token: str | None = None, *, timeout: float = 60.0) -> None:
        if not url or not url.startswith(("http://", "https://")):
            raise UserErrorException(f"Workspace url must start with http:// or https://, got {url!r}.")
        self.url = url.rstrip("/")
        self.client = Client(self.url, token, timeout=timeout)
        self._server_info: dict[str, Any] | None = None

    @classmethod
    def from_config(cls, path: str | os.PathLike[str] | None = None, _file_name: str | None = None) -> Workspace:
        """Read ``.runyard/config.json`` searched upward from ``path`` (default: the working dir)."""
        config_path = find_config(Path(path) / _file_name if path and _file_name else path)
        config: dict[str, Any] = {}
        if config_path is not None:
            try:
                config = json.loads(config_path.read_text())
            except (OSError, ValueError) as exc:
                raise UserErrorException(f"Cannot read {config_path}: {exc}") from None
        url = os.environ.get("RUNYARD_URL") or config.get("url")
        token = os.environ.get("RUNYARD_TOKEN") or config.get("token") or os.environ.get("RUNYARD_RUN_TOKEN")
        if not url:
            where = Path(path or os.getcwd()).resolve()
            raise UserErrorException(
                f"No Runyard workspace configured: no {CONFIG_DIR}/{CONFIG_FILE} in {where} or its parents, and "
                "RUNYARD_URL is not set. Run `runyard login --url URL` or use Workspace(url, token)."
            )
        return cls(str(url), token)

    def __repr__(self) -> str:
        return f"Workspace(url={self.url!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Workspace) and other.url == self.url and other.client.token == self.client.token

    def __hash__(self) -> int:
        return hash(self.url)

    # ---- Azure's attributes: what the server says of itself (its settings), read once ----
    def _info(self) -> dict[str, Any]:
        if self._server_info is None:
            self._server_info = dict(self.client.get("/api/workspace/"))
        return self._server_info

    @property
    def name(self) -> str:
        """The server's workspace name (``RUNYARD_WORKSPACE_NAME``; default: its host)."""
        return str(self._info().get("name") or urlparse(self.url).netloc)

    @property
    def location(self) -> str:
        """The server's region (``RUNYARD_WORKSPACE_REGION``; default ``local``)."""
        return str(self._info()["location"])

    @property
    def resource_group(self) -> str:
        """Empty unless the server names one: a Runyard server has no Azure resource group."""
        return str(self._info()["resource_group"])

    @property
    def subscription_id(self) -> str:
        """Empty unless the server names one: a Runyard server has no Azure subscription."""
        return str(self._info()["subscription_id"])

    @property
    def tags(self) -> dict[str, str]:
        return dict(self._info()["tags"])

    def write_config(self, path: str | os.PathLike[str] | None = None) -> Path:
        """Save this workspace as ``.runyard/config.json`` under ``path`` (default: working dir)."""
        return write_config(self.url, self.client.token or "", path)

    def get_details(self) -> dict[str, Any]:
        """Azure's keys (``name``, ``location``, ``resourceGroup``, …), plus ``url``, ``user`` and ``version``."""
        info = self._info()
        me = self.client.get("/api/auth/session/")
        return {
            "id": self.url,
            "name": self.name,
            "friendlyName": self.name,
            "location": info["location"],
            "resourceGroup": info["resource_group"],
            "subscriptionId": info["subscription_id"],
            "tags": dict(info["tags"]),
            "url": self.url,
            "version": info["version"],
            "user": me,
        }

    # ---- resources (fresh from the server on every access, like Azure's properties) ----
    @property
    def compute_targets(self) -> dict[str, ComputeTarget]:
        from runyard.compute import ComputeTarget

        items = self.client.paged("/api/compute-targets/")
        return {item["name"]: ComputeTarget._from_api(self, item) for item in items}

    @property
    def environments(self) -> dict[str, Environment]:
        from runyard.environment import Environment

        return {
            item["name"]: Environment._from_api(item, item.get("latest_version"), self)
            for item in self.client.paged("/api/environments/")
        }

    @property
    def datastores(self) -> dict[str, Datastore]:
        from runyard.datastore import Datastore

        return {item["name"]: Datastore._from_api(self, item) for item in self.client.paged("/api/datastores/")}

    def get_default_datastore(self) -> Datastore:
        from runyard.datastore import Datastore

        return Datastore.get_default(self)

    @property
    def datasets(self) -> dict[str, FileDataset]:
        from runyard.dataset import FileDataset

        out = {}
        for item in self.client.paged("/api/datasets/"):
            latest = item.get("latest_version")
            if latest:
                out[item["name"]] = FileDataset._registered(self, item, latest)
        return out

    @property
    def models(self) -> dict[str, Model]:
        """{name: latest version} of the workspace's registered models (Azure's ws.models)."""
        from runyard.model import Model

        return {m.name: m for m in Model.list(self, latest=True)}

    @property
    def experiments(self) -> dict[str, Experiment]:
        from runyard.experiment import Experiment

        return {item["name"]: Experiment(self, item["name"]) for item in self.client.paged("/api/experiments/")}
