"""Asserting on what a run left in the engine."""

from __future__ import annotations

from typing import Any

from execution.backends.docker import _label_filter


def leftovers(client: Any, run_id: int) -> list[str]:
    """Containers, networks and volumes of the run still in the engine (should be none)."""
    filters = _label_filter(run_id)
    names = [c.name for c in client.containers.list(all=True, filters=filters)]
    names += [str(n.name) for n in client.networks.list(filters=filters)]
    names += [str(v.name) for v in client.volumes.list(filters=filters)]
    # By name too, in case labels were lost: every resource of a run carries its prefix.
    names += [c.name for c in client.containers.list(all=True) if c.name.endswith(tuple(_suffixes(run_id)))]
    return sorted(set(names))


def _suffixes(run_id: int) -> list[str]:
    return [f"-{run_id}-node{k}" for k in range(4)]
