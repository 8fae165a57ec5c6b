"""The slurm compute kind against a real two-node Slurm cluster: single, PyTorch
2x2 gloo, MPI across nodes, TF_CONFIG, pending reason + cancel, failures, live logs."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from compute.models import ComputeTarget
from runs import logstore
from runs.models import Run
from runs.status import Status
from tests.conftest import Stack, wait_for
from tests.executor.helpers import NASTY_OUTPUT, NASTY_STDOUT_BYTES, assert_nasty_log, lines, submit, wait_status
from tests.executor.test_distributed import ALL_REDUCE, MPI_HELLO, TF_PRINT

pytestmark = [pytest.mark.slurm, pytest.mark.worker, pytest.mark.xdist_group("live")]


@pytest.fixture(scope="session")
def slurm_worker(live_stack: Stack, slurm_cluster: Any) -> Iterator[None]:
    live_stack.start_worker("slurmer", queues="compute.slurm", concurrency=4)
    yield
    if "slurmer" in live_stack.procs:
        live_stack.stop("slurmer")


@pytest.fixture
def slurm_target(live: Stack, world: Any, slurm_cluster: Any, slurm_worker: None) -> ComputeTarget:
    shared = slurm_cluster.state_dir / "shared"
    shared.mkdir(exist_ok=True)
    return ComputeTarget.objects.create(
        name="slurm",
        kind="slurm",
        max_nodes=2,
        max_processes_per_node=4,
        max_concurrent_runs=8,
        config={
            "partition": slurm_cluster.partition,
            "shared_dir": str(shared),
            "slurm_conf": str(slurm_cluster.conf_path),
            # Both fake nodes share /dev/shm: Open MPI must talk over TCP.
            "env": {"OMPI_MCA_btl": "self,tcp"},
            "time_limit": 30,
        },
    )


def test_single_process_run(slurm_target: ComputeTarget, world: Any) -> None:
    script = "import os\nprint('hello from', os.environ['SLURMD_NODENAME'], os.environ['SLURM_JOB_ID'])\n"
    run = wait_status(submit(world.alice, {"train.py": script}, compute_target="slurm")["id"], timeout=180)
    assert run.status == Status.COMPLETED, run.error
    assert lines(run.pk, rank=0)[0].startswith("hello from n1 ")
    assert run.backend_state["job_id"] == int(lines(run.pk, rank=0)[0].split()[-1])


@pytest.mark.slow
def test_pytorch_two_nodes_two_processes_all_reduce(slurm_target: ComputeTarget, world: Any) -> None:
    made = submit(
        world.alice,
        # The curated CPU environment is CPU-only on the cluster too (its package indexes).
        {"train.py": ALL_REDUCE + "\nprint('cuda', torch.version.cuda)\n"},
        compute_target="slurm",
        environment="Runyard-PyTorch-2.13-CPU",
        distributed={"type": "pytorch", "node_count": 2, "process_count": 4},
    )
    run = wait_status(made["id"], timeout=600)
    assert run.status == Status.COMPLETED, run.error
    everything = [(line.rank, line.stream, line.text) for line in logstore.lines(run.pk)]
    for rank in range(4):
        assert f"rank {rank} of 4 sum 10.0" in lines(run.pk, rank=rank), (rank, everything)
        assert "cuda None" in lines(run.pk, rank=rank), (rank, everything)


@pytest.mark.slow
def test_mpi_two_nodes(slurm_target: ComputeTarget, world: Any) -> None:
    script = MPI_HELLO + "import os\nprint('node', os.environ['SLURMD_NODENAME'])\n"
    made = submit(
        world.alice,
        {"train.py": script},
        compute_target="slurm",
        environment="Runyard-MPI-3.11",
        distributed={"type": "mpi", "node_count": 2, "process_count_per_node": 2},
    )
    run = wait_status(made["id"], timeout=600)
    assert run.status == Status.COMPLETED, run.error
    for rank in range(4):
        assert f"mpi rank {rank} of 4 total 10" in lines(run.pk, rank=rank)
    nodes = {t for r in range(4) for t in lines(run.pk, rank=r) if t.startswith("node ")}
    assert nodes == {"node n1", "node n2"}


def test_tf_config_from_the_allocation(slurm_target: ComputeTarget, world: Any) -> None:
    made = submit(
        world.alice,
        {"train.py": TF_PRINT},
        compute_target="slurm",
        distributed={"type": "tensorflow", "worker_count": 2, "parameter_server_count": 1},
    )
    run = wait_status(made["id"], timeout=180)
    assert run.status == Status.COMPLETED, run.error
    configs = [json.loads(lines(run.pk, rank=r)[0].split(" ", 1)[1]) for r in range(3)]
    cluster = configs[0]["cluster"]
    assert len(cluster["worker"]) == 2 and len(cluster["ps"]) == 1 and len(set(cluster["worker"] + cluster["ps"])) == 3
    assert [c["task"] for c in configs] == [
        {"type": "worker", "index": 0},
        {"type": "worker", "index": 1},
        {"type": "ps", "index": 0},
    ]


def test_pending_job_shows_reason_and_can_be_canceled(slurm_target: ComputeTarget, world: Any) -> None:
    # More nodes than the partition has: Slurm accepts the job and keeps it pending.
    ComputeTarget.objects.filter(pk=slurm_target.pk).update(max_nodes=3)
    made = submit(
        world.alice,
        {"train.py": "print('never')"},
        compute_target="slurm",
        distributed={"type": "mpi", "node_count": 3, "process_count_per_node": 1},
    )
    run = wait_for(
        lambda: Run.objects.filter(pk=made["id"], status=Status.QUEUED, worker__gt="").first(),
        timeout=120,
        what="the job to be pending",
    )
    assert "Partition" in run.status_reason
    assert world.alice.client.get(f"/api/runs/{run.pk}/").json()["status_reason"].startswith("waiting in the cluster")
    world.alice.client.post(f"/api/runs/{run.pk}/cancel/")
    run = wait_status(run.pk, timeout=120)
    assert run.status == Status.CANCELED
    assert "never" not in lines(run.pk, rank=0)


def test_time_limit_given_as_a_slurm_duration(slurm_target: ComputeTarget, world: Any, slurm_cluster: Any) -> None:
    # "H:MM:SS" passes validation, so the job must be submitted with it (as minutes).
    config = {**slurm_target.config, "time_limit": "1:00:00"}
    ComputeTarget.objects.filter(pk=slurm_target.pk).update(config=config)
    run = wait_status(submit(world.alice, {"train.py": "print('in time')"}, compute_target="slurm")["id"], timeout=180)
    assert run.status == Status.COMPLETED, run.error
    assert lines(run.pk, rank=0) == ["in time"]
    assert slurm_cluster.job_info(run.backend_state["job_id"])["TimeLimit"] == "01:00:00"


def test_failing_script_fails_with_exit_code(slurm_target: ComputeTarget, world: Any) -> None:
    made = submit(
        world.alice, {"train.py": "import sys\nprint('bad', file=sys.stderr)\nsys.exit(7)\n"}, compute_target="slurm"
    )
    run = wait_status(made["id"], timeout=180)
    assert run.status == Status.FAILED and run.exit_code == 7
    assert "bad" in run.error


def test_nul_invalid_utf8_and_a_10_mb_line_reach_the_log(slurm_target: ComputeTarget, world: Any) -> None:
    # Read back from the rank's output file on the shared directory (FileTail).
    run = wait_status(submit(world.alice, {"train.py": NASTY_OUTPUT}, compute_target="slurm")["id"], timeout=300)
    assert run.status == Status.COMPLETED, run.error
    assert_nasty_log(run.pk)
    # Read to the end, the last line (no newline) flushed.
    assert run.backend_state["offsets"]["rank-0.out"] == NASTY_STDOUT_BYTES


def test_logs_arrive_while_running(slurm_target: ComputeTarget, world: Any) -> None:
    script = "import time\nprint('first', flush=True)\ntime.sleep(20)\nprint('last')\n"
    made = submit(world.alice, {"train.py": script}, compute_target="slurm")
    wait_for(
        lambda: any(line.text == "first" for line in logstore.lines(made["id"], rank=0)),
        timeout=120,
        what="the first line while the job runs",
    )
    # The run shows Running while its output streams (the executor notices the start
    # within a loop of squeue reads, seconds on a loaded host), before "last".
    wait_for(
        lambda: Run.objects.get(pk=made["id"]).status == Status.RUNNING,
        timeout=15,
        what="Running while the job prints",
    )
    assert not any(line.text == "last" for line in logstore.lines(made["id"]))
    run = wait_status(made["id"], timeout=120)
    assert run.status == Status.COMPLETED and lines(run.pk, rank=0) == ["first", "last"]


def test_state_cached_under_a_reused_job_id_is_ignored(slurm_target: ComputeTarget, world: Any) -> None:
    # Slurm reuses job ids (a reinstalled controller starts at 1 again): an ended job's
    # cached state must not end the new job that now carries its id.
    from execution.backends import slurm_poll

    ended = {"state": "COMPLETED", "reason": "", "nodes": "", "exit_code": "0:0", "at": 0}
    slurm_poll._redis().hset(
        slurm_poll._key(slurm_target.pk), mapping={str(i): json.dumps(ended) for i in range(1, 2000)}
    )
    made = submit(world.alice, {"train.py": "import time\ntime.sleep(8)\nprint('fresh job')\n"}, compute_target="slurm")
    run = wait_status(made["id"], timeout=180)
    assert run.status == Status.COMPLETED, run.error
    assert lines(run.pk, rank=0) == ["fresh job"]


MPI_TICKS = """
import os, time
rank = int(os.environ.get("OMPI_COMM_WORLD_RANK") or os.environ.get("PMIX_RANK") or os.environ["SLURM_PROCID"])
for i in range(40):
    print(f"rank {rank} tick {i}", flush=True)
    time.sleep(0.25)
