"""TF_CONFIG, the one way it is written (standard library only: Slurm nodes import it
through ``execution/backends/slurm_task.py``, where the addresses are known only at run time)."""

from __future__ import annotations

import json
from collections.abc import Sequence


def tf_config(endpoints: Sequence[str], workers: int, task: int) -> str:
    """The TF_CONFIG of task ``task`` of a cluster whose tasks listen on ``endpoints``
    (``host:port``, in rank order: the ``workers`` workers first, then the parameter servers)."""
    cluster = {"worker": list(endpoints[:workers])}
    if len(endpoints) > workers:
        cluster["ps"] = list(endpoints[workers:])
    kind, index = ("worker", task) if task < workers else ("ps", task - workers)
    return json.dumps({"cluster": cluster, "task": {"type": kind, "index": index}, "environment": "cloud"})
