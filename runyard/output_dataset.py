"""``OutputFileDatasetConfig``: a folder the script writes, stored in a datastore when it succeeds.

Given in a run's ``arguments``, it becomes a writable local path for the script; when the
script exits 0, the folder's files are copied to ``destination`` (a datastore and a path
in it, where ``{run-id}`` is the run's id; default: the default datastore's
``dataset/{run-id}/<name>``) and, with ``register_on_complete(name)``, registered as a new
version of that dataset.
"""

from __future__ import annotations

import uuid
from typing import Any

from runyard.exceptions import UserErrorException


class OutputFileDatasetConfig:
    """Azure's output dataset: ``OutputFileDatasetConfig(destination=(datastore, 'out/{run-id}'))``."""

    def __init__(
        self,
        name: str | None = None,
        destination: tuple[Any, str] | None = None,
        source: str | None = None,
        partition_format: str | None = None,
    ) -> None:
        if destination is not None and (not isinstance(destination, tuple) or len(destination) != 2):
            raise UserErrorException("destination must be (datastore, 'path/in/it').")
        self.name = name or f"output_{uuid.uuid4().hex[:8]}"
        self.destination = destination
        self.source = source
        self.register_as: str | None = None
        self.register_description: str | None = None

    def as_upload(self, overwrite: bool = False, source_globs: list[str] | None = None) -> OutputFileDatasetConfig:
        """Upload at the end (what Runyard always does; files of the same name are replaced)."""
        return self

    def as_mount(self, disable_metadata_cache: bool = False) -> OutputFileDatasetConfig:
        """Azure writes through a mount; here too the script writes a local folder uploaded at the end."""
        return self

    def register_on_complete(
        self, name: str, description: str | None = None, tags: dict[str, str] | None = None
    ) -> OutputFileDatasetConfig:
        self.register_as = name
        self.register_description = description
        return self

    def to_input(self) -> dict[str, Any]:
        """The run argument object the server turns into a writable path."""
        out: dict[str, Any] = {"output": self.name}
        if self.destination is not None:
            store, path = self.destination
            out["datastore"] = getattr(store, "name", store)
            out["path"] = path
        if self.register_as:
            out["register"] = self.register_as
        return out

    def __repr__(self) -> str:
        return f"OutputFileDatasetConfig(name={self.name!r}, destination={self.to_input().get('path')!r})"
