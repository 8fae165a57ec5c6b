"""The SDK against a live server with a real worker: Azure-style code runs unchanged."""

from __future__ import annotations

import io
import textwrap
import warnings
from pathlib import Path
from typing import Any

import pytest

from runyard import (
    ActivityFailedException,
    CondaDependencies,
    Dataset,
    Environment,
    Experiment,
    Run,
    ScriptRunConfig,
    Workspace,
)
from runyard.logstream import LogFollower
from runyard.runconfig import MpiConfiguration, PyTorchConfiguration
from runyard.train.estimator import Estimator, EstimatorDeprecationWarning

pytestmark = [pytest.mark.worker, pytest.mark.xdist_group("live")]


@pytest.fixture
def ws(live: Any, world: Any) -> Workspace:
    return Workspace(live.url, world.alice.key)


def project(root: Path, files: dict[str, str]) -> Path:
    for name, content in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(content))
    return root


def finish(run: Run, raise_on_error: bool = True) -> tuple[dict[str, Any], str]:
    out = io.StringIO()
    details = run.wait_for_completion(show_output=True, stream=out, raise_on_error=raise_on_error)
    return details, out.getvalue()


TRAIN = """
import os, sys
from runyard import Run
run = Run.get_context()
print("hello from", run.id, "args", sys.argv[1:])
for step in range(100):
    run.log("loss", 1.0 / (step + 1), step=step)
run.log("final_acc", 0.93)
run.log_list("accuracies", [0.5, 0.8, 0.93])
run.log_row("epochs", epoch=1, acc=0.5)
run.tag("stage", "trained")
with open("cm.png", "wb") as f:
    f.write(b"PNG fake image")
run.log_image("confusion", path="cm.png")
os.makedirs("outputs", exist_ok=True)
with open("outputs/model.txt", "w") as f:
    f.write("weights")
print("done training")
"""


def test_curated_environment_compute_by_name_output_metrics_and_files(
    ws: Workspace, world: Any, tmp_path: Path
) -> None:
    src_dir = project(tmp_path / "src", {"train.py": TRAIN, ".amlignore": "data/\n", "data/big.bin": "x" * 1000})
    src = ScriptRunConfig(
        source_directory=src_dir,
        script="train.py",
        arguments=["--epochs", 3],
        compute_target=ws.compute_targets["local"],
        environment=Environment.get(workspace=ws, name="Runyard-Python-3.11"),
    )
    run = Experiment(workspace=ws, name="sdk-live").submit(src, tags={"team": "a"})
    details, output = finish(run)
    assert details["status"] == "Completed" and run.get_status() == "Completed"
    assert f"hello from {run.id} args ['--epochs', '3']" in output and "done training" in output
    assert output.index("hello from") < output.index("done training") < output.index("Execution Summary")
    assert "[runyard] Preparing run" in output
    metrics = run.get_metrics()
    assert metrics["loss"] == [1.0 / (s + 1) for s in range(100)] and metrics["final_acc"] == 0.93
    assert metrics["accuracies"] == [0.5, 0.8, 0.93] and metrics["epochs"] == {"epoch": [1], "acc": [0.5]}
    page = world.alice.client.get(f"/api/runs/{run.id}/metrics/").json()  # what the run page shows
    assert len(page["loss"]) == 100 and page["loss"][5]["step"] == 5
    assert run.get_tags() == {"team": "a", "stage": "trained"}
    assert metrics["confusion"] == "images/confusion/1.png"
    assert run.get_file_names() == ["images/confusion/1.png", "outputs/model.txt"]
    saved = run.download_file("outputs/model.txt", tmp_path / "model.txt")
    assert saved.read_text() == "weights"
    assert run.get_portal_url().endswith(f"/runs/{run.id}")
    assert details["runyard"]["snapshot_files"] == 2  # data/ was left out by .amlignore
    assert [r.id for r in Experiment(ws, "sdk-live").get_runs()] == [run.id]
    seen: dict[str, list[int]] = {}
    for transport in ("websocket", "polling"):
        follower = LogFollower(ws.client, run.id, lambda line, t=transport: seen.setdefault(t, []).append(line["seq"]))
        final = follower.follow() if transport == "websocket" else follower.poll()
        assert follower.transport == transport and final["status"] == "Completed"
    assert seen["websocket"] == seen["polling"] == list(range(1, details["runyard"]["log_seq"] + 1))


