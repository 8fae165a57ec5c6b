"""The ``local`` compute kind: ranks are processes on the worker's own host.

Each launcher (the script itself, torchrun, mpirun, or one process per TensorFlow
task) starts in its own session, so its process group holds its ranks; rank pids are
found under it through /proc. Environments are virtualenvs built by uv.

Every launcher runs inside a bubblewrap sandbox (``execution.sandbox``) unless that is
explicitly off. A one-process run is launched into a *hold* when this worker process has
one ready (``execution.backends.held``: the same sandbox and interpreter started ahead,
waiting on a pipe), else started cold; after each run the hold is started again.

The host's /proc still shows the sandboxed processes under the ``bwrap`` process (with
their host pids), so discovery and signals work the same; the sandbox's own two processes
are skipped when looking for ranks and spared SIGTERM.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from common.pdeathsig import die_with_parent
from compute.configs import LocalConfig
from environments.builder import ensure_venv
from environments.conda import build_notes
from execution import sandbox, slots
from execution.backends import held, memcg
from execution.backends.base import Backend, Job, PreparedVenv, ProcessInfo, RunContext, Target
from execution.backends.procs import OutputPump, cmdline, descendants, environ, exists, signal_tree
from execution.lines import RoutedStream, RouteKind, Router
from execution.plan import Entry, Mpirun, Network, Placement, find_mpirun, plan
from runs.causes import Cause, Ending, ending
from runs.distributed import Kind


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class _Launcher:
    def __init__(
        self, proc: subprocess.Popen[bytes], ranks: list[ProcessInfo], role: str, expected: int, sandboxed: bool
    ) -> None:
        self.proc = proc
        self.ranks = ranks
        self.role = role
        self.expected = expected  # rank processes it spawns itself (0: it is the rank)
        self.sandboxed = sandboxed  # proc is bubblewrap; the launcher command runs under it
        self.pumps: list[OutputPump] = []
        self.memory: memcg.MemoryGroup | None = None
        self.hold: held.Hold | None = None  # launched into a hold: its slots to release
        self._command: int | None = None if sandboxed else proc.pid

    def command_pid(self) -> int | None:
        """The launcher command's own pid (None while the sandbox is still starting it)."""
        if self._command is None:
            inner = (pid for pid in descendants(self.proc.pid) if not sandbox.is_wrapper(cmdline(pid)))
            self._command = next(inner, None)
        return self._command


