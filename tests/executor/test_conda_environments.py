"""Conda-style environments as Azure ML users write them, built for real with uv from
the machine's package index and imported in runs: ``CondaDependencies.create``,
``add_conda_package``, an environment.yml with ``python=X.Y``, ``RunConfiguration(
conda_dependencies=...)``; a Python the worker lacks fails the run naming the
versions it has; ``user_managed_dependencies`` installs nothing.

Packages are small ones the local index has (msgpack and pyyaml have cp311 wheels
only, so the Python 3.10 build uses pure-Python ones)."""

from __future__ import annotations

import io
import textwrap
import uuid
from pathlib import Path
from typing import Any

import pytest

from environments.builder import _uv_env
from environments.models import BuildLogLine, EnvironmentBuild
from environments.pythons import available
from runyard import CondaDependencies, Environment, Experiment, ScriptRunConfig, Workspace
from runyard.exceptions import ActivityFailedException
from runyard.runconfig import RunConfiguration
from tests.executor.helpers import lines

pytestmark = [pytest.mark.worker, pytest.mark.xdist_group("live")]


@pytest.fixture
def ws(live: Any, world: Any) -> Workspace:
    return Workspace(live.url, world.alice.key)


def source(root: Path, script: str) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / "train.py").write_text(textwrap.dedent(script))
    return root


def run_output(ws: Workspace, src: ScriptRunConfig) -> tuple[Any, str]:
    run = Experiment(ws, "conda").submit(src)
    out = io.StringIO()
    run.wait_for_completion(show_output=True, stream=out)
    return run, out.getvalue()


def build_log_of(run: Any) -> list[str]:
    from runs.models import Run

    build_id = Run.objects.get(pk=run.number).build_id
    return list(BuildLogLine.objects.filter(build_id=build_id).order_by("seq").values_list("text", flat=True))


def unique() -> str:
    # A never-seen exclusion makes a new content hash, so each test builds for real.
    return f"six!=0.0.{uuid.uuid4().int % 10**9}"


IMPORTS = """
import sys, msgpack, yaml, six
print("imported msgpack", msgpack.version, "yaml", yaml.__version__, "six", six.__version__)
print("python", "%d.%d" % sys.version_info[:2])
"""


def test_create_with_conda_packages_builds_and_imports_them(ws: Workspace, tmp_path: Path) -> None:
    env = Environment("conda-create")
    env.python.conda_dependencies = CondaDependencies.create(
        conda_packages=["msgpack-python", "pyyaml=6"], pip_packages=[unique()], python_version="3.11"
    )
    src = ScriptRunConfig(source(tmp_path / "src", IMPORTS), "train.py", compute_target="local", environment=env)
    run, output = run_output(ws, src)
    assert "imported msgpack (1," in output and "yaml 6." in output and "python 3.11" in output, output
    log = build_log_of(run)
    assert "  msgpack-python -> msgpack (renamed: PyPI's name for msgpack-python)" in log, log
    assert "  pyyaml=6 -> pyyaml==6.* (conda's '=6' is pip's '==6.*')" in log, log
    version = ws.client.get(f"/api/environment-versions/{env._version_id}/")
    assert version["conda"]["channels"] == ["conda-forge"]
    assert [p["pip"] for p in version["conda"]["packages"]] == ["msgpack", "pyyaml==6.*"]


def test_add_conda_package_through_a_run_configuration(ws: Workspace, tmp_path: Path) -> None:
    deps = CondaDependencies()
    deps.add_conda_package("msgpack-python>=1.0")
    deps.add_conda_package("pyyaml")
    deps.add_conda_package("pyyaml==6.0.3")  # replaces the line above, as in Azure
    deps.add_pip_package(unique())
    config = RunConfiguration(conda_dependencies=deps)
    config.target = "local"
    src = ScriptRunConfig(source(tmp_path / "src", IMPORTS), "train.py", run_config=config)
    run, output = run_output(ws, src)
    assert "yaml 6.0.3 six" in output, output
    assert "  pyyaml==6.0.3 -> pyyaml==6.0.3" in build_log_of(run)


