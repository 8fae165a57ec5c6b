"""Job states for all of a Slurm target's runs with one ``squeue`` call.

Every executing run asks for its job's state often; the first asker in each interval
(a Redis ``SET NX PX`` lock per target) runs a single ``squeue -j <all active ids>``
and stores every job's state in a Redis hash; the others read that hash. Jobs that
already left squeue are read once with ``scontrol show job`` (or ``sacct -c``).
"""

from __future__ import annotations

import json
import re
import subprocess
import time
from collections.abc import Callable
from typing import Any

from compute.configs import SlurmConfig
from config.redisconn import client as _redis

TERMINAL = frozenset(
    {
        "COMPLETED",
        "FAILED",
        "CANCELLED",
        "TIMEOUT",
        "NODE_FAIL",
        "OUT_OF_MEMORY",
        "PREEMPTED",
        "BOOT_FAIL",
        "DEADLINE",
        "SPECIAL_EXIT",
        "REVOKED",
    }
)
INTERVAL_SECONDS = 1.0


def _key(target_id: int) -> str:
    return f"runyard:slurm:{target_id}"


def forget(target_id: int, new_job_id: int | None = None) -> None:
    """After sbatch/scancel the next read polls again. A new job also drops any state
    cached under its id: Slurm reuses job ids (a reinstalled controller starts at 1
    again), and an ended job's state is otherwise kept as final."""
    pipe = _redis().pipeline()
    pipe.delete(_key(target_id) + ":lock")
    if new_job_id is not None:
        pipe.hdel(_key(target_id), str(new_job_id))
    pipe.execute()


def state(
    target_id: int, config: SlurmConfig, job_id: int, active_job_ids: Callable[[], list[int]]
) -> dict[str, str] | None:
    """``job_id``'s state; ``active_job_ids``: every job of the target to read with it."""
    key = _key(target_id)
    client = _redis()
    cached = client.hget(key, str(job_id))
    if cached is not None:
        info = json.loads(cached)
        if time.time() - info["at"] < INTERVAL_SECONDS or info.get("state") in TERMINAL:
            return info  # type: ignore[no-any-return]
    interval_ms = int(config.poll_seconds * 1000)
    if client.set(key + ":lock", "1", nx=True, px=interval_ms):
        poll_all(target_id, config, [*active_job_ids(), job_id])
        cached = client.hget(key, str(job_id))
    return json.loads(cached) if cached else None


def poll_all(target_id: int, config: SlurmConfig, job_ids: list[int]) -> dict[int, dict[str, Any]]:
    from execution.backends.slurm import command_env

    ids = sorted(set(job_ids))
    if not ids:
        return {}
    env = command_env(config)
    found: dict[int, dict[str, Any]] = {}
    result = subprocess.run(
        ["squeue", "-h", "-t", "all", "-j", ",".join(map(str, ids)), "-o", "%i|%T|%r|%N"],
        env=env,
        capture_output=True,
        text=True,
    )
    now = time.time()
    for line in result.stdout.splitlines():
        parts = line.strip().split("|")
        if len(parts) == 4 and parts[0].isdigit():
            found[int(parts[0])] = {"state": parts[1], "reason": parts[2], "nodes": parts[3], "at": now}
    for job_id in ids:
        if job_id not in found:
            gone = _finished(job_id, env)
            if gone:
                found[job_id] = {**gone, "at": now}
    if found:
        pipe = _redis().pipeline()
        pipe.hset(_key(target_id), mapping={str(k): json.dumps(v) for k, v in found.items()})
        pipe.expire(_key(target_id), 3600)
        pipe.execute()
    return found


def _finished(job_id: int, env: dict[str, str]) -> dict[str, str] | None:
    shown = subprocess.run(["scontrol", "-o", "show", "job", str(job_id)], env=env, capture_output=True, text=True)
    if shown.returncode == 0 and "JobState=" in shown.stdout:
        fields = dict(re.findall(r"(\w+)=(\S*)", shown.stdout))
        return {
            "state": fields.get("JobState", ""),
            "reason": fields.get("Reason", ""),
            "exit_code": fields.get("ExitCode", ""),
            "nodes": fields.get("NodeList", ""),
        }
    acct = subprocess.run(
        ["sacct", "-c", "-P", "-n", "-j", str(job_id), "-o", "jobid,state,exitcode"],
        env=env,
        capture_output=True,
        text=True,
    )
    for line in acct.stdout.splitlines():
        jid, job_state, exit_code = [*line.split("|"), "", "", ""][:3]
        if jid == str(job_id):
            return {"state": job_state.split()[0], "reason": "", "exit_code": exit_code, "nodes": ""}
    return None