"""


def test_worker_restart_resumes_running_and_pending_jobs_with_exact_logs(
    slurm_target: ComputeTarget, world: Any, live: Stack
) -> None:
    import signal

    # The running job holds every CPU of both nodes, so the second one waits in Slurm.
    running = submit(
        world.alice,
        {"train.py": MPI_TICKS},
        compute_target="slurm",
        distributed={"type": "mpi", "node_count": 2, "process_count_per_node": 4},
    )["id"]
    wait_for(
        lambda: sum("tick 3" in line.text for line in logstore.lines(running)) >= 8,
        timeout=180,
        what="every rank of the first job to print",
    )
    pending = submit(world.alice, {"train.py": "print('waited my turn')"}, compute_target="slurm")["id"]
    wait_for(
        lambda: Run.objects.filter(pk=pending, status=Status.QUEUED, worker__gt="").exists(),
        timeout=120,
        what="the second job to be pending in Slurm",
    )
    live.stop("slurmer", signal.SIGKILL)  # mid-stream, with one job pending
    live.start_worker("slurmer", queues="compute.slurm", concurrency=4)
    first = wait_status(running, timeout=240)
    assert first.status == Status.COMPLETED, first.error
    for rank in range(8):
        assert lines(running, rank=rank, stream="stdout") == [f"rank {rank} tick {i}" for i in range(40)], rank
    second = wait_status(pending, timeout=240)
    assert second.status == Status.COMPLETED, second.error
    assert lines(pending, rank=0) == ["waited my turn"]
    assert any("re-attached" in t for t in lines(pending, stream="system"))


def test_preempted_job_is_requeued_by_runyard_and_resumes(slurm_target: ComputeTarget, world: Any) -> None:
    """Preemption on Slurm: the job gets SIGTERM (scancel), its callback saves into the
    checkpoint dir on the shared directory, the run resumes as attempt 2 (a new job)."""
    from runs.models import Attempt
    from tests.scheduling.test_preemption_live import RESUMABLE

    ComputeTarget.objects.filter(pk=slurm_target.pk).update(max_concurrent_runs=1)
    victim = submit(world.alice, {"train.py": RESUMABLE}, compute_target="slurm", priority="low", preemptible="true")
    wait_for(lambda: "logged 3" in lines(victim["id"], rank=0), timeout=180, what="the job to log")
    first_job = Run.objects.get(pk=victim["id"]).backend_state["job_id"]
    urgent = submit(world.bob, {"train.py": "print('urgent done')\n"}, compute_target="slurm", priority="high")
    assert wait_status(urgent["id"], timeout=180).status == Status.COMPLETED
    run = wait_status(victim["id"], timeout=180)
    assert run.status == Status.COMPLETED, run.error
    out = lines(run.pk, rank=0)
    saved = next(t for t in out if t.startswith("on_preempt: saved step"))
    step = int(saved.split()[3].rstrip(","))
    checkpoint = f"{slurm_target.config['shared_dir']}/checkpoints/{run.pk}"
    assert f"attempt 2 starts at {step}; checkpoint dir {checkpoint}" in out
    assert f"finished at {step + 3}" in out and "outputs kept: from attempt 1" in out
    assert run.backend_state["job_id"] != first_job  # Runyard's requeue: a new job for the new attempt
    first = Attempt.objects.get(run=run, number=1)
    assert (first.status, first.cause, first.cause_evidence["beneficiary"]) == ("Preempted", "preempted", urgent["id"])
