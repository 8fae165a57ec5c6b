"""A docker run's containers, as the executor's ``Job``: state, logs, signals.

One ``Node`` per container. Each container's stdout and stderr are followed by two
threads (``container.logs(stream=True, follow=True)`` per stream: the compat API's
multiplexed stream cannot be demultiplexed while following), split into lines and
routed to ranks: torchrun's ``[N]:`` prefixes and mpirun's ``[job,rank]<stream>:``
tags go through ``runs.launch``; a plain container's lines belong to its one rank.

Container states are read with one inspect per container at most every
``REFRESH_SECONDS`` (the executor polls every 50 ms). A container whose role is
``helper`` (an MPI node running only the remote-launch agent) or ``ps`` (a
TensorFlow parameter server, which serves forever) does not decide the run's exit:
once every deciding container ended, the rest are stopped.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import docker.errors

from compute.backends.base import Job, ProcessInfo, RunContext
from runs import launch
from runs.logstore import SYSTEM_RANK

REFRESH_SECONDS = 0.3
NOT_DECIDING = ("helper", "ps")
REST_GRACE_SECONDS = 3.0


@dataclass
class Node:
    name: str
    role: str  # worker | ps | launcher (mpirun) | helper (MPI agent only)
    router: str  # plain | torchrun | mpi | none
    ranks: list[ProcessInfo]
    node_rank: int = 0
    per_node: int = 1
    status: str = "created"
    exit_code: int | None = None
    oom: bool = False
    pid: int | None = None
    readers: list[threading.Thread] = field(default_factory=list)


def line_sink(ctx: RunContext, node: Node, stream: str) -> Callable[[str], None]:
    write = ctx.write_log
    if node.router == "torchrun":

        def torch_sink(text: str) -> None:
            parsed = launch.split_torchrun_line(text, node.node_rank, node.per_node)
            write(*(parsed[0], stream, parsed[1]) if parsed else (SYSTEM_RANK, stream, text))

        return torch_sink
    if node.router == "mpi":
        return launch.MpiLines(write, SYSTEM_RANK, stream)
    if node.router == "none":
        return lambda text: write(SYSTEM_RANK, stream, f"[{node.name}] {text}")
    rank = node.ranks[0].rank if node.ranks else 0
    return lambda text: write(rank, stream, text)


def follow_logs(client: Any, ctx: RunContext, node: Node, since: int | None = None) -> None:
    """Start the two threads that stream ``node``'s stdout and stderr into the run's log."""
    for stream in ("stdout", "stderr"):
        sink = line_sink(ctx, node, stream)

        def pump(stream: str = stream, sink: Callable[[str], None] = sink) -> None:
            pending = b""
            try:
                chunks = client.api.logs(
                    node.name,
                    stdout=stream == "stdout",
                    stderr=stream == "stderr",
                    stream=True,
                    follow=True,
                    **({"since": since} if since else {}),
                )
                for chunk in chunks:
                    pending += chunk
                    *complete, pending = pending.split(b"\n")
                    for raw in complete:
                        sink(raw.decode("utf-8", errors="replace").rstrip("\r"))
            except (docker.errors.APIError, OSError, ValueError):
                pass  # the container was removed under us: nothing more to read
            if pending:
                sink(pending.decode("utf-8", errors="replace").rstrip("\r"))
            if isinstance(sink, launch.MpiLines):
                sink.flush()

        thread = threading.Thread(target=pump, name=f"{node.name}-{stream}", daemon=True)
        thread.start()
        node.readers.append(thread)


class DockerJob(Job):
    def __init__(self, client: Any, ctx: RunContext, nodes: list[Node], network: str) -> None:
        self.client = client
        self.ctx = ctx
        self.nodes = nodes
        self.network = network
        self.refreshed = 0.0
        self.stopped_rest = False
        self.deciding_ended_at = 0.0

    def refresh(self, force: bool = False) -> None:
        if not force and time.monotonic() - self.refreshed < REFRESH_SECONDS:
            return
        self.refreshed = time.monotonic()
        for node in self.nodes:
            if node.status in ("exited", "gone"):
                continue
            try:
                state = self.client.api.inspect_container(node.name)["State"]
            except docker.errors.NotFound:
                node.status = "gone"
                node.exit_code = 137 if node.exit_code is None else node.exit_code
                continue
            node.status = str(state.get("Status", "")).lower()
            node.pid = int(state.get("Pid") or 0) or node.pid
            node.oom = bool(state.get("OOMKilled"))
            if node.status in ("exited", "stopped", "dead"):
                node.status = "exited"
                node.exit_code = int(state.get("ExitCode", 1))

    def processes(self) -> list[ProcessInfo]:
        self.refresh()
        out = []
        for node in self.nodes:
            for info in node.ranks:
                info.pid = info.pid or node.pid
                if node.exit_code is not None:
                    info.exit_code = node.exit_code  # a launcher's code stands for each of its ranks
                out.append(info)
        return out

    def all_started(self) -> bool:
        self.refresh()
        return all(node.status != "created" for node in self.nodes)

    def poll(self) -> int | None:
        self.refresh(force=False)
        deciding = [node for node in self.nodes if node.role not in NOT_DECIDING]
        if any(node.exit_code is None for node in deciding):
            return None
        rest = [node for node in self.nodes if node.role in NOT_DECIDING and node.exit_code is None]
        if rest and not self.stopped_rest:
            # Every deciding container ended: agents and parameter servers get a moment
            # to end on their own (a short-lived one may still be printing), then stop.
            self.deciding_ended_at = self.deciding_ended_at or time.monotonic()
            if time.monotonic() - self.deciding_ended_at < REST_GRACE_SECONDS:
                return None
            self.stopped_rest = True
            for node in self.nodes:
                if node.role in NOT_DECIDING and node.exit_code is None:
                    self._stop(node)
        failing = [node.exit_code for node in deciding if node.exit_code]
        return failing[0] if failing else 0

    def _stop(self, node: Node) -> None:
        try:
            self.client.api.stop(node.name, timeout=3)
        except docker.errors.APIError:
            pass

    def end_reason(self) -> str | None:
        if any(node.oom for node in self.nodes):
            return "A container ran out of memory (OOMKilled)."
        return None

    def signal_all(self, sig: int) -> None:
        for node in self.nodes:
            if node.status in ("exited", "gone"):
                continue
            try:
                self.client.api.kill(node.name, signal=int(sig))
            except docker.errors.APIError:
                pass  # already gone
        self.refreshed = 0.0

    def alive(self) -> bool:
        self.refresh(force=True)
        return any(node.status not in ("exited", "gone", "created") for node in self.nodes)

    def close(self) -> None:
        for node in self.nodes:
            for reader in node.readers:
                reader.join(timeout=30)

    def state(self) -> dict[str, Any]:
        return {
            "run_id": self.ctx.run_id,
            "containers": [node.name for node in self.nodes],
            "network": self.network,
            "roles": {node.name: [node.role, node.router, node.node_rank, node.per_node] for node in self.nodes},
            "ranks": {node.name: [[i.rank, i.local_rank, i.role] for i in node.ranks] for node in self.nodes},
            "saved_at": int(time.time()),
        }