class LocalJob(Job):
    def __init__(self, ctx: RunContext[LocalConfig], launchers: list[_Launcher]) -> None:
        self.ctx = ctx
        self.launchers = launchers
        self.seen: set[int] = set()
        self.oom_kills = 0  # counted from the launchers' memory cgroups at close

    def _script_marker(self) -> str:
        return self.ctx.entrypoint[0] if self.ctx.entrypoint else ""

    def _rank_pids(self, launcher: _Launcher) -> list[int]:
        marker = self._script_marker()
        root = launcher.command_pid()
        if root is None:
            return []
        pids = []
        for pid in descendants(root):
            args = cmdline(pid)
            if marker and marker in args and "torch.distributed.run" not in args:
                pids.append(pid)
        return pids

    def processes(self) -> list[ProcessInfo]:
        for launcher in self.launchers:
            code = launcher.proc.returncode
            if code is not None:
                # A launcher's exit code stands for each of its ranks (torchrun and
                # mpirun fail as a whole when any rank fails).
                for info in launcher.ranks:
                    info.exit_code = code
            if launcher.expected:
                pids = sorted(self._rank_pids(launcher))
                for info, pid in zip(launcher.ranks, pids, strict=False):
                    info.pid = info.pid or pid
            elif launcher.sandboxed:
                for info in launcher.ranks:
                    info.pid = info.pid or launcher.command_pid()
        return [info for launcher in self.launchers for info in launcher.ranks]

    def all_started(self) -> bool:
        for launcher in self.launchers:
            if launcher.proc.poll() is not None:
                continue
            if launcher.expected and len(self._rank_pids(launcher)) < launcher.expected:
                return False
            if launcher.sandboxed and launcher.command_pid() is None:
                return False
        return True

    def poll(self) -> int | None:
        workers = [launcher for launcher in self.launchers if launcher.role != "ps"]
        codes = [launcher.proc.poll() for launcher in workers]
        if any(code is None for code in codes):
            return None
        # Workers are done: parameter servers serve forever by design, so stop them.
        for launcher in self.launchers:
            if launcher.role == "ps" and launcher.proc.poll() is None:
                _signal([launcher.proc.pid, *descendants(launcher.proc.pid)], signal.SIGTERM)
                try:
                    launcher.proc.wait(timeout=5)
                except subprocess.TimeoutExpired:
                    signal_tree([launcher.proc.pid], 9)
                    launcher.proc.wait()
        failing = [code for code in codes if code]
        return (failing[0] if failing else 0) if codes else 0

    def _all_pids(self) -> list[int]:
        pids = []
        for launcher in self.launchers:
            pids.append(launcher.proc.pid)
            pids.extend(descendants(launcher.proc.pid))
        self.seen.update(pids)
        return pids

    def signal_all(self, sig: int) -> None:
        _signal(self._all_pids() + list(self.seen), sig)

    def alive(self) -> bool:
        for launcher in self.launchers:
            launcher.proc.poll()  # reap
        self._all_pids()
        return any(exists(pid) for pid in self.seen)

    def close(self) -> None:
        for launcher in self.launchers:
            for pump in launcher.pumps:
                pump.join(timeout=30)
        for launcher in self.launchers:
            if launcher.hold is not None:
                launcher.hold.release()
            if launcher.memory is not None:
                self.oom_kills += launcher.memory.oom_kills()
                launcher.memory.remove()
                launcher.memory = None

    def memory_limit(self) -> int | None:
        return self.ctx.target.config.memory

    def end_cause(self) -> Ending | None:
        if not self.oom_kills:
            return None
        limit = self.ctx.target.config.memory
        return ending(
            Cause.OOM,
            f"The kernel OOM killer ended {self.oom_kills} process(es) at the run's memory limit of {limit} bytes.",
            oom_source="cgroup",
            oom_kills=self.oom_kills,
            memory_limit=limit,
            signal="SIGKILL",
        )

    def state(self) -> dict[str, Any]:
        self._all_pids()
        pids = sorted(self.seen | {launcher.proc.pid for launcher in self.launchers})
        state: dict[str, Any] = {"run_id": self.ctx.run_id, "pids": pids}
        holds = [launcher.hold.nonce for launcher in self.launchers if launcher.hold is not None]
        if holds:
            state["holds"] = holds  # a hold's processes carry its nonce, not the run id
        return state


def _preexec(sandboxed: bool, memory: memcg.MemoryGroup | None) -> Callable[[], None] | None:
    if memory is None:
        return None if sandboxed else die_with_parent

    def prepare() -> None:
        memory.enter()
        if not sandboxed:
            die_with_parent()

    return prepare


def _signal(pids: list[int], sig: int) -> None:
    if sig != signal.SIGKILL:
        # bwrap dies of SIGTERM at once, and its death SIGKILLs the sandbox: the ranks
        # would lose their grace. It exits by itself once they have.
        pids = [pid for pid in pids if not sandbox.is_wrapper(cmdline(pid))]
    signal_tree(pids, sig)


