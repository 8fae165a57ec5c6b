"""Live log streaming: throughput, latency and fan-out, through the real stack.

A websocket client (``websockets``) watches ``/ws/runs/{id}/?after=0`` with
``Authorization: Token …`` until the run's final status, as the dashboard does.

(a) throughput: a run writes N short lines as fast as it can (1000 lines per write
    call); lines/s end to end (first → last line received), and none lost: seq 1..last
    contiguous with no duplicate, and rank 0's texts exactly those printed.
    Target ≥ 50k lines/s. The script first sleeps ``START_DELAY`` s, as the paced one
    does, so the watcher is live when the lines come (Ray's tailer always is: its jobs
    take ~1 s to start); without it a watcher that connected after a 0.5 s run measured
    the database catch-up instead, or nothing at all (bench/RESULTS.md).
(b) latency: a run prints one line every 1 ms for D s with its ``time.time()``; the
    client computes receive time − printed time per line. Target p50 ≤ 30 ms.
(c) fan-out: W watchers on one run printing R lines/s for D s: lines delivered per
    watcher (all complete?) and latency across watchers. Target: 100 watchers at 1k
    lines/s.

Every loop is bounded (deadlines on each phase) and talks to 127.0.0.1 only.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from harness import BENCH, TERMINAL, Api, CpuMeter, Section, Stack, database, pct, per_database, verdict

ALPHABET = "abcdefghijklmnopqrstuvwxyz"
START_DELAY = 1.0  # seconds the throughput script waits before its first line
THROUGHPUT_SCRIPT = """\
import sys, time
N = int(sys.argv[1])
time.sleep(float(sys.argv[2]) if len(sys.argv) > 2 else 0.0)
t = time.time()
w = sys.stdout.write
for start in range(0, N, 1000):
    w("".join(f"line {i} abcdefghijklmnopqrstuvwxyz\\n" for i in range(start, min(N, start + 1000))))
sys.stderr.write(f"DONE {t!r} {time.time()!r}\\n")
"""

PACED_SCRIPT = """\
import sys, time
rate, seconds, delay = float(sys.argv[1]), float(sys.argv[2]), float(sys.argv[3])
time.sleep(delay)
period = 1.0 / rate
n = int(rate * seconds)
start = time.monotonic()
for i in range(n):
    print(f"t {i} {time.time()!r}")
    wait = start + (i + 1) * period - time.monotonic()
    if wait > 0:
        time.sleep(wait)
