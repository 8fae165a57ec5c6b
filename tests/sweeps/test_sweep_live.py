"""Sweeps on the live stack (ASGI server + real Celery worker running the children): the
controller is woken only by events (no beat runs here), holds the concurrency limit,
stops children by policy, cascades a cancel and survives a killed worker."""

from __future__ import annotations

import json
import signal
from typing import Any

import pytest

from runs import logstore
from runs.models import Run
from runs.status import TERMINAL, Status
from sweeps.models import Sweep, SweepChild
from tests.conftest import wait_for
from tests.datasets.webserver import WebFiles
from tests.datasets.webserver import web as web
from tests.sweeps.helpers import GATED, create_sweep, hyperdrive

pytestmark = [pytest.mark.worker, pytest.mark.xdist_group("live")]


def wait_sweep_end(sweep_id: int, timeout: float = 240) -> Sweep:
    return wait_for(
        lambda: (s := Sweep.objects.filter(pk=sweep_id, ended_at__isnull=False).first()) and s,
        timeout=timeout,
        what=f"sweep {sweep_id} to end",
    )


def max_overlap(runs: list[Run]) -> int:
    """The most children that existed unfinished at one time (created .. ended)."""
    edges = sorted([(r.created_at, 1) for r in runs] + [(r.ended_at, -1) for r in runs], key=lambda e: (e[0], e[1]))
    most = now = 0
    for _, delta in edges:
        now += delta
        most = max(most, now)
    return most


def test_a_grid_sweep_runs_every_point_once_within_the_concurrency_limit(live: Any, world: Any) -> None:
    space = {"lr": ["choice", [[0.1, 0.01]]], "bs": ["choice", [[16, 32, 64]]]}
    made = create_sweep(
        world.alice, hyperdrive(space, max_total_runs=6, max_concurrent_runs=2), arguments=["--epochs", "2"]
    )
    assert made.status_code == 201, made.content
    sweep_id = made.json()["id"]
    wait_sweep_end(sweep_id)
    parent = Run.objects.get(pk=sweep_id)
    assert parent.status == Status.COMPLETED, parent.status_reason
    children = list(Run.objects.filter(parent_id=sweep_id).order_by("id"))
    assert len(children) == 6 and all(c.status == Status.COMPLETED for c in children)
    assert max_overlap(children) <= 2
    seen = set()
    for child in children:
        params = json.loads(child.properties["hyperparameters"])
        seen.add((params["lr"], params["bs"]))
        # The script got Azure's "--lr 0.1 --bs 16" after its own arguments.
        printed = [line.text for line in logstore.lines(child.pk, rank=0) if line.text.startswith("args ")]
        want = ["--epochs", "2", "--lr", str(params["lr"]), "--bs", str(params["bs"])]
        assert list(printed) == [f"args {want}"]
    assert seen == {(lr, bs) for lr in (0.1, 0.01) for bs in (16, 32, 64)}
    best = world.alice.client.get(f"/api/sweeps/{sweep_id}/best/").json()
    assert best["parameters"] == {"lr": 0.1, "bs": 64}  # acc = 1 + lr/100 + bs/10000


def test_bandit_stops_the_poor_child_while_it_runs(live: Any, world: Any, web: WebFiles) -> None:
    space = {"quality": ["choice", [[1.0, 0.1]]]}
    policy = {"name": "Bandit", "properties": {"slack_factor": 0.2, "evaluation_interval": 1}}
    made = create_sweep(
        world.alice,
        hyperdrive(space, max_total_runs=2, max_concurrent_runs=2, policy=policy),
        files={"train.py": GATED},
        arguments=["--epochs", "60", "--pause", "1", "--go", web.url("go")],
    )
    assert made.status_code == 201, made.content
    sweep_id = made.json()["id"]
    kids = wait_for(
        lambda: (
            (rows := list(SweepChild.objects.filter(sweep_id=sweep_id).order_by("index"))) and len(rows) == 2 and rows
        ),
        timeout=120,
        what="both children proposed",
    )
    good, poor_id = (k.run_id for k in kids)
    wait_for(
        lambda: Run.objects.filter(pk=good, status=Status.COMPLETED).exists(),
        timeout=240,
        what=f"the good child {good} to complete",
    )
    assert Run.objects.get(pk=poor_id).status not in TERMINAL  # held at the gate: nothing to judge yet
    web.files["/go"] = b"go"
    wait_sweep_end(sweep_id, timeout=300)
    rows = {r["index"]: r for r in world.alice.client.get(f"/api/sweeps/{sweep_id}/children/").json()}
    poor = rows[1]
    assert poor["status"] == Status.CANCELED, poor
    assert poor["terminated_by"] == "BanditPolicy"
    assert poor["status_reason"].startswith("Canceled by BanditPolicy: value ")
    assert poor["intervals"] < 60  # stopped early, not at the end
    assert rows[0]["terminated_by"] == ""
    assert rows[0]["status"] == Status.COMPLETED


