"""Held launches (execution/backends/held.py): a worker process's next run goes into a
sandbox and interpreter started ahead. Real workers, real bubblewrap, real mounts: a
held run must see and be exactly what a cold-started one is, and hold no more."""

from __future__ import annotations

import json
import os
import signal
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings

from execution import sandbox, slots
from runs.models import Run
from runs.status import Status
from tests.conftest import wait_for
from tests.executor.helpers import alive, lines, run_pids, submit, wait_status
from tests.executor.test_sandbox import SLEEPER, hostile_run

HERE = sandbox.status()
pytestmark = [
    pytest.mark.worker,
    pytest.mark.xdist_group("live"),
    pytest.mark.skipif(not HERE.sandboxed, reason=f"local runs are {HERE.describe()}"),
    pytest.mark.skipif(not slots.available(), reason="held sandboxed launches need root and Linux 5.12+"),
]

REPORT = r"""
import json, os, sys
cwd = os.getcwd()
mount = next(
    line.split()[5] for line in open("/proc/self/mountinfo") if line.split()[4] == cwd
)
checkpoint = os.environ["RUNYARD_CHECKPOINT_DIR"]
open(os.path.join(checkpoint, "mine"), "w").write("kept")
print("REPORT " + json.dumps({
    "cwd": cwd,
    "argv": sys.argv,
    "path0": sys.path[0],
    "file": __file__,
    "name": __name__,
    "stdin": sys.stdin.read(),
    "ids": [os.getuid(), os.getgid(), os.getgroups()],
    "keys": sorted(os.environ),
    "run_id": os.environ.get("RUNYARD_RUN_ID"),
    "proc_environ": [a for a in open("/proc/self/environ", "rb").read().decode().split("\0") if a],
    "cmdline": [a for a in open("/proc/self/cmdline", "rb").read().decode().split("\0") if a],
    "work": sorted(os.listdir(os.path.dirname(cwd))),
    "checkpoints": sorted(os.listdir(os.path.dirname(checkpoint))),
    "mount_options": mount.split(","),
    "processes": sorted(int(p) for p in os.listdir("/proc") if p.isdigit()),
    "hostname": os.uname().nodename,
    "nice": os.nice(0),
}), flush=True)
"""


@pytest.fixture
def one_process(live: Any) -> Iterator[Any]:
    """A worker with one pool process, so consecutive runs meet the same hold."""
    live.stop("runner")
    live.start_worker("held", queues="compute.local", concurrency=1)
    try:
        yield live
    finally:
        live.stop("held")
        live.start_worker("runner")


def run_to_end(actor: Any, files: dict[str, str], **fields: Any) -> Run:
    made = submit(actor, files, **fields)
    return wait_status(made["id"], timeout=180)


def held(run: Run) -> bool:
    return bool((run.backend_state or {}).get("holds"))


def report(run: Run) -> dict[str, Any]:
    text = next(t for t in lines(run.pk, rank=0, stream="stdout") if t.startswith("REPORT "))
    return dict(json.loads(text[len("REPORT ") :]))


def test_a_held_run_sees_and_is_what_a_cold_started_one_is(one_process: Any, world: Any) -> None:
    cold = run_to_end(world.alice, {"train.py": REPORT}, arguments=["a", "b c"])
    warm = run_to_end(world.alice, {"train.py": REPORT}, arguments=["a", "b c"])
    assert cold.status == warm.status == Status.COMPLETED, (cold.error, warm.error)
    assert not held(cold) and held(warm), (cold.backend_state, warm.backend_state)
    seen = {run.pk: report(run) for run in (cold, warm)}
    work = Path(settings.RUNYARD["WORK_DIR"])
    for run_id, got in seen.items():
        assert got["cwd"] == got["path0"] == str(work / str(run_id)), got
        assert got["argv"] == ["train.py", "a", "b c"] and got["name"] == "__main__"
        assert got["file"] == str(work / str(run_id) / "train.py")
        assert got["stdin"] == "" and got["run_id"] == str(run_id)
        assert got["work"] == [str(run_id)] and got["checkpoints"] == [str(run_id)]
        assert {"nosuid", "nodev"} <= set(got["mount_options"]), got["mount_options"]
        assert f"RUNYARD_RUN_ID={run_id}" in got["proc_environ"], got["proc_environ"]
        assert not any(item.startswith("RUNYARD_HOLD") for item in got["proc_environ"])
        assert got["cmdline"][1:] == ["train.py", "a", "b c"], got["cmdline"]
        assert len(got["processes"]) <= 2, got  # the namespace's init and the script
    a, b = seen[cold.pk], seen[warm.pk]
    for key in ("ids", "keys", "hostname", "mount_options", "nice"):
        assert a[key] == b[key], key
    assert sorted(k.partition("=")[0] for k in a["proc_environ"] if k) == sorted(
        k.partition("=")[0] for k in b["proc_environ"] if k
    )
    # The slots of the next run's hold are mounted; no run's directory is attached in any.
    assert not attached_dirs()


def attached_dirs() -> list[Path]:
    """Run directories attached inside holds' slots (``<held>/<hold>/<slot>/<run id>``)."""
    root = Path(settings.DATA_DIR) / "held"
    mounted = [Path(line.split()[4]) for line in Path("/proc/self/mountinfo").read_text().splitlines()]
    return [p for p in mounted if root in p.parents and len(p.relative_to(root).parts) > 2]