def test_custom_environment_with_pip_packages_and_variables(ws: Workspace, tmp_path: Path) -> None:
    src_dir = project(
        tmp_path / "src",
        {
            "train.py": """
        import os, six
        print("six", six.__version__, "GREETING", os.environ["GREETING"])
    """
        },
    )
    env = Environment(name="sdk-custom")
    env.python.conda_dependencies = CondaDependencies.create(pip_packages=["six==1.16.0"])
    env.environment_variables = {"GREETING": "hello-env"}
    src = ScriptRunConfig(source_directory=src_dir, script="train.py", compute_target="local", environment=env)
    run = Experiment(ws, "sdk-live").submit(src)
    details, output = finish(run)
    assert "six 1.16.0 GREETING hello-env" in output, output
    assert details["runDefinition"]["environment"]["name"] == "sdk-custom"
    assert env.version == "1"
    Experiment(ws, "sdk-live").submit(src).wait_for_completion()
    assert Environment.get(ws, "sdk-custom").version == "1"  # unchanged: no new version
    assert env.build(ws).wait_for_completion(show_output=False) == "succeeded"  # the run's build, cached
    env.environment_variables["GREETING"] = "changed"
    again = Experiment(ws, "sdk-live").submit(src)
    assert again.wait_for_completion()["runDefinition"]["environment"]["version"] == 2


def test_failed_run_raises_and_cancel_stops_a_run(ws: Workspace, tmp_path: Path) -> None:
    src_dir = project(
        tmp_path / "src",
        {
            "fail.py": "print('about to fail')\nraise SystemExit('bad data')\n",
            "sleep.py": "import time\nprint('sleeping', flush=True)\ntime.sleep(600)\n",
        },
    )
    failed = Experiment(ws, "sdk-live").submit(ScriptRunConfig(src_dir, "fail.py"))
    with pytest.raises(ActivityFailedException, match="bad data"):
        finish(failed)
    sleeper = Experiment(ws, "sdk-live").submit(ScriptRunConfig(src_dir, "sleep.py"))
    from tests.conftest import wait_for

    wait_for(lambda: sleeper.get_status() == "Running", timeout=120, what="the run to start")
    sleeper.cancel()
    details = sleeper.wait_for_completion()
    assert details["status"] == "Canceled"


LIST_INPUTS = """
import os, sys
from runyard import Run
args = dict(zip(sys.argv[1::2], sys.argv[2::2]))
for flag, folder in sorted(args.items()):
    names = sorted(os.path.relpath(os.path.join(d, f), folder) for d, _, fs in os.walk(folder) for f in fs)
    print(flag, names, open(os.path.join(folder, names[0])).read().strip())
print("inputs", sorted(Run.get_context().input_datasets))
"""


def test_datasets_as_mount_and_as_download_in_arguments(ws: Workspace, tmp_path: Path) -> None:
    local = project(tmp_path / "local", {"train/a.csv": "alpha", "train/b.csv": "beta"})
    uploaded = project(tmp_path / "up", {"test/c.csv": "gamma"})
    train = Dataset.File.from_files(path=str(local)).register(ws, "sdk-train", create_new_version=True)
    assert train.version == 1 and Dataset.get_by_name(ws, "sdk-train").version == 1
    store = ws.get_default_datastore()
    store.upload(src_dir=str(uploaded), target_path="sdk-up", overwrite=True, show_progress=True)
    test = Dataset.File.from_files(path=(store, "sdk-up/")).register(workspace=ws, name="sdk-test")
    assert (test.name, test.version, test.file_count) == ("sdk-test", 1, 1)
    src_dir = project(tmp_path / "src", {"train.py": LIST_INPUTS})
    src = ScriptRunConfig(
        src_dir,
        "train.py",
        arguments=[
            "--mounted",
            train.as_named_input("train").as_mount(),
            "--downloaded",
            Dataset.get_by_name(ws, "sdk-test", version=1).as_named_input("test").as_download(),
        ],
    )
    run = Experiment(ws, "sdk-live").submit(src)
    _, output = finish(run)
    assert "--mounted ['train/a.csv', 'train/b.csv'] alpha" in output, output
    assert "--downloaded ['test/c.csv'] gamma" in output
    assert "inputs ['test', 'train']" in output
    modes = {i["name"]: i["mode"] for i in run.get_details()["inputDatasets"]}
    assert modes == {"train": "mount", "test": "download"}