SLEEPY = "import time\nfrom azureml.core.run import Run\nRun.get_context().log('acc', 0.5)\ntime.sleep(600)\n"


@pytest.mark.parametrize("via", ["sweep", "run"])
def test_cancel_cascades_to_running_and_queued_children(live: Any, world: Any, via: str) -> None:
    """Through the sweep's cancel (cascades in the request) or the parent run's plain cancel
    (the transition's event wakes the controller, which cancels the children)."""
    made = create_sweep(
        world.alice,
        hyperdrive({"x": ["uniform", [0, 1]]}, sampling="RANDOM", max_total_runs=6, max_concurrent_runs=2),
        files={"train.py": SLEEPY},
    )
    assert made.status_code == 201, made.content
    sweep_id = made.json()["id"]
    wait_for(
        lambda: Run.objects.filter(parent_id=sweep_id, status=Status.RUNNING).count() == 2,
        timeout=120,
        what="two children running",
    )
    path = f"/api/sweeps/{sweep_id}/cancel/" if via == "sweep" else f"/api/runs/{sweep_id}/cancel/"
    answer = world.alice.client.post(path, {}, format="json")
    assert answer.status_code == 200 and answer.json()["status"] == Status.CANCELED
    wait_for(
        lambda: set(Run.objects.filter(parent_id=sweep_id).values_list("status", flat=True)) == {Status.CANCELED},
        timeout=60,
        what="every child canceled",
    )
    assert Run.objects.filter(parent_id=sweep_id).count() == 2  # nothing launched after the cancel


def test_the_sweep_survives_its_worker_being_killed(live: Any, world: Any) -> None:
    space = {"a": ["choice", [[1, 2, 3, 4, 5, 6]]]}
    made = create_sweep(
        world.alice,
        hyperdrive(space, max_total_runs=6, max_concurrent_runs=2),
        arguments=["--epochs", "3", "--pause", "1"],
    )
    assert made.status_code == 201, made.content
    sweep_id = made.json()["id"]
    wait_for(
        lambda: (
            Run.objects.filter(parent_id=sweep_id, status=Status.COMPLETED).count() >= 1
            and Run.objects.filter(parent_id=sweep_id, status=Status.RUNNING).exists()
        ),
        timeout=120,
        what="a child done and another running",
    )
    live.stop("runner", signal.SIGKILL)  # the controller and the children's executor, mid-sweep
    live.start_worker("runner")
    sweep = wait_sweep_end(sweep_id, timeout=300)
    kids = list(SweepChild.objects.filter(sweep_id=sweep_id).select_related("run").order_by("index"))
    # Every point proposed once, none lost: the killed children ended (worker lost), the rest ran.
    assert [k.index for k in kids] == [0, 1, 2, 3, 4, 5]
    assert sorted(k.params["a"] for k in kids) == [1, 2, 3, 4, 5, 6]
    assert all(k.run.status in TERMINAL for k in kids)
    assert sum(k.run.status == Status.COMPLETED for k in kids) >= 4
    assert sweep.end_reason == "max_total_runs reached"
    assert Run.objects.get(pk=sweep_id).status == Status.COMPLETED