class LocalBackend(Backend[LocalConfig, PreparedVenv]):
    kind = "local"

    def preflight(self, ctx: RunContext[LocalConfig]) -> None:
        sandbox.require()  # refused before a build, not after

    def prepare_environment(self, ctx: RunContext[LocalConfig]) -> PreparedVenv:
        built = ensure_venv(
            ctx.env_version, self.env_root(ctx.target.config), log=ctx.system_log, canceled=ctx.canceled, row=ctx.build
        )
        if built.cache_hit:
            ctx.system_log(f"Using cached environment {ctx.env_version} ({built.path.name[:12]}).")
            for line in build_notes(ctx.env_version.spec, run=True):
                ctx.system_log(line)
        return PreparedVenv(built.build.pk, built.cache_hit, built.path)

    def _env(
        self, ctx: RunContext[LocalConfig], prepared: PreparedVenv, extra: dict[str, str] | None = None
    ) -> dict[str, str]:
        venv_bin = str(prepared.venv / "bin")
        env = dict(ctx.env)
        env["PATH"] = venv_bin + os.pathsep + env.get("PATH", os.defpath)
        env["VIRTUAL_ENV"] = str(prepared.venv)
        env.update(extra or {})
        return env

    def _spawn(
        self,
        ctx: RunContext[LocalConfig],
        cmd: list[str],
        env: dict[str, str],
        ranks: list[ProcessInfo],
        role: str,
        expected: int,
        router: str,
    ) -> _Launcher:
        sandboxed = sandbox.require()
        if sandboxed:
            spec = sandbox.spec_for(
                ctx.workdir,
                env_dir=Path(env["VIRTUAL_ENV"]),
                sdk_dir=self.sdk_dir(ctx.target.config),
                mounts=[(source, Path(path)) for source, path, _ in ctx.mounts],
                writable=[ctx.checkpoint_dir] if ctx.checkpoint_dir else [],
            )
            sandbox.hand_over(ctx.workdir, spec)
            if ctx.checkpoint_dir is not None:
                sandbox.hand_over(ctx.checkpoint_dir, spec)
            cmd = sandbox.wrap(cmd, spec)
        memory = None
        if ctx.target.config.memory:
            memory = memcg.create(ctx.run_id, f"{role}{ranks[0].rank if ranks else 0}", ctx.target.config.memory)
            ctx.system_log(f"Memory limit: {ctx.target.config.memory} bytes ({memory.mode}).")
        proc = subprocess.Popen(
            cmd,
            cwd=ctx.workdir,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            start_new_session=True,
            # Sandboxed: bubblewrap's --die-with-parent does it.
            preexec_fn=_preexec(sandboxed, memory),
        )
        for info in ranks:
            if not expected and not sandboxed:
                info.pid = proc.pid
            info.host = socket.gethostname()
        launcher = _Launcher(proc, ranks, role, expected, sandboxed)
        launcher.memory = memory
        self._pump(ctx, launcher, router, ranks, role)
        return launcher

    def _pump(
        self, ctx: RunContext[LocalConfig], launcher: _Launcher, router: str, ranks: list[ProcessInfo], role: str
    ) -> None:
        proc = launcher.proc
        assert proc.stdout is not None and proc.stderr is not None
        for stream, pipe in (("stdout", proc.stdout), ("stderr", proc.stderr)):
            sink = self._sink(ctx, router, ranks[0].rank if ranks else 0, stream, ranks)
            pump = OutputPump(pipe, sink, f"run{ctx.run_id}-{role}{ranks[0].rank if ranks else 0}-{stream}")
            pump.start()
            launcher.pumps.append(pump)

    def _sink(
        self, ctx: RunContext[LocalConfig], router: str, rank: int, stream: str, ranks: list[ProcessInfo]
    ) -> RoutedStream:
        numbers = tuple(info.rank for info in ranks) or (rank,)
        route = Router(RouteKind(router), node_rank=0, per_node=len(ranks) or 1, ranks=numbers)
        return route.stream(stream, ctx.write_log, ctx.write_logs)

    def start(self, ctx: RunContext[LocalConfig], prepared: PreparedVenv) -> Job:
        python = str(prepared.python)
        env = self._env(ctx, prepared)
        exports = sorted(k for k in env if k.startswith(("RUNYARD_", "PYTHON")) or k in ctx.env)
        mpirun = Mpirun()
        if ctx.shape.kind is Kind.MPI:
            mpirun = find_mpirun(prepared.venv, env["PATH"], str(ctx.env_version))
            ctx.system_log(f"MPI: {mpirun.path}")
        placement = Placement(
            Network.LOOPBACK, python, ctx.run_id, free_port=free_port, mpi_exports=tuple(exports), mpirun=mpirun
        )
        launchers = []
        nodes = plan(ctx.shape, Entry(tuple(ctx.entrypoint), ctx.is_command), placement)
        for node in nodes:
            ranks = [ProcessInfo.of(rank) for rank in node.ranks]
            env = self._env(ctx, prepared, dict(node.env))
            launcher = None
            if len(nodes) == 1 and not node.spawns and self._holdable(ctx):
                launcher = self._launch_held(ctx, prepared, list(node.command), env, ranks, node.role, node.router)
            if launcher is None:
                launcher = self._spawn(ctx, list(node.command), env, ranks, node.role, node.spawns, node.router)
            launchers.append(launcher)
        return LocalJob(ctx, launchers)

    # ---- held launches (execution.backends.held) -----------------------------------
    def _holdable(self, ctx: RunContext[LocalConfig]) -> bool:
        """A plain one-process script whose directories a slot can take."""
        from django.conf import settings

        if settings.RUNYARD["HELD_LAUNCH"] != "on" or ctx.is_command or ctx.shape.kind is not Kind.SINGLE:
            return False
        if not sandbox.require():
            return True
        if ctx.checkpoint_dir is None or not slots.available():
            return False
        parents = (ctx.workdir.parent, ctx.checkpoint_dir.parent)
        if parents[0] == parents[1] or any(sandbox.under(a, b) for a in parents for b in parents if a != b):
            return False
        # Inputs must be mounts inside the run dir (the attached clone carries them); a link
        # would point at a stored path the sandbox does not show.
        return all(sandbox.under(Path(at), ctx.workdir) and not Path(at).is_symlink() for _, at, _ in ctx.mounts)

    def _request(self, ctx: RunContext[LocalConfig], prepared: PreparedVenv, env: dict[str, str]) -> held.Request:
        from django.conf import settings

        spec = None
        parents: tuple[Path, ...] = ()
        if sandbox.require():
            spec = sandbox.spec_for(Path("/"), env_dir=prepared.venv, sdk_dir=self.sdk_dir(ctx.target.config))
            assert ctx.checkpoint_dir is not None  # _holdable
            parents = (ctx.workdir.parent, ctx.checkpoint_dir.parent)
        preload = tuple(settings.RUNYARD["HELD_PRELOAD"])
        return held.Request.of(str(prepared.python), env, spec, parents, ctx.target.config.memory, preload)

    def _launch_held(
        self,
        ctx: RunContext[LocalConfig],
        prepared: PreparedVenv,
        cmd: list[str],
        env: dict[str, str],
        ranks: list[ProcessInfo],
        role: str,
        router: str,
    ) -> _Launcher | None:
        """Launch into this process's ready hold for the run's request (None: there is
        none, start cold; one is started for the next run either way)."""
        request = self._request(ctx, prepared, env)
        own = {k: v for k, v in env.items() if held.run_own(k)}
        hold = held.POOL.take(request)
        if hold is None:
            return None
        if not hold.fits(cmd, own):
            hold.drop()
            return None
        sandboxed = request.spec is not None
        dirs: list[Path] = []
        if request.spec is not None:
            assert ctx.checkpoint_dir is not None
            sandbox.hand_over(ctx.workdir, request.spec)
            sandbox.hand_over(ctx.checkpoint_dir, request.spec)
            dirs = [ctx.workdir, ctx.checkpoint_dir]
        try:
            hold.launch(cmd, own, ctx.workdir, dirs)
        except OSError as exc:
            ctx.system_log(f"The held launch failed ({exc}): starting the run cold.")
            hold.drop()
            return None
        if hold.memory is not None:
            ctx.system_log(f"Memory limit: {hold.memory.limit} bytes ({hold.memory.mode}).")
        for info in ranks:
            if not sandboxed:
                info.pid = hold.proc.pid
            info.host = socket.gethostname()
        launcher = _Launcher(hold.proc, ranks, role, 0, sandboxed)
        launcher.memory, launcher.hold = hold.memory, hold
        self._pump(ctx, launcher, router, ranks, role)
        return launcher

    def prepare_next(self) -> None:
        """Start the holds the next runs will want: once this run's launch is recorded,
        so the next one is ready while this one runs, and again after it ended."""
        held.POOL.refill(_preexec)

    def reap_orphans(self, state: dict[str, Any], target: Target[LocalConfig], active: bool) -> None:
        # A pid may have been reused since: only processes carrying this run's id count.
        run_id = str(state.get("run_id"))
        pids = [int(p) for p in state.get("pids", [])]
        holds = {str(h) for h in state.get("holds", [])}

        def ours(pid: int) -> bool:
            env = environ(pid)
            return env.get("RUNYARD_RUN_ID") == run_id or env.get(held.HOLD_VARIABLE, "") in holds

        alive = [p for p in pids if exists(p) and ours(p)]
        if alive:
            signal_tree(alive, 15)
            deadline = time.monotonic() + 5
            while time.monotonic() < deadline and any(exists(p) for p in alive):
                time.sleep(0.1)
            signal_tree([p for p in alive if exists(p)], 9)