"""


@dataclass
class Watch:
    """What one websocket watcher received."""

    seqs: list[int] = field(default_factory=list)
    rank0: list[tuple[str, float, str]] = field(default_factory=list)  # (text, received at, stored 'at')
    final: str = ""
    connected_at: float = 0.0
    first_rank0: float = 0.0
    last_rank0: float = 0.0
    messages: int = 0
    error: str = ""


async def watch(
    url: str,
    token: str,
    deadline: float,
    *,
    compression: str | None = "deflate",
    connected: Callable[[], None] | None = None,
    keep_texts: bool = True,
) -> Watch:
    from websockets.asyncio.client import connect

    out = Watch()
    try:
        async with asyncio.timeout(max(1.0, deadline - time.monotonic())):
            async with connect(
                url,
                additional_headers={"Authorization": f"Token {token}"},
                max_size=None,
                compression=compression,
                proxy=None,
                open_timeout=60,
                ping_interval=None,
            ) as ws:
                out.connected_at = time.time()
                if connected:
                    connected()
                first_status = True
                async for raw in ws:
                    now = time.time()
                    msg = json.loads(raw)
                    out.messages += 1
                    if msg["type"] == "logs":
                        for line in msg["lines"]:
                            out.seqs.append(line["seq"])
                            if line["rank"] == 0 and line["stream"] == "stdout":
                                if not out.first_rank0:
                                    out.first_rank0 = now
                                out.last_rank0 = now
                                if keep_texts:
                                    out.rank0.append((line["text"], now, line["at"]))
                    elif msg["type"] == "status":
                        status = msg["run"]["status"]
                        if status in TERMINAL and not first_status:
                            out.final = status
                            break
                        if status in TERMINAL:
                            out.final = status  # ended before we connected: the backlog follows
                            await _drain(ws, out, now, keep_texts)
                            break
                        first_status = False
    except TimeoutError:
        out.error = "timed out"
    except Exception as exc:
        out.error = f"{type(exc).__name__}: {exc}"
    return out


async def _drain(ws: Any, out: Watch, now: float, keep_texts: bool) -> None:
    while True:
        try:
            raw = await asyncio.wait_for(ws.recv(), timeout=2.0)
        except TimeoutError:
            return
        msg = json.loads(raw)
        now = time.time()
        for line in msg.get("lines", []):
            out.seqs.append(line["seq"])
            if line["rank"] == 0 and line["stream"] == "stdout":
                out.first_rank0 = out.first_rank0 or now
                out.last_rank0 = now
                if keep_texts:
                    out.rank0.append((line["text"], now, line["at"]))


def contiguous(seqs: list[int]) -> tuple[bool, str]:
    if not seqs:
        return False, "no lines"
    dupes = len(seqs) - len(set(seqs))
    ordered = seqs == sorted(seqs)
    missing = seqs[-1] - len(set(seqs)) if ordered else -1
    ok = dupes == 0 and ordered and set(seqs) == set(range(1, max(seqs) + 1))
    return (
        ok,
        f"{len(seqs)} lines, seq 1..{max(seqs)}, {dupes} duplicates, {max(missing, 0)} missing, in order {ordered}",
    )


def iso(value: str) -> float:
    from datetime import datetime

    return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()


# ---- (a) throughput -----------------------------------------------------------------
def _submit_printer(api: Api, n: int) -> dict[str, Any]:
    """A run printing ``n`` lines as fast as it can, START_DELAY after it starts."""
    return api.submit(
        {"stream.py": THROUGHPUT_SCRIPT},
        script="stream.py",
        arguments=[str(n), str(START_DELAY)],
        experiment="bench-logs",
    )


def throughput(stack: Stack, section: Section, n: int) -> None:
    from datetime import datetime

    from runs import logstore

    api = stack.api()
    run = _submit_printer(api, n)
    cpu = CpuMeter(stack)
    deadline = time.monotonic() + 300
    w = asyncio.run(watch(stack.ws_url(run["id"]), stack.token, deadline))
    cpu_line = cpu.report()
    final = api.wait_terminal(run["id"], timeout=60)
    rank0 = list(logstore.lines(run["id"], rank=0))
    stdout_at = [line.at for line in rank0 if line.stream == "stdout"]
    stored = {
        "a": datetime.fromisoformat(stdout_at[0]) if stdout_at else None,
        "b": datetime.fromisoformat(stdout_at[-1]) if stdout_at else None,
    }
    stderr = [line.text for line in rank0 if line.stream == "stderr"]
    done = next((t for t in stderr if t.startswith("DONE ")), "")
    ok_seq, seq_text = contiguous(w.seqs)
    expected = [f"line {i} abcdefghijklmnopqrstuvwxyz" for i in range(n)]
    texts_ok = [t for t, _, _ in w.rank0] == expected
    span = w.last_rank0 - w.first_rank0
    rate = (len(w.rank0) - 1) / span if span > 0 else float("nan")
    section.add(f"### (a) throughput: one run writing {n:,} lines")
    section.add("")
    section.add(f"- run {run['id']} ended {final['status']}; watcher saw final status {w.final or '-'} {w.error}")
    section.add(f"- received: {seq_text}; rank-0 texts match: {texts_ok}")
    section.add(
        f"- **end to end {rate:,.0f} lines/s** (first → last line received: {span:.2f} s); "
        f"target ≥ 50,000 lines/s {verdict(rate >= 50000 and ok_seq and texts_ok)}"
    )
    if done:
        _, t_start, t_end = done.split()
        produced = float(t_end) - float(t_start)
        section.add(f"- the script itself wrote them in {produced:.2f} s ({n / produced:,.0f} lines/s)")
    if stored["a"] and stored["b"]:
        read_span = (stored["b"] - stored["a"]).total_seconds()
        section.add(
            f"- the worker read them from the pipe in {read_span:.2f} s ({n / max(read_span, 1e-9):,.0f} lines/s, "
            f"stored line times)"
        )
        section.add(
            f"- last line: read by the worker → received by the client "
            f"{(w.last_rank0 - stored['b'].timestamp()) * 1000:.0f} ms"
        )
    section.add(f"- {cpu_line}; {w.messages} websocket messages")
    section.add("")
    api.close()


# ---- (b) latency --------------------------------------------------------------------
def latency(stack: Stack, section: Section, seconds: float, rate: float) -> None:
    api = stack.api()
    run = api.submit(
        {"paced.py": PACED_SCRIPT},
        script="paced.py",
        arguments=[str(rate), str(seconds), "1.0"],
        experiment="bench-logs",
    )
    cpu = CpuMeter(stack)
    w = asyncio.run(watch(stack.ws_url(run["id"]), stack.token, time.monotonic() + seconds + 120))
    cpu_line = cpu.report()
    final = api.wait_terminal(run["id"], timeout=60)
    lat, pipe, after_read = [], [], []
    for text, received, at in w.rank0:
        printed = float(text.split()[2])
        stamped = iso(at)
        lat.append(received - printed)
        pipe.append(stamped - printed)
        after_read.append(received - stamped)
    ok_seq, seq_text = contiguous(w.seqs)
    expected = int(rate * seconds)
    section.add(f"### (b) latency: one line every {1000 / rate:g} ms for {seconds:g} s")
    section.add("")
    section.add(f"- run {run['id']} ended {final['status']}; {seq_text}; rank-0 lines {len(w.rank0)}/{expected}")

    def ms(v: list[float]) -> str:
        return f"p50 {pct(v, 50) * 1000:.1f} / p95 {pct(v, 95) * 1000:.1f} / p99 {pct(v, 99) * 1000:.1f} / " + (
            f"max {max(v) * 1000:.1f} ms" if v else "-"
        )

    section.add(
        f"- **printed → received: {ms(lat)}**; target p50 ≤ 30 ms {verdict(bool(lat) and pct(lat, 50) <= 0.030)}"
    )
    section.add(f"- printed → read by the worker (stored line time): {ms(pipe)}")
    section.add(f"- read by the worker → received (batch, store, publish, websocket): {ms(after_read)}")
    section.add(f"- {cpu_line}")
    section.add("")
    del ok_seq
    api.close()


# ---- (e) against Ray Jobs' log tailing, in the same run -------------------------------
def _runyard_rate(stack: Stack, n: int) -> tuple[float, bool]:
    """lines/s first → last line received by a websocket watcher; all there, in order."""
    api = stack.api()
    run = _submit_printer(api, n)
    w = asyncio.run(watch(stack.ws_url(run["id"]), stack.token, time.monotonic() + 300))
    api.wait_terminal(run["id"], timeout=60)
    api.close()
    ok = contiguous(w.seqs)[0] and [t for t, _, _ in w.rank0] == [f"line {i} {ALPHABET}" for i in range(n)]
    span = w.last_rank0 - w.first_rank0
    return ((len(w.rank0) - 1) / span if span > 0 else float("nan")), ok


def _runyard_latency(stack: Stack, seconds: float, rate: float, delay: float) -> list[float]:
    api = stack.api()
    run = api.submit(
        {"paced.py": PACED_SCRIPT},
        script="paced.py",
        arguments=[str(rate), str(seconds), str(delay)],
        experiment="bench-logs",
    )
    w = asyncio.run(watch(stack.ws_url(run["id"]), stack.token, time.monotonic() + seconds + 120))
    api.wait_terminal(run["id"], timeout=60)
    api.close()
    return [received - float(text.split()[2]) for text, received, _ in w.rank0]


def _ray(head: Any, scripts: Path, mode: str, args: list[str]) -> dict[str, Any]:
    """bench/ray_log_tail.py with Ray's Python: submit, tail_job_logs, what arrived when."""
    script = scripts / ("stream.py" if mode == "throughput" else "paced.py")
    out = head.env.run([str(BENCH / "ray_log_tail.py"), head.jobs_url, mode, str(script), *args], timeout=600)
    return dict(json.loads(out.stdout.strip().splitlines()[-1]))


