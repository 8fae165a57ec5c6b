"""Azure's run inspection as written, against a live server and a real worker:
get_environment, get_details(_with_logs), restore_snapshot, files and tags; inside a
script with its run token, and outside any run (the offline run)."""

from __future__ import annotations

import io
import os
import tempfile
import textwrap
import zipfile
from pathlib import Path
from typing import Any

import pytest

from runyard import (
    Environment,
    Experiment,
    Run,
    ScriptRunConfig,
    UserErrorException,
    WebserviceException,
    Workspace,
)
from runyard.runconfig import TensorflowConfiguration

pytestmark = [pytest.mark.worker, pytest.mark.xdist_group("live")]


@pytest.fixture
def ws(live: Any, world: Any) -> Workspace:
    return Workspace(live.url, world.alice.key)


TRAIN = """
import os, zipfile
from azureml.core import Run
run = Run.get_context()
print("training in", run.id)
run.tag("draft")
run.set_tags({"lr": 0.1, "stage": "fit"})
run.remove_tags(["draft"])
os.makedirs("outputs/plots", exist_ok=True)
for name in ("outputs/model.txt", "outputs/plots/a.txt", "outputs/plots/b.txt", "outputs/plots-old.txt"):
    with open(name, "w") as f:
        f.write(name)
details = run.get_details()
print("in-run log files", sorted(details["logFiles"]))
with zipfile.ZipFile(run.restore_snapshot(path=".")) as zf:
    print("in-run snapshot", sorted(zf.namelist()))
used = run.get_environment()
print("in-run environment", used.name, used.version)
"""


def submit(ws: Workspace, src: Path, files: dict[str, str], **config: Any) -> Run:
    src.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        (src / name).write_text(textwrap.dedent(text))
    run = Experiment(ws, "details").submit(ScriptRunConfig(source_directory=src, script="train.py", **config))
    out = io.StringIO()
    run.wait_for_completion(show_output=True, stream=out)
    return run


def test_submitted_run_environment_details_logs_snapshot_files_and_tags(ws: Workspace, tmp_path: Path) -> None:
    env = Environment.get(ws, "Runyard-Python-3.11")
    run = submit(ws, tmp_path / "src", {"train.py": TRAIN, "helper.py": "X = 1\n"}, environment=env)
    assert run.get_status() == "Completed"

    used = run.get_environment()
    assert (type(used), used.name, used.version, used.curated) == (Environment, env.name, env.version, True)
    assert used.python.conda_dependencies.serialize_to_string() == env.python.conda_dependencies.serialize_to_string()

    details = run.get_details()
    assert details["runId"] == run.id and details["status"] == "Completed" and details["submittedBy"] == "alice"
    assert details["startTimeUtc"] and details["endTimeUtc"] and details["target"] == "local"
    assert sorted(details["logFiles"]) == ["system_logs/runyard.txt", "user_logs/std_log.txt"]
    assert details["logFiles"]["user_logs/std_log.txt"].endswith(f"/api/runs/{run.id}/logs/download/?rank=0")

    with_logs = run.get_details_with_logs()
    user_log = with_logs["logFiles"]["user_logs/std_log.txt"]
    # What the script printed, as printed: its lines in order, and the compatibility layer's
    # banner (on stderr, so where it falls among them depends on the pipes).
    lines = user_log.splitlines()
    assert sum(line.startswith("azureml: Runyard's compatibility layer") for line in lines) == 1, user_log
    assert [line for line in lines if not line.startswith("azureml: ")] == [
        f"training in {run.id}",
        "in-run log files ['system_logs/runyard.txt', 'user_logs/std_log.txt']",
        "in-run snapshot ['helper.py', 'train.py']",
        f"in-run environment {env.name} {env.version}",
    ]
    assert "Preparing run" in with_logs["logFiles"]["system_logs/runyard.txt"]
    assert "training in" not in with_logs["logFiles"]["system_logs/runyard.txt"]
    written = run.get_all_logs(tmp_path / "logs")
    assert sorted(Path(p).relative_to(tmp_path / "logs").as_posix() for p in written) == sorted(with_logs["logFiles"])
    assert (tmp_path / "logs" / "user_logs" / "std_log.txt").read_text() == user_log

    snapshot_id = run.get_snapshot_id()
    assert snapshot_id == details["runyard"]["snapshot_sha256"] and len(snapshot_id) == 64
    restored = run.restore_snapshot(path=tmp_path)
    assert restored == str((tmp_path / f"{snapshot_id}.zip").resolve())
    with zipfile.ZipFile(restored) as zf:
        assert zf.read("train.py").decode() == textwrap.dedent(TRAIN) and zf.read("helper.py") == b"X = 1\n"
    default = run.restore_snapshot()
    assert os.path.dirname(default) == os.path.realpath(tempfile.gettempdir())
    os.unlink(default)

    assert run.get_tags() == {"lr": "0.1", "stage": "fit"}
    run.set_tags("reviewed")
    assert run.remove_tags("stage") == {"lr": "0.1", "reviewed": ""}

    names = run.get_file_names()
    assert names == ["outputs/model.txt", "outputs/plots-old.txt", "outputs/plots/a.txt", "outputs/plots/b.txt"]
    # The prefix is a folder, as in Azure: outputs/plots-old.txt is not under "outputs/plots".
    got = run.download_files(prefix="outputs/plots", output_directory=tmp_path / "plots", append_prefix=False)
    assert sorted(p.relative_to(tmp_path / "plots").as_posix() for p in got) == ["a.txt", "b.txt"]
    assert (tmp_path / "plots" / "a.txt").read_text() == "outputs/plots/a.txt"
    every = run.download_files(output_directory=tmp_path / "all")
    assert [p.relative_to(tmp_path / "all").as_posix() for p in every] == names
    chosen = [str(tmp_path / "x.txt"), str(tmp_path / "y.txt")]
    run.download_files(prefix="outputs/plots/", output_paths=chosen)
    assert Path(chosen[1]).read_text() == "outputs/plots/b.txt"
    with pytest.warns(UserWarning, match="using the files' own names"):
        fallback = run.download_files(prefix="outputs/plots", output_directory=tmp_path / "own", output_paths=["one"])
    assert [p.relative_to(tmp_path / "own").as_posix() for p in fallback] == names[2:]
    assert run.download_files(prefix="nothing", output_directory=tmp_path / "none") == []


