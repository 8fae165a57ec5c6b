"""GET /api/workspace/: what the SDK's Workspace reports, from the server's settings."""

from __future__ import annotations

from typing import Any

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
