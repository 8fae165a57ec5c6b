"""The docker compute kind against a real engine (Podman's Docker API, tests/infra):
image builds with pip packages and their cache, single-container runs with logs,
outputs and exit codes, cancel, the time limit, and cleanup of every container and
network of a run."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from compute.models import ComputeTarget
from environments.models import Environment, EnvironmentBuild
from runs.models import Artifact, Run, RunProcess
from runs.status import Status
from tests.conftest import wait_for
from tests.docker.helpers import leftovers
from tests.executor.helpers import NASTY_OUTPUT, assert_nasty_log, lines, submit, wait_status

pytestmark = [pytest.mark.docker, pytest.mark.worker, pytest.mark.xdist_group("live")]

SIX_SCRIPT = """
import os, sys, six
print("six", six.__version__, "python", sys.version_info[:2], "greeting", os.environ["GREETING"])
print("in a container", os.path.exists("/.dockerenv") or os.path.exists("/run/.containerenv"))
os.makedirs("outputs", exist_ok=True)
with open("outputs/result.txt", "w") as fh:
    fh.write("done")
print("warning line", file=sys.stderr)
"""


def _never_built(requirement: str) -> list[str]:
    """``requirement`` plus a never-seen exclusion: a content hash of its own, so the
    test builds cold whatever ran before it in this engine."""
    name = requirement.split("=", 1)[0]
    return [requirement, f"{name}!=0.0.{uuid.uuid4().int % 10**9}"]


def _environment(world: Any, name: str, spec: dict[str, Any]) -> Environment:
    env = Environment.objects.create(name=name, team=world.team_a)
    env.add_version(spec)
    return env


def test_image_build_with_pip_packages_run_and_cache_hit(
    docker_target: ComputeTarget, world: Any, docker_client: Any
) -> None:
    _environment(
        world, "six-env", {"pip_requirements": _never_built("six==1.16.0"), "environment_variables": {"GREETING": "hi"}}
    )
    first = wait_status(
        submit(world.alice, {"train.py": SIX_SCRIPT}, compute_target="docker", environment="six-env")["id"], timeout=600
    )
    log = "\n".join(lines(first.pk))
    assert first.status == Status.COMPLETED, f"{first.error}\n{log}"
    assert lines(first.pk, rank=0, stream="stdout") == ["six 1.16.0 python (3, 11) greeting hi", "in a container True"]
    assert lines(first.pk, rank=0, stream="stderr") == ["warning line"]
    assert first.exit_code == 0
    assert Artifact.objects.filter(run=first, path="outputs/result.txt").exists()
    assert "CA certificates added" in log and "Successfully installed six-1.16.0" in log
    build = EnvironmentBuild.objects.get(pk=first.build_id)
    assert (build.kind, build.status, build.location) == ("image", "succeeded", docker_target.config["base_url"])
    assert build.path.startswith("runyard-env:") and docker_client.images.get(build.path)
    assert build.log_seq > 0
    assert leftovers(docker_client, first.pk) == []
    procs = list(RunProcess.objects.filter(run=first).values_list("rank", "host", "exit_code"))
    assert procs == [(0, f"runyard-{procs[0][1].split('-')[1]}-{first.pk}-node0", 0)]

    second = wait_status(
        submit(world.alice, {"train.py": SIX_SCRIPT}, compute_target="docker", environment="six-env")["id"]
    )
    assert second.status == Status.COMPLETED, second.error
    assert second.build_id == first.build_id
    assert any(t.startswith("Using cached image runyard-env:") for t in lines(second.pk))
    assert not any("Successfully installed" in t for t in lines(second.pk))


def test_build_through_the_api_and_failed_build_fails_the_run(
    docker_target: ComputeTarget, world: Any, docker_client: Any
) -> None:
    env = _environment(world, "broken", {"pip_requirements": ["runyard-no-such-package-xyz==0.0.1"]})
    run = wait_status(
        submit(world.alice, {"train.py": "print('never')"}, compute_target="docker", environment="broken")["id"],
        timeout=300,
    )
    assert run.status == Status.FAILED
    assert run.error.startswith("Environment build failed: the image build failed")
    assert "runyard-no-such-package-xyz" in run.error  # the log's tail
    assert EnvironmentBuild.objects.get(kind="image", content_hash=env.versions.get().content_hash).status == "failed"
    assert leftovers(docker_client, run.pk) == []


def test_failing_script_fails_with_its_exit_code(docker_target: ComputeTarget, world: Any, docker_client: Any) -> None:
    script = "import sys\nprint('bad', file=sys.stderr)\nsys.exit(7)\n"
    run = wait_status(submit(world.alice, {"train.py": script}, compute_target="docker")["id"], timeout=300)
    assert run.status == Status.FAILED and run.exit_code == 7
    assert "bad" in run.error
    assert leftovers(docker_client, run.pk) == []


def test_cancel_stops_the_container(docker_target: ComputeTarget, world: Any, docker_client: Any) -> None:
    script = "import time\nprint('started', flush=True)\ntime.sleep(300)\n"
    made = submit(world.alice, {"train.py": script}, compute_target="docker")
    wait_for(lambda: "started" in lines(made["id"], rank=0), timeout=300, what="the script to start")
    # The executor sees the container started within its next state refresh.
    wait_for(lambda: Run.objects.get(pk=made["id"]).status == Status.RUNNING, timeout=60, what="Running")
    assert world.alice.client.post(f"/api/runs/{made['id']}/cancel/").status_code in (200, 202)
    run = wait_status(made["id"], timeout=60)
    assert run.status == Status.CANCELED
    assert any("SIGTERM" in t for t in lines(run.pk))
    assert leftovers(docker_client, run.pk) == []


def test_time_limit_stops_the_run(docker_target: ComputeTarget, world: Any, docker_client: Any) -> None:
    script = "import time\nprint('working', flush=True)\ntime.sleep(300)\n"
    made = submit(world.alice, {"train.py": script}, compute_target="docker", max_run_duration_seconds=8)
    run = wait_status(made["id"], timeout=300)
    assert run.status == Status.FAILED
    assert "time limit" in run.error and "working" in lines(run.pk, rank=0)
    assert leftovers(docker_client, run.pk) == []


def test_build_requested_through_the_api(docker_target: ComputeTarget, world: Any, docker_client: Any) -> None:
    env = _environment(world, "api-built", {"pip_requirements": _never_built("six==1.16.0")})
    version = env.versions.get()
    response = world.alice.client.post(
        f"/api/environment-versions/{version.pk}/build/", {"compute_target": "docker"}, format="json"
    )
    assert response.status_code == 202, response.content
    build_id = response.json()["id"]
    build = wait_for(
        lambda: EnvironmentBuild.objects.filter(pk=build_id, status__in=["succeeded", "failed"]).first(),
        timeout=300,
        what="the image build",
    )
    assert (build.kind, build.status) == ("image", "succeeded"), build.error
    assert docker_client.images.get(build.path)


def test_nul_invalid_utf8_and_a_10_mb_line_reach_the_log(
    docker_target: ComputeTarget, world: Any, docker_client: Any
) -> None:
    # A NUL from a container once went to the database as is: PostgreSQL refuses it, and
    # with it the whole batch of lines; a line without newline grew a buffer without bound.
    run = wait_status(submit(world.alice, {"train.py": NASTY_OUTPUT}, compute_target="docker")["id"], timeout=600)
    assert run.status == Status.COMPLETED, run.error
    assert_nasty_log(run.pk)
    assert leftovers(docker_client, run.pk) == []
