"""The ``slurm`` compute kind: the worker runs on a login host and drives an existing
Slurm cluster through its standard commands (sbatch, squeue, scontrol, scancel).

Environments are virtualenvs built once per content hash inside the target's
``shared_dir`` (visible to every node), as are run directories and the SDK copy.
Job states are read with one ``squeue`` call for all of a target's jobs at a time
(``slurm_poll``); per-rank output files are followed while the job runs.
"""

from __future__ import annotations

import os
import random
import subprocess
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from compute.configs import SlurmConfig
from environments.builder import ensure_venv
from environments.conda import build_notes
from execution.backends import slurm_poll
from execution.backends.base import Backend, Job, PreparedVenv, ProcessInfo, RunContext, Target
from execution.backends.filetail import FileTail
from execution.backends.slurm_script import sbatch_options, script
from execution.lines import SYSTEM_RANK, RoutedStream, RouteKind, Router
from execution.plan import Entry, Network, NodePlan, Placement, placed, plan
from runs.causes import SLURM_CAUSES, Cause, Ending, ending
from runs.distributed import Shape

TASK_HELPER = Path(__file__).with_name("slurm_task.py")
END_REASONS = {
    "TIMEOUT": "Slurm stopped the job at its time limit (TIMEOUT).",
    "NODE_FAIL": "A node of the allocation failed (NODE_FAIL).",
    "OUT_OF_MEMORY": "The job ran out of memory (OUT_OF_MEMORY).",
    "CANCELLED": "The job was canceled in Slurm (CANCELLED).",
    "PREEMPTED": "The job was preempted by Slurm (PREEMPTED).",
    "BOOT_FAIL": "Slurm could not boot the allocation's nodes (BOOT_FAIL).",
    "DEADLINE": "The job missed its deadline (DEADLINE).",
}


class SlurmError(RuntimeError):
    pass


def command_env(config: SlurmConfig, base: Mapping[str, str] | None = None) -> dict[str, str]:
    """``base`` (default: the worker's environment) for a Slurm command: without an
    enclosing allocation's variables, which would leak into ours, and with SLURM_CONF."""
    env = {
        k: v
        for k, v in (os.environ if base is None else base).items()
        if not k.startswith(("SLURM_", "SBATCH_", "SRUN_"))
    }
    if config.slurm_conf:
        env["SLURM_CONF"] = str(config.slurm_conf)
    return env


