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


def test_a_preparing_run_points_at_its_build_while_it_builds(live: Any, world: Any) -> None:
    import fcntl
    from pathlib import Path

    from django.conf import settings

    from runs.models import Run
    from runs.status import Status
    from tests.executor.helpers import submit, wait_status

    spec = {"pip_requirements": [f"six!=0.0.{uuid.uuid4().int % 10**9}"]}
    made = world.alice.client.post("/api/environments/", {"name": "slow", "spec": spec}, format="json")
    assert made.status_code == 201, made.content
    version = Environment.objects.get(name="slow").latest_version()
    root = Path(settings.RUNYARD["ENV_DIR"])
    root.mkdir(parents=True, exist_ok=True)
    # Holding the build's lock keeps the run's build waiting: the run stays Preparing.
    with open(root / f"{version.content_hash}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        run_id = submit(world.alice, {"train.py": "print('hi')"}, environment="slow:1")["id"]
        run = wait_for(
            lambda: Run.objects.filter(pk=run_id, build__isnull=False).first(), timeout=60, what="the build link"
        )
        assert run.status == Status.PREPARING
        detail = world.alice.client.get(f"/api/runs/{run_id}/").json()
        assert detail["build"] == run.build_id
        build = world.alice.client.get(f"/api/environment-builds/{run.build_id}/").json()
        assert build["content_hash"] == version.content_hash and build["status"] == "pending"
    done = wait_status(run_id, timeout=300)
    assert done.status == Status.COMPLETED, done.error
    assert done.build_id == run.build_id
    assert EnvironmentBuild.objects.get(pk=run.build_id).status == "succeeded"
