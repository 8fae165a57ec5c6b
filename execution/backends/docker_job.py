"""A docker run's containers, as the executor's ``Job``: state, logs, signals.

One ``Node`` per container. Each container's stdout and stderr are followed by two
threads (``container.logs(stream=True, follow=True)`` per stream: the compat API's
multiplexed stream cannot be demultiplexed while following), split into lines by the
line reader and routed to ranks by the node's router (``execution.lines``).

Logs are followed with engine timestamps so a restarted worker continues each stream
exactly where the stored log ends (``LogFollower``): Podman's compat API stamps entries
to the second only, so a position is (timestamp, how many entries carried it), and the
stored lines are counted in the database, because the position saved in
``backend_state`` (every few seconds) trails or leads what the log writer committed.

Container states are read with one inspect per container at most every
``REFRESH_SECONDS`` (the executor polls every 50 ms). A container whose role is
``helper`` (an MPI node running only the remote-launch agent) or ``ps`` (a
TensorFlow parameter server, which serves forever) does not decide the run's exit:
once every deciding container ended, the rest are stopped.
"""

from __future__ import annotations

import re
import threading
import time
from calendar import timegm
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import docker.errors

from compute.configs import DockerConfig
from execution.backends.base import Job, ProcessInfo, RunContext
from execution.lines import MPI_ROUTES, LineReader, RoutedStream, RouteKind, Router
from runs.causes import Cause, Ending, ending
from runs.logstore import SYSTEM_RANK, LineTest

REFRESH_SECONDS = 0.3
NOT_DECIDING = ("helper", "ps")
REST_GRACE_SECONDS = 3.0
# "<RFC 3339 time> " before every log entry: seconds only from Podman, nanoseconds from Docker.
STAMP = re.compile(rb"(\d{4})-(\d\d)-(\d\d)T(\d\d):(\d\d):(\d\d)(?:\.(\d{1,9}))?(Z|[+-]\d\d:\d\d) ")


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
    tag: str = ""  # prefix for lines no rank claims, when several containers write such lines
    readers: list[threading.Thread] = field(default_factory=list)
    followers: dict[str, LogFollower] = field(default_factory=dict)


def router_of(node: Node) -> Router:
    kind = RouteKind(node.router)
    # An agent's lines carry its container's name, so the nodes' agents are told apart.
    tag = f"[{node.name}] " if kind is RouteKind.AGENT else node.tag
    ranks = tuple(info.rank for info in node.ranks) or (0,)
    return Router(kind, node_rank=node.node_rank, per_node=node.per_node, ranks=ranks, tag=tag)


def line_sink(write: Callable[[int, str, str], None], node: Node, stream: str) -> RoutedStream:
    return router_of(node).stream(stream, write)


def sink_lines(node: Node, stream: str, siblings: str) -> LineTest:
    """The stored log lines ``node``'s router wrote for its ``stream`` (``siblings``:
    the name prefix every container of the run shares, whose agents tag their lines).
    Mirrors ``execution.lines.Router``: a change to what a router writes changes this."""
    router = router_of(node)
    if router.kind is RouteKind.TORCHRUN:
        ranks = frozenset(info.rank for info in node.ranks)
        tag = router.tag
        return lambda line: (
            line.stream == stream and (line.rank in ranks or (line.rank == SYSTEM_RANK and line.text.startswith(tag)))
        )
    if router.kind in MPI_ROUTES:
        agents = f"[{siblings}"
        return lambda line: (
            line.stream == stream
            and (line.rank >= 0 or (line.rank == SYSTEM_RANK and not line.text.startswith(agents)))
        )
    if router.kind is RouteKind.AGENT:
        tag = router.tag
        return lambda line: line.rank == SYSTEM_RANK and line.stream == stream and line.text.startswith(tag)
    rank = router.ranks[0]
    return lambda line: line.rank == rank and line.stream == stream


def stamp_key(stamp: str) -> tuple[int, int]:
    """(UTC seconds, nanoseconds) of an engine log timestamp, for ordering."""
    match = STAMP.match(stamp.encode() + b" ")
    if match is None:
        raise ValueError(f"not an engine log timestamp: {stamp!r}")
    year, month, day, hour, minute, second = (int(g) for g in match.groups()[:6])
    seconds = timegm((year, month, day, hour, minute, second, 0, 0, 0))
    zone = match.group(8).decode()
    if zone != "Z":
        offset = int(zone[1:3]) * 3600 + int(zone[4:6]) * 60
        seconds -= offset if zone[0] == "+" else -offset
    return seconds, int((match.group(7) or b"0").decode().ljust(9, "0"))


@dataclass(frozen=True)
class Position:
    """A line boundary in one container stream: the last entry's timestamp, how many
    entries up to it carried exactly that timestamp, and how many lines the sink wrote
    up to there (all counted from the container's start)."""

    stamp: str = ""
    same: int = 0
    lines: int = 0

    def as_state(self) -> list[Any]:
        return [self.stamp, self.same, self.lines]

    @classmethod
    def of_state(cls, saved: Any) -> Position:
        return cls(str(saved[0]), int(saved[1]), int(saved[2])) if saved else cls()