class SlurmJob(Job):
    def __init__(
        self,
        ctx: RunContext[SlurmConfig],
        job_id: int,
        logdir: Path,
        nodes: list[NodePlan],
        saved: dict[str, Any] | None = None,
    ) -> None:
        self.ctx = ctx
        self.job_id = job_id
        self.logdir = logdir
        self.nodes = nodes
        self.by_name = {node.name: node for node in nodes}  # srun task files: rank-3.out, node-1.err
        self.config = ctx.target.config
        self.target_id = ctx.target.id
        self.info: dict[str, str] = {}
        self.final_state = ""
        self.routes: dict[str, RoutedStream] = {}  # per log file
        self.torchruns = sum(node.router is RouteKind.TORCHRUN for node in nodes)
        resume = saved is not None
        self.tail = FileTail(
            logdir,
            "*-*.[oe][ur][tr]",
            self._line,
            (saved or {}).get("offsets"),
            lines=(saved or {}).get("lines"),
            stored=self._stored if resume else None,
        )
        self.tail.start()

    def _router(self, name: str) -> Router:
        # node-K.out/err: torchrun on node K (its ranks' lines prefixed); rank-N.*: rank N.
        node = self.by_name.get(name.split(".")[0])
        if node is None or not node.ranks:
            return Router(RouteKind.AGENT)  # a file no planned node writes: system rank
        if node.router is RouteKind.TORCHRUN:
            # torchrun's own lines name no rank: tagged per node when several write them,
            # so each node's are told apart (and counted apart on a resume).
            tag = f"[{node.name}] " if self.torchruns > 1 else ""
            return Router(RouteKind.TORCHRUN, node_rank=node.node_rank, per_node=len(node.ranks), tag=tag)
        return Router(RouteKind.PLAIN, ranks=(node.ranks[0].rank,))

    def _stored(self, name: str) -> int:
        """How many lines of log file ``name`` the run's log already holds."""
        router = self._router(name)
        stream = "stderr" if name.endswith(".err") else "stdout"
        if router.kind is RouteKind.TORCHRUN:
            ranks = frozenset(r.rank for r in self.by_name[name.split(".")[0]].ranks)
            tag = router.tag
            return self.ctx.stored_lines(
                lambda line: (
                    line.stream == stream
                    and (line.rank in ranks or (line.rank == SYSTEM_RANK and line.text.startswith(tag)))
                )
            )
        if router.kind is RouteKind.AGENT:
            return self.ctx.stored_lines(lambda line: line.rank == SYSTEM_RANK and line.stream == stream)
        rank = router.ranks[0]
        return self.ctx.stored_lines(lambda line: line.rank == rank and line.stream == stream)

    def _line(self, name: str, text: str) -> None:
        route = self.routes.get(name)
        if route is None:
            stream = "stderr" if name.endswith(".err") else "stdout"
            route = self.routes[name] = self._router(name).stream(stream, self.ctx.write_log)
        route(text)

    def _refresh(self) -> dict[str, str]:
        self.info = slurm_poll.state(self.target_id, self.config, self.job_id, self.ctx.active_job_ids) or self.info
        return self.info

    def processes(self) -> list[ProcessInfo]:
        hosts = self.info.get("nodes", "")
        infos = [ProcessInfo.of(rank) for node in self.nodes for rank in node.ranks]
        for info in infos:
            info.host = hosts
        return infos

    def pending_reason(self) -> str | None:
        info = self._refresh()
        if info.get("state") == "PENDING":
            return info.get("reason") or "None"
        return None

    def all_started(self) -> bool:
        # srun creates each task's output file as the task starts, so the files prove a
        # start sooner than squeue's cached state (polled once a second per target).
        if all((self.logdir / f"{node.name}.out").exists() for node in self.nodes):
            return True
        return self._refresh().get("state") in slurm_poll.TERMINAL

    def poll(self) -> int | None:
        info = self._refresh()
        state = info.get("state", "")
        if state not in slurm_poll.TERMINAL:
            return None
        self.final_state = state
        code_file = self.logdir / "exit_code"
        deadline = time.monotonic() + (5 if state == "COMPLETED" else 1)
        while not code_file.exists() and time.monotonic() < deadline:
            time.sleep(0.05)  # the batch script writes it last; the shared dir may lag
        if code_file.exists():
            try:
                code = int(code_file.read_text().strip() or "1")
            except ValueError:
                code = 1
            return code if (code or state == "COMPLETED") else 1
        raw = info.get("exit_code", "")  # "3:0": exit code, signal
        code = int(raw.split(":")[0]) if raw[:1].isdigit() else 0
        return code or (0 if state == "COMPLETED" else 1)

    def end_reason(self) -> str | None:
        return END_REASONS.get(self.final_state)

    def end_cause(self) -> Ending | None:
        cause = SLURM_CAUSES.get(self.final_state)
        if cause is None:
            return None
        extra = {"oom_source": "slurm"} if cause is Cause.OOM else {}
        return ending(cause, END_REASONS[self.final_state], slurm_state=self.final_state, **extra)

    def signal_all(self, sig: int) -> None:
        env = command_env(self.config)
        if sig == 9:
            subprocess.run(["scancel", "--signal=KILL", "--full", str(self.job_id)], env=env, capture_output=True)
        subprocess.run(["scancel", str(self.job_id)], env=env, capture_output=True)
        slurm_poll.forget(self.target_id)

    def alive(self) -> bool:
        return self._refresh().get("state") not in slurm_poll.TERMINAL

    def close(self) -> None:
        self.tail.finish()

    def state(self) -> dict[str, Any]:
        return {
            "job_id": self.job_id,
            "logdir": str(self.logdir),
            "offsets": dict(self.tail.offsets),
            "lines": dict(self.tail.lines),
            "mode": str(self.ctx.shape.kind),
        }