def test_distributed_run_has_a_log_file_per_process(ws: Workspace, tmp_path: Path) -> None:
    script = "import json, os\nprint('task', json.loads(os.environ['TF_CONFIG'])['task']['index'])\n"
    run = submit(
        ws,
        tmp_path / "src",
        {"train.py": script},
        distributed_job_config=TensorflowConfiguration(worker_count=2, parameter_server_count=0),
    )
    logs = run.get_details_with_logs()["logFiles"]
    assert sorted(logs) == [
        "system_logs/runyard.txt",
        "user_logs/std_log_process_0.txt",
        "user_logs/std_log_process_1.txt",
    ], logs
    assert logs["user_logs/std_log_process_0.txt"] == "task 0\n"
    assert logs["user_logs/std_log_process_1.txt"] == "task 1\n"


def test_interactive_run_has_no_environment_snapshot_or_log(ws: Workspace) -> None:
    run = Experiment(ws, "details-nb").start_logging()
    with pytest.raises(UserErrorException, match="no environment"):
        run.get_environment()
    with pytest.raises(UserErrorException, match="no snapshot"):
        run.restore_snapshot()
    assert run.get_snapshot_id() is None
    details = run.get_details_with_logs()
    assert details["logFiles"] == {} and "endTimeUtc" not in details and details["status"] == "Running"
    run.complete()
    assert "endTimeUtc" in run.get_details()


def test_interactive_run_snapshot_and_metrics_of_its_family(ws: Workspace, tmp_path: Path) -> None:
    run = Experiment(ws, "details-nb").start_logging()
    notebook = tmp_path / "notebook"
    (notebook / "data").mkdir(parents=True)
    (notebook / "prep.py").write_text("print('prep')\n")
    (notebook / "data" / "big.csv").write_text("a,b\n")
    (notebook / ".amlignore").write_text("data/\n")
    first = run.take_snapshot(notebook)
    assert run.get_snapshot_id() == first
    with zipfile.ZipFile(run.restore_snapshot(path=tmp_path)) as zf:
        assert sorted(zf.namelist()) == [".amlignore", "prep.py"]  # data/ left out, as at submit
    second = run.take_snapshot(notebook / "prep.py")
    assert second != first and run.get_snapshot_id() == second
    with zipfile.ZipFile(run.restore_snapshot(path=tmp_path)) as zf:
        assert zf.namelist() == ["prep.py"]

    run.log("A", 1)
    tagged = run.create_children(tag_key="fold", tag_values=["1", "2"])
    tagged[1].tag("best")
    for each in tagged:
        each.complete()
    assert [c.id for c in run.get_children(tags={"fold": "2", "best": None})] == [tagged[1].id]
    assert [c.id for c in run.get_children(tags="best")] == [tagged[1].id]
    assert [c.id for c in run.get_children(tags={"fold": "1"})] == [tagged[0].id]
    child = run.child_run()
    child.log("A", 2)
    grandchild = child.child_run()
    grandchild.log("B", "deep")
    for each in (grandchild, child):
        each.complete()
    # As Azure's example: {'123': {'A': 1}, '456': {'A': 2}}, keyed by run id, every run under it.
    family = {run.id: {"A": 1}, tagged[0].id: {}, tagged[1].id: {}, child.id: {"A": 2}, grandchild.id: {"B": "deep"}}
    assert run.get_metrics(recursive=True) == family
    assert run.get_metrics("A", recursive=True) == {**family, grandchild.id: {}}
    run.add_properties({"kind": "cv"})
    assert [r.id for r in Run.list(run.experiment, properties="kind")] == [run.id]
    assert [r.id for r in Run.list(run.experiment, properties={"kind": "other"})] == []
    assert len(Run.list(run.experiment, include_children=True)) == 5  # it, 2 tagged, a child, a grandchild
    run.complete()
    assert [r.id for r in Run.list(run.experiment, status="Completed", tags=None)] == [run.id]
    with pytest.raises(WebserviceException, match="cannot change"):
        submitted = submit(ws, tmp_path / "src", {"train.py": "print(1)\n"})
        submitted.take_snapshot(notebook)


def test_offline_run_outside_any_run(capsys: pytest.CaptureFixture[str]) -> None:
    from azureml.core import Run as AzureRun

    with AzureRun.get_context() as run:
        assert run.id.startswith("OfflineRun_") and len(run.id) == len("OfflineRun_") + 36
        run.log("acc", 0.5)
        run.tag("a")
        run.set_tags({"b": 2})
        assert run.remove_tags(["a"]) == {"b": "2"} and run.get_tags() == {"b": "2"}
        child = run.child_run("fold-1")
        assert child.id == f"{run.id}.fold-1" and child.parent is None
        assert run.get_metrics() == {"acc": 0.5}
    assert "Attempted to log scalar metric acc" in capsys.readouterr().err
