"""``preemptible`` through the API: set at submit (default false, a multipart form that
omits it included), kept by a resubmit, changed by PATCH (audited), inherited by a
sweep's children; and the target's preemption settings."""

from __future__ import annotations

from typing import Any

import pytest

from audit.models import AuditEvent
from compute.models import ComputeTarget
from runs.models import Run
from scheduling import preemptor
from scheduling.models import TargetPool
from sweeps import controller
from sweeps.models import SweepChild
from tests.executor.helpers import submit
from tests.sweeps.helpers import create_sweep, hyperdrive

pytestmark = pytest.mark.django_db


def test_submit_resubmit_and_patch(world: Any) -> None:
    plain = submit(world.alice, {"train.py": "print(1)"})
    assert plain["preemptible"] is False
    made = submit(world.alice, {"train.py": "print(1)"}, preemptible="true")
    assert made["preemptible"] is True and Run.objects.get(pk=made["id"]).preemptible
    again = world.alice.client.post("/api/runs/", {"resubmit_of": made["id"]}, format="json")
    assert again.status_code == 201 and again.json()["preemptible"] is True
    listed = {r["id"]: r for r in world.alice.client.get("/api/runs/").json()["results"]}
    assert listed[made["id"]]["preemptible"] is True and listed[plain["id"]]["preemptible"] is False

    patched = world.alice.client.patch(f"/api/runs/{plain['id']}/", {"preemptible": True}, format="json")
    assert patched.status_code == 200 and patched.json()["preemptible"] is True
    event = AuditEvent.objects.filter(action="runs.run.edited", object_id=str(plain["id"])).get()
    assert event.changes["preemptible"] == {"from": False, "to": True}
    bad = world.alice.client.patch(f"/api/runs/{plain['id']}/", {"preemptible": "sometimes"}, format="json")
    assert bad.status_code == 400 and "preemptible" in bad.json()


def test_sweep_children_inherit_preemptible(world: Any) -> None:
    grid = {"lr": ["choice", [[0.1, 0.01]]]}
    response = create_sweep(world.alice, hyperdrive(grid, max_concurrent_runs=2), preemptible="true")
    assert response.status_code == 201, response.content
    sweep_id = int(response.json()["id"])
    controller.advance(sweep_id)
    children = [c.run for c in SweepChild.objects.filter(sweep_id=sweep_id).select_related("run")]
    assert len(children) == 2 and all(c.preemptible for c in children)


def test_the_targets_pool_overrides_the_preemption_defaults(world: Any, settings: Any) -> None:
    settings.RUNYARD = {**settings.RUNYARD, "PREEMPT_GRACE_SECONDS": 30.0}
    target = ComputeTarget.objects.get(name="local")
    assert preemptor.timing(target.pk).grace_seconds == 30.0
    TargetPool.objects.create(compute_target=target, preempt_grace_seconds=5, preempt_min_run_seconds=60)
    assert preemptor.timing(target.pk) == preemptor.Timing(5.0, 60.0)