class SlurmBackend(Backend[SlurmConfig, PreparedVenv]):
    kind = "slurm"

    def workdir(self, run_id: int, config: SlurmConfig) -> Path:
        return config.shared_dir / "runs" / str(run_id)

    def checkpoint_dir(self, run_id: int, config: SlurmConfig) -> Path:
        return config.shared_dir / "checkpoints" / str(run_id)  # every node sees it

    def sdk_dir(self, config: SlurmConfig) -> Path:
        from execution.sdkdir import sdk_path

        return sdk_path(config.shared_dir / "sdk")

    def env_root(self, config: SlurmConfig) -> Path:
        return config.shared_dir / "envs"

    def prepare_environment(self, ctx: RunContext[SlurmConfig]) -> PreparedVenv:
        built = ensure_venv(
            ctx.env_version, self.env_root(ctx.target.config), log=ctx.system_log, canceled=ctx.canceled
        )
        if built.cache_hit:
            ctx.system_log(f"Using cached environment {ctx.env_version} ({built.path.name[:12]}).")
            for line in build_notes(ctx.env_version.spec, run=True):
                ctx.system_log(line)
        return PreparedVenv(built.build.pk, built.cache_hit, built.path)

    def _plan(self, ctx: RunContext[SlurmConfig], venv: Path | None = None) -> tuple[Shape, list[NodePlan]]:
        """The shape as placed on the allocation, and its srun tasks (``venv``: None when
        re-attaching, where only the tasks' ranks and files matter)."""
        shape = ctx.shape
        placement = Placement(
            Network.SLURM,
            str(venv / "bin" / "python") if venv else "python",
            ctx.run_id,
            rdzv_port=random.randint(20000, 40000),
            tf_port=random.randint(41000, 60000),
            task_helper=str(TASK_HELPER),
            max_nodes=ctx.target.max_nodes,
        )
        return placed(shape, placement), plan(shape, Entry(tuple(ctx.entrypoint), ctx.is_command), placement)

    def start(self, ctx: RunContext[SlurmConfig], prepared: PreparedVenv) -> Job:
        venv = prepared.venv
        shape, nodes = self._plan(ctx, venv)
        logdir = ctx.workdir / ".runyard"
        logdir.mkdir(parents=True, exist_ok=True)
        config = ctx.target.config
        files = script(
            shape=shape,
            nodes=nodes,
            options=sbatch_options(config, shape, len(nodes), ctx.run_id, ctx.limits.max_run_duration_seconds),
            workdir=ctx.workdir,
            logdir=logdir,
            venv=venv,
            mpi_plugin=config.mpi,
            run_id=ctx.run_id,
        )
        for path, text in files.items():
            path.write_text(text)
        env = command_env(config, {**ctx.env, **config.env})
        result = subprocess.run(
            ["sbatch", "--parsable", str(logdir / "job.sh")], env=env, capture_output=True, text=True, cwd=ctx.workdir
        )
        if result.returncode != 0:
            raise SlurmError(f"sbatch refused the job: {result.stderr.strip() or result.stdout.strip()}")
        job_id = int(result.stdout.strip().split(";")[0])
        ctx.system_log(f"Submitted Slurm job {job_id} ({shape.nodes} node(s), {shape.world_size} rank(s)).")
        slurm_poll.forget(ctx.target.id, new_job_id=job_id)
        return SlurmJob(ctx, job_id, logdir, nodes)

    def can_resume(self, state: dict[str, Any]) -> bool:
        return bool(state.get("job_id"))

    def reattach(self, ctx: RunContext[SlurmConfig], state: dict[str, Any]) -> Job | None:
        if not self.can_resume(state):
            return None
        _, nodes = self._plan(ctx)
        return SlurmJob(ctx, int(state["job_id"]), Path(state["logdir"]), nodes, state)

    def reap_orphans(self, state: dict[str, Any], target: Target[SlurmConfig], active: bool) -> None:
        """A Slurm job outlives its worker by design: a restarted worker re-attaches."""
