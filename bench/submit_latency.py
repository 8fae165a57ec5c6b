"""POST a run → its script's first statement runs, with a cached environment.

The script's first statement is ``T0 = __import__("time").time()`` and it prints T0;
the client notes ``time.time()`` just before the POST (same host, same clock). After a
warm-up run (which builds or reuses the default environment), N runs are submitted one
after the other, each once the previous one ended. Breakdown from the server's own
timestamps: POST response time; POST→Queued (request parsing, snapshot store, rows);
Queued→Preparing (Celery delivery + claim); Preparing→Starting (snapshot extraction,
inputs, run token, environment cache hit); Starting→first statement (spawning the
process + the interpreter's start-up); and, from the run's system log lines, the
environment lookup alone. Target (DESIGN.md): p50 ≤ 100 ms at load 4.

``--burn N`` starts N busy-loop processes (``while True: pass``, one pure-Python loop
each, default priority) for the whole measurement, so a quiet machine is measured at
a known extra load; the 1-minute load average is reported with each figure either way.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from harness import Api, Section, Stack, database, parse_at, pct, per_database, summary_ms, verdict
from peers import enabled as peers_enabled
from summary import Row, record

SCRIPT = 'T0 = __import__("time").time()\nprint(f"T0 {T0!r}")\n'
TARGET_P50 = 0.100  # SQLite
TARGET_P50_PG = 0.120
SETTLE_S = 1.5  # pause between two systems' runs when peers are measured
# How often the client asks each system whether a run ended, the same for all: the figures
# come from the script's own T0 and the servers' timestamps, so polling changes none of them,
# only how much the observer loads the machine it measures (ours was polled every 0.05 s,
# the peers every 0.1 s: on two cores each of our polls of a Queued run took web CPU from
# the worker's claim).
POLL_S = 0.25
INPROCESS_WORKER = "bench-inprocess"


class Burners:
    """N CPU-bound busy loops for the duration of a ``with`` block, stopped by pid."""

    def __init__(self, count: int) -> None:
        self.count = count
        self.procs: list[subprocess.Popen[bytes]] = []

    def __enter__(self) -> Burners:
        for _ in range(self.count):
            self.procs.append(subprocess.Popen([sys.executable, "-c", "while True: pass"]))
        if self.count:
            time.sleep(20)  # the 1-minute load average takes a while to show them
        return self

    def __exit__(self, *exc: object) -> None:
        for proc in self.procs:
            proc.kill()
        for proc in self.procs:
            proc.wait()


def one(api: Api) -> dict[str, Any]:
    t_post = time.time()
    run = api.submit({"train.py": SCRIPT}, experiment="bench-latency")
    t_resp = time.time()
    final = api.wait_terminal(run["id"], timeout=120, interval=POLL_S)
    if final["status"] != "Completed":
        raise RuntimeError(f"run {run['id']} ended {final['status']}: {final.get('error')}")
    history = {h["to"]: parse_at(h["at"]) for h in api.get(f"/api/runs/{run['id']}/status-history/")}
    lines = api.all_logs(run["id"])
    t0 = next(float(ln["text"].split()[1]) for ln in lines if ln["rank"] == 0 and ln["text"].startswith("T0 "))
    system = {ln["text"].split(" ", 1)[0]: parse_at(ln["at"]) for ln in lines if ln["rank"] == -1}
    env_lookup = None
    if "Using" in system and "Snapshot" in system:
        # "Snapshot extracted…" is logged before inputs/token/env; "Using cached
        # environment…" right after the cache hit.
        env_lookup = system["Using"] - system["Snapshot"]
    return {
        "id": run["id"],
        "total": t0 - t_post,
        "post": t_resp - t_post,
        "to_queued": history["Queued"] - t_post,
        "queued_preparing": history["Preparing"] - history["Queued"],
        "preparing_starting": history["Starting"] - history["Preparing"],
        "starting_t0": t0 - history["Starting"],
        "starting_running": history["Running"] - history["Starting"],
        "env_lookup": env_lookup,
    }


class Timers:
    """Wraps functions in this process to add up the wall time of their calls."""

    def __init__(self) -> None:
        self.total: dict[str, float] = {}
        self.calls: dict[str, int] = {}
        self.order: list[str] = []
        self._restore: list[tuple[Any, str, Any]] = []

    def wrap(self, owner: Any, name: str, label: str) -> None:
        original = owner.__dict__[name] if isinstance(owner, type) else getattr(owner, name)
        func = original.__func__ if isinstance(original, classmethod) else original
        self.order.append(label)

        def timed(*args: Any, **kwargs: Any) -> Any:
            t = time.perf_counter()
            try:
                return func(*args, **kwargs)
            finally:
                self.total[label] = self.total.get(label, 0.0) + time.perf_counter() - t
                self.calls[label] = self.calls.get(label, 0) + 1

        self._restore.append((owner, name, original))
        setattr(owner, name, classmethod(timed) if isinstance(original, classmethod) else timed)

    def reset(self) -> None:
        self.total.clear()
        self.calls.clear()

    def restore(self) -> None:
        for owner, name, original in reversed(self._restore):
            setattr(owner, name, original)


def breakdown(stack: Stack, runs: int) -> list[str]:
    """Submit (Django test client) and execute (``execution.executor.execute``) runs in this
    process with the main steps timed, to see where POST→first statement goes."""
    from django.test import Client

    import execution.backends.local as local
    from execution import executor, materialize, recovery
    from execution.tasks import execute_run
    from runs import api as runs_api
    from runs import events, logstore, snapshots, submission
    from runs.models import RunToken

    timers = Timers()
    post: list[float] = []
    total: list[float] = []
    execute_to_t0: list[float] = []

    def publish_only(run: Any, countdown: float | None = None) -> None:
        # What enqueue costs (a Celery publish), to a queue no worker reads: this
        # process executes the run itself below.
        execute_run.apply_async(args=[run.pk], queue="bench.nobody", countdown=countdown)

    submission_enqueue = submission.enqueue
    submission.enqueue = publish_only
    steps = [
        (runs_api, "submit", "POST: submit()"),
        (snapshots, "store", "POST:   snapshots.store (inspect + store the archive)"),
        (submission, "record_all", "POST:   audit records (one INSERT)"),
        (submission, "created_queued", "POST:   move → Queued (inserted Queued, no UPDATE)"),
        (submission, "enqueue", "POST:   enqueue (Celery publish)"),
        (executor, "claim_run", "worker: claim (→ Preparing)"),
        (snapshots, "extract", "worker:   snapshots.extract"),
        (materialize, "inputs", "worker:   materialize.inputs"),
        (RunToken, "mint", "worker:   RunToken.mint (stored with → Starting)"),
        (local, "ensure_venv", "worker:   ensure_venv (cache hit)"),
        (executor, "transition", "worker: transitions (Preparing/Starting/Running…)"),
        (local.LocalBackend, "start", "worker: LocalBackend.start (Popen)"),
        (events, "status_changed", "any: events.status_changed (2 messages queued, after commit)"),
    ]
    for owner, name, label in steps:
        timers.wrap(owner, name, label)
    client = Client()
    from harness import make_tar

    try:
        for i in range(runs + 1):
            if i == 1:
                timers.reset()  # the first one warms imports and connections
            upload = __import__("io").BytesIO(make_tar({"train.py": SCRIPT}))
            upload.name = "src.tar.gz"
            t_post = time.time()
            response = client.post(
                "/api/runs/",
                {"snapshot": upload, "script": "train.py", "experiment": "bench-latency"},
                headers={"Authorization": f"Token {stack.token}"},
            )
            t_resp = time.time()
            assert response.status_code == 201, response.content[:500]
            run_id = response.json()["id"]
            # The stack's worker would otherwise recover the run of this made-up worker as
            # "worker lost" mid-run (its SIGTERM ended some in-process runs).
            recovery.announce(INPROCESS_WORKER, ["compute.local"])
            t_exec = time.time()
            outcome = executor.execute(run_id, INPROCESS_WORKER)
            if outcome != "claimed":
                raise RuntimeError(f"in-process run {run_id}: claim said {outcome!r}")
            found = [ln.text for ln in logstore.lines(run_id, rank=0) if ln.text.startswith("T0 ")]
            if len(found) != 1:
                from runs.models import Run

                ended = Run.objects.get(pk=run_id)
                tail = "\n".join(ln.text for ln in logstore.lines(run_id))[-3000:]
                raise RuntimeError(f"in-process run {run_id} ended {ended.status}: {ended.error}\n{tail}")
            (text,) = found
            t0 = float(text.split()[1])
            if i:
                post.append(t_resp - t_post)
                total.append(t0 - t_post)
                execute_to_t0.append(t0 - t_exec)
    finally:
        recovery.retire(INPROCESS_WORKER)
        timers.restore()
        submission.enqueue = submission_enqueue
    out = [
        f"In-process breakdown ({runs} runs submitted with the Django test client and executed by "
        "`execution.executor.execute` in the benchmark process, no Celery hop): POST "
        f"{pct(post, 50) * 1000:.1f} ms, execute() start → first statement {pct(execute_to_t0, 50) * 1000:.1f} ms, "
        f"total {pct(total, 50) * 1000:.1f} ms (p50). Time inside the main steps, mean per run:",
        "",
        "| step | calls per run | ms per run |",
        "| --- | --- | --- |",
    ]
    for label in timers.order:
        if label in timers.total:
            out.append(f"| {label} | {timers.calls[label] / runs:g} | {timers.total[label] / runs * 1000:.1f} |")
    out += ["", group_send_cost()]
    return out


def group_send_cost() -> str:
    """One status message: what ``runs.events.send`` costs its caller now (a put on the
    process's publisher queue), the same message until it is in Redis (send + flush),
    the old way (``async_to_sync`` from a thread with no event loop: a new loop, so new
    Redis connections, per call) and a bare ``group_send`` on one long-lived loop."""
    import asyncio

    from asgiref.sync import async_to_sync
    from channels.layers import get_channel_layer

    from runs import events

    message = {"type": "run.status", "previous": "Queued", "run": {"id": 0, "status": "Preparing"}}
    layer = get_channel_layer()
    assert layer is not None
    queued, delivered, fresh, kept = [], [], [], []
    events.flush()
    for _ in range(30):
        t = time.perf_counter()
        events.send("bench.nobody", message)
        queued.append(time.perf_counter() - t)
        events.flush()
        delivered.append(time.perf_counter() - t)
    for _ in range(30):
        t = time.perf_counter()
        async_to_sync(layer.group_send)("bench.nobody", message)
        fresh.append(time.perf_counter() - t)
    loop = asyncio.new_event_loop()
    try:
        for _ in range(30):
            t = time.perf_counter()
            loop.run_until_complete(layer.group_send("bench.nobody", message))
            kept.append(time.perf_counter() - t)
    finally:
        loop.close()
    return (
        f"One group message via `runs.events.send`: p50 {pct(queued, 50) * 1000:.3f} ms for the caller (queued to "
        f"the process's publisher thread), {pct(delivered, 50) * 1000:.2f} ms until published (send + flush); "
        f"before, `async_to_sync(group_send)` with a new event loop per call: p50 {pct(fresh, 50) * 1000:.2f} ms; "
        f"a bare `group_send` on one long-lived loop: p50 {pct(kept, 50) * 1000:.2f} ms. Each status change "
        "sends two (the run's group and the team's), after commit, inside `transition()`."
    )


def interpreter_startup(stack: Stack) -> float | None:
    """Median start-up of the cached default environment's python (``-c pass``)."""
    from environments.models import Environment

    env = Environment.objects.get(name="Runyard-Python-3.11", curated=True)
    version = env.versions.order_by("-version").first()
    if version is None:
        return None
    python = Path(stack.env["RUNYARD_ENV_DIR"]) / version.content_hash / "bin" / "python"
    if not python.exists():
        return None
    times = []
    for _ in range(15):
        t = time.perf_counter()
        subprocess.run([str(python), "-c", "pass"], check=True)
        times.append(time.perf_counter() - t)
    return pct(times, 50)


PREFECT_FLOW = """from prefect import flow


@flow
def bench(out: str) -> None:
    T0 = __import__("time").time()
    open(out, "w").write(repr(T0))
"""


class PeerRuns:
    """The peers, run the same way: submit (one REST call) → the script's first statement,
    ``time.time()`` on the same host's clock."""

    def __init__(self, work: Path) -> None:
        self.work = work
        self.ray: Any = None
        self.prefect: Any = None
        self.deployment = ""
        self.script = work / "train.py"
        self.script.write_text(SCRIPT)
        (work / "flow.py").write_text(PREFECT_FLOW)

    def ray_one(self) -> float:
        t_post = time.time()
        job = self.ray.submit(f"{self.ray.env.python} {self.script}")
        final = self.ray.wait_job(job, timeout=300, interval=POLL_S)
        if final["status"] != "SUCCEEDED":
            raise RuntimeError(f"ray job {job}: {final['status']} {final.get('message')}")
        t0 = next(float(ln.split()[1]) for ln in self.ray.logs(job).splitlines() if ln.startswith("T0 "))
        return t0 - t_post

    def prefect_one(self, i: int) -> float:
        out = self.work / f"prefect-{i}.t0"
        t_post = time.time()
        for attempt in range(5):
            # Prefect's server answers 503 when its database is busy; its own client
            # retries those, so does this one (the time counts).
            try:
                run = self.prefect.create_flow_run(self.deployment, {"out": str(out)})
                break
            except RuntimeError as exc:
                if " 503 " not in str(exc) or attempt == 4:
                    raise
                time.sleep(0.5 * 2**attempt)
        final = self.prefect.wait_flow_run(run, timeout=300, interval=POLL_S)
        if final["state"]["type"] != "COMPLETED":
            raise RuntimeError(f"prefect flow run {run}: {final['state']}")
        return float(out.read_text()) - t_post


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="10 runs instead of 50 (30 with peers)")
    parser.add_argument("--runs", type=int)
    parser.add_argument("--data-dir")
    parser.add_argument("--burn", type=int, default=0, help="busy-loop processes to run meanwhile (extra load)")
    parser.add_argument(
        "--peers",
        default="ray,prefect" if peers_enabled() else "",  # run_all --no-peers: none
        help="peers in the same loop: ray, prefect (comma-separated; '' for none)",
    )
    args = parser.parse_args()
    peers = [p for p in args.peers.split(",") if p]
    n = args.runs or (10 if args.quick else 30 if peers else 50)
    pg = database().startswith("postgres")
    key = per_database("submit_latency")
    target = TARGET_P50_PG if pg else TARGET_P50
    db_name = "PostgreSQL" if pg else "SQLite"
    section = Section(key, f"Submit → first statement (cached environment, {db_name})", args.quick)
    loads: list[float] = []
    peer_totals: dict[str, list[float]] = {name: [] for name in peers}
    with contextlib.ExitStack() as running:
        stack = running.enter_context(Stack(args.data_dir))
        work = Path(tempfile.mkdtemp(prefix="ry-submit-peers-", dir="/tmp"))
        running.callback(shutil.rmtree, work, True)
        others = PeerRuns(work)
        if "ray" in peers:
            from peers import RayHead

            others.ray = running.enter_context(RayHead())
        if "prefect" in peers:
            from peers import PrefectServer

            others.prefect = running.enter_context(PrefectServer())
            others.deployment = others.prefect.deploy(work, "flow.py:bench")
        running.enter_context(Burners(args.burn))
        api = stack.api()
        t = time.monotonic()
        warm = api.submit({"train.py": SCRIPT}, experiment="bench-latency")
        final = api.wait_terminal(warm["id"], timeout=600)
        print(f"warm-up run {warm['id']}: {final['status']} in {time.monotonic() - t:.1f}s", flush=True)
        measure = {"ray": others.ray_one, "prefect": lambda: others.prefect_one(-1)}
        for name in peers:  # their first runs set up workers and caches too
            print(f"warm-up {name}: {measure[name]() * 1000:.0f} ms", flush=True)
        results = []
        systems = ["runyard", *peers]
        for i in range(n):
            # Rotating order: each system goes first, second, … equally often.
            for name in systems[i % len(systems) :] + systems[: i % len(systems)]:
                if peers:
                    # The previous system's tail (a flow run's process exiting, a job's
                    # clean-up) must not land on the next one's measurement.
                    time.sleep(SETTLE_S)
                if name == "ray":
                    peer_totals["ray"].append(others.ray_one())
                elif name == "prefect":
                    peer_totals["prefect"].append(others.prefect_one(i))
                else:
                    r = one(api)
                    results.append(r)
                    print(
                        f"run {r['id']:>4} #{i + 1:>2}: total {r['total'] * 1000:6.1f} ms  post {r['post'] * 1000:5.1f}"
                        f"  queued→prep {r['queued_preparing'] * 1000:5.1f}  prep→start "
                        f"{r['preparing_starting'] * 1000:5.1f}  start→T0 {r['starting_t0'] * 1000:5.1f}",
                        flush=True,
                    )
                loads.append(os.getloadavg()[0])
            if peers:
                last = ", ".join(f"{k} {v[-1] * 1000:.0f} ms" for k, v in peer_totals.items())
                print(f"   peers: {last}", flush=True)
        startup = interpreter_startup(stack)
        api.close()
        detail = breakdown(stack, 5 if args.quick else 20)

    report(Measured(key, target, db_name, n, args.burn, peers, results, peer_totals, loads, startup, detail), section)


