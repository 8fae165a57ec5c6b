"""Unchanged Azure ML training scripts in runs: ``from azureml.core.run import Run`` is
Runyard's Run, whether or not the run's environment installed an ``azureml`` package, and
a metric that cannot be delivered is said in the run's log."""

from __future__ import annotations

import base64
import functools
import hashlib
import zipfile
from pathlib import Path
from typing import Any

import pytest

from runs import metricstore
from runs.status import Status
from tests.executor.helpers import lines, submit, wait_status

pytestmark = [pytest.mark.worker, pytest.mark.xdist_group("live")]

BANNER = "azureml: Runyard's compatibility layer"

AZURE_SCRIPT = """
from azureml.core import Run as CoreRun, VERSION
from azureml.core.run import Run

assert Run is CoreRun
run = Run.get_context()
print("azureml.core", VERSION, "run", run.id)
for step in range(5):
    run.log("loss", 1.0 / (step + 1), step=step)
run.log("final_acc", 0.93)
"""

# What an environment with Microsoft's packages has in site-packages, reduced to the
# part that matters: a pkgutil-style ``azureml`` whose Run accepts metrics and drops them
# (what happened to runs before), plus a subpackage Runyard does not provide.
STANDIN_FILES = {
    "azureml/__init__.py": "__path__ = __import__('pkgutil').extend_path(__path__, __name__)\n",
    "azureml/core/__init__.py": "from azureml.core.run import Run\nVERSION = '1.0.0-standin'\n",
    "azureml/core/run.py": (
        "class Run:\n"
        "    id = 'dropped'\n"
        "    @classmethod\n"
        "    def get_context(cls):\n"
        "        return cls()\n"
        "    def log(self, *args, **kwargs):\n"
        "        pass  # silently dropped\n"
    ),
    "azureml/widgets/__init__.py": "SOURCE = 'the environment'\n",
}


def standin_wheel(folder: Path) -> Path:
    """A real wheel of a distribution named azureml-core that occupies the namespace."""
    dist = "azureml_core-0.0.1"
    files = {
        **STANDIN_FILES,
        f"{dist}.dist-info/METADATA": "Metadata-Version: 2.1\nName: azureml-core\nVersion: 0.0.1\n",
        f"{dist}.dist-info/WHEEL": (
            "Wheel-Version: 1.0\nGenerator: runyard-tests\nRoot-Is-Purelib: true\nTag: py3-none-any\n"
        ),
    }
    record = []
    for name, text in files.items():
        digest = base64.urlsafe_b64encode(hashlib.sha256(text.encode()).digest()).rstrip(b"=").decode()
        record.append(f"{name},sha256={digest},{len(text.encode())}")
    record.append(f"{dist}.dist-info/RECORD,,")
    path = folder / f"{dist}-py3-none-any.whl"
    with zipfile.ZipFile(path, "w") as wheel:
        for name, text in files.items():
            wheel.writestr(name, text)
        wheel.writestr(f"{dist}.dist-info/RECORD", "\n".join(record) + "\n")
    return path


def metrics_of(run_id: int) -> dict[str, list[float | None]]:
    return {name: [p.value for p in points] for name, points in metricstore.points(run_id).items()}


def test_azure_script_logs_metrics_without_microsofts_packages(live: Any, world: Any) -> None:
    probe = AZURE_SCRIPT + (
        "try:\n    import azureml.widgets\nexcept ModuleNotFoundError as exc:\n    print('not here:', exc.name)\n"
    )
    run = wait_status(submit(world.alice, {"train.py": probe})["id"], timeout=300)
    assert run.status == Status.COMPLETED, run.error
    assert metrics_of(run.pk) == {"final_acc": [0.93], "loss": [1.0, 0.5, 1 / 3, 0.25, 0.2]}
    out = lines(run.pk, rank=0)
    assert sum(BANNER in text for text in out) == 1, out
    assert f"azureml.core 0.1.0 run {run.pk}" in out
    assert "not here: azureml.widgets" in out


def test_azure_script_logs_metrics_when_the_environment_has_an_azureml_package(
    live: Any, world: Any, tmp_path: Path
) -> None:
    import http.server
    import threading

    wheel = standin_wheel(tmp_path)
    # Served over HTTP: builds run sandboxed and see neither this test's /tmp nor its files.
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(tmp_path))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    spec = {"pip_requirements": [f"azureml-core @ http://127.0.0.1:{server.server_address[1]}/{wheel.name}"]}
    response = world.alice.client.post("/api/environments/", {"name": "with-azureml", "spec": spec}, format="json")
    assert response.status_code == 201, response.content
    script = AZURE_SCRIPT + (
        "import azureml.widgets, importlib.metadata\n"
        "print('widgets from', azureml.widgets.SOURCE)\n"
        "print('installed', importlib.metadata.version('azureml-core'))\n"
    )
    try:
        run = wait_status(submit(world.alice, {"train.py": script}, environment="with-azureml")["id"], timeout=300)
    finally:
        server.shutdown()
    assert run.status == Status.COMPLETED, run.error
    out = lines(run.pk, rank=0)
    assert "installed 0.0.1" in out  # the stand-in really is in the environment
    assert "widgets from the environment" in out  # other azureml.* still come from it
    assert f"azureml.core 0.1.0 run {run.pk}" in out  # but azureml.core is Runyard's
    assert metrics_of(run.pk) == {"final_acc": [0.93], "loss": [1.0, 0.5, 1 / 3, 0.25, 0.2]}


def test_undeliverable_metrics_are_said_in_the_run_log(live: Any, world: Any) -> None:
    script = "import os\nos.environ['RUNYARD_URL'] = 'http://127.0.0.1:9'\n" + AZURE_SCRIPT
    run = wait_status(submit(world.alice, {"train.py": script})["id"], timeout=300)
    out = lines(run.pk, rank=0)
    assert any("runyard: cannot send metrics" in text for text in out), out
    assert any("could not send" in text and "metric points" in text for text in out), out
    # The worker's own system/ samples are not the script's metrics.
    assert not [name for name in metricstore.points(run.pk) if not name.startswith("system/")]
