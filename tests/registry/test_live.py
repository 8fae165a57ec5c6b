"""The model registry end to end (live stack: ASGI server + Celery worker + sandboxed
runs): Azure-style code registers a model inside a run and from the client, uploads one
from local files, and another run reads it through Model.get_model_path; the CLI does
the same round trip."""

from __future__ import annotations

import io
import json
import os
import re
import subprocess
import sys
import textwrap
import uuid
from collections.abc import Iterator
from contextlib import redirect_stderr
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings

from datasets import mounts
from registry.models import ModelVersion
from runyard import Dataset, Environment, Experiment, Model, ScriptRunConfig, WebserviceException, Workspace
from runyard.exceptions import ModelNotFoundException

pytestmark = [pytest.mark.worker, pytest.mark.xdist_group("live")]
ROOT = Path(__file__).resolve().parents[2]

TRAIN = """
import sys
from pathlib import Path
from azureml.core import Run, Dataset

run = Run.get_context()
data = Path(sys.argv[2])
labels = (data / "labels.txt").read_text().strip()
run.log("loss", 0.5)
run.log("loss", 0.25)
run.log("accuracy", 0.9)
out = Path("outputs/model")
out.mkdir(parents=True, exist_ok=True)
(out / "weights.txt").write_text("weights for " + labels)
(out / "config.json").write_text('{"layers": 2}')
model = run.register_model(
    model_name=sys.argv[4],
    model_path="outputs/model",
    tags={"stage": "trained"},
    properties={"accuracy": "0.9"},
    model_framework="Custom",
    model_framework_version="1.0",
)
print("registered", model.id, model.run_id)
"""

SCORE = """
import errno, sys
from pathlib import Path
from azureml.core.model import Model

name = sys.argv[2]
path = Model.get_model_path(name, version=int(sys.argv[3]))
print("path", path, "argument", sys.argv[1], "same", path == sys.argv[1])
print("weights", (Path(path) / "weights.txt").read_text())
try:
    (Path(path) / "weights.txt").write_text("overwritten")
    print("write ALLOWED")
except OSError as exc:
    print("write refused", errno.errorcode.get(exc.errno, exc.errno))
try:
    Model.get_model_path("not-an-input")
except Exception as exc:
    print("missing", type(exc).__name__)
"""


@pytest.fixture
def ws(live: Any, world: Any) -> Iterator[Workspace]:
    yield Workspace(live.url, world.alice.key)
    mounts.unmount_under(Path(settings.RUNYARD["WORK_DIR"]))


def submit(ws: Workspace, folder: Path, script: str, source: str, arguments: list[Any]) -> Any:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / script).write_text(textwrap.dedent(source))
    config = ScriptRunConfig(
        source_directory=folder,
        script=script,
        arguments=arguments,
        compute_target=ws.compute_targets["local"],
        environment=Environment.get(workspace=ws, name="Runyard-Python-3.11"),
    )
    run = Experiment(ws, "models").submit(config)
    out = io.StringIO()
    run.wait_for_completion(show_output=True, stream=out, raise_on_error=False)
    assert run.get_status() == "Completed", out.getvalue()
    return run, out.getvalue()


