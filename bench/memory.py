"""Memory of the standalone stack (``make run``): RSS and PSS per process, idle and under load.

Starts ``manage.py runyard_serve`` as ``make run`` does (fresh data dir, own port,
SQLite and the embedded Redis unless ``DATABASE_URL`` / ``REDIS_URL`` are set) and
reads every process of it from /proc: the supervisor's process tree (web, worker,
its pool, a beat process if there is one) plus the embedded Redis (which daemonizes,
so it is found by its pid file). Run processes (the users' scripts under bubblewrap)
are listed apart and not counted: they are the user's memory, not Runyard's.

- RSS counts every page a process maps, so pages a forked pool process shares with
  the worker's main process count once per process: the sum over-states what the
  machine spends, and it is issue 21's measure. PSS (``/proc/PID/smaps_rollup``)
  divides each shared page among the processes mapping it: its sum is what the stack
  really holds. Both are reported.
- Idle: after start-up, once the autoscaler has had ``AUTOSCALE_KEEPALIVE`` (30 s) to
  retire what start-up grew (the default ``--idle-wait`` is 40 s), the median of five
  samples a second apart.
- Under load: ``--runs`` (4, the local target's capacity) runs submitted at once, each
  printing a log line and logging a metric every 10 ms for ``--duration`` seconds; the
  sample with the largest stack total while all of them run, and how long each took
  from its POST to Running (the pool grows on demand: this shows it does so promptly).
- Idle again: ``--idle-wait`` seconds after the last run ended.

``--compare DIR`` measures another checkout the same way first (e.g. ``/work/main``
before a change), so one run shows before and after. Results: RESULTS.md section
``memory`` and the summary rows (``bench/summary.py``).
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from harness import LOCAL_INDEXES, ROOT, SHARED_ENV_DIR, SHARED_UV_CACHE, Api, Section, free_port, parse_at, wait_for
from summary import Row, current_load, record

SCRIPT = r"""
import time
from azureml.core import Run

run = Run.get_context()
end = time.time() + {duration}
step = 0
while time.time() < end:
    print(f"step {{step}} loss {{1 / (step + 1):.6f}}", flush=True)
    run.log("loss", 1 / (step + 1), step=step)
    step += 1
    time.sleep(0.01)
