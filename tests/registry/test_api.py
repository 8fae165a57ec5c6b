"""The model registry's REST API: registering from files and from a run's artifacts,
versions, lineage, tags and properties, downloads, deleting, team isolation, audit."""

from __future__ import annotations

import hashlib
import io
import json
import tarfile
from typing import Any

from rest_framework.test import APIClient

from audit.models import AuditEvent
from datasets.storage import blob_path
from registry.models import ModelVersion
from runs import metricstore
from runs.models import RunInput, RunToken
from tests.conftest import make_tar
from tests.datasets.helpers import folder, post_parts
from tests.factories import make_run


def upload(name: str, content: bytes | str) -> io.BytesIO:
    part = io.BytesIO(content.encode() if isinstance(content, str) else content)
    part.name = name
    return part


def register_files(client: APIClient, name: str, files: dict[str, str], **fields: Any) -> Any:
    return post_parts(client, "/api/models/register/", {"model_name": name, **fields}, folder(files))


def artifact(client: APIClient, run_id: int, path: str, content: str) -> None:
    answer = client.post(f"/api/runs/{run_id}/artifacts/", {"file": upload("f", content), "name": path})
    assert answer.status_code == 201, answer.content


def sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def test_register_files_twice_makes_versions_1_and_2(world: Any) -> None:
    client = world.alice.client
    first = register_files(
        client,
        "mnist-cnn",
        {"model/weights.bin": "w1", "model/config.json": '{"layers": 3}'},
        tags={"stage": "dev"},
        properties={"accuracy": "0.91"},
        description="first try",
        model_framework="PyTorch",
        model_framework_version="2.3",
    )
    assert first.status_code == 201, first.content
    v1 = first.json()
    assert (v1["name"], v1["version"], v1["file_count"], v1["total_size"]) == ("mnist-cnn", 1, 2, 2 + 13)
    assert v1["tags"] == {"stage": "dev"} and v1["properties"] == {"accuracy": "0.91"}
    assert (v1["framework"], v1["framework_version"], v1["created_by"], v1["team"]) == (
        "PyTorch",
        "2.3",
        "alice",
        "default",
    )
    assert v1["run"] is None and v1["datasets"] == [] and v1["metrics"] == {}
    second = register_files(client, "mnist-cnn", {"model/weights.bin": "w2", "model/config.json": '{"layers": 3}'})
    assert second.status_code == 201 and second.json()["version"] == 2
    listed = client.get("/api/models/").json()["results"]
    assert [(m["name"], m["version_count"], m["latest_version"]["version"]) for m in listed] == [("mnist-cnn", 2, 2)]
    versions = client.get(f"/api/models/{listed[0]['id']}/versions/").json()["results"]
    assert [v["version"] for v in versions] == [2, 1]
    detail = client.get(f"/api/model-versions/{v1['id']}/").json()
    assert detail["files"] == [
        {"path": "model/config.json", "size": 13, "sha256": sha('{"layers": 3}')},
        {"path": "model/weights.bin", "size": 2, "sha256": sha("w1")},
    ]
    # The shared config file is stored once.
    assert blob_path(sha('{"layers": 3}')).read_text() == '{"layers": 3}'
    assert AuditEvent.objects.filter(action="registry.modelversion.registered").count() == 2


def test_bad_registrations_name_the_field(world: Any) -> None:
    client = world.alice.client
    assert "model_name" in register_files(client, "", {"a": "1"}).json()
    assert "model_name" in register_files(client, "no spaces allowed", {"a": "1"}).json()
    assert "files" in client.post("/api/models/register/", {"model_name": "x"}).json()
    assert "files" in register_files(client, "evil", {"../up.txt": "x"}).json()
    assert "tags" in register_files(client, "x", {"a": "1"}, tags="[1, 2]").json()
    answer = register_files(client, "x", {"a": "1"}, model_framework_version="1.0")
    assert answer.status_code == 400 and "model_framework" in answer.json()
    assert not ModelVersion.objects.exists()


