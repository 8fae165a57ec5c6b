"""Model inputs made local without the live stack: the version appears at
azureml-models/<name>/<version>/ (mounted read-only, or copied), its argument becomes the
model's path, and release() detaches the mount."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from datasets import mounts
from execution import materialize
from runs import inputs
from tests.datasets.helpers import folder, post_parts
from tests.factories import make_run


def test_mounted_and_downloaded_model_inputs(world: Any, tmp_path: Path) -> None:
    client = world.alice.client
    for content in ("v1", "v2"):
        answer = post_parts(client, "/api/models/register/", {"model_name": "cnn"}, folder({"model/w.txt": content}))
        assert answer.status_code == 201, answer.content
    single = post_parts(client, "/api/models/register/", {"model_name": "one"}, folder({"clf.pkl": "pickle"}))
    assert single.status_code == 201
    arguments: list[Any] = ["--model", {"model": "cnn", "version": 1}, {"model": "one", "mode": "download"}]
    run = make_run(world.alice.user, world.team_a, arguments=arguments)
    inputs.attach(run, inputs.resolve(world.team_a, arguments))
    inputs.attach(run, inputs.resolve(world.team_a, [{"model": "cnn", "name": "latest_cnn"}], where="inputs"))
    workdir = tmp_path / "work"
    workdir.mkdir()
    said: list[str] = []
    try:
        args, paths, mounted = materialize.inputs(run, workdir, said.append)
        cnn = workdir / "azureml-models" / "cnn" / "1" / "model"
        one = workdir / "azureml-models" / "one" / "1" / "clf.pkl"
        assert args == ["--model", str(cnn), str(one)]
        assert paths == {"cnn": str(cnn), "one": str(one), "latest_cnn": str(workdir / "azureml-models/cnn/2/model")}
        assert (cnn / "w.txt").read_text() == "v1" and one.read_text() == "pickle"
        assert Path(paths["latest_cnn"], "w.txt").read_text() == "v2"
        assert sorted(str(at.relative_to(workdir)) for _, at, _ in mounted) == [
            "azureml-models/cnn/1",
            "azureml-models/cnn/2",
        ]
        assert all(read_only for _, _, read_only in mounted)
        assert any("model cnn:1 (1 files, 2 B) mounted at" in line for line in said), said
        assert any("model one:1 (1 files, 6 B) downloaded to" in line for line in said), said
        recorded = {i.name: i.local_path for i in run.inputs.all()}
        assert recorded == paths
        listed = client.get(f"/api/runs/{run.pk}/inputs/").json()
        assert sorted((i["name"], i["model"], i["version"]) for i in listed) == [
            ("cnn", "cnn", 1),
            ("latest_cnn", "cnn", 2),
            ("one", "one", 1),
        ]
    finally:
        materialize.release(run, workdir)
    assert mounts.mounts_under(workdir) == []