def versus_ray(stack: Stack, section: Section, n: int, seconds: float, rounds: int) -> None:
    """The same scripts on Runyard (websocket watcher) and Ray Jobs (``ray job submit`` +
    ``tail_job_logs``), interleaved, the order rotating each round; medians of the rounds."""
    import shutil
    import tempfile

    from peers import RayHead
    from summary import Row, record

    scripts = Path(tempfile.mkdtemp(prefix="runyard-bench-ray-"))
    (scripts / "stream.py").write_text(THROUGHPUT_SCRIPT)
    (scripts / "paced.py").write_text(PACED_SCRIPT)
    rate, delay = 1000.0, 2.0
    rates: dict[str, list[float]] = {"runyard": [], "ray": []}
    lost: dict[str, int] = {"runyard": 0, "ray": 0}
    lat: dict[str, list[float]] = {"runyard": [], "ray": []}
    loads: list[float] = []
    version = ""
    try:
        with RayHead() as head:
            version = head.env.version()
            for index in range(rounds):
                order = ["runyard", "ray"] if index % 2 == 0 else ["ray", "runyard"]
                for who in order:
                    loads.append(os.getloadavg()[0])
                    if who == "runyard":
                        value, ok = _runyard_rate(stack, n)
                        lat["runyard"].extend(_runyard_latency(stack, seconds, rate, delay))
                    else:
                        got = _ray(head, scripts, "throughput", [str(n), str(START_DELAY)])
                        span = got["last"] - got["first"]
                        value = (got["count"] - 1) / span if span > 0 else float("nan")
                        ok = got["texts_ok"] and got["count"] == n and got["status"] == "SUCCEEDED"
                        lat["ray"].extend(
                            _ray(head, scripts, "latency", [str(rate), str(seconds), str(delay)])["latencies"]
                        )
                    rates[who].append(value)
                    lost[who] += 0 if ok else 1
    finally:
        shutil.rmtree(scripts, ignore_errors=True)
    load = statistics.mean(loads)
    ours, theirs = statistics.median(rates["runyard"]), statistics.median(rates["ray"])
    ours_p50, theirs_p50 = pct(lat["runyard"], 50) * 1000, pct(lat["ray"], 50) * 1000
    section.add(f"### (e) against Ray Jobs {version} (`ray job submit` + `tail_job_logs`), {rounds} rounds interleaved")
    section.add("")
    section.add(
        f"Each round: the throughput script ({n:,} lines) then {seconds:g} s of one line per ms, on one "
        "and then the other, the order rotating each round; Ray's lines counted by the driver "
        "(bench/ray_log_tail.py) as `tail_job_logs` delivers them, Runyard's by a websocket watcher. "
        f"1-minute load during the rounds: {min(loads):.1f}–{max(loads):.1f} (mean {load:.1f})."
    )
    section.add("")
    section.add("| | Runyard | Ray Jobs |")
    section.add("| --- | --- | --- |")
    section.add(
        "| lines/s first → last line received, per round | "
        + ", ".join(f"{v:,.0f}" for v in rates["runyard"])
        + " | "
        + ", ".join(f"{v:,.0f}" for v in rates["ray"])
        + " |"
    )
    section.add(f"| **median lines/s** | **{ours:,.0f}** | **{theirs:,.0f}** |")
    section.add(f"| rounds with a line lost, repeated or out of order | {lost['runyard']} | {lost['ray']} |")
    section.add(
        f"| printed → received p50 / p95 | **{ours_p50:.1f}** / {pct(lat['runyard'], 95) * 1000:.1f} ms | "
        f"**{theirs_p50:.1f}** / {pct(lat['ray'], 95) * 1000:.1f} ms |"
    )
    section.add("")
    db = database()
    record(
        per_database("log_stream"),
        [
            Row(
                f"log throughput, one run ({db})",
                "lines/s",
                ours,
                "higher",
                120000,
                "Ray Jobs",
                theirs,
                load,
                f"{rounds} rounds, median; {lost['runyard']} lossy (Ray {lost['ray']})",
            ),
            Row(f"log line → watcher p50 ({db})", "ms", ours_p50, "lower", 30, "Ray Jobs", theirs_p50, load),
        ],
    )


