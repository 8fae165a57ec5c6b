"""Which interpreter a venv build uses (environments.pythons), with real ``uv`` builds on
a worker whose interpreters are narrowed to one: a folder on PATH holding only a link
to one real interpreter of this machine. A missing version fails naming the requested
and the available ones; the admin's nearest-newer fallback builds with a warning, and
the cached build made that way is not reused once the fallback is switched off."""

from __future__ import annotations

import subprocess
import uuid
from pathlib import Path
from typing import Any

import pytest
from django.test import override_settings

from environments import pythons
from environments.builder import BuildFailed, _uv_env, ensure_venv
from environments.models import BuildLogLine, Environment, EnvironmentBuild, EnvironmentVersion


@pytest.fixture
def only_one_python(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> pythons.Interpreter:
    """PATH sees one interpreter of this machine (and uv itself, by its path)."""
    real = pythons.available(*_uv_env())[0]
    folder = tmp_path / "bin"
    folder.mkdir()
    (folder / "python3").symlink_to(Path(real.path).resolve())
    monkeypatch.setenv("PATH", str(folder))
    return real


def settings_with(**knobs: Any) -> Any:
    from django.conf import settings

    return override_settings(RUNYARD={**settings.RUNYARD, "PYTHON_SEARCH_DIRS": [], **knobs})


def version_for(world: Any, python: str) -> EnvironmentVersion:
    env = Environment.objects.create(name=f"py-{uuid.uuid4().hex[:8]}", team=world.team_a)
    return env.add_version({"python_version": python})


def log_of(build: EnvironmentBuild) -> list[str]:
    return list(BuildLogLine.objects.filter(build=build).order_by("seq").values_list("text", flat=True))


def version_in(venv: Path) -> str:
    return subprocess.check_output(
        [str(venv / "bin" / "python"), "-c", "import platform; print(platform.python_version())"], text=True
    ).strip()


@pytest.mark.django_db(transaction=True)
def test_missing_version_fails_then_the_fallback_builds_then_is_dropped(
    world: Any, tmp_path: Path, only_one_python: pythons.Interpreter
) -> None:
    real = only_one_python
    older = f"{real.minor[0]}.{real.minor[1] - 1}"
    version = version_for(world, older)
    root = tmp_path / "envs"
    with settings_with(PYTHON_FALLBACK="off"), pytest.raises(BuildFailed) as failed:
        ensure_venv(version, root)
    assert str(failed.value) == (
        f"Python {older} is not available on this worker (it has: {real.version}). Choose one of those "
        "(python_version, or python=X.Y in the conda specification), or ask an admin to allow the nearest "
        "newer version (RUNYARD_PYTHON_FALLBACK=nearest-newer)."
    )

    with settings_with(PYTHON_FALLBACK="nearest-newer"):
        built = ensure_venv(version, root)
        assert not built.cache_hit and version_in(built.path) == real.version
        log = log_of(built.build)
        assert f"warning: Python {older} is not available on this worker; using {real.version}, the nearest " in (
            "\n".join(log)
        )
        assert ensure_venv(version, root).cache_hit  # reused while the fallback still applies

    # The admin switches the fallback off: the build made by it is not reused.
    with settings_with(PYTHON_FALLBACK="off"), pytest.raises(BuildFailed, match=f"Python {older} is not available"):
        ensure_venv(version, root)


@pytest.mark.django_db(transaction=True)
def test_patch_versions_and_the_record_of_the_choice(
    world: Any, tmp_path: Path, only_one_python: pythons.Interpreter
) -> None:
    real = only_one_python
    minor = ".".join(map(str, real.minor))
    with settings_with():
        exact = ensure_venv(version_for(world, real.version), tmp_path)
        assert version_in(exact.path) == real.version
        assert not any(t.startswith("warning:") for t in log_of(exact.build))
        other_patch = f"{minor}.{real.release[2] + 1}"
        near = ensure_venv(version_for(world, other_patch), tmp_path)
        assert f"warning: Python {other_patch} is not on this worker; using {real.version} (same minor version)." in (
            log_of(near.build)
        )
        record = (tmp_path / f"{near.build.content_hash}{pythons.RECORD_SUFFIX}").read_text()
        assert f'"version": "{real.version}"' in record and '"fallback": false' in record
        newer = f"{real.minor[0]}.{real.minor[1] + 1}"
        with pytest.raises(BuildFailed, match=f"Python {newer} is not available on this worker"):
            ensure_venv(version_for(world, newer), tmp_path)


@pytest.mark.django_db(transaction=True)
def test_an_allowed_download_is_tried_and_its_failure_logged(
    world: Any, tmp_path: Path, only_one_python: pythons.Interpreter, monkeypatch: pytest.MonkeyPatch
) -> None:
    # No network here: a mirror folder without the archive makes uv's download fail at once.
    monkeypatch.setenv("UV_PYTHON_INSTALL_MIRROR", (tmp_path / "no-mirror").as_uri())
    monkeypatch.setenv("UV_PYTHON_INSTALL_DIR", str(tmp_path / "installs"))
    newer = f"{only_one_python.minor[0]}.{only_one_python.minor[1] + 1}"
    version = version_for(world, newer)
    with settings_with(PYTHON_DOWNLOADS="automatic"), pytest.raises(BuildFailed, match=f"Python {newer} is not"):
        ensure_venv(version, tmp_path / "envs")
    log = log_of(EnvironmentBuild.objects.get(content_hash=version.content_hash, location=str(tmp_path / "envs")))
    assert f"Python {newer} is not on this worker: asking uv to install it (RUNYARD_PYTHON_DOWNLOADS=automatic)." in log
    assert any("Failed to install cpython" in line for line in log), log
