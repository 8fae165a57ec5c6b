"""Creating sweeps through the API, for sweep tests."""

from __future__ import annotations

import base64
import json
from typing import Any

from config.redisconn import client
from tests.conftest import make_tar

# Logs the primary metric ``acc`` once per epoch: acc = quality * epoch / epochs, sleeping
# ``--pause`` seconds between epochs. Prints its arguments first.
TRAIN = """
import argparse, sys, time
from azureml.core.run import Run
p = argparse.ArgumentParser()
p.add_argument("--quality", type=float, default=1.0)
p.add_argument("--epochs", type=int, default=3)
p.add_argument("--pause", type=float, default=0.0)
p.add_argument("--lr", type=float, default=0.1)
p.add_argument("--bs", type=int, default=8)
a, _unknown = p.parse_known_args()
print("args", sys.argv[1:], flush=True)
run = Run.get_context()
for epoch in range(1, a.epochs + 1):
    run.log("acc", a.quality * epoch / a.epochs + a.lr / 100 + a.bs / 10000)
    run.flush()
    time.sleep(a.pause)
"""


# The poor children (quality < 1) log nothing until the test serves ``--go``: Bandit judges a
# child at interval n only against children that reached n, so a poor child that happened
# to start first (a busy machine claims two in either order) and stayed an interval ahead
# would never meet a peer and would run to its end. Gated, they are judged against the good
# child's finished curve from their first interval on: a test no longer races time. Logs
# ``acc = quality * epoch / epochs``, the good child without pauses.
GATED = """
import argparse, time, urllib.error, urllib.request
from azureml.core.run import Run
p = argparse.ArgumentParser()
p.add_argument("--quality", type=float)
p.add_argument("--go")
p.add_argument("--epochs", type=int)
p.add_argument("--pause", type=float)
a, _unknown = p.parse_known_args()
run = Run.get_context()
poor = a.quality < 1
deadline = time.monotonic() + 600
while poor:
    try:
        urllib.request.urlopen(a.go, timeout=10).read()
        break
    except OSError:  # 404 (HTTPError) until the test serves it
        if time.monotonic() > deadline:
            raise SystemExit("no go signal within 600 s")
        time.sleep(0.2)
for epoch in range(1, a.epochs + 1):
    run.log("acc", a.quality * epoch / a.epochs)
    run.flush()
    if poor:
        time.sleep(a.pause)
"""


def hyperdrive(space: dict[str, Any], sampling: str = "GRID", **fields: Any) -> dict[str, Any]:
    return {
        "hyperparameter_sampling": {"name": sampling, "parameter_space": space},
        "primary_metric_config": {"name": "acc", "goal": fields.pop("goal", "maximize")},
        "max_total_runs": fields.pop("max_total_runs", 4),
        **fields,
    }


def create_sweep(actor: Any, config: dict[str, Any], files: dict[str, str] | None = None, **fields: Any) -> Any:
    data: dict[str, Any] = {
        "snapshot": make_tar(files or {"train.py": TRAIN}),
        "script": "train.py",
        "experiment": fields.pop("experiment", "sweeps"),
        "hyperdrive": json.dumps(config),
    }
    for key, value in fields.items():
        data[key] = json.dumps(value) if isinstance(value, list | dict) else value
    return actor.client.post("/api/sweeps/", data, format="multipart")


def queued_steps(sweep_id: int) -> int:
    """``sweeps.tasks.advance`` messages for the sweep waiting in the broker's default
    queue (kombu's Redis transport: a list of JSON envelopes, the body base64 JSON)."""
    count = 0
    for raw in client().lrange("runyard", 0, -1):
        envelope = json.loads(raw)
        if envelope["headers"]["task"] == "sweeps.tasks.advance":
            args = json.loads(base64.b64decode(envelope["body"]))[0]
            count += args == [sweep_id]
    return count
