"""Failure causes on the docker kind against a real engine: a container over its memory
limit is ``oom`` (the engine's OOMKilled), a traceback is ``user_error`` with its frames."""

from __future__ import annotations

from typing import Any

import pytest

from compute.models import ComputeTarget
from runs.status import Status
from tests.executor.helpers import submit, wait_status

pytestmark = [pytest.mark.docker, pytest.mark.worker, pytest.mark.xdist_group("live")]

HOG = "chunks = []\nwhile True:\n    chunks.append('x' * (16 * 1024 * 1024))\n"
TRACEBACK = "def fit():\n    raise KeyError('labels')\nfit()\n"


def test_container_over_its_memory_limit_is_oom(docker_target: ComputeTarget, world: Any, docker_client: Any) -> None:
    docker_target.config = {**docker_target.config, "memory": "128m"}
    docker_target.save(update_fields=["config"])
    run = wait_status(submit(world.alice, {"train.py": HOG}, compute_target="docker")["id"], timeout=300)
    assert run.status == Status.FAILED and run.cause == "oom", (run.cause, run.cause_evidence, run.error)
    evidence = run.cause_evidence
    if evidence["oom_source"] == "container":
        assert evidence["containers"]  # the engine reported OOMKilled
    else:
        # Rootless engines on cgroup v1 enforce the limit but do not report OOMKilled:
        # the container's SIGKILL under its limit is the evidence.
        assert evidence["oom_source"] == "sigkill" and evidence["signal"] == "SIGKILL"
        assert evidence["memory_limit"] == 128 * 1024 * 1024


def test_traceback_in_a_container_is_user_error(docker_target: ComputeTarget, world: Any, docker_client: Any) -> None:
    run = wait_status(submit(world.alice, {"train.py": TRACEBACK}, compute_target="docker")["id"], timeout=300)
    assert run.status == Status.FAILED and run.cause == "user_error"
    assert run.cause_evidence["exception"] == "KeyError: 'labels'"
    assert [f["function"] for f in run.cause_evidence["frames"]] == ["<module>", "fit"]
