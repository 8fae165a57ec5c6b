"""The OpenAPI schema is valid and complete (no generator warnings), and it tells the truth:
every JSON GET of the API, and the other actions the web app reads, answer with exactly the
shape their operation documents (no undocumented key, no missing one, no null where none is
allowed), checked with jsonschema against the generated schema."""

from __future__ import annotations

import io
from datetime import timedelta
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml
from django.core.management import call_command
from django.utils import timezone

from audit.services import record
from compute.models import ComputeTarget
from datasets.models import Dataset, DatasetVersion, Datastore
from environments.models import BuildLogLine, Environment, EnvironmentBuild, PackageIndex, TeamSecret
from runs import logstore
from runs.models import LogChunk, Run, RunInput, RunProcess, RunStatusChange
from runs.status import Status
from scheduling.models import TeamQuota
from tests.factories import make_run


def test_openapi_schema_validates_without_warnings(tmp_path: Path) -> None:
    out = tmp_path / "schema.yml"
    call_command("spectacular", "--validate", "--fail-on-warn", "--file", str(out))
    text = out.read_text()
    assert "/api/runs/{id}/cancel/" in text and "tokenAuth" in text


@pytest.fixture(scope="module")
def schema(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    out = tmp_path_factory.mktemp("schema") / "schema.yml"
    call_command("spectacular", "--file", str(out))
    return yaml.safe_load(out.read_text())  # type: ignore[no-any-return]


def _to_json_schema(node: Any, components: dict[str, Any], depth: int = 0) -> Any:
    """OpenAPI 3.0 → JSON Schema: refs inlined, ``nullable`` as a null alternative, and
    objects with listed properties closed (an undocumented key is an error)."""
    assert depth < 40, "recursive schema"
    if isinstance(node, list):
        return [_to_json_schema(n, components, depth + 1) for n in node]
    if not isinstance(node, dict):
        return node
    if "$ref" in node:
        return _to_json_schema(components[node["$ref"].rsplit("/", 1)[-1]], components, depth + 1)
    out = {k: _to_json_schema(v, components, depth + 1) for k, v in node.items() if k != "nullable"}
    if "properties" in out and "additionalProperties" not in out:
        out["additionalProperties"] = False
    if node.get("nullable"):
        return {"anyOf": [out, {"type": "null"}]}
    return out


def documented(schema: dict[str, Any], path: str, method: str, code: int) -> dict[str, Any]:
    """The JSON response schema of one operation, as the schema's own text has it."""
    return schema["paths"][path][method]["responses"][str(code)]["content"]["application/json"]["schema"]  # type: ignore[no-any-return]


def check(schema: dict[str, Any], path: str, method: str, response: Any) -> None:
    assert response["Content-Type"].startswith("application/json"), (path, response["Content-Type"])
    body = response.json()
    wanted = _to_json_schema(documented(schema, path, method, response.status_code), schema["components"]["schemas"])
    try:
        jsonschema.validate(body, wanted)
    except jsonschema.ValidationError as exc:
        where = "/".join(str(p) for p in exc.absolute_path)
        raise AssertionError(f"{method.upper()} {path} {response.status_code} at '{where}': {exc.message}") from None


@pytest.fixture
def populated(world: Any, settings: Any, tmp_path: Path) -> dict[str, int]:
    """One of every object the API shows, each with the optional parts set (so nullable
    and nested shapes are exercised): ids by the path's first segment."""
    settings.RUNYARD = {**settings.RUNYARD, "ARTIFACT_DIR": tmp_path / "artifacts", "DATASTORE_ROOTS": [tmp_path]}
    (tmp_path / "store" / "sub").mkdir(parents=True)
    (tmp_path / "store" / "a.txt").write_text("a")
    client = world.alice.client
    run = make_run(
        world.alice.user, world.team_a, distributed={"type": "mpi", "node_count": 1, "process_count_per_node": 2}
    )
    now = timezone.now()
    RunStatusChange.objects.create(run=run, from_status=Status.NOT_STARTED, to_status=Status.QUEUED, reason="x")
    RunStatusChange.objects.create(
        run=run, from_status=Status.QUEUED, to_status=Status.RUNNING, actor=world.alice.user, at=now
    )
    RunProcess.objects.create(run=run, rank=0, host="h", pid=12, exit_code=0, started_at=now, ended_at=now)
    RunProcess.objects.create(run=run, rank=1, local_rank=1)
    logstore.store_lines(run.pk, 1, [(0, LogChunk.Stream.STDOUT, "hello"), (-1, LogChunk.Stream.SYSTEM, "done")], now)
    run.log_seq = 2
    run.save(update_fields=["log_seq"])
    store = Datastore.objects.create(name="scratch", root_path=str(tmp_path / "store"), created_by=world.admin.user)
    dataset = Dataset.objects.create(name="mnist", team=world.team_a, created_by=world.alice.user)
    version = DatasetVersion.objects.create(dataset=dataset, version=1, tags={"k": "v"}, datastore=store)
    RunInput.objects.create(run=run, name="train", mode="mount", dataset_version=version, local_path="/in")
    RunInput.objects.create(run=run, name="raw", mode="download", datastore=store, datastore_path="sub")
    env = Environment.objects.get(name="Runyard-Python-3.11")
    build = EnvironmentBuild.objects.create(
        content_hash=env.latest_version().content_hash, kind="venv", started_at=now - timedelta(seconds=3)
    )
    BuildLogLine.objects.create(build=build, seq=1, text="resolving", at=now)
    upload = io.BytesIO(b"weights")
    upload.name = "model.bin"
    assert client.post(f"/api/runs/{run.pk}/artifacts/", {"file": upload, "name": "out/model.bin"}).status_code == 201
    points = [{"name": "loss", "value": 0.5, "step": 1}, {"name": "cm", "kind": "row", "payload": {"a": 1}}]
    assert client.post(f"/api/runs/{run.pk}/metrics/", points, format="json").status_code == 201
    model = client.post(
        f"/api/runs/{run.pk}/register-model/",
        {"model_name": "m", "model_path": "out/model.bin", "model_framework": "Custom", "tags": {"a": "b"}},
        format="json",
    )
    assert model.status_code == 201, model.content
    RunInput.objects.create(run=run, name="m", mode="mount", model_version_id=model.json()["id"], local_path="/m")
    event = record("runs.run.tagged", actor=world.alice.user, obj=run, changes={"tags": {"a": "1"}})
    table = io.BytesIO(b"a,b\n1,x\n")
    table.name = "t.csv"
    tabular = client.post(
        "/api/datasets/register/", {"name": "table", "files": [table], "tabular": '{"parse": {"format": "delimited"}}'}
    )
    assert tabular.status_code == 201, tabular.content
    return {
        "tabular-version": tabular.json()["id"],
        "models": model.json()["model"],
        "model-versions": model.json()["id"],
        "runs": run.pk,
        "experiments": run.experiment_id,
        "environments": env.pk,
        "environment-versions": env.latest_version().pk,
        "environment-builds": build.pk,
        "compute-targets": ComputeTarget.objects.get(name="local").pk,
        "datastores": store.pk,
        "datasets": dataset.pk,
        "dataset-versions": version.pk,
        "teams": world.team_a.pk,
        "events": event.pk,
        "team-secrets": TeamSecret.objects.create(team=world.team_a, name="hf", value="v").pk,
        "package-indexes": PackageIndex.objects.get(name="pytorch-cpu").pk,
        "schedule": ComputeTarget.objects.get(name="local").pk,
        "team-quotas": TeamQuota.objects.create(
            team=world.team_a, compute_target=ComputeTarget.objects.get(name="local"), share=1
        ).pk,
        "sweeps": _sweep_with_a_scored_child(world),
        **_notifications(world, run),
    }


def _notifications(world: Any, run: Run) -> dict[str, int]:
    """The admin's own channel and subscription (they are per user), a notification and a delivery."""
    from notifications.models import Channel, Delivery, Notification, Subscription

    admin = world.admin.user
    channel = Channel.objects.create(user=admin, name="hook", kind="webhook", address="https://h.test/x", secret="s")
    sub = Subscription.objects.create(user=admin, experiment=run.experiment, events=["run.failed"], causes=["oom"])
    sub.channels.add(channel)
    note = Notification.objects.create(user=admin, event="run.failed", run=run, title="t", level="error", cause="oom")
    Delivery.objects.create(notification=note, channel=channel, status="sent", attempts=1, response_code=200)
    return {"notification-channels": channel.pk, "notification-subscriptions": sub.pk}


def _sweep_with_a_scored_child(world: Any) -> int:
    from runs import metricstore
    from sweeps import controller
    from tests.sweeps.helpers import create_sweep, hyperdrive

    made = create_sweep(world.alice, hyperdrive({"a": ["choice", [[1, 2]]]}))
    assert made.status_code == 201, made.content
    sweep_id = int(made.json()["id"])
    controller.advance(sweep_id)
    child = Run.objects.filter(parent_id=sweep_id).first()
    assert child is not None
    metricstore.store(child, [{"name": "acc", "value": 0.5, "step": 1}])
    return sweep_id


def test_every_json_get_answers_with_its_documented_shape(world: Any, populated: dict[str, int], schema: Any) -> None:
    client = world.admin.client
    checked = []
    for path, operations in schema["paths"].items():
        get = operations.get("get")
        if get is None or "application/json" not in get["responses"].get("200", {}).get("content", {}):
            continue
        if path.startswith("/api/2.0/"):
            continue  # MLflow's API: required ids in the query, MLflow's shapes (tests/mlflow)
        parts = path.strip("/").split("/")
        resource = parts[2] if parts[1] in ("auth", "audit") else parts[1]
        # A tabular version's preview needs a tabular version.
        key = "tabular-version" if path == "/api/dataset-versions/{id}/preview/" else resource
        url = path.replace("{id}", str(populated.get(key, 0)))
        # The compare endpoints take the runs in a required ?ids=.
        response = client.get(url, {"ids": populated["runs"]} if path.startswith("/api/runs/compare/") else {})
        assert response.status_code == 200, (url, response.content[:300])
        check(schema, path, "get", response)
        checked.append(path)
    # The run actions that used to be documented as a RunDetail are among them.
    for action in ("processes", "status-history", "inputs", "logs", "artifacts", "metrics"):
        assert f"/api/runs/{{id}}/{action}/" in checked


def test_run_actions_are_not_documented_as_a_run(schema: Any) -> None:
    run = {"$ref": "#/components/schemas/RunDetail"}
    for action in ("processes", "status-history", "inputs", "logs", "artifacts"):
        body = documented(schema, f"/api/runs/{{id}}/{action}/", "get", 200)
        assert body != run and body.get("items") != run, action
    assert documented(schema, "/api/runs/{id}/processes/", "get", 200)["items"]["$ref"].endswith("/RunProcess")
    assert documented(schema, "/api/runs/{id}/logs/", "get", 200)["$ref"].endswith("/LogPage")


def test_run_statuses_are_one_enum_component(schema: Any) -> None:
    """The web app's ALL_STATUSES is generated from this component."""
    assert schema["components"]["schemas"]["RunStatusEnum"]["enum"] == list(Status.values)
    history = schema["components"]["schemas"]["StatusChange"]["properties"]
    assert history["from"] == history["to"] == {"$ref": "#/components/schemas/RunStatusEnum"}


def test_writes_and_errors_answer_with_their_documented_shape(
    world: Any, populated: dict[str, int], schema: Any
) -> None:
    client, run = world.alice.client, populated["runs"]
    check(
        schema, "/api/runs/{id}/tag/", "post", client.post(f"/api/runs/{run}/tag/", {"tags": {"a": 1}}, format="json")
    )
    check(schema, "/api/runs/{id}/cancel/", "post", client.post(f"/api/runs/{run}/cancel/", {}, format="json"))
    check(schema, "/api/runs/{id}/logs/", "get", client.get(f"/api/runs/{run}/logs/", {"after": "x"}))
    missing = client.get(f"/api/runs/{run}/artifacts/download/", {"path": "nope"})
    assert missing.status_code == 404
    check(schema, "/api/runs/{id}/artifacts/download/", "get", missing)
    download = client.get(f"/api/runs/{run}/artifacts/download/", {"path": "out/model.bin"})
    assert download.status_code == 200 and b"".join(download.streaming_content) == b"weights"
    assert "application/octet-stream" in documented_media(schema, "/api/runs/{id}/artifacts/download/")
    text = client.get(f"/api/runs/{run}/logs/download/")
    assert text["Content-Type"].startswith("text/plain")
    assert "text/plain" in documented_media(schema, "/api/runs/{id}/logs/download/")
    in_use = client.delete(f"/api/dataset-versions/{populated['dataset-versions']}/")
    assert in_use.status_code == 409
    check(schema, "/api/dataset-versions/{id}/", "delete", in_use)
    env = populated["environments"]
    spec = {"spec": {"pip_requirements": ["six"]}, "description": "more"}
    check(
        schema,
        "/api/environments/{id}/versions/",
        "post",
        world.admin.client.post(f"/api/environments/{env}/versions/", spec, format="json"),
    )
    check(
        schema,
        "/api/environments/{id}/versions/",
        "post",
        world.admin.client.post(
            f"/api/environments/{env}/versions/", {"spec": {"python_version": "two"}}, format="json"
        ),
    )


def documented_media(schema: dict[str, Any], path: str) -> list[str]:
    return list(schema["paths"][path]["get"]["responses"]["200"]["content"])


def test_sign_in_and_session_answer_with_their_documented_shape(world: Any, schema: Any) -> None:
    from rest_framework.test import APIClient

    anon = APIClient()
    check(schema, "/api/auth/session/", "get", anon.get("/api/auth/session/"))
    credentials = {"username": "alice", "password": "alice-pw-123!"}
    check(schema, "/api/auth/token/", "post", anon.post("/api/auth/token/", credentials, format="json"))
    wrong = anon.post("/api/auth/token/", {**credentials, "password": "no"}, format="json")
    assert wrong.status_code == 400
    check(schema, "/api/auth/token/", "post", wrong)
    signed_in = anon.post("/api/auth/session/", credentials, format="json")
    check(schema, "/api/auth/session/", "post", signed_in)
    session = anon.get("/api/auth/session/")
    assert session.json()["authenticated"] is True
    check(schema, "/api/auth/session/", "get", session)


def test_the_helper_catches_an_undocumented_key(schema: Any) -> None:
    """The shape check itself can fail: an extra key, a missing one, a wrong null."""
    components = schema["components"]["schemas"]
    process = _to_json_schema({"$ref": "#/components/schemas/RunProcess"}, components)
    good = {
        "rank": 0,
        "node_rank": 0,
        "local_rank": 0,
        "role": "worker",
        "host": "",
        "pid": None,
        "status": "pending",
        "exit_code": None,
        "started_at": None,
        "ended_at": None,
    }
    jsonschema.validate(good, process)
    for bad in ({**good, "extra": 1}, {k: v for k, v in good.items() if k != "host"}, {**good, "rank": None}):
        with pytest.raises(jsonschema.ValidationError):
            jsonschema.validate(bad, process)
