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
from pathlib import Path
from typing import Any

from compute.backends import slurm_poll
from compute.backends.base import Backend, Job, ProcessInfo, RunContext
from compute.backends.filetail import FileTail
from compute.backends.slurm_script import Shape, sbatch_options, script, shape_of
from environments.builder import ensure_venv
from runs import launch
from runs.logstore import SYSTEM_RANK

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


def command_env(config: dict[str, Any], base: dict[str, str] | None = None) -> dict[str, str]:
    env = dict(base if base is not None else os.environ)
    for name in [k for k in env if k.startswith(("SLURM_", "SBATCH_", "SRUN_"))]:
        del env[name]  # never leak an enclosing allocation into ours
    if config.get("slurm_conf"):
        env["SLURM_CONF"] = str(config["slurm_conf"])
    return env


def shared_dir(config: dict[str, Any]) -> Path:
    if not config.get("shared_dir"):
        raise SlurmError("The Slurm compute target has no 'shared_dir' in its config.")
    return Path(config["shared_dir"])


class SlurmJob(Job):
    def __init__(
        self, ctx: RunContext, job_id: int, logdir: Path, shape: Shape, offsets: dict[str, int] | None = None
    ) -> None:
        self.ctx = ctx
        self.job_id = job_id
        self.logdir = logdir
        self.shape = shape
        self.config = ctx.target_config
        from runs.models import Run

        self.target_id = Run.objects.filter(pk=ctx.run_id).values_list("compute_target_id", flat=True).get()
        self.info: dict[str, str] = {}
        self.final_state = ""
        self.tail = FileTail(logdir, "*-*.[oe][ur][tr]", self._line, offsets)
        self.tail.start()

    def _line(self, name: str, text: str) -> None:
        kind, index = name.split(".")[0].split("-")
        stream = "stderr" if name.endswith(".err") else "stdout"
        if kind == "node":
            parsed = launch.split_torchrun_line(text, int(index), self.shape.per_node)
            rank, text = parsed if parsed else (SYSTEM_RANK, text)
        else:
            rank = int(index)
        self.ctx.write_log(rank, stream, text)

    def _refresh(self) -> dict[str, str]:
        self.info = slurm_poll.state(self.target_id, self.config, self.job_id) or self.info
        return self.info

    def processes(self) -> list[ProcessInfo]:
        nodes = self.info.get("nodes", "")
        per = max(1, self.shape.per_node if self.shape.mode == "pytorch" else (self.shape.tasks_per_node or 1))
        return [
            ProcessInfo(rank=r, node_rank=r // per, local_rank=r % per, role=self._role(r), host=nodes)
            for r in range(self.shape.world)
        ]

    def _role(self, rank: int) -> str:
        cfg = self.ctx.distributed or {}
        if self.shape.mode == "tensorflow" and rank >= int(cfg.get("worker_count", 0)):
            return "ps"
        return "worker"

    def pending_reason(self) -> str | None:
        info = self._refresh()
        if info.get("state") == "PENDING":
            return info.get("reason") or "None"
        return None

    def all_started(self) -> bool:
        # srun creates each task's output file as the task starts, so the files prove a
        # start sooner than squeue's cached state (polled once a second per target).
        pattern = "node-*.out" if self.shape.mode == "pytorch" else "rank-*.out"
        expected = self.shape.nodes if self.shape.mode == "pytorch" else self.shape.world
        if len(list(self.logdir.glob(pattern))) >= expected:
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
            "mode": self.shape.mode,
        }


class SlurmBackend(Backend):
    kind = "slurm"

    def workdir(self, run_id: int, config: dict[str, Any]) -> Path:
        return shared_dir(config) / "runs" / str(run_id)

    def sdk_dir(self, config: dict[str, Any]) -> Path:
        from runs.sdkdir import sdk_path

        return sdk_path(shared_dir(config) / "sdk")

    def env_root(self, config: dict[str, Any]) -> Path:
        return shared_dir(config) / "envs"

    def prepare_environment(self, ctx: RunContext) -> dict[str, Any]:
        built = ensure_venv(
            ctx.env_version, self.env_root(ctx.target_config), log=ctx.system_log, canceled=ctx.canceled
        )
        if built.cache_hit:
            ctx.system_log(f"Using cached environment {ctx.env_version} ({built.path.name[:12]}).")
        return {"venv": str(built.path), "build_id": built.build.pk}

    def start(self, ctx: RunContext, prepared: dict[str, Any]) -> Job:
        from runs.models import Run

        run = Run.objects.select_related("compute_target").get(pk=ctx.run_id)
        shape = shape_of(ctx.distributed, run.target.max_nodes)
        logdir = ctx.workdir / ".runyard"
        logdir.mkdir(parents=True, exist_ok=True)
        config = ctx.target_config
        files = script(
            shape=shape,
            options=sbatch_options(config, shape, ctx.run_id, run.max_run_duration_seconds),
            workdir=ctx.workdir,
            logdir=logdir,
            venv=Path(prepared["venv"]),
            entry=ctx.entrypoint,
            is_command=ctx.is_command,
            mpi_plugin=str(config.get("mpi", "pmix")),
            rdzv_port=random.randint(20000, 40000),
            tf_base_port=random.randint(41000, 60000),
            task_helper=TASK_HELPER,
            run_id=ctx.run_id,
            distributed=ctx.distributed,
        )
        for path, text in files.items():
            path.write_text(text)
        env = command_env(config, {**ctx.env, **{k: str(v) for k, v in config.get("env", {}).items()}})
        result = subprocess.run(
            ["sbatch", "--parsable", str(logdir / "job.sh")], env=env, capture_output=True, text=True, cwd=ctx.workdir
        )
        if result.returncode != 0:
            raise SlurmError(f"sbatch refused the job: {result.stderr.strip() or result.stdout.strip()}")
        job_id = int(result.stdout.strip().split(";")[0])
        ctx.system_log(f"Submitted Slurm job {job_id} ({shape.nodes} node(s), {shape.world} rank(s)).")
        slurm_poll.forget(run.target.pk, new_job_id=job_id)
        return SlurmJob(ctx, job_id, logdir, shape)

    def can_resume(self, state: dict[str, Any]) -> bool:
        return bool(state.get("job_id"))

    def reattach(self, ctx: RunContext, state: dict[str, Any]) -> Job | None:
        if not self.can_resume(state):
            return None
        from runs.models import Run

        run = Run.objects.select_related("compute_target").get(pk=ctx.run_id)
        shape = shape_of(ctx.distributed, run.target.max_nodes)
        return SlurmJob(ctx, int(state["job_id"]), Path(state["logdir"]), shape, state.get("offsets"))

    def reap_orphans(self, state: dict[str, Any]) -> None:
        """A Slurm job outlives its worker by design: a restarted worker re-attaches."""
