"""Metrics ingest from a training script: Runyard's SDK (SQLite and PostgreSQL) vs MLflow.

What a user's loop does, end to end: log N scalar points (10 metric names × N/10 steps)
as fast as the loop can, then wait until the server holds them all.

- **Runyard**: ``run.log(name, value, step=i)`` on an interactive run of the real SDK
  (its background queue and sender, batches of up to 5000 points; the queue sized to
  hold a round, since the loop outpaces any server), then ``run.flush()``;
  points/s = N / (first ``log`` → ``flush`` returned). Two stacks at once: one on SQLite
  (this process's ``Stack``) and one on PostgreSQL (``bench/harness.py --hold`` in a
  child process with a fresh database on ``--pg``), each its own web process.
- **MLflow**: MLflow's own batched path, ``MlflowClient.log_batch`` with 1000 metrics per
  call (MLflow's limit), against ``mlflow server`` (SQLite backend store, one worker;
  ``bench/peers.py``'s ``MlflowServer``). MLflow logs fewer points per round
  (``--mlflow-points``): at its rate the full N would take minutes per round.

Each round runs the servers in a rotating order (so load changes hit all alike), and
every round's points are read back and counted. Reported: points/s per round (median of
the rounds), the cost of a ``run.log`` call as the loop sees it (mean and the slowest
call), the load, and the summary rows (bench/summary.py). DESIGN.md's target: ≥ 100k
points/s batched and ≥ 10× MLflow's server.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from statistics import median
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import peers
from harness import ROOT, Section, Stack
from peers import MlflowServer
from summary import Row, current_load, record

KEYS = 10
MLFLOW_BATCH = 1000
TARGET = 100_000


@dataclass
class Figures:
    """One server's rounds."""

    rates: list[float] = field(default_factory=list)  # points/s per round
    loads: list[float] = field(default_factory=list)
    call_us: list[float] = field(default_factory=list)  # mean run.log cost per round (µs)
    slowest_ms: list[float] = field(default_factory=list)  # slowest single run.log call per round

    @property
    def rate(self) -> float:
        return median(self.rates)

    @property
    def load(self) -> float:
        return sum(self.loads) / len(self.loads)


