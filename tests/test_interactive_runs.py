"""Interactive and child runs over the API: created Running, ended by the client,
add-only properties, and what a run token may do with the runs under its run."""

from __future__ import annotations

import json
from typing import Any

from rest_framework.test import APIClient

from runs.models import Run, RunInput, RunStatusChange, RunToken
from runs.status import Status
from tests.conftest import make_tar
from tests.executor.helpers import submit


def start(client: APIClient, **body: Any) -> dict[str, Any]:
    answer = client.post("/api/runs/start-logging/", body, format="json")
    assert answer.status_code == 201, answer.content
    return answer.json()


def test_interactive_run_lifecycle(world: Any) -> None:
    run = start(world.alice.client, experiment="nb", tags={"a": 1}, properties={"k": "v"})
    assert (run["status"], run["interactive"], run["compute_target"], run["environment_version"]) == (
        "Running",
        True,
        "",
        None,
    )
    assert run["tags"] == {"a": "1"} and run["properties"] == {"k": "v"}
    done = world.alice.client.post(f"/api/runs/{run['id']}/complete/", {"status": "Completed"}, format="json")
    assert done.status_code == 200 and done.json()["status"] == "Completed"
    moves = list(RunStatusChange.objects.filter(run_id=run["id"]).order_by("id").values_list("to_status", flat=True))
    assert moves == ["Running", "Finalizing", "Completed"]
    again = world.alice.client.post(f"/api/runs/{run['id']}/complete/", {"status": "Failed"}, format="json")
    assert again.status_code == 400 and "status" in again.json()
    listed = world.alice.client.get("/api/runs/", {"experiment": "nb"}).json()["results"]
    assert [(r["id"], r["compute_target"], r["environment"]) for r in listed] == [(run["id"], "", "")]
    assert world.bob.client.get(f"/api/runs/{run['id']}/").status_code == 404  # other team


def test_failing_and_bad_input(world: Any) -> None:
    run = start(world.alice.client, experiment="nb")
    failed = world.alice.client.post(
        f"/api/runs/{run['id']}/complete/", {"status": "Failed", "error": "diverged"}, format="json"
    )
    assert failed.json()["status"] == "Failed" and failed.json()["error"] == "diverged"
    for body, field in [
        ({"experiment": "bad name!"}, "experiment"),
        ({"parent": 999999}, "parent"),
        ({"tags": ["x"]}, "tags"),
    ]:
        answer = world.alice.client.post("/api/runs/start-logging/", body, format="json")
        assert answer.status_code == 400 and field in answer.json(), (body, answer.content)
    left = start(world.alice.client, experiment="nb")
    canceled = world.alice.client.post(f"/api/runs/{left['id']}/cancel/", {}, format="json")
    assert canceled.status_code == 200 and canceled.json()["status"] == "Canceled"  # no worker to wait for
    again = world.alice.client.post("/api/runs/", {"resubmit_of": run["id"]}, format="multipart")
    assert again.status_code == 400 and "is interactive" in str(again.json()["resubmit_of"])
    script_run = submit(world.alice, {"train.py": "print(1)\n"})
    refused = world.alice.client.post(f"/api/runs/{script_run['id']}/complete/", {"status": "Completed"}, format="json")
    assert refused.status_code == 400 and "status" in refused.json()


def test_properties_are_add_only_and_filter_runs(world: Any) -> None:
    run = start(world.alice.client, experiment="props")
    other = start(world.alice.client, experiment="props")
    url = f"/api/runs/{run['id']}/properties/"
    assert world.alice.client.post(url, {"properties": {"algo": "svm", "C": 1}}, format="json").json() == {
        "properties": {"algo": "svm", "C": "1"}
    }
    assert world.alice.client.post(url, {"properties": {"algo": "svm"}}, format="json").status_code == 200
    changed = world.alice.client.post(url, {"properties": {"algo": "rf"}}, format="json")
    assert changed.status_code == 400 and "cannot be changed" in str(changed.json()["properties"])
    assert world.alice.client.post(url, {"properties": {}}, format="json").status_code == 400
    found = world.alice.client.get("/api/runs/", {"property": ["algo=svm", "C=1"]}).json()["results"]
    assert [r["id"] for r in found] == [run["id"]]
    having = world.alice.client.get("/api/runs/", {"property": "algo"}).json()["results"]  # Azure's properties="algo"
    assert [r["id"] for r in having] == [run["id"]]
    assert other["id"] not in [r["id"] for r in found]


def test_run_token_creates_and_uses_children_of_its_run_only(world: Any) -> None:
    parent = Run.objects.get(pk=submit(world.alice, {"train.py": "print(1)\n"})["id"])
    unrelated = start(world.alice.client, experiment="nb")
    token = APIClient()
    token.credentials(HTTP_AUTHORIZATION=f"Token {RunToken.issue(parent)}")
    child = start(token, parent=parent.pk, display_name="fold-1")
    assert (child["parent"], child["experiment"]) == (parent.pk, parent.experiment.name)
    grandchild = start(token, parent=child["id"])
    points = {"points": [{"name": "acc", "value": 0.9}]}
    assert token.post(f"/api/runs/{grandchild['id']}/metrics/", points, format="json").status_code == 201
    added = token.post(f"/api/runs/{child['id']}/properties/", {"properties": {"f": "1"}}, format="json")
    assert added.status_code == 200
    assert token.post(f"/api/runs/{child['id']}/complete/", {"status": "Completed"}, format="json").status_code == 200
    listed = token.get("/api/runs/", {"parent": parent.pk}).json()["results"]
    assert [r["id"] for r in listed] == [child["id"]]
    # Not a top-level run, not another run's child, not another run at all.
    assert token.post("/api/runs/start-logging/", {"experiment": "x"}, format="json").status_code == 400
    assert token.post("/api/runs/start-logging/", {"parent": unrelated["id"]}, format="json").status_code == 400
    assert token.get(f"/api/runs/{unrelated['id']}/").status_code == 404
    assert token.post(f"/api/runs/{unrelated['id']}/complete/", {"status": "Completed"}, format="json").status_code in (
        403,
        404,
    )
    assert Run.objects.get(pk=child["id"]).status == Status.COMPLETED


def test_output_arguments_are_checked_at_submit(world: Any) -> None:
    for output, said in [
        ({"output": "m", "datastore": "nope"}, "no datastore named 'nope'"),
        ({"output": "m", "mode": "mount"}, "an output's mode is 'upload'"),
        ({"output": "m", "register": "bad name/"}, "not a valid dataset name"),
        ({"output": "m", "path": "../up"}, "arguments[1]"),
        ({"output": "m", "colour": "red"}, "unknown key(s) colour"),
    ]:
        answer = world.alice.client.post(
            "/api/runs/",
            {
                "snapshot": make_tar({"train.py": "print(1)\n"}),
                "script": "train.py",
                "arguments": json.dumps(["--o", output]),
            },
            format="multipart",
        )
        assert answer.status_code == 400 and said in str(answer.json()["arguments"]), (output, answer.content)
    made = submit(world.alice, {"train.py": "print(1)\n"}, arguments=["--o", {"output": "m", "path": "x/{run-id}"}])
    stored = RunInput.objects.get(run_id=made["id"])
    assert (stored.mode, stored.datastore_path, stored.datastore.name) == (
        "upload",
        f"x/{made['id']}",
        "workspaceblobstore",
    )