def test_register_from_run_artifacts_with_lineage(world: Any) -> None:
    client = world.alice.client
    ds = client.post("/api/datasets/register/", {"name": "digits", "files": [make_tar({"a.csv": "1,2"})]}).json()
    run = make_run(world.alice.user, world.team_a)
    RunInput.objects.create(run=run, name="digits", mode="mount", dataset_version_id=ds["id"])
    metricstore.store(
        run,
        [{"name": "loss", "value": v} for v in (0.9, 0.5, 0.2)]
        + [{"name": "acc", "value": 0.97}, {"name": "opt", "kind": "text", "payload": "adam"}],
    )
    artifact(client, run.pk, "outputs/model/weights.bin", "trained")
    artifact(client, run.pk, "outputs/model/meta.json", "{}")
    artifact(client, run.pk, "outputs/other.txt", "x")
    answer = client.post(
        f"/api/runs/{run.pk}/register-model/",
        {"model_name": "digits-clf", "model_path": "outputs/model", "tags": {"from": "run"}},
        format="json",
    )
    assert answer.status_code == 201, answer.content
    version = answer.json()
    assert version["run"] == run.pk and version["run_number"] == run.pk and version["experiment_name"] == "exp"
    assert version["source_path"] == "outputs/model"
    assert version["environment"] == f"Runyard-Python-3.11:{run.environment_version.version}"
    assert [(d["name"], d["version"]) for d in version["datasets"]] == [("digits", 1)]
    assert version["metrics"] == {"acc": 0.97, "loss": 0.2, "opt": "adam"}
    files = client.get(f"/api/model-versions/{version['id']}/").json()["files"]
    assert [f["path"] for f in files] == ["model/meta.json", "model/weights.bin"]
    # Metrics logged later do not change what the version recorded.
    metricstore.store(run, [{"name": "loss", "value": 0.01}])
    assert client.get(f"/api/model-versions/{version['id']}/").json()["metrics"]["loss"] == 0.2
    # One file: registered under its own name; the run page lists what it produced.
    single = client.post(
        f"/api/runs/{run.pk}/register-model/", {"model_name": "other", "model_path": "outputs/other.txt"}, format="json"
    ).json()
    assert [f["path"] for f in client.get(f"/api/model-versions/{single['id']}/").json()["files"]] == ["other.txt"]
    produced = client.get("/api/model-versions/", {"run": run.pk}).json()["results"]
    assert sorted(v["name"] for v in produced) == ["digits-clf", "other"]
    missing = client.post(
        f"/api/runs/{run.pk}/register-model/", {"model_name": "m", "model_path": "outputs/nope"}, format="json"
    )
    assert missing.status_code == 400 and "outputs/other.txt" in missing.json()["model_path"][0]


def test_run_token_registers_from_its_own_run_only(world: Any) -> None:
    run = make_run(world.alice.user, world.team_a)
    other = make_run(world.alice.user, world.team_a)
    artifact(world.alice.client, run.pk, "outputs/m.pkl", "pickle")
    artifact(world.alice.client, other.pk, "outputs/m.pkl", "pickle")
    token = APIClient()
    token.credentials(HTTP_AUTHORIZATION=f"Token {RunToken.issue(run)}")
    body = {"model_name": "m", "model_path": "outputs/m.pkl"}
    mine = token.post(f"/api/runs/{run.pk}/register-model/", body, format="json")
    assert mine.status_code == 201 and mine.json()["created_by"] == "alice"
    assert token.post(f"/api/runs/{other.pk}/register-model/", body, format="json").status_code == 404
    assert token.post("/api/models/register/", {"model_name": "x"}).status_code == 403
    assert token.get("/api/models/").status_code == 403


def test_teams_are_isolated(world: Any) -> None:
    version = register_files(world.alice.client, "secret-model", {"m.bin": "x"}).json()
    bob = world.bob.client
    assert bob.get("/api/models/").json()["results"] == []
    assert bob.get("/api/model-versions/").json()["results"] == []
    assert bob.get(f"/api/model-versions/{version['id']}/").status_code == 404
    assert bob.get(f"/api/model-versions/{version['id']}/download/").status_code == 404
    assert bob.patch(f"/api/model-versions/{version['id']}/", {"tags": {}}, format="json").status_code == 404
    assert bob.delete(f"/api/model-versions/{version['id']}/").status_code == 404
    # Bob cannot register into team A, nor from team A's run.
    assert "team" in register_files(bob, "planted", {"m.bin": "x"}, team="default").json()
    run = make_run(world.alice.user, world.team_a)
    artifact(world.alice.client, run.pk, "outputs/m.bin", "x")
    answer = bob.post(f"/api/runs/{run.pk}/register-model/", {"model_name": "m", "model_path": "outputs/m.bin"})
    assert answer.status_code == 404
    # The same name in another team is another model.
    assert register_files(bob, "secret-model", {"m.bin": "y"}).json()["version"] == 1