def runyard_round(url: str, token: str, points: int) -> tuple[float, float, float]:
    """points/s, mean µs per run.log call, slowest call in ms."""
    from runyard.experiment import Experiment
    from runyard.workspace import Workspace

    workspace = Workspace(url, token)
    run = Experiment(workspace, "bench-ingest").start_logging()
    clock = time.perf_counter
    slowest = 0.0
    started = clock()
    for i in range(points):
        t = clock()
        run.log(f"m{i % KEYS}", i * 0.5, step=i // KEYS)
        spent = clock() - t
        if spent > slowest:
            slowest = spent
    logged = clock() - started
    run.flush(timeout=600)
    took = clock() - started
    if run.metrics_dropped:
        raise RuntimeError(f"Runyard dropped {run.metrics_dropped} points")
    got = workspace.client.get(f"/api/runs/{run.id}/metrics/", name="m1")["m1"]
    if len(got) != points // KEYS or [p["step"] for p in got] != list(range(points // KEYS)):
        raise RuntimeError(f"Runyard: {len(got)} points of m1 read back, not {points // KEYS} in step order")
    run.complete()
    return points / took, logged / points * 1e6, slowest * 1000


def mlflow_round(tracking_uri: str, points: int) -> float:
    from mlflow.entities import Metric
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri)
    exp = client.get_experiment_by_name("bench-ingest")
    exp_id = exp.experiment_id if exp else client.create_experiment("bench-ingest")
    run_id = client.create_run(exp_id).info.run_id
    base = int(time.time() * 1000)
    started = time.perf_counter()
    batch: list[Any] = []
    for i in range(points):
        # The loop's own work, as with run.log: one point built per logged value.
        batch.append(Metric(f"m{i % KEYS}", i * 0.5, base + i, i // KEYS))
        if len(batch) == MLFLOW_BATCH:
            client.log_batch(run_id, metrics=batch)
            batch = []
    if batch:
        client.log_batch(run_id, metrics=batch)
    took = time.perf_counter() - started
    got = client.get_metric_history(run_id, "m1")
    if len(got) != points // KEYS:
        raise RuntimeError(f"MLflow: {len(got)} points of m1 read back, not {points // KEYS}")
    return points / took


class PostgresStack:
    """A second Runyard stack on PostgreSQL, in a child process (one Django per process)."""

    def __init__(self, server: str) -> None:
        self.server = server.rstrip("/")
        self.database = f"runyard_bench_ingest_{os.getpid()}_{uuid.uuid4().hex[:6]}"
        self.proc: subprocess.Popen[str] | None = None
        self.url = self.token = ""

    def __enter__(self) -> PostgresStack:
        host = self.server.split("@")[-1].split(":")[0]
        user = self.server.split("//")[1].split("@")[0]
        subprocess.run(["createdb", "-h", host, "-U", user, self.database], check=True)
        env = {**os.environ, "DATABASE_URL": f"{self.server}/{self.database}"}
        env.pop("RUNYARD_DATA_DIR", None)  # the child makes its own
        self.proc = subprocess.Popen(
            [sys.executable, str(ROOT / "bench" / "harness.py"), "--no-worker", "--hold", "7200"],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            text=True,
            start_new_session=True,
        )
        assert self.proc.stdout is not None
        deadline = time.monotonic() + 300
        for line in self.proc.stdout:
            if line.startswith("URL "):
                self.url = line.split()[1]
            elif line.startswith("TOKEN "):
                self.token = line.split()[1]
                break
            if time.monotonic() > deadline:
                break
        if not (self.url and self.token):
            self.__exit__()
            raise RuntimeError("the PostgreSQL stack did not start")
        return self

    def __exit__(self, *exc: object) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGTERM)  # the harness stops its stack by pid
            try:
                self.proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        host = self.server.split("@")[-1].split(":")[0]
        user = self.server.split("//")[1].split("@")[0]
        subprocess.run(["dropdb", "--if-exists", "-h", host, "-U", user, self.database], check=False)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="2 rounds, 50k Runyard / 5k MLflow points")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--points", type=int, default=300_000, help="Runyard points per round")
    parser.add_argument("--mlflow-points", type=int, default=20_000, help="MLflow points per round")
    parser.add_argument("--pg", default=os.environ.get("RUNYARD_BENCH_PG", "postgres://postgres@127.0.0.1:5432"))
    parser.add_argument("--no-pg", action="store_true", help="SQLite only")
    parser.add_argument("--peers", action=argparse.BooleanOptionalAction, default=peers.enabled())
    args = parser.parse_args()
    rounds, points, mlflow_points = (2, 50_000, 5_000) if args.quick else (args.rounds, args.points, args.mlflow_points)
    os.environ["MLFLOW_HTTP_REQUEST_MAX_RETRIES"] = "0"
    os.environ.pop("DATABASE_URL", None)  # this process's stack is the SQLite one
    # The loop logs faster than any server stores (a few µs a call): with the default
    # queue (100k points) most of a round would be dropped by design. A queue that holds
    # a round makes the figure the sustained ingest rate, every point stored.
    os.environ["RUNYARD_METRICS_MAX_QUEUE"] = str(points + 1000)

    section = Section("metrics_ingest", "Metrics ingest from a script: Runyard SDK vs MLflow log_batch", args.quick)
    with Stack(worker=False) as stack, contextlib.ExitStack() as later:
        mlflow_server = later.enter_context(MlflowServer()) if args.peers else None
        pg = None
        if not args.no_pg:
            try:
                pg = PostgresStack(args.pg).__enter__()
            except (OSError, subprocess.CalledProcessError, RuntimeError) as exc:  # no server here: SQLite only
                section.add(f"_PostgreSQL at {args.pg} not usable ({exc}): measured on SQLite only._")
        try:
            servers: dict[str, tuple[str, str] | None] = {"Runyard, SQLite": (stack.url, stack.token)}
            if pg is not None:
                servers["Runyard, PostgreSQL"] = (pg.url, pg.token)
            mlflow_name = f"MLflow log_batch ({mlflow_server.version}, SQLite store)" if mlflow_server else ""
            if mlflow_server is not None:
                servers[mlflow_name] = None
            figures = {name: Figures() for name in servers}
            runyard_round(stack.url, stack.token, 20_000)  # warm up: imports, connections
            names = list(servers)
            for r in range(rounds):
                order = names[r % len(names) :] + names[: r % len(names)]
                for name in order:
                    fig = figures[name]
                    load_at = current_load()
                    target = servers[name]
                    if target is None:
                        assert mlflow_server is not None
                        fig.rates.append(mlflow_round(mlflow_server.tracking_uri, mlflow_points))
                    else:
                        rate, call_us, slowest = runyard_round(target[0], target[1], points)
                        fig.rates.append(rate)
                        fig.call_us.append(call_us)
                        fig.slowest_ms.append(slowest)
                    fig.loads.append((load_at + current_load()) / 2)
                    print(f"  round {r + 1} {name}: {fig.rates[-1]:,.0f} points/s (load {fig.loads[-1]:.1f})")
        finally:
            if pg is not None:
                pg.__exit__()

        section.add(
            f"{rounds} rounds, servers in rotating order; per round a fresh run receives {points:,} points on "
            f"Runyard ({KEYS} names × {points // KEYS:,} steps, `run.log(name, value, step=i)` then "
            f"`run.flush()`) and {mlflow_points:,} on MLflow (`MlflowClient.log_batch`, {MLFLOW_BATCH} per call); "
            "each round's points read back and counted. Each Runyard stack is one uvicorn web process "
            "(no worker), on the same 2-core machine as the script."
        )
        section.add("")
        section.add("| server | points/s (median) | rounds | run.log mean | slowest run.log | load |")
        section.add("| --- | --- | --- | --- | --- | --- |")
        for name, fig in figures.items():
            calls = f"{median(fig.call_us):.2f} µs" if fig.call_us else "–"
            worst = f"{max(fig.slowest_ms):.1f} ms" if fig.slowest_ms else "–"
            each = ", ".join(f"{x:,.0f}" for x in fig.rates)
            section.add(f"| {name} | {fig.rate:,.0f} | {each} | {calls} | {worst} | {fig.load:.1f} |")
        peer = figures.get(mlflow_name)
        rows = []
        for name, fig in figures.items():
            if name == mlflow_name:
                continue
            database = name.split(", ")[1]
            rows.append(
                Row(
                    measure=f"metrics ingest, SDK batched, {database}",
                    unit="points/s",
                    runyard=round(fig.rate),
                    better="higher",
                    target=TARGET,
                    peer="MLflow log_batch" if peer else "",
                    peer_value=round(peer.rate) if peer else None,
                    load=round(fig.load, 1),
                    note="MLflow server on SQLite" if database != "SQLite" else "",
                )
            )
            versus = f"{fig.rate / peer.rate:.1f}× MLflow's log_batch (target ≥ 10×); " if peer else ""
            section.add("")
            section.add(
                f"{name}: {versus}≥ {TARGET:,} points/s: {'met' if fig.rate >= TARGET else 'not met'} "
                f"at load {fig.load:.1f}."
            )
        record("metrics_ingest", rows)
        section.write()


if __name__ == "__main__":
    main()
