"""The curated Runyard-PyTorch-2.13-CPU environment is CPU-only: inside a run,
``torch.version.cuda`` is None. What uv would install is checked first with the
worker's own package sources: a CUDA build of torch is several GB."""

from __future__ import annotations

import os
import subprocess
import tempfile
from typing import Any

import pytest

from environments import indexes
from environments.builder import uv_binary
from environments.models import BuildLogLine, Environment
from environments.spec import pip_requirements_of
from runs.status import Status
from tests.executor.helpers import lines, submit, wait_status

pytestmark = [pytest.mark.worker, pytest.mark.xdist_group("live")]

CHECK = """
import torch
print("torch", torch.__version__, "cuda", torch.version.cuda)
assert torch.version.cuda is None, torch.version.cuda
print("sum", float(torch.ones(3).sum()))
"""


def resolved(spec: dict[str, Any]) -> list[str]:
    """The pins ``uv pip compile`` gives for ``spec`` with the sources a build would use."""
    sources = indexes.without_unreachable(indexes.sources_for(spec), print)
    with tempfile.NamedTemporaryFile("w", suffix=".txt") as reqs:
        reqs.write("\n".join(pip_requirements_of(spec)) + "\n")
        reqs.flush()
        python = spec["python_version"]
        cmd = [uv_binary(), "pip", "compile", reqs.name, "--python-version", python, "--no-header", *sources.uv_args()]
        done = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, **sources.uv_env()})
    assert done.returncode == 0, done.stderr
    return [line.strip() for line in done.stdout.splitlines() if line.strip() and not line.lstrip().startswith("#")]


@pytest.mark.slow
def test_the_curated_pytorch_cpu_environment_runs_cpu_torch(live: Any, world: Any) -> None:
    version = Environment.objects.get(name="Runyard-PyTorch-2.13-CPU").latest_version()
    assert version.spec["package_indexes"] == ["pytorch-cpu"]
    pins = resolved(version.spec)
    assert "torch==2.13.0+cpu" in pins, pins
    assert not [p for p in pins if p.startswith(("nvidia", "triton", "cuda"))], pins

    run = wait_status(
        submit(world.alice, {"train.py": CHECK}, environment="Runyard-PyTorch-2.13-CPU")["id"], timeout=900
    )
    assert run.status == Status.COMPLETED, run.error
    out = lines(run.pk, rank=0)
    assert "torch 2.13.0+cpu cuda None" in out and "sum 3.0" in out, out
    build_log = list(BuildLogLine.objects.filter(build_id=run.build_id).values_list("text", flat=True))
    # A build directory left by an earlier stack on a shared env dir is reused without a
    # log of its own; the pins above hold either way.
    if build_log:
        assert any("'pytorch-cpu'" in text for text in build_log), build_log  # used, or said to be unreachable
    assert not any("+cu" in text or "nvidia" in text for text in build_log), build_log