def test_tags_and_properties_are_edited_and_audited(world: Any) -> None:
    client = world.alice.client
    version = register_files(client, "m", {"m.bin": "x"}, tags={"a": "1", "b": "2"}, properties={"p": "1"}).json()
    url = f"/api/model-versions/{version['id']}/"
    answer = client.post(
        url + "tags/", {"add_tags": {"c": "3"}, "remove_tags": ["a"], "add_properties": {"q": "2"}}, format="json"
    )
    assert answer.status_code == 200, answer.content
    assert answer.json()["tags"] == {"b": "2", "c": "3"} and answer.json()["properties"] == {"p": "1", "q": "2"}
    refused = client.post(url + "tags/", {"add_properties": {"p": "changed"}}, format="json")
    assert refused.status_code == 400 and "properties" in refused.json()
    patched = client.patch(url, {"tags": {"only": "this"}, "description": "better"}, format="json")
    assert patched.status_code == 200 and patched.json()["tags"] == {"only": "this"}
    assert patched.json()["description"] == "better"
    assert client.patch(url, {"framework": "x"}, format="json").json()["framework"] == ""  # read-only
    events = AuditEvent.objects.filter(action="registry.modelversion.updated").order_by("id")
    assert [sorted(e.changes) for e in events] == [["properties", "tags"], ["tags"], ["description"]]
    assert events[0].team == world.team_a and events[0].actor == world.alice.user
    tagged = client.get("/api/model-versions/", {"tag": "only=this"}).json()["results"]
    assert [v["id"] for v in tagged] == [version["id"]]
    assert client.get("/api/model-versions/", {"tag": "only=that"}).json()["results"] == []
    assert len(client.get("/api/model-versions/", {"property": "q"}).json()["results"]) == 1


def test_download_one_file_whole_archive_and_preview(world: Any) -> None:
    client = world.alice.client
    files = {"model/config.json": '{"a":1}', "model/weights.bin": "\0\1\2" * 1000, "model/notes.txt": "hello"}
    version = register_files(client, "dl", files).json()
    url = f"/api/model-versions/{version['id']}/"
    one = client.get(url + "download/", {"path": "model/notes.txt"})
    assert one.status_code == 200 and b"".join(one.streaming_content) == b"hello"
    whole = client.get(url + "download/")
    assert whole.status_code == 200 and whole["Content-Type"] == "application/x-tar"
    with tarfile.open(fileobj=io.BytesIO(b"".join(whole.streaming_content))) as tar:
        got = {m.name: tar.extractfile(m).read().decode() for m in tar.getmembers()}  # type: ignore[union-attr]
    assert got == files
    assert client.get(url + "download/", {"path": "model/nope"}).status_code == 404
    assert client.get(url + "download/", {"path": "../etc/passwd"}).status_code == 400
    preview = client.get(url + "preview/", {"path": "model/config.json"}).json()
    assert preview["kind"] == "json" and json.loads(preview["text"]) == {"a": 1}
    assert client.get(url + "preview/", {"path": "model/weights.bin"}).json()["kind"] == "binary"
    assert client.get(url + "preview/", {"path": "model/notes.txt"}).json()["text"] == "hello"


def test_delete_is_refused_while_a_run_consumes_the_version(
    world: Any, django_capture_on_commit_callbacks: Any
) -> None:
    client = world.alice.client
    version = register_files(client, "used", {"m.bin": "only here"}).json()
    run = make_run(world.alice.user, world.team_a)
    RunInput.objects.create(run=run, name="used", mode="mount", model_version_id=version["id"])
    refused = client.delete(f"/api/model-versions/{version['id']}/")
    assert refused.status_code == 409 and refused.json()["runs"] == [run.pk]
    assert f"run {run.pk}" in refused.json()["detail"] and "'used' version 1" in refused.json()["detail"]
    model_id = version["model"]
    assert client.delete(f"/api/models/{model_id}/").status_code == 409
    RunInput.objects.filter(run=run).delete()
    with django_capture_on_commit_callbacks(execute=True):
        assert client.delete(f"/api/model-versions/{version['id']}/").status_code == 204
    assert not blob_path(sha("only here")).exists()
    event = AuditEvent.objects.get(action="registry.modelversion.deleted")
    assert event.object_repr == "used:1" and event.team == world.team_a
    register_files(client, "used", {"m.bin": "again"})
    assert client.delete(f"/api/models/{model_id}/").status_code == 204
    assert AuditEvent.objects.filter(action="registry.registeredmodel.deleted").count() == 1


