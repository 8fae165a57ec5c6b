"""Building an environment ahead of a run, through the API, on a real worker."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from environments.models import Environment, EnvironmentBuild
from tests.conftest import wait_for

pytestmark = [pytest.mark.worker, pytest.mark.xdist_group("live")]


def test_build_endpoint_builds_on_the_target(live: Any, world: Any) -> None:
    spec = {"pip_requirements": [f"six!=0.0.{uuid.uuid4().int % 10**9}"]}
    assert (
        world.alice.client.post("/api/environments/", {"name": "prebuilt", "spec": spec}, format="json").status_code
        == 201
    )
    version = Environment.objects.get(name="prebuilt").latest_version()
    response = world.alice.client.post(f"/api/environment-versions/{version.pk}/build/", {}, format="json")
    assert response.status_code == 202, response.content
    build_id = response.json()["id"]
    build = wait_for(
        lambda: EnvironmentBuild.objects.filter(pk=build_id, status__in=["succeeded", "failed"]).first(),
        timeout=300,
        what="the build",
    )
    assert build.status == "succeeded", build.error
    log = world.alice.client.get(f"/api/environment-builds/{build_id}/log/").json()["lines"]
    assert any("Environment ready" in line["text"] for line in log)
    bad = world.alice.client.post(
        f"/api/environment-versions/{version.pk}/build/", {"compute_target": "nope"}, format="json"
    )
    assert bad.status_code == 400 and "compute_target" in bad.json()
    other = world.bob.client.post(f"/api/environment-versions/{version.pk}/build/", {}, format="json")
    assert other.status_code == 404


def test_a_target_with_an_invalid_stored_config_is_refused(world: Any) -> None:
    from compute.models import ComputeTarget

    # Saved before configs were validated (or edited in the database): no shared_dir.
    ComputeTarget.objects.create(name="raw-slurm", kind="slurm", config={"partition": "x"})
    made = world.alice.client.post("/api/environments/", {"name": "unbuilt", "spec": {}}, format="json")
    assert made.status_code == 201, made.content
    version = Environment.objects.get(name="unbuilt").latest_version()
    response = world.alice.client.post(
        f"/api/environment-versions/{version.pk}/build/", {"compute_target": "raw-slurm"}, format="json"
    )
    assert response.status_code == 400 and response.json() == {
        "compute_target": ["Compute target 'raw-slurm' has an invalid config: shared_dir: This key is required."]
    }
    assert not EnvironmentBuild.objects.exists()