run.flush()
print(f"done after {{step}} steps")
"""
STACK_ROLES = ("supervisor", "web", "worker", "worker pool", "beat", "embedded Redis")


@dataclass(frozen=True)
class Proc:
    pid: int
    role: str
    rss: float  # MB
    pss: float  # MB
    cmd: str


def _children(pid: int) -> list[int]:
    found: list[int] = []
    try:
        tasks = list(Path(f"/proc/{pid}/task").iterdir())
    except OSError:
        return found
    for task in tasks:
        try:
            found += [int(p) for p in (task / "children").read_text().split()]
        except OSError:
            continue
    return found


def _memory(pid: int) -> tuple[float, float, str] | None:
    try:
        rollup = Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines()[1:]
        cmd = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace").strip()
    except OSError:
        return None
    fields = {line.split(":")[0]: int(line.split()[1]) for line in rollup if line.endswith("kB")}
    return fields.get("Rss", 0) / 1024, fields.get("Pss", 0) / 1024, cmd


def _role(cmd: str, parent_role: str) -> str:
    if parent_role in ("worker pool", "run process"):
        return "run process"
    if "uvicorn" in cmd:
        return "web"
    if " beat" in cmd and "celery" in cmd and "worker" not in cmd:
        return "beat"
    if "celery" in cmd and " worker" in cmd:
        # a pool process (or a `worker -B` beat) is forked from the worker's main process
        return "worker pool" if parent_role == "worker" else "worker"
    return "run process" if parent_role else "other"


def snapshot(supervisor: int, data_dir: Path) -> list[Proc]:
    """Every process of the stack now (and the runs' processes, role ``run process``)."""
    out: list[Proc] = []

    def walk(pid: int, parent_role: str) -> None:
        got = _memory(pid)
        if got is None:
            return
        rss, pss, cmd = got
        role = "supervisor" if not parent_role else _role(cmd, parent_role)
        out.append(Proc(pid, role, rss, pss, cmd))
        for child in _children(pid):
            walk(child, role)

    walk(supervisor, "")
    try:
        redis = int((data_dir / "redis" / "redis.pid").read_text().strip())
    except (OSError, ValueError):
        redis = 0
    got = _memory(redis) if redis else None
    if got is not None:
        out.append(Proc(redis, "embedded Redis", *got))
    return out


def totals(procs: list[Proc]) -> tuple[float, float, int]:
    """Sum of RSS, sum of PSS and the process count over the stack (not the runs)."""
    mine = [p for p in procs if p.role in STACK_ROLES]
    return sum(p.rss for p in mine), sum(p.pss for p in mine), len(mine)


def by_role(procs: list[Proc]) -> list[str]:
    lines = ["| process | count | RSS (MB) | PSS (MB) |", "| --- | --- | --- | --- |"]
    for role in (*STACK_ROLES, "run process"):
        group = [p for p in procs if p.role == role]
        if group:
            lines.append(
                f"| {role} | {len(group)} | {sum(p.rss for p in group):.1f} | {sum(p.pss for p in group):.1f} |"
            )
    rss, pss, n = totals(procs)
    lines.append(f"| **stack total** (without run processes) | {n} | **{rss:.1f}** | **{pss:.1f}** |")
    return lines


def per_process(procs: list[Proc]) -> list[str]:
    lines = ["| pid | process | RSS (MB) | PSS (MB) | command |", "| --- | --- | --- | --- | --- |"]
    for p in procs:
        if p.role in STACK_ROLES:
            lines.append(f"| {p.pid} | {p.role} | {p.rss:.1f} | {p.pss:.1f} | `{p.cmd[:90]}` |")
    return lines


def idle_median(supervisor: int, data_dir: Path, samples: int = 5) -> list[Proc]:
    """The sample whose RSS total is the median of ``samples`` a second apart."""
    taken = []
    for _ in range(samples):
        taken.append(snapshot(supervisor, data_dir))
        time.sleep(1)
    return sorted(taken, key=lambda s: totals(s)[0])[len(taken) // 2]


# ---- the stack, as `make run` starts it ------------------------------------------------
class Serve:
    """``manage.py runyard_serve`` of checkout ``root`` on a fresh data dir; stopped by pid."""

    def __init__(self, root: Path, label: str) -> None:
        self.root = root
        self.label = label
        self.port = free_port()
        slug = "".join(c if c.isalnum() else "-" for c in label)
        self.data_dir = Path(f"/tmp/runyard-bench-memory-{os.getpid()}-{slug}")
        self.env = {k: v for k, v in os.environ.items() if k not in ("RUNYARD_DATA_DIR", "PORT")}
        self.env.update(
            RUNYARD_DATA_DIR=str(self.data_dir),
            RUNYARD_ADMIN_PASSWORD="bench-memory",
            PYTHONUNBUFFERED="1",
        )
        self.env.setdefault("RUNYARD_ENV_DIR", str(SHARED_ENV_DIR))
        self.env.setdefault("RUNYARD_UV_CACHE_DIR", str(SHARED_UV_CACHE))
        for name, (value, probe) in LOCAL_INDEXES.items():
            if not self.env.get(name) and Path(probe).exists():
                self.env[name] = value
        self.proc: subprocess.Popen[bytes] | None = None
        self.log = self.data_dir.with_suffix(".log")

    def __enter__(self) -> Serve:
        self.data_dir.mkdir(parents=True)
        self.proc = subprocess.Popen(
            [sys.executable, "manage.py", "runyard_serve", "--port", str(self.port)],
            cwd=self.root,
            env=self.env,
            stdout=open(self.log, "wb"),
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            wait_for(self._ready, 300, f"{self.label}: runyard_serve to answer and its worker to be ready")
        except BaseException:
            self.__exit__()
            raise
        return self

    def _ready(self) -> bool:
        if self.proc is not None and self.proc.poll() is not None:
            raise RuntimeError(f"runyard_serve exited:\n{self.log.read_text()[-3000:]}")
        return " ready." in self.log.read_text(errors="replace") and self._healthy()

    def _healthy(self) -> bool:
        import http.client

        try:
            conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=2)
            conn.request("GET", "/api/health/")
            ok = conn.getresponse().status == 200
            conn.close()
            return ok
        except OSError:
            return False

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def token(self) -> str:
        code = (
            "from django.contrib.auth import get_user_model; from accounts.models import ApiToken; "
            "print(ApiToken.issue(get_user_model().objects.get(username='admin'), name='bench-memory')[1])"
        )
        out = subprocess.run(
            [sys.executable, "manage.py", "shell", "-c", code],
            cwd=self.root,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=120,
            check=True,
        )
        return out.stdout.strip().splitlines()[-1]

    def __exit__(self, *exc: object) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=90)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=30)
        # What the supervisor did not stop (it stops Redis by its pid file): by pid too.
        pidfile = self.data_dir / "redis" / "redis.pid"
        try:
            os.kill(int(pidfile.read_text().strip()), signal.SIGTERM)
        except (OSError, ValueError):
            pass
        shutil.rmtree(self.data_dir, ignore_errors=True)  # the log (beside it) stays