def test_environment_yml_with_a_python_pin(ws: Workspace, tmp_path: Path) -> None:
    versions = {i.minor for i in available(*_uv_env())}
    if (3, 10) not in versions:
        pytest.skip(f"this worker has no Python 3.10 ({sorted(versions)})")
    spec_file = tmp_path / "environment.yml"
    spec_file.write_text(
        textwrap.dedent(f"""\
        name: project_environment
        channels:
          - conda-forge
          - defaults
        dependencies:
          - python=3.10
          - toolz>=0.12
          - libgcc-ng
          - pip:
            - {unique()}
        """)
    )
    env = Environment.from_conda_specification("conda-yml", spec_file)
    script = """
    import sys, toolz, six
    from azureml.core import Run
    Run.get_context().log("python_minor", sys.version_info[1])
    print("python", "%d.%d" % sys.version_info[:2], "toolz", toolz.__version__, "six", six.__version__)
    """
    src = ScriptRunConfig(source(tmp_path / "src", script), "train.py", compute_target="local", environment=env)
    run, output = run_output(ws, src)
    assert "python 3.10 toolz 1." in output, output
    assert run.get_metrics()["python_minor"] == 10  # the in-run SDK works on 3.10
    log = build_log_of(run)
    assert any(line.startswith("Using Python 3.10.") for line in log), log
    assert any(line.startswith("  warning: libgcc-ng skipped:") for line in log), log
    assert "  channels conda-forge, defaults: recorded, not used (packages come from the server's index)" in log


def test_a_python_the_worker_lacks_fails_the_run_naming_the_versions(ws: Workspace, tmp_path: Path) -> None:
    have = available(*_uv_env())
    missing = f"3.{max(i.minor[1] for i in have) + 1}"
    env = Environment("conda-missing-python")
    env.python.conda_dependencies = CondaDependencies.create(python_version=missing, pip_packages=[unique()])
    src = ScriptRunConfig(source(tmp_path / "src", "print('never')\n"), "train.py", environment=env)
    run = Experiment(ws, "conda").submit(src)
    with pytest.raises(ActivityFailedException) as caught:
        run.wait_for_completion(show_output=False)
    message = str(caught.value)
    assert f"Python {missing} is not available on this worker (it has: " in message, message
    assert all(i.version in message for i in have) and "RUNYARD_PYTHON_FALLBACK=nearest-newer" in message


def test_user_managed_dependencies_install_nothing_and_say_so(ws: Workspace, tmp_path: Path) -> None:
    env = Environment("user-managed")
    env.python.user_managed_dependencies = True
    # Listed packages are not installed; a unique one makes a hash never built before.
    env.python.conda_dependencies = CondaDependencies.create(pip_packages=[unique()], conda_packages=["msgpack-python"])
    script = """
    import sys, sysconfig
    print("prefix differs", sys.prefix != sys.base_prefix, "base", sys.base_prefix)
    """
    src = ScriptRunConfig(source(tmp_path / "src", script), "train.py", compute_target="local", environment=env)
    first, output = run_output(ws, src)
    assert "prefix differs True" in output, output
    log = build_log_of(first)
    assert any(line.startswith("user_managed_dependencies=True: the run uses the base interpreter") for line in log)
    assert not any(line.startswith("Installing") for line in log), log
    from runs.models import Run

    venv = Path(EnvironmentBuild.objects.get(pk=Run.objects.get(pk=first.number).build_id).path)
    assert "include-system-site-packages = true" in (venv / "pyvenv.cfg").read_text()
    assert not list(venv.glob("lib/python*/site-packages/*.dist-info")), "something was installed"
    second, _ = run_output(ws, src)  # cached: the run's own log says it
    assert any(t.startswith("user_managed_dependencies=True") for t in lines(second.number, rank=-1))
