"""GET /api/workspace/: what the SDK's Workspace reports, from the server's settings."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.test import override_settings

from runs.models import Run
from tests.executor.helpers import submit


def test_workspace_reports_the_configured_names(world: Any) -> None:
    config = {"NAME": "ml-prod", "REGION": "eu-west", "RESOURCE_GROUP": "team-ml", "SUBSCRIPTION_ID": "lab-7"}
    with override_settings(WORKSPACE=config, PUBLIC_URL="https://runyard.example.com"):
        answer = world.bob.client.get("/api/workspace/")
    assert answer.status_code == 200
    assert answer.json() == {
        "name": "ml-prod",
        "url": "https://runyard.example.com",
        "location": "eu-west",
        "resource_group": "team-ml",
        "subscription_id": "lab-7",
        "tags": {},
        "version": "0.1.0",
    }


def test_text_metric_needs_a_string(world: Any) -> None:
    run = Run.objects.get(pk=submit(world.alice, {"train.py": "print(1)\n"})["id"])
    bad = world.alice.client.post(
        f"/api/runs/{run.pk}/metrics/", {"points": [{"name": "k", "kind": "text", "payload": 3}]}, format="json"
    )
    assert bad.status_code == 400 and "payload" in str(bad.json())
    good = world.alice.client.post(
        f"/api/runs/{run.pk}/metrics/", {"points": [{"name": "k", "kind": "text", "payload": "rbf"}]}, format="json"
    )
    assert good.status_code in (200, 201), good.content
    assert world.alice.client.get(f"/api/runs/{run.pk}/metrics/").json()["k"][0]["payload"] == "rbf"


def test_target_created_without_a_kind_gets_the_cluster_kind_and_config(world: Any) -> None:
    cluster = {**settings.RUNYARD, "CLUSTER_KIND": "docker", "CLUSTER_CONFIG": {"shm_size": "2g"}}
    body = {"name": "gpu-cluster", "max_nodes": 3, "max_concurrent_runs": 3, "description": "AmlCompute"}
    with override_settings(RUNYARD=cluster):
        assert world.alice.client.post("/api/compute-targets/", body, format="json").status_code == 403
        made = world.admin.client.post("/api/compute-targets/", body, format="json")
    assert made.status_code == 201, made.content
    assert (made.json()["kind"], made.json()["max_nodes"], made.json()["config"]) == ("docker", 3, {"shm_size": "2g"})
    local = world.admin.client.post("/api/compute-targets/", {**body, "name": "cpu-cluster"}, format="json")
    assert local.status_code == 201, local.content  # the default kind: local, one node
    assert (local.json()["kind"], local.json()["max_nodes"], local.json()["max_concurrent_runs"]) == ("local", 1, 3)
    with override_settings(RUNYARD={**settings.RUNYARD, "CLUSTER_KIND": "cloud"}):
        bad = world.admin.client.post("/api/compute-targets/", {**body, "name": "c3"}, format="json")
    assert bad.status_code == 400 and "kind" in bad.json()


def test_deleting_a_target_that_runs_use_answers_409(world: Any) -> None:
    target = world.admin.client.post("/api/compute-targets/", {"name": "busy", "max_nodes": 1}, format="json").json()
    submit(world.alice, {"train.py": "print(1)\n"}, compute_target="busy")
    answer = world.admin.client.delete(f"/api/compute-targets/{target['id']}/")
    assert answer.status_code == 409 and "disable it instead" in answer.json()["detail"]
