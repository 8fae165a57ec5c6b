"""Failure-policy defaults set on an environment and on a compute target, through the API,
merged into a submitted run's policy (the run's keys win, then the environment's)."""

from __future__ import annotations

import json
from typing import Any

from compute.models import ComputeTarget
from runs.models import Run
from tests.conftest import make_tar


def test_environment_and_target_defaults_fill_what_the_run_leaves_unset(world: Any) -> None:
    local = ComputeTarget.objects.get(name="local")
    url = f"/api/compute-targets/{local.pk}/"
    target_policy = {"max_retries": {"node_lost": 3, "user_error": 1}, "hang_timeout_seconds": 900}
    assert world.alice.client.patch(url, {"failure_policy": target_policy}, format="json").status_code == 403
    saved = world.admin.client.patch(url, {"failure_policy": target_policy}, format="json")
    assert saved.status_code == 200, saved.content
    assert saved.json()["failure_policy"] == target_policy

    made = world.alice.client.post(
        "/api/environments/",
        {"name": "retrying", "spec": {"pip_requirements": []}, "failure_policy": {"max_retries": {"user_error": 2}}},
        format="json",
    )
    assert made.status_code == 201, made.content
    assert made.json()["failure_policy"] == {"max_retries": {"user_error": 2}}

    submitted = world.alice.client.post(
        "/api/runs/",
        {
            "snapshot": make_tar({"train.py": "print(1)"}),
            "script": "train.py",
            "environment": "retrying",
            "failure_policy": json.dumps({"hang_timeout_seconds": 60}),
        },
        format="multipart",
    )
    assert submitted.status_code == 201, submitted.content
    run = Run.objects.get(pk=submitted.json()["id"])
    assert run.failure_policy == {"max_retries": {"node_lost": 3, "user_error": 2}, "hang_timeout_seconds": 60}


def test_a_bad_default_is_refused_naming_the_key(world: Any) -> None:
    local = ComputeTarget.objects.get(name="local")
    bad = world.admin.client.patch(
        f"/api/compute-targets/{local.pk}/", {"failure_policy": {"max_retries": {"gremlins": 1}}}, format="json"
    )
    assert bad.status_code == 400 and "failure_policy.max_retries.gremlins" in json.dumps(bad.json()), bad.content
    env = world.alice.client.post(
        "/api/environments/",
        {"name": "bad-policy", "spec": {}, "failure_policy": {"hang_timeout_seconds": -1}},
        format="json",
    )
    assert env.status_code == 400 and "failure_policy.hang_timeout_seconds" in json.dumps(env.json()), env.content
    assert not ComputeTarget.objects.get(pk=local.pk).failure_policy
