"""Environment builds: cached by content hash, built once under concurrency, rebuilt
offline from the recorded pins, and a broken requirement fails the run with the
build log."""

from __future__ import annotations

import json
import shutil
import subprocess
import uuid
from pathlib import Path
from typing import Any

import pytest

from environments.builder import PINS_SUFFIX, uv_binary
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


DATEUTIL = "import dateutil\nprint('dateutil', dateutil.__version__)\n"


def installed(venv: Path) -> list[str]:
    frozen = subprocess.run(
        [uv_binary(), "pip", "freeze", "--python", str(venv / "bin" / "python")],
        capture_output=True,
        text=True,
        check=True,
    )
    return sorted(frozen.stdout.split())


def build_log(build_id: int) -> list[str]:
    return list(BuildLogLine.objects.filter(build_id=build_id).order_by("seq").values_list("text", flat=True))


def rebuild(world: Any, venv: Path) -> Run:
    shutil.rmtree(venv)
    run = wait_status(submit(world.alice, {"train.py": DATEUTIL}, environment="pinned")["id"], timeout=300)
    assert run.status == Status.COMPLETED, run.error
    return run


def test_rebuild_installs_the_recorded_pins_offline_and_falls_back_online(live: Any, world: Any) -> None:
    fresh_env(world, "pinned", "python-dateutil")  # has dependencies: --no-deps must still install them
    first = wait_status(submit(world.alice, {"train.py": DATEUTIL}, environment="pinned")["id"], timeout=300)
    assert first.status == Status.COMPLETED, first.error
    build = EnvironmentBuild.objects.get(pk=first.build_id)
    venv = Path(build.path)
    packages = installed(venv)
    home = (venv / "pyvenv.cfg").read_text().splitlines()[0]  # the base interpreter
    assert len(packages) > 1 and any(p.startswith("python-dateutil==") for p in packages), packages
    pins_file = venv.parent / f"{build.content_hash}{PINS_SUFFIX}"
    recorded = json.loads(pins_file.read_text())
    assert sorted(recorded["pins"]) == packages

    # The venv is gone (pruned, disk cleaned): the rebuild installs the same pins offline.
    second = rebuild(world, venv)
    assert second.build_id == build.pk
    log = build_log(build.pk)
    assert any(t.startswith(f"Installing the {len(packages)} packages of the previous build offline") for t in log), log
    assert not any(t.startswith(("Installing:", "Offline install failed")) for t in log), log
    assert installed(venv) == packages
    assert (venv / "pyvenv.cfg").read_text().splitlines()[0] == home
    assert any("offline" in t for t in lines(second.pk, rank=-1))  # mirrored to the run's log

    # Pins uv cannot install offline: the venv is recreated and built online.
    pins_file.write_text(json.dumps({**recorded, "pins": ["no-such-package-runyard==1.0"]}))
    rebuild(world, venv)
    log = build_log(build.pk)
    assert any(t.startswith("Offline install failed") for t in log), log
    assert any(t.startswith("Installing: python-dateutil") for t in log), log
    assert installed(venv) == packages
    assert sorted(json.loads(pins_file.read_text())["pins"]) == packages  # recorded again

    # A pins file that is not even JSON is ignored: an ordinary online build.
    pins_file.write_text("not json {")
    rebuild(world, venv)
    log = build_log(build.pk)
    assert any(t.startswith("Installing: python-dateutil") for t in log), log
    assert not any("offline" in t for t in log), log
    assert installed(venv) == packages