@dataclass(frozen=True)
class Measured:
    key: str
    target: float
    db_name: str
    n: int
    burn: int
    peers: list[str]
    results: list[dict[str, Any]]
    peer_totals: dict[str, list[float]]
    loads: list[float]
    startup: float | None
    detail: list[str]


def report(m: Measured, section: Section) -> None:
    """The RESULTS.md section and the summary table's rows."""
    key, target, db_name, n, results, peer_totals, loads = (
        m.key,
        m.target,
        m.db_name,
        m.n,
        m.results,
        m.peer_totals,
        m.loads,
    )

    def col(key: str) -> list[float]:
        return [r[key] for r in results if r[key] is not None]

    total = col("total")
    mean_load = sum(loads) / len(loads)
    burn = f" with {m.burn} busy-loop processes running (`--burn {m.burn}`)" if m.burn else ""
    interleaved = (
        f", interleaved with {' and '.join(PEER_NAMES[p] for p in m.peers)} in rotating order" if m.peers else ""
    )
    section.add(
        f"{n} runs one after the other{interleaved}, after one warm-up run each; default environment (cache hit)"
        f"{burn}; 1-minute load during the runs {min(loads):.1f}–{max(loads):.1f} (mean {mean_load:.1f})."
    )
    section.add("")
    section.add("| span | p50 | p95 | max |")
    section.add("| --- | --- | --- | --- |")
    rows = [
        (f"**POST → first statement (target p50 ≤ {target * 1000:.0f} ms)**", "total"),
        ("POST response time (client)", "post"),
        ("POST sent → Queued recorded", "to_queued"),
        ("Queued → Preparing (Celery delivery + claim)", "queued_preparing"),
        ("Preparing → Starting (snapshot, inputs, token, env)", "preparing_starting"),
        ("  of which: snapshot extracted → cached env found (inputs, token, env)", "env_lookup"),
        ("Starting → first statement (spawn + interpreter)", "starting_t0"),
        ("Starting → Running recorded", "starting_running"),
    ]
    for label, col_key in rows:
        values = col(col_key)
        if values:
            section.add(
                f"| {label} | {pct(values, 50) * 1000:.1f} ms | {pct(values, 95) * 1000:.1f} ms | "
                f"{max(values) * 1000:.1f} ms |"
            )
    for name, values in peer_totals.items():
        section.add(
            f"| {PEER_NAMES[name]}: submit → first statement ({PEER_HOW[name]}) | {pct(values, 50) * 1000:.1f} ms | "
            f"{pct(values, 95) * 1000:.1f} ms | {max(values) * 1000:.1f} ms |"
        )
    section.add("")
    if m.startup is not None:
        section.add(f"Interpreter start-up alone (`venv/bin/python -c pass`, median of 15): {m.startup * 1000:.1f} ms.")
    p50 = pct(total, 50)
    section.add(f"Result: {summary_ms(total)}; target p50 ≤ {target * 1000:.0f} ms {verdict(p50 <= target)}.")
    for name, values in peer_totals.items():
        section.add(f"{PEER_NAMES[name]}: {summary_ms(values)}; Runyard ×{pct(values, 50) / p50:.1f} faster (p50).")
    section.add("")
    section.extend(m.detail)
    section.write()
    measure_name = f"submit → first statement p50 ({db_name})"
    summary_rows = [
        Row(measure_name, "ms", p50 * 1000, "lower", target=target * 1000, load=mean_load, note=f"burn {m.burn}")
    ]
    if peer_totals:
        summary_rows = [
            Row(
                measure_name,
                "ms",
                p50 * 1000,
                "lower",
                target=target * 1000,
                peer=PEER_NAMES[name],
                peer_value=pct(values, 50) * 1000,
                load=mean_load,
                note=f"burn {m.burn}" if m.burn else "",
            )
            for name, values in peer_totals.items()
        ]
    record(key, summary_rows)


PEER_NAMES = {"ray": "Ray Jobs", "prefect": "Prefect"}
PEER_HOW = {
    "ray": "POST /api/jobs/, the same script with Ray's python",
    "prefect": "create_flow_run of a deployment, process worker polling every 1 s; the flow body's first statement",
}


if __name__ == "__main__":
    main()