# ---- one measurement -------------------------------------------------------------------
@dataclass
class Measured:
    label: str
    idle: list[Proc]
    idle_load: float
    busy: list[Proc]
    busy_load: float
    after: list[Proc]
    to_running: list[float]


def measure(root: Path, label: str, runs: int, duration: float, idle_wait: float) -> Measured:
    with Serve(root, label) as stack:
        print(f"[memory] {label}: up at port {stack.port} (data {stack.data_dir}); idle for {idle_wait:g}s", flush=True)
        api = Api("127.0.0.1", stack.port, stack.token())
        time.sleep(idle_wait)
        idle_load = current_load()
        idle = idle_median(stack.pid, stack.data_dir)
        # Warm-up: builds (or finds) the default environment, so the load phase measures
        # the stack and not a build.
        warm = api.submit({"train.py": SCRIPT.format(duration=0.1)}, experiment="bench-memory")
        final = api.wait_terminal(warm["id"], timeout=900)
        if final["status"] != "Completed":
            raise RuntimeError(f"warm-up run ended {final['status']}: {final.get('error')}")
        time.sleep(idle_wait)  # the warm-up's pool growth retired again
        posted: dict[int, float] = {}
        for _ in range(runs):
            t = time.time()
            posted[api.submit({"train.py": SCRIPT.format(duration=duration)}, experiment="bench-memory")["id"]] = t
        busy: list[Proc] = []
        busy_load = 0.0
        running_at: dict[int, float] = {}
        deadline = time.monotonic() + duration + 300
        while time.monotonic() < deadline:
            states = {rid: api.get(f"/api/runs/{rid}/")["status"] for rid in posted}
            if all(s in ("Completed", "Failed", "Canceled") for s in states.values()):
                break
            if all(s == "Running" for s in states.values()):
                sample = snapshot(stack.pid, stack.data_dir)
                if not busy or totals(sample)[0] > totals(busy)[0]:
                    busy, busy_load = sample, current_load()
            time.sleep(1)
        for rid in posted:
            run = api.wait_terminal(rid, timeout=300)
            if run["status"] != "Completed":
                raise RuntimeError(f"run {rid} ended {run['status']}: {run.get('error')}")
            history = {h["to"]: parse_at(h["at"]) for h in api.get(f"/api/runs/{rid}/status-history/")}
            running_at[rid] = history["Running"] - posted[rid]
        if not busy:
            raise RuntimeError(f"the {runs} runs were never Running at once (raise --duration)")
        time.sleep(idle_wait)
        after = idle_median(stack.pid, stack.data_dir)
        api.close()
        return Measured(label, idle, idle_load, busy, busy_load, after, sorted(running_at.values()))