# ---- (c) fan-out --------------------------------------------------------------------
def fanout(stack: Stack, section: Section, watchers: int, rate: float, seconds: float, compression: str) -> None:
    api = stack.api()
    delay = 3.0 + watchers * 0.05  # time for every watcher to connect before the first line
    run = api.submit(
        {"paced.py": PACED_SCRIPT},
        script="paced.py",
        arguments=[str(rate), str(seconds), str(delay)],
        experiment="bench-logs",
    )
    cpu = CpuMeter(stack)
    t_connect = time.monotonic()
    connected_count = 0
    all_connected = 0.0

    def connected() -> None:
        nonlocal connected_count, all_connected
        connected_count += 1
        if connected_count == watchers:
            all_connected = time.monotonic() - t_connect

    async def everyone() -> list[Watch]:
        deadline = time.monotonic() + delay + seconds + 180
        tasks = [
            watch(
                stack.ws_url(run["id"]),
                stack.token,
                deadline,
                compression=None if compression == "off" else compression,
                connected=connected,
            )
            for _ in range(watchers)
        ]
        return list(await asyncio.gather(*tasks))

    client_cpu = time.process_time()
    results = asyncio.run(everyone())
    client_cpu = time.process_time() - client_cpu
    cpu_line = cpu.report()
    final = api.wait_terminal(run["id"], timeout=60)
    expected = int(rate * seconds)
    counts = [len(w.rank0) for w in results]
    complete = sum(1 for w in results if len(w.rank0) == expected and contiguous(w.seqs)[0])
    errors = [w.error for w in results if w.error]
    pooled: list[float] = []
    per_watcher_p50 = []
    for w in results:
        lat = [received - float(text.split()[2]) for text, received, _ in w.rank0]
        pooled.extend(lat)
        if lat:
            per_watcher_p50.append(pct(lat, 50))
    section.add(
        f"### (c) fan-out: {watchers} watchers, one run printing {rate:g} lines/s for {seconds:g} s "
        f"(client websocket compression: {compression})"
    )
    section.add("")
    section.add(
        f"- run {run['id']} ended {final['status']}; all {watchers} connected in {all_connected:.1f} s "
        f"(first line printed {delay:.1f} s after start)"
    )
    section.add(
        f"- lines delivered per watcher: min {min(counts)}, max {max(counts)} of {expected}; "
        f"**{complete}/{watchers} watchers complete and contiguous**; "
        f"{sum(w.messages for w in results) / watchers:,.0f} websocket messages per watcher"
        + (f"; errors: {errors[:3]}" if errors else "")
    )
    if pooled:
        section.add(
            f"- **latency across watchers (printed → received): p50 {pct(pooled, 50) * 1000:.1f} ms, "
            f"p95 {pct(pooled, 95) * 1000:.1f} ms**, p99 {pct(pooled, 99) * 1000:.1f} ms, "
            f"max {max(pooled) * 1000:.0f} ms; "
            f"per-watcher p50 from {min(per_watcher_p50) * 1000:.1f} to {max(per_watcher_p50) * 1000:.1f} ms"
        )
        series = [received - float(text.split()[2]) for text, received, _ in results[0].rank0]
        step = max(1, len(series) // 10)
        section.add(
            "- watcher 0's latency along the run (every tenth of its lines): "
            + ", ".join(f"{v * 1000:.0f}" for v in series[::step])
            + " ms"
        )
        section.add(
            f"- delivered {sum(counts) / max(seconds, 1e-9):,.0f} lines/s in total to the watchers; "
            f"target (all complete, p50 ≤ 30 ms) {verdict(complete == watchers and pct(pooled, 50) <= 0.030)}"
        )
    section.add(f"- {cpu_line}; of it the watchers (one asyncio process: inflate, JSON, checks) {client_cpu:.1f} s")
    section.add("")
    api.close()


# ---- (d) where the time goes: CPU per line of each stage, in-process -----------------
def components(stack: Stack, section: Section) -> None:
    """Thread CPU time per line of each stage of the pipeline, measured in this process
    against the stack's database and Redis (the machine's load does not inflate CPU time)."""
    import io
    import zlib

    from channels.db import aclose_old_connections
    from channels.layers import get_channel_layer
    from django.utils import timezone

    from accounts.models import Team
    from compute.models import ComputeTarget
    from environments.models import EnvironmentVersion
    from execution.backends.procs import OutputPump
    from runs import logstore
    from runs.logstore import Batch, LogWriter, serialize, store_batch
    from runs.models import Experiment, Run

    team = Team.objects.get(slug="default")
    exp, _ = Experiment.objects.get_or_create(team=team, name="bench-components")
    version = EnvironmentVersion.objects.order_by("id").first()
    assert version is not None
    run = Run.objects.create(
        team=team,
        experiment=exp,
        submitted_by_id=stack.user_id,
        environment_version=version,
        compute_target=ComputeTarget.objects.get(name="local"),
    )
    now = timezone.now()
    text = "line 123456 abcdefghijklmnopqrstuvwxyz"
    seq = 0

    def batch(size: int = 2000) -> Batch:
        nonlocal seq
        out = Batch(seq + 1, [(now, size)], [(0, "stdout", text)] * size)
        seq += size
        return out

    def per_line(fn: Callable[[], object], lines: int) -> float:
        t = time.thread_time()
        fn()
        return (time.thread_time() - t) / lines * 1e6

    rows: list[tuple[str, float]] = []
    # 1. the pipe reader: read 64 KiB, decode, split, hand each line to a sink
    data = (text + "\n").encode() * 100_000
    pump = OutputPump(io.BytesIO(data), lambda _t: None, "bench")
    rows.append(
        ("OutputPump: read, decode, split, one sink call per line (pipe reader thread)", per_line(pump.run, 100_000))
    )
    # 2. the pump into LogWriter (one item and one timestamp per read) → flusher numbering, nothing stored
    writer = LogWriter(run.pk, start_seq=0, store=lambda _r, _b: None, group="bench.nobody")
    t = time.process_time()
    OutputPump(io.BytesIO(data), lambda t: writer.write(0, "stdout", t), "bench").run()
    writer.close()
    rows.append(
        (
            "OutputPump → LogWriter.write (per-read handover) + flusher batching, no store (both threads)",
            (time.process_time() - t) / 100_000 * 1e6,
        )
    )
    # 2a. the same through a plain rank's route: a read's lines reach the writer in one call (write_many)
    from execution.lines import RouteKind, Router

    writer = LogWriter(run.pk, start_seq=0, store=lambda _r, _b: None, group="bench.nobody")
    t = time.process_time()
    OutputPump(
        io.BytesIO(data), Router(RouteKind.PLAIN).stream("stdout", writer.write, writer.write_many), "bench"
    ).run()
    writer.close()
    rows.append(
        (
            "OutputPump → plain route → LogWriter.write_many (a read in one call) + flusher, no store (both threads)",
            (time.process_time() - t) / 100_000 * 1e6,
        )
    )
    # 2b. a line written alone (Runyard's own lines, the docker backend): one item per line
    writer = LogWriter(run.pk, start_seq=0, store=lambda _r, _b: None, group="bench.nobody")
    t = time.process_time()
    for _ in range(50_000):
        writer.write(0, "stdout", text)
    writer.close()
    rows.append(
        ("LogWriter.write of single lines (no pump) + flusher, no store", (time.process_time() - t) / 50_000 * 1e6)
    )
    # 3. storing: runs.logstore.store_batch (one LogChunk row per batch + the log_seq UPDATE)
    batches = [batch() for _ in range(10)]

    def store() -> None:
        for b in batches:
            store_batch(run.pk, b)

    rows.append(("store_batch: one LogChunk row + log_seq UPDATE, 2000-line batches", per_line(store, 20_000)))
    rows.append(("same batches again (a retry: ON CONFLICT DO NOTHING)", per_line(store, 20_000)))
    lines_read = 0

    def read() -> None:
        nonlocal lines_read
        lines_read = sum(1 for _ in logstore.lines(run.pk))

    rows.append(("reading them back (logstore.lines: catch-up, download)", per_line(read, 20_000)))
    # 4. publishing a 2000-line batch to a group with one member (msgpack + Redis)
    layer = get_channel_layer()
    lines = batch()
    message = {"type": "run.logs", "first": lines.first, "last": lines.last, "text": serialize(lines)}
    loop = asyncio.new_event_loop()
    if layer is not None:
        loop.run_until_complete(layer.group_add("bench.one", "specific.bench!x"))
        rows.append(
            (
                "group_send of a 2000-line batch, 1 member (worker's flusher)",
                per_line(
                    lambda: ([loop.run_until_complete(layer.group_send("bench.one", message)) for _ in range(10)]),
                    20_000,
                ),
            )
        )
        loop.run_until_complete(layer.group_discard("bench.one", "specific.bench!x"))
    # 5. serializing a batch, once per batch in the writer, and deflating it (permessage-deflate, per watcher)
    rows.append(
        (
            "logstore.serialize of the batch (once, in the worker)",
            per_line(lambda: [serialize(lines) for _ in range(10)], 20_000),
        )
    )
    encoded = serialize(lines).encode()
    rows.append(
        (
            "zlib deflate of the JSON (websocket compression, per watcher)",
            per_line(lambda: [zlib.compressobj(wbits=-15).compress(encoded) for _ in range(10)], 20_000),
        )
    )

    # 6. per message, whatever its size: channels' dispatch closes old DB connections
    # in the sync thread (a thread hop) before each handler, run_logs included.
    async def hops(n: int) -> float:
        t = time.perf_counter()
        for _ in range(n):
            await aclose_old_connections()
        return (time.perf_counter() - t) / n * 1e6

    hop = loop.run_until_complete(hops(2000))
    loop.close()
    Run.objects.filter(pk=run.pk).delete()
    section.add("### (d) where the time goes: CPU per log line, stage by stage (in-process)")
    section.add("")
    section.add("| stage | µs per line |")
    section.add("| --- | --- |")
    for label, value in rows:
        section.add(f"| {label} | {value:.2f} |")
    section.add("")
    section.add(
        f"`aclose_old_connections()` (channels `AsyncConsumer.dispatch`, a hop to the sync thread and back): "
        f"{hop:.0f} µs wall each; run.* events no longer pay it (one per web process per batch reaches "
        "`runs.consumers._RunFeed`, which hands it to the watchers in memory)."
    )
    section.add("")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="20k lines, 2 s of latency, 20 watchers for 5 s")
    parser.add_argument("--only", choices=["throughput", "latency", "fanout", "components", "ray"], action="append")
    parser.add_argument("--rounds", type=int, help="rounds against Ray (default 3, quick 2)")
    parser.add_argument("--lines", type=int)
    parser.add_argument("--watchers", type=int)
    parser.add_argument("--fanout-compression", choices=["deflate", "off", "both"], default="both")
    parser.add_argument("--data-dir")
    args = parser.parse_args()
    only = set(args.only or ["throughput", "latency", "fanout", "components", "ray"])
    n = args.lines or (20_000 if args.quick else 200_000)
    watchers = args.watchers or (20 if args.quick else 100)
    section = Section(per_database("log_stream"), f"Live log streaming (websocket, {database()})", args.quick)
    with Stack(args.data_dir) as stack:
        api = stack.api()
        warm = api.submit({"stream.py": THROUGHPUT_SCRIPT}, script="stream.py", arguments=["10"], experiment="w")
        api.wait_terminal(warm["id"], timeout=600)
        api.close()
        if "throughput" in only:
            throughput(stack, section, n)
        if "latency" in only:
            latency(stack, section, 2.0 if args.quick else 5.0, 1000.0)
        if "fanout" in only:
            for compression in ("deflate", "off"):
                if args.fanout_compression in (compression, "both"):
                    fanout(stack, section, watchers, 1000.0, 5.0 if args.quick else 10.0, compression)
        if "components" in only:
            components(stack, section)
        if "ray" in only:
            versus_ray(stack, section, n, 2.0 if args.quick else 5.0, args.rounds or (2 if args.quick else 3))
    section.write()


if __name__ == "__main__":
    main()
