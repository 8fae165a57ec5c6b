"""One backend module per compute kind, behind ``execution.backends.base.Backend``."""

from __future__ import annotations

from typing import Any

from execution.backends.base import Backend


def get_backend(kind: str) -> Backend[Any, Any]:
    if kind == "local":
        from execution.backends.local import LocalBackend

        return LocalBackend()
    if kind == "slurm":
        from execution.backends.slurm import SlurmBackend

        return SlurmBackend()
    if kind == "docker":
        from execution.backends.docker import DockerBackend

        return DockerBackend()
    raise ValueError(f"No backend for compute kind '{kind}' on this worker.")