def report(m: Measured, runs: int, duration: float) -> Iterator[str]:
    rss, pss, n = totals(m.idle)
    yield f"### {m.label}"
    yield ""
    yield f"**Idle** (load {m.idle_load:.1f}): {n} processes, RSS {rss:.0f} MB, PSS {pss:.0f} MB."
    yield ""
    yield from by_role(m.idle)
    yield ""
    yield from per_process(m.idle)
    yield ""
    rss, pss, n = totals(m.busy)
    yield (
        f"**Under load** ({runs} runs at once, each printing a line and logging a metric every 10 ms for "
        f"{duration:g} s; load {m.busy_load:.1f}): {n} processes, RSS {rss:.0f} MB, PSS {pss:.0f} MB."
    )
    yield ""
    yield from by_role(m.busy)
    yield ""
    waits = ", ".join(f"{s * 1000:.0f}" for s in m.to_running)
    yield f"POST → Running of the {runs} runs submitted at once: {waits} ms."
    yield ""
    rss, pss, n = totals(m.after)
    yield f"**Idle again** after the runs: {n} processes, RSS {rss:.0f} MB, PSS {pss:.0f} MB."
    yield ""


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt(f"signal {signum}")  # unwinds through Serve.__exit__: the stack is stopped


def main() -> None:
    signal.signal(signal.SIGTERM, _interrupt)
    signal.signal(signal.SIGHUP, _interrupt)
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="shorter runs")
    parser.add_argument("--runs", type=int, default=4, help="runs at once under load (the local target's capacity)")
    parser.add_argument("--duration", type=float, help="seconds each loaded run prints (default 20, quick 10)")
    parser.add_argument("--idle-wait", type=float, default=40.0, help="seconds to settle before an idle sample")
    parser.add_argument("--compare", type=Path, help="another checkout to measure first (e.g. /work/main)")
    args = parser.parse_args()
    duration = args.duration or (10.0 if args.quick else 20.0)
    section = Section("memory", "Memory: the standalone stack (`make run`), RSS and PSS per process", args.quick)
    section.add(
        "RSS counts a page shared by forked processes once per process (issue 21's measure: its sum "
        "over-states the machine's cost); PSS shares it out (its sum is what the stack holds). Run "
        "processes (users' scripts) are not counted. Method: `bench/memory.py` docstring."
    )
    section.add("")
    measured: list[Measured] = []
    if args.compare:
        measured.append(measure(args.compare.resolve(), "before", args.runs, duration, args.idle_wait))
    mine = measure(ROOT, "this checkout", args.runs, duration, args.idle_wait)
    measured.append(mine)
    for m in measured:
        section.extend(list(report(m, args.runs, duration)))
    section.write()
    idle_rss, idle_pss, _ = totals(mine.idle)
    busy_rss, busy_pss, _ = totals(mine.busy)
    note = f"{args.runs} runs" if args.runs else ""
    record(
        "memory",
        [
            Row(
                measure="idle RSS, standalone stack (sum)",
                unit="MB",
                runyard=round(idle_rss, 1),
                better="lower",
                target=400,
                load=mine.idle_load,
            ),
            Row(
                measure="idle PSS, standalone stack (sum)",
                unit="MB",
                runyard=round(idle_pss, 1),
                better="lower",
                load=mine.idle_load,
            ),
            Row(
                measure="under-load RSS, standalone stack (sum)",
                unit="MB",
                runyard=round(busy_rss, 1),
                better="lower",
                load=mine.busy_load,
                note=note,
            ),
            Row(
                measure="under-load PSS, standalone stack (sum)",
                unit="MB",
                runyard=round(busy_pss, 1),
                better="lower",
                load=mine.busy_load,
                note=note,
            ),
            Row(
                measure="POST → Running, runs submitted at once (max)",
                unit="ms",
                runyard=round(max(mine.to_running) * 1000),
                better="lower",
                load=mine.busy_load,
                note=note,
            ),
        ],
    )


if __name__ == "__main__":
    main()
