"""System metrics of a running run, sampled by the worker that supervises its ranks.

Every ``SYSTEM_METRICS_SECONDS`` (0: off) the watch loop calls ``Sampler.maybe_sample``:
for each rank whose process is visible on this host (local ranks, local containers'
init processes; not Slurm ranks on other nodes) it walks the process tree with psutil
and sums CPU (percent of one core, from CPU-time deltas per pid), resident memory and
disk I/O (MB/s, from per-pid byte deltas); network is read once per run from rank 0's
network namespace (``/proc/<pid>/net/dev``: the host's own counters when the sandbox
shares the host network). GPUs come from ``nvidia-smi`` when it is on the PATH; when it
is absent or fails, GPU sampling stops for the run without a word in its log.

Points go through ``runs.metricstore`` like a script's, named ``system/...``, so they are
stored, streamed to watchers and charted on the run page's System tab. A sample costs a
few milliseconds (bench/bench_sysmetrics.py), far under 1% of a core at 10 s.
"""

from __future__ import annotations

import logging
import shutil
import socket
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil
from django.utils import timezone

from execution.backends.base import ProcessInfo

log = logging.getLogger(__name__)

MB = 1024 * 1024
PREFIX = "system/"
GPU_QUERY = ["--query-gpu=index,utilization.gpu,memory.used,memory.total", "--format=csv,noheader,nounits"]


@dataclass(slots=True)
class _PidCounters:
    cpu: float  # user + system seconds
    read: int
    write: int


@dataclass(slots=True)
class RankSample:
    rank: int
    cpu_percent: float | None  # None on the first sample (no interval yet)
    memory_mb: float
    disk_read_mbps: float | None
    disk_write_mbps: float | None
    processes: int


@dataclass(slots=True)
class GpuSample:
    index: int
    utilization_percent: float
    memory_used_mb: float
    memory_total_mb: float


def _tree(pid: int) -> list[psutil.Process]:
    try:
        root = psutil.Process(pid)
        return [root, *root.children(recursive=True)]
    except (psutil.NoSuchProcess, psutil.AccessDenied):
        return []


def _net_bytes(pid: int) -> tuple[int, int] | None:
    """(received, sent) bytes of every interface but loopback in ``pid``'s network namespace."""
    try:
        lines = Path(f"/proc/{pid}/net/dev").read_text().splitlines()[2:]
    except OSError:
        return None
    received = sent = 0
    for line in lines:
        name, _, data = line.partition(":")
        if name.strip() == "lo":
            continue
        fields = data.split()
        if len(fields) >= 9:
            received += int(fields[0])
            sent += int(fields[8])
    return received, sent


def gpu_samples(binary: str) -> list[GpuSample]:
    out = subprocess.run([binary, *GPU_QUERY], capture_output=True, text=True, timeout=5, check=True).stdout
    samples = []
    for line in out.strip().splitlines():
        index, util, used, total = (part.strip() for part in line.split(","))
        samples.append(GpuSample(int(index), float(util), float(used), float(total)))
    return samples