def test_register_in_a_run_from_the_client_and_from_files_then_use_it_in_another_run(
    ws: Workspace, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    name = f"clf-{uuid.uuid4().hex[:8]}"
    data = tmp_path / "data"
    data.mkdir()
    (data / "labels.txt").write_text("cats\n")
    dataset = Dataset.File.from_files(str(data)).register(ws, f"labels-{name}", show_progress=False)

    train, log = submit(
        ws,
        tmp_path / "train",
        "train.py",
        TRAIN,
        ["--data", dataset.as_named_input("labels").as_mount(), "--name", name],
    )
    assert f"registered {name}:1 {train.id}" in log
    v1 = Model(ws, name)
    assert (v1.version, v1.run_id, v1.experiment_name) == (1, train.id, "models")
    assert v1.tags == {"stage": "trained"} and v1.properties == {"accuracy": "0.9"}
    assert (v1.model_framework, v1.model_framework_version) == ("Custom", "1.0")
    assert v1.metrics == {"accuracy": 0.9, "loss": 0.25}
    assert [(d["name"], d["version"]) for d in v1.datasets["training"]] == [(dataset.name, 1)]
    assert v1.environment and v1.environment.startswith("Runyard-Python-3.11:")
    assert v1.url.endswith(f"/models/versions/{v1._version_id}")

    # From the client, on the finished run: the collected outputs, nothing uploaded again.
    v2 = train.register_model(name, "outputs/model", description="again")
    assert (v2.version, v2.run_id, v2.description) == (2, train.id, "again")
    files = {f.path: f.sha256 for f in ModelVersion.objects.get(pk=v2._version_id).files.all()}
    assert files == {f.path: f.sha256 for f in ModelVersion.objects.get(pk=v1._version_id).files.all()}
    assert sorted(files) == ["model/config.json", "model/weights.txt"]

    # From local files, with upload progress.
    local = tmp_path / "local" / "model"
    local.mkdir(parents=True)
    (local / "weights.txt").write_text("hand made")
    progress = io.StringIO()
    with redirect_stderr(progress):
        v3 = Model.register(ws, model_path=str(local), model_name=name, tags={"src": "laptop"})
    assert v3.version == 3 and v3.run_id is None and "Uploading model" in progress.getvalue()

    assert [m.version for m in Model.list(ws, name=name)] == [3, 2, 1]
    assert [m.version for m in Model.list(ws, name=name, latest=True)] == [3]
    assert [m.version for m in Model.list(ws, tags=[["src", "laptop"]])] == [3]
    assert [m.version for m in Model.list(ws, run_id=train.id)] == [2, 1]
    assert ws.models[name].version == 3

    # Another run reads version 2 read-only through get_model_path (and as its argument).
    score, log = submit(ws, tmp_path / "score", "score.py", SCORE, [Model(ws, name, version=2), name, "2"])
    workdir = Path(settings.RUNYARD["WORK_DIR"]) / score.id
    expected = str(workdir / "azureml-models" / name / "2" / "model")
    assert f"path {expected} argument {expected} same True" in log
    assert "weights weights for cats" in log
    assert "write refused" in log and "ALLOWED" not in log
    assert "missing ModelNotFoundException" in log

    # Version 2 is an input of that run now: deleting it is refused and says so.
    with pytest.raises(WebserviceException) as refused:
        v2.delete()
    assert refused.value.status == 409 and f"run {score.id}" in str(refused.value)

    check_download_tags_and_delete(ws, name, v1, v3, tmp_path, monkeypatch)


def check_download_tags_and_delete(
    ws: Workspace, name: str, v1: Model, v3: Model, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Download, tags, properties.
    target = tmp_path / "downloaded"
    path = v1.download(str(target))
    assert path == str(target / "model") and (target / "model" / "weights.txt").read_text() == "weights for cats"
    with pytest.raises(WebserviceException):
        v1.download(str(target))
    assert v1.download(str(target), exist_ok=True) == path
    v1.add_tags({"best": "yes"})
    v1.remove_tags(["stage"])
    v1.add_properties({"reviewed": "true"})
    again = Model(ws, name, version=1)
    assert again.tags == {"best": "yes"} and again.properties == {"accuracy": "0.9", "reviewed": "true"}
    with pytest.raises(WebserviceException):
        again.add_properties({"accuracy": "0.1"})
    v3.delete()
    assert [m.version for m in Model.list(ws, name=name)] == [2, 1]
    with pytest.raises(ModelNotFoundException):
        Model(ws, name, version=3)

    # Outside a run, get_model_path looks in the local cache, and downloads with a workspace.
    monkeypatch.chdir(tmp_path)
    cached = Model.get_model_path(name, version=1, _workspace=ws)
    assert Path(cached) == Path("azureml-models") / name / "1" / "model"
    assert Model.get_model_path(name) == cached


def cli(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RUNYARD_")}
    env["PYTHONPATH"] = str(ROOT)
    return subprocess.run(
        [sys.executable, "-m", "runyard", *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=300
    )


def test_cli_register_list_show_download_and_submit_with_a_model(live: Any, world: Any, tmp_path: Path) -> None:
    base = ["--url", live.url, "--token", world.alice.key]
    name = f"cli-{uuid.uuid4().hex[:8]}"
    (tmp_path / "model.pkl").write_text("pickled")
    made = cli(tmp_path, *base, "model", "register", name, "model.pkl", "--tag", "k=v", "--framework", "ScikitLearn")
    assert made.returncode == 0, made.stderr
    assert f"Registered model {name} version 1" in made.stdout
    listed = cli(tmp_path, *base, "model", "list", "--name", name, "--json")
    assert [(m["name"], m["version"], m["tags"]) for m in json.loads(listed.stdout)] == [(name, 1, {"k": "v"})]
    shown = cli(tmp_path, *base, "model", "show", f"{name}:1")
    assert shown.returncode == 0 and "model.pkl  7" in shown.stdout and "ScikitLearn" in shown.stdout
    out = tmp_path / "out"
    fetched = cli(tmp_path, *base, "model", "download", name, "-o", str(out))
    assert fetched.returncode == 0, fetched.stderr
    assert (out / "model.pkl").read_text() == "pickled"
    assert cli(tmp_path, *base, "model", "show", "nope").returncode == 1

    proj = tmp_path / "proj"
    proj.mkdir()
    (proj / "score.py").write_text(
        f"from runyard import Model\nprint('model says', open(Model.get_model_path({name!r})).read())\n"
    )
    (proj / "argv.py").write_text(
        "import os, sys\ntext = open(sys.argv[1]).read()\nprint('argument says', text)\n"
        "os.makedirs('outputs', exist_ok=True)\nopen('outputs/echo.txt', 'w').write(text)\n"
    )
    run = cli(proj, *base, "submit", "--model", name, "--follow", "score.py")
    assert run.returncode == 0, run.stderr
    assert "model says pickled" in run.stdout
    run = cli(proj, *base, "submit", "--follow", "argv.py", f"@model:{name}:1")
    assert run.returncode == 0, run.stderr
    assert "argument says pickled" in run.stdout
    run_id = re.search(r"Submitted run (\d+)", run.stdout + run.stderr).group(1)  # type: ignore[union-attr]
    # A run's artifacts, registered from the command line: nothing is uploaded.
    made = cli(proj, *base, "model", "register", f"{name}-echo", "outputs/echo.txt", "--run", run_id, "--json")
    assert made.returncode == 0, made.stderr
    assert json.loads(made.stdout)["runId"] == run_id
    produced = cli(proj, *base, "model", "list", "--run", run_id, "--json")
    assert [m["name"] for m in json.loads(produced.stdout)] == [f"{name}-echo"]