def test_a_blob_shared_with_a_dataset_survives_either_delete(
    world: Any, django_capture_on_commit_callbacks: Any
) -> None:
    client = world.alice.client
    ds = client.post("/api/datasets/register/", {"name": "d", "files": [make_tar({"w.bin": "shared"})]}).json()
    version = register_files(client, "m", {"w.bin": "shared"}).json()
    with django_capture_on_commit_callbacks(execute=True):
        assert client.delete(f"/api/dataset-versions/{ds['id']}/").status_code == 204
    assert blob_path(sha("shared")).exists()
    with django_capture_on_commit_callbacks(execute=True):
        assert client.delete(f"/api/model-versions/{version['id']}/").status_code == 204
    assert not blob_path(sha("shared")).exists()


def test_latest_filter(world: Any) -> None:
    client = world.alice.client
    for content in ("1", "2"):
        register_files(client, "a", {"m": content})
    register_files(client, "b", {"m": "x"})
    latest = client.get("/api/model-versions/", {"latest": "true"}).json()["results"]
    assert sorted((v["name"], v["version"]) for v in latest) == [("a", 2), ("b", 1)]


def test_datasets_named_at_registration_join_the_lineage(world: Any) -> None:
    client = world.alice.client
    client.post("/api/datasets/register/", {"name": "digits", "files": [make_tar({"a.csv": "1"})]})
    client.post("/api/datasets/register/", {"name": "digits", "files": [make_tar({"a.csv": "2"})]})
    version = register_files(client, "m", {"m.bin": "x"}, datasets=[{"name": "digits", "version": 1}]).json()
    assert [(d["name"], d["version"]) for d in version["datasets"]] == [("digits", 1)]
    latest = register_files(client, "m", {"m.bin": "x"}, datasets=[{"name": "digits"}]).json()
    assert [(d["name"], d["version"]) for d in latest["datasets"]] == [("digits", 2)]
    refused = register_files(client, "m", {"m.bin": "x"}, datasets=[{"name": "nope"}])
    assert refused.status_code == 400 and "nope" in refused.json()["datasets"][0]
    # Another team's dataset of the same name is not found.
    assert register_files(world.bob.client, "m", {"m.bin": "x"}, datasets=[{"name": "digits"}]).status_code == 400


def test_bad_model_inputs_of_a_run_name_the_argument(world: Any) -> None:
    register_files(world.alice.client, "cnn", {"m.bin": "x"})

    def submit(client: APIClient, *arguments: Any, field: str = "arguments") -> Any:
        return client.post(
            "/api/runs/",
            {"snapshot": make_tar({"train.py": "x"}), "script": "train.py", field: json.dumps(list(arguments))},
            format="multipart",
        )

    cases = [
        ({"model": "nope"}, "arguments[1]: no model named 'nope' in team 'default'"),
        ({"model": "cnn", "version": 4}, "Model 'cnn' has no version 4 (versions: 1)"),
        ({"model": "cnn", "version": "x"}, "Version must be a number or 'latest'"),
        ({"model": "cnn", "path": "x"}, "unknown key(s) path"),
        ({"model": "cnn", "mode": "upload"}, "mode must be 'mount' or 'download'"),
        ({"model": "cnn", "dataset": "d"}, "give one of"),
    ]
    for bad, message in cases:
        response = submit(world.alice.client, "--model", bad)
        assert response.status_code == 400, bad
        assert message in response.json()["arguments"][0], (bad, response.json())
    inputs = submit(world.alice.client, {"model": "nope"}, field="inputs")
    assert inputs.status_code == 400 and "inputs[0]: no model named 'nope'" in inputs.json()["inputs"][0]
    # Bob's team has no model 'cnn': team A's is not found for it.
    refused = submit(world.bob.client, {"model": "cnn"})
    assert refused.status_code == 400 and "no model named 'cnn' in team 'other'" in refused.json()["arguments"][0]
    made = submit(world.alice.client, "--model", {"model": "cnn"})
    assert made.status_code == 201, made.content
    assert RunInput.objects.get(run_id=made.json()["id"]).model_version.version == 1  # type: ignore[union-attr]
