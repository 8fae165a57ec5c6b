"""Environment builds: cached by content hash, built once under concurrency, and a
broken requirement fails the run with the build log."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from environments.models import BuildLogLine, EnvironmentBuild
from runs.models import Run
from runs.status import Status
from tests.executor.helpers import lines, submit, wait_status

pytestmark = [pytest.mark.worker, pytest.mark.xdist_group("live")]


def fresh_env(world: Any, name: str, requirement: str = "six") -> None:
    # A never-seen exclusion makes a new content hash, so this test builds for real.
    spec = {"pip_requirements": [f"{requirement}!=0.0.{uuid.uuid4().int % 10**9}"]}
    response = world.alice.client.post("/api/environments/", {"name": name, "spec": spec}, format="json")
    assert response.status_code == 201, response.content


SCRIPT = "import six\nprint('six', six.__version__)\n"


def test_second_run_reuses_the_build(live: Any, world: Any) -> None:
    fresh_env(world, "reuse")
    first = wait_status(submit(world.alice, {"train.py": SCRIPT}, environment="reuse")["id"], timeout=300)
    assert first.status == Status.COMPLETED, first.error
    second = wait_status(submit(world.alice, {"train.py": SCRIPT}, environment="reuse")["id"], timeout=300)
    assert second.status == Status.COMPLETED, second.error
    assert first.build_id == second.build_id
    build = EnvironmentBuild.objects.get(pk=first.build_id)
    assert build.status == "succeeded" and build.duration_seconds is not None
    assert any("Using cached environment" in t for t in lines(second.pk, rank=-1))
    assert not any("Installing:" in t for t in lines(second.pk, rank=-1))
    log = world.alice.client.get(f"/api/environment-builds/{build.pk}/log/").json()
    assert any("Environment ready" in ln["text"] for ln in log["lines"])


def test_simultaneous_runs_build_once(live: Any, world: Any) -> None:
    fresh_env(world, "together")
    ids = [submit(world.alice, {"train.py": SCRIPT}, environment="together")["id"] for _ in range(3)]
    runs = [wait_status(i, timeout=300) for i in ids]
    assert all(r.status == Status.COMPLETED for r in runs), [r.error for r in runs]
    assert len({r.build_id for r in runs}) == 1
    build = EnvironmentBuild.objects.get(pk=runs[0].build_id)
    installs = BuildLogLine.objects.filter(build=build, text__startswith="Installing:").count()
    assert installs == 1, "the environment was built more than once"


def test_broken_requirement_fails_the_run_with_the_build_log(live: Any, world: Any) -> None:
    name = f"no-such-package-{uuid.uuid4().hex[:8]}"
    response = world.alice.client.post(
        "/api/environments/", {"name": "broken", "spec": {"pip_requirements": [name]}}, format="json"
    )
    assert response.status_code == 201
    run = wait_status(submit(world.alice, {"train.py": SCRIPT}, environment="broken")["id"], timeout=300)
    assert run.status == Status.FAILED
    assert "Environment build failed" in run.error
    assert name in run.error  # the resolver's message names the package
    build = EnvironmentBuild.objects.filter(status="failed").latest("created_at")
    assert name in build.error
    assert Run.objects.get(pk=run.pk).running_at is None
