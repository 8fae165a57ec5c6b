"""The sbatch script for a run: one allocation, ranks launched with srun.

- single process: one srun task;
- MPI: ``-N nodes --ntasks-per-node ppn`` and ``srun --mpi=<pmix>`` starts every rank;
- PyTorch: one srun task per node running torchrun, c10d rendezvous on the first
  node's address, ``process_count / node_count`` processes per node;
- TensorFlow: one srun task per worker / parameter server, each given its TF_CONFIG by
  ``slurm_task.py`` from the allocation's node list and its task id.

Every task writes its own files (``rank-%t.out/err``, ``node-%t`` for torchrun), which
the worker follows while the job runs. The script records srun's exit code last.
"""

from __future__ import annotations

import math
import shlex
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from runs.launch import TORCHRUN_ENV


@dataclass(frozen=True)
class Shape:
    nodes: int
    tasks_per_node: int | None
    ntasks: int
    world: int
    per_node: int  # rank processes per node (torchrun) or per task
    mode: str  # single | mpi | pytorch | tensorflow


def shape_of(distributed: dict[str, Any] | None, max_nodes: int) -> Shape:
    cfg = distributed or {}
    kind = cfg.get("type")
    if kind == "mpi":
        nodes, ppn = int(cfg["node_count"]), int(cfg["process_count_per_node"])
        return Shape(nodes, ppn, nodes * ppn, nodes * ppn, ppn, "mpi")
    if kind == "pytorch":
        nodes = int(cfg["node_count"])
        per_node = int(cfg["process_count"]) // nodes
        return Shape(nodes, 1, nodes, nodes * per_node, per_node, "pytorch")
    if kind == "tensorflow":
        total = int(cfg["worker_count"]) + int(cfg["parameter_server_count"])
        nodes = max(1, min(max_nodes, total))
        return Shape(nodes, math.ceil(total / nodes), total, total, 1, "tensorflow")
    return Shape(1, 1, 1, 1, 1, "single")


def sbatch_options(config: dict[str, Any], shape: Shape, run_id: int, max_seconds: int | None) -> list[str]:
    opts = [f"--job-name=runyard-{run_id}", f"--nodes={shape.nodes}", f"--ntasks={shape.ntasks}"]
    if shape.tasks_per_node:
        opts.append(f"--ntasks-per-node={shape.tasks_per_node}")
    for key, flag in (("partition", "--partition"), ("account", "--account"), ("qos", "--qos")):
        if config.get(key):
            opts.append(f"{flag}={config[key]}")
    minutes = []
    if config.get("time_limit"):
        minutes.append(int(config["time_limit"]))
    if max_seconds:
        minutes.append(math.ceil(max_seconds / 60) + 1)  # Slurm's limit backs up ours
    if minutes:
        opts.append(f"--time={min(minutes)}")
    if config.get("gpus_per_node"):
        opts.append(f"--gres=gpu:{int(config['gpus_per_node'])}")
    if config.get("cpus_per_task"):
        opts.append(f"--cpus-per-task={int(config['cpus_per_task'])}")
    if config.get("mem_per_task_mb"):
        cpus = int(config.get("cpus_per_task") or 1)
        opts.append(f"--mem-per-cpu={math.ceil(int(config['mem_per_task_mb']) / cpus)}M")
    opts += [str(o) for o in config.get("extra_sbatch_args", [])]
    return opts


def script(
    *,
    shape: Shape,
    options: list[str],
    workdir: Path,
    logdir: Path,
    venv: Path,
    entry: list[str],
    is_command: bool,
    mpi_plugin: str,
    rdzv_port: int,
    tf_base_port: int,
    task_helper: Path,
    run_id: int,
    distributed: dict[str, Any] | None,
) -> dict[Path, str]:
    """The batch script (first) and any helper files, by path."""
    extra: dict[Path, str] = {}
    python = str(venv / "bin" / "python")
    program = entry if is_command else [python, *entry]
    q = shlex.join
    files = f"--output={logdir}/rank-%t.out --error={logdir}/rank-%t.err"
    if shape.mode == "mpi":
        launch = f"srun --mpi={mpi_plugin} {files} {q(program)}"
    elif shape.mode == "pytorch":
        torchrun = [
            python,
            "-m",
            "torch.distributed.run",
            f"--nnodes={shape.nodes}",
            f"--nproc-per-node={shape.per_node}",
            "--rdzv-backend=c10d",
            f"--rdzv-id=runyard-{run_id}",
            "--tee=3",
        ]
        user = ["--no-python", *entry] if is_command else entry
        # Every node looks local when nodes share a host: only node 0 hosts the store.
        extra[logdir / "torchrun.sh"] = f"""#!/bin/bash
export TORCHELASTIC_LOG_LINE_PREFIX_TEMPLATE='{TORCHRUN_ENV["TORCHELASTIC_LOG_LINE_PREFIX_TEMPLATE"]}'
host=0; [ "$SLURM_NODEID" = 0 ] && host=1
exec {q(torchrun)} --rdzv-endpoint="$RUNYARD_MASTER:{rdzv_port}" --rdzv-conf=is_host=$host \\
  --node-rank="$SLURM_NODEID" {q(user)}
"""
        launch = (
            'first=$(scontrol show hostnames "$SLURM_JOB_NODELIST" | head -n1)\n'
            "export RUNYARD_MASTER=$(scontrol -o show node \"$first\" | grep -o 'NodeAddr=[^ ]*' | cut -d= -f2)\n"
            f"srun --ntasks-per-node=1 --output={logdir}/node-%t.out --error={logdir}/node-%t.err "
            f"bash {logdir}/torchrun.sh"
        )
    elif shape.mode == "tensorflow":
        cfg = distributed or {}
        helper = [
            python,
            str(task_helper),
            "tf",
            str(cfg["worker_count"]),
            str(cfg["parameter_server_count"]),
            str(tf_base_port),
            "--",
            *program,
        ]
        launch = f"srun {files} {q(helper)}"
    else:
        launch = f"srun --ntasks=1 {files} {q(program)}"
    header = "\n".join(f"#SBATCH {o}" for o in options)
    batch = f"""#!/bin/bash
{header}
#SBATCH --output={logdir}/batch.out
#SBATCH --chdir={workdir}
# Generated by Runyard for run {run_id}.
export PATH={shlex.quote(str(venv / "bin"))}:"$PATH" VIRTUAL_ENV={shlex.quote(str(venv))}
{launch}
code=$?
echo "$code" > {logdir}/exit_code.tmp && mv {logdir}/exit_code.tmp {logdir}/exit_code
exit "$code"
"""
    return {logdir / "job.sh": batch, **extra}