@dataclass
class Sampler:
    run_id: int
    interval: float
    _last_at: float | None = None
    _next_at: float = 0.0
    _pids: dict[int, _PidCounters] = field(default_factory=dict)
    _net: tuple[int, int] | None = None
    _gpu: str | None = field(default_factory=lambda: shutil.which("nvidia-smi"))
    _step: int = 0
    _host: str = field(default_factory=socket.gethostname)

    @property
    def enabled(self) -> bool:
        return self.interval > 0

    def start(self, processes: list[ProcessInfo]) -> None:
        """A silent baseline walk as the ranks start, so the first sample has CPU deltas;
        that first sample comes soon (short runs get one too), then every interval."""
        if not self.enabled:
            return
        self._next_at = time.monotonic() + min(self.interval, 2.0)
        try:
            self.sample_ranks(self.local(processes))
        except Exception:
            log.warning("system metrics of run %s failed", self.run_id, exc_info=True)

    def maybe_sample(self, processes: Callable[[], list[ProcessInfo]]) -> None:
        """Sample when one is due; ``processes`` is only called then (it walks /proc)."""
        if not self.enabled or time.monotonic() < self._next_at:
            return
        self._next_at = time.monotonic() + self.interval
        try:
            self.store(self.points(processes()))
        except Exception:  # sampling must never break the supervision of a run
            log.warning("system metrics of run %s failed", self.run_id, exc_info=True)

    def local(self, processes: list[ProcessInfo]) -> list[ProcessInfo]:
        return [p for p in processes if p.pid and p.host in ("", self._host, "localhost") and psutil.pid_exists(p.pid)]

    def sample_ranks(self, processes: list[ProcessInfo]) -> tuple[list[RankSample], float | None]:
        now = time.monotonic()
        elapsed = None if self._last_at is None else max(now - self._last_at, 1e-6)
        self._last_at = now
        seen: dict[int, _PidCounters] = {}
        samples = []
        for info in processes:
            cpu = memory = 0.0
            read_rate = write_rate = 0.0
            had_io = any_known = False
            tree = _tree(info.pid or 0)
            for proc in tree:
                try:
                    with proc.oneshot():
                        times = proc.cpu_times()
                        memory += proc.memory_info().rss
                        try:
                            io = proc.io_counters()
                            read, write = io.read_bytes, io.write_bytes
                            had_io = True
                        except (psutil.AccessDenied, AttributeError):
                            read = write = 0
                except (psutil.NoSuchProcess, psutil.AccessDenied):
                    continue
                counters = _PidCounters(times.user + times.system, read, write)
                seen[proc.pid] = counters
                before = self._pids.get(proc.pid)
                if before is None:
                    continue  # new since the last sample: its deltas start now
                any_known = True
                cpu += max(0.0, counters.cpu - before.cpu)
                read_rate += max(0, counters.read - before.read)
                write_rate += max(0, counters.write - before.write)
            if not tree:
                continue
            known = elapsed is not None and any_known
            samples.append(
                RankSample(
                    rank=info.rank,
                    cpu_percent=100.0 * cpu / elapsed if known and elapsed else None,
                    memory_mb=memory / MB,
                    disk_read_mbps=read_rate / MB / elapsed if known and elapsed and had_io else None,
                    disk_write_mbps=write_rate / MB / elapsed if known and elapsed and had_io else None,
                    processes=len(tree),
                )
            )
        self._pids = seen
        return samples, elapsed

    def points(self, processes: list[ProcessInfo]) -> list[dict[str, Any]]:
        local = self.local(processes)
        ranks, elapsed = self.sample_ranks(local)
        at = timezone.now()
        step = self._step
        self._step += 1
        points: list[dict[str, Any]] = []

        def add(name: str, value: float | None) -> None:
            if value is not None:
                points.append(
                    {"name": PREFIX + name, "kind": "scalar", "value": round(value, 3), "step": step, "time": at}
                )

        for r in ranks:
            add(f"rank{r.rank}/cpu_percent", r.cpu_percent)
            add(f"rank{r.rank}/memory_mb", r.memory_mb)
            add(f"rank{r.rank}/disk_read_mbps", r.disk_read_mbps)
            add(f"rank{r.rank}/disk_write_mbps", r.disk_write_mbps)
        first = next((p for p in local if p.rank == 0), local[0] if local else None)
        net = _net_bytes(first.pid) if first and first.pid else None
        if net and self._net and elapsed:
            add("network_recv_mbps", max(0, net[0] - self._net[0]) / MB / elapsed)
            add("network_sent_mbps", max(0, net[1] - self._net[1]) / MB / elapsed)
        self._net = net
        if self._gpu:
            try:
                for gpu in gpu_samples(self._gpu):
                    add(f"gpu{gpu.index}/utilization_percent", gpu.utilization_percent)
                    add(f"gpu{gpu.index}/memory_used_mb", gpu.memory_used_mb)
            except (OSError, subprocess.SubprocessError, ValueError):
                self._gpu = None  # no driver, no GPU, or output we cannot read: stop asking
        return points

    def store(self, points: list[dict[str, Any]]) -> None:
        if not points:
            return
        from runs import metricstore
        from runs.models import Run

        run = Run.objects.only("pk").get(pk=self.run_id)
        metricstore.store(run, points)