class LogFollower:
    """Streams one container stream into the run's log from ``start``; the first
    ``stored`` sink lines (counted from the container's start) are already in the log
    and are dropped."""

    def __init__(
        self, client: Any, write: Callable[[int, str, str], None], node: Node, stream: str, start: Position, stored: int
    ) -> None:
        self.client = client
        self.node = node
        self.stream = stream
        self.start = start
        self.stored = stored
        self._write = write
        self.lines = start.lines
        self.sink = line_sink(self.count, node, stream)
        self.reader = LineReader()  # holds the start of a line whose newline has not come yet
        self.position = start  # last clean line boundary: what a restarted worker resumes from
        self.stamp, self.same = "", 0  # the last consumed entry (see _read)

    def count(self, rank: int, stream: str, text: str) -> None:
        self.lines += 1
        if self.lines > self.stored:
            self._write(rank, stream, text)

    def _clean(self) -> bool:
        # Inside a line, or mpirun's interleaved ranks hold one for its newline: a line
        # held here would be lost on a resume from here.
        return not self.reader.held and not self.sink.holding

    def pump(self) -> None:
        try:
            self._read(follow=True, after=(self.start.stamp, self.start.same))
            if self.stamp:
                # Podman may end a follow when the container exits before it delivered the
                # last entries (seen under load: a line cut after its first write). A plain
                # read from the last consumed entry picks up whatever the follow missed.
                self._read(follow=False, after=(self.stamp, self.same))
        except (docker.errors.APIError, OSError, ValueError):
            pass  # the container was removed under us: nothing more to read
        for text in self.reader.flush():
            self.sink(text)
        self.sink.flush()
        if self.stamp:
            self.position = Position(self.stamp, self.same, self.lines)

    def _read(self, *, follow: bool, after: tuple[str, int]) -> None:
        """Consume the stream's entries that come after the ``after`` entry (its stamp, and
        how many entries before it in the same read carried that stamp)."""
        resume_at = stamp_key(after[0]) if after[0] else None
        # Both engines take whole seconds and include that second: every entry stamped
        # like the last consumed one comes again, and is counted off.
        since = {"since": resume_at[0]} if resume_at else {}
        stamp, same = "", 0
        entries = self.client.api.logs(
            self.node.name,
            stdout=self.stream == "stdout",
            stderr=self.stream == "stderr",
            stream=True,
            follow=follow,
            timestamps=True,
            **since,
        )
        for entry in entries:
            # One frame per log entry; an entry without a newline is part of a longer line.
            match = STAMP.match(entry)
            if match is None:
                body = entry
            else:
                body = entry[match.end() :]
                current = match.group(0)[:-1].decode()
                same = same + 1 if current == stamp else 1
                stamp = current
                if resume_at is not None:
                    key = stamp_key(stamp)
                    if key < resume_at or (key == resume_at and same <= after[1]):
                        continue
                    resume_at = None
                self.stamp, self.same = stamp, same
            for text in self.reader.feed(body):
                self.sink(text)
            if self.stamp and self._clean():
                self.position = Position(self.stamp, self.same, self.lines)


def follow_logs(
    client: Any, ctx: RunContext[DockerConfig], node: Node, resume: dict[str, tuple[Position, int]] | None = None
) -> None:
    """Start the two threads that stream ``node``'s stdout and stderr into the run's log
    (``resume``: per stream, where to continue and how many lines are stored already)."""
    for stream in ("stdout", "stderr"):
        start, stored = (resume or {}).get(stream, (Position(), 0))
        follower = node.followers[stream] = LogFollower(client, ctx.write_log, node, stream, start, stored)
        thread = threading.Thread(target=follower.pump, name=f"{node.name}-{stream}", daemon=True)
        thread.start()
        node.readers.append(thread)


class DockerJob(Job):
    def __init__(self, client: Any, ctx: RunContext[DockerConfig], nodes: list[Node], network: str) -> None:
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

    def memory_limit(self) -> int | None:
        return self.ctx.target.config.memory

    def end_cause(self) -> Ending | None:
        oom = [node.name for node in self.nodes if node.oom]
        if oom:
            return ending(
                Cause.OOM,
                "A container ran out of memory: the engine reports it OOMKilled.",
                oom_source="container",
                containers=oom,
            )
        gone = [node.name for node in self.nodes if node.status == "gone"]
        if gone:
            return ending(Cause.INFRASTRUCTURE, f"Container {', '.join(gone)} was removed before the run ended.")
        return None

    def end_reason(self) -> str | None:
        if any(node.oom for node in self.nodes):
            return "A container ran out of memory (OOMKilled)."
        gone = [node.name for node in self.nodes if node.status == "gone"]
        if gone:
            return f"Container {', '.join(gone)} was removed before the run ended."
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
            "roles": {
                node.name: [node.role, node.router, node.node_rank, node.per_node, node.tag] for node in self.nodes
            },
            "ranks": {node.name: [[i.rank, i.local_rank, i.role] for i in node.ranks] for node in self.nodes},
            "logs": {
                node.name: {stream: f.position.as_state() for stream, f in node.followers.items()}
                for node in self.nodes
            },
            "saved_at": int(time.time()),
        }