def test_data_reference_style(ws: Workspace, tmp_path: Path) -> None:
    store = ws.get_default_datastore()
    store.upload_files(
        [str(project(tmp_path / "f", {"r.txt": "from a reference"}) / "r.txt")],
        target_path="sdk-ref",
        overwrite=True,
        show_progress=False,
    )
    ref = store.path("sdk-ref").as_mount()
    src = ScriptRunConfig(
        project(tmp_path / "src", {"train.py": LIST_INPUTS}), "train.py", arguments=["--data", str(ref)]
    )
    src.run_config.data_references = {ref.data_reference_name: ref.to_config()}
    _, output = finish(Experiment(ws, "sdk-live").submit(src))
    assert "--data ['r.txt'] from a reference" in output, output


def test_estimator_submission_runs_and_prints_migration_code(
    ws: Workspace, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    src_dir = project(
        tmp_path / "src",
        {
            "train.py": """
        import os, sys
        print("estimated", sys.argv[1:], os.environ["MODE"])
    """
        },
    )
    est = Estimator(
        source_directory=str(src_dir),
        entry_script="train.py",
        compute_target="local",
        script_params={"--n": 3},
        environment_variables={"MODE": "legacy"},
    )
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        run = Experiment(ws, "sdk-live").submit(est)
    assert any(issubclass(w.category, EstimatorDeprecationWarning) for w in caught)
    printed = capsys.readouterr().out
    assert "ScriptRunConfig(" in printed and "env.environment_variables = {'MODE': 'legacy'}" in printed
    _, output = finish(run)
    assert "estimated ['--n', '3'] legacy" in output


@pytest.mark.slow
def test_mpi_distributed_run(ws: Workspace, tmp_path: Path) -> None:
    src_dir = project(
        tmp_path / "src",
        {
            "train.py": """
        from mpi4py import MPI
        comm = MPI.COMM_WORLD
        total = comm.allreduce(comm.Get_rank() + 1)
        print(f"rank {comm.Get_rank()} of {comm.Get_size()} total {total}")
    """
        },
    )
    src = ScriptRunConfig(
        src_dir,
        "train.py",
        compute_target="local",
        environment=Environment.get(ws, "Runyard-MPI-3.11"),
        distributed_job_config=MpiConfiguration(process_count_per_node=2),
    )
    details, output = finish(Experiment(ws, "sdk-live").submit(src))
    assert details["status"] == "Completed"
    assert "[rank 0] rank 0 of 2 total 3" in output and "[rank 1] rank 1 of 2 total 3" in output, output


@pytest.mark.slow
def test_pytorch_distributed_run(ws: Workspace, tmp_path: Path) -> None:
    src_dir = project(
        tmp_path / "src",
        {
            "train.py": """
        import torch, torch.distributed as dist
        dist.init_process_group("gloo")
        value = torch.tensor([dist.get_rank() + 1.0])
        dist.all_reduce(value)
        print(f"rank {dist.get_rank()} of {dist.get_world_size()} sum {value.item()}")
        dist.destroy_process_group()
    """
        },
    )
    src = ScriptRunConfig(
        src_dir,
        "train.py",
        compute_target="local",
        environment=Environment.get(ws, "Runyard-PyTorch-2.13-CPU"),
        distributed_job_config=PyTorchConfiguration(communication_backend="Gloo", process_count=2),
    )
    details, output = finish(Experiment(ws, "sdk-live").submit(src))
    assert details["status"] == "Completed", output
    assert "[rank 0] rank 0 of 2 sum 3.0" in output and "[rank 1] rank 1 of 2 sum 3.0" in output, output