ENDINGS = {
    "raise": "def main():\n    raise ValueError('boom')\nmain()\n",
    "exit": "import sys\nprint('leaving', flush=True)\nsys.exit(3)\n",
}


def test_a_held_run_ends_as_a_cold_one_would(one_process: Any, world: Any) -> None:
    run_to_end(world.alice, {"train.py": "print('warm')"})
    failed = run_to_end(world.alice, {"train.py": ENDINGS["raise"]})
    exited = run_to_end(world.alice, {"train.py": ENDINGS["exit"]})
    assert held(failed) and held(exited)
    assert (failed.status, failed.exit_code) == (Status.FAILED, 1)
    err = lines(failed.pk, rank=0, stream="stderr")
    assert err[0] == "Traceback (most recent call last):", err
    assert err[1].endswith('/train.py", line 3, in <module>'), err  # the script's frame, no launcher's
    assert err[-1] == "ValueError: boom"
    assert (exited.status, exited.exit_code) == (Status.FAILED, 3)
    assert "leaving" in lines(exited.pk, rank=0)


def test_a_script_shadowing_a_preloaded_module_gets_a_fresh_interpreter(one_process: Any, world: Any) -> None:
    """The hold imported the SDK, and with it the standard ``json``: a run whose folder has
    its own json.py must get that one, as a cold start gives it."""
    run_to_end(world.alice, {"train.py": "print('warm')"})
    files = {"json.py": "MINE = True\n", "train.py": "import json\nprint('mine', getattr(json, 'MINE', False))\n"}
    run = run_to_end(world.alice, files)
    assert held(run) and run.status == Status.COMPLETED, run.error
    assert "mine True" in lines(run.pk, rank=0)


def test_a_held_run_is_canceled_and_dies_with_its_worker_like_any(one_process: Any, world: Any) -> None:
    run_to_end(world.alice, {"train.py": "print('warm')"})
    made = submit(world.alice, {"train.py": SLEEPER})
    wait_for(lambda: "started" in lines(made["id"], rank=0), timeout=120, what="the script to start")
    wait_status(made["id"], {Status.RUNNING})
    pids = run_pids(made["id"])
    assert len(pids) >= 4, pids  # bubblewrap, the namespace's init, the script and its child
    world.alice.client.post(f"/api/runs/{made['id']}/cancel/")
    run = wait_status(made["id"])
    assert run.status == Status.CANCELED and held(run)
    assert not any(alive(p) for p in pids)
    # The next one is held too; SIGKILL of its pool process takes the sandbox down.
    made = submit(world.alice, {"train.py": SLEEPER})
    wait_for(lambda: "started" in lines(made["id"], rank=0), timeout=120, what="the script to start")
    pids = run_pids(made["id"])
    assert held(Run.objects.get(pk=made["id"]))
    parents = {pid: int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1]) for pid in pids}
    pool_process = next(ppid for ppid in parents.values() if ppid not in parents)  # bubblewrap's parent
    assert pool_process != one_process.procs["held"].pid
    os.kill(pool_process, signal.SIGKILL)
    wait_for(lambda: not any(alive(p) for p in pids), timeout=30, what="the sandbox to die with its parent")


def test_a_hostile_held_run_finds_nothing_either(live: Any, world: Any) -> None:
    """test_sandbox's probe, launched into holds: both pool processes of a two-process
    worker ran a run before, so the neighbour and the probe each get one."""
    live.stop("runner")
    live.start_worker("held2", queues="compute.local", concurrency=2)
    try:
        warm = [submit(world.alice, {"train.py": "import time; time.sleep(4)"}) for _ in range(2)]
        for made in warm:
            assert wait_status(made["id"]).status == Status.COMPLETED
        probe, neighbour = hostile_run(live, world, worker="held2")
        assert held(probe) and held(neighbour), (probe.backend_state, neighbour.backend_state)
    finally:
        live.stop("held2")
        live.start_worker("runner")


def test_a_stopped_worker_leaves_no_hold_behind(live: Any, world: Any) -> None:
    """Its pool process closes its holds at shutdown: no launcher left, no slot mounted."""
    live.stop("runner")
    live.start_worker("held-stop", queues="compute.local", concurrency=1)
    try:
        run_to_end(world.alice, {"train.py": "print('warm')"})
        root = Path(settings.DATA_DIR) / "held"
        wait_for(lambda: mounted_under(root), timeout=30, what="the next run's hold")
    finally:
        live.stop("held-stop")
        live.start_worker("runner")
    assert not mounted_under(root)
    # A hold's bubblewrap names its slots (under this data dir) on its command line.
    assert not [e.name for e in os.scandir("/proc") if e.name.isdigit() and str(root).encode() in _cmdline(e.path)]


def mounted_under(root: Path) -> list[Path]:
    mounted = [Path(line.split()[4]) for line in Path("/proc/self/mountinfo").read_text().splitlines()]
    return [p for p in mounted if root in p.parents]


def _cmdline(proc_dir: str) -> bytes:
    try:
        return Path(proc_dir, "cmdline").read_bytes()
    except OSError:
        return b""
