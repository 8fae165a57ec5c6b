"""The controller against the real database, one step at a time (no worker): launching
within the limits, the policy canceling children, the end, cancel, bad input, isolation."""

from __future__ import annotations

import json
from typing import Any

import pytest

from config.redisconn import client
from runs import metricstore
from runs.lifecycle import transition
from runs.models import Run
from runs.status import TERMINAL, Status
from sweeps import controller, triggers
from sweeps.models import Sweep, SweepChild
from tests.sweeps.helpers import create_sweep, hyperdrive, queued_steps

GRID = {"lr": ["choice", [[0.1, 0.01]]], "bs": ["choice", [[16, 32]]]}


def _start(run_id: int) -> None:
    for status in (Status.PREPARING, Status.STARTING, Status.RUNNING):
        transition(run_id, status, reason="test")


def _end(run_id: int, status: str = Status.COMPLETED) -> None:
    if status == Status.COMPLETED:
        transition(run_id, Status.FINALIZING, reason="test")
    transition(run_id, status, reason="test")


def _children(sweep_id: int) -> list[SweepChild]:
    return list(SweepChild.objects.filter(sweep_id=sweep_id).select_related("run").order_by("index"))


def _make(world: Any, config: dict[str, Any], **fields: Any) -> int:
    response = create_sweep(world.alice, config, **fields)
    assert response.status_code == 201, response.content
    return int(response.json()["id"])


def test_a_grid_sweep_launches_within_the_limit_and_ends(world: Any) -> None:
    sweep_id = _make(world, hyperdrive(GRID, max_total_runs=10, max_concurrent_runs=2), arguments=["--epochs", "2"])
    parent = Run.objects.get(pk=sweep_id)
    assert parent.status == Status.RUNNING and parent.compute_target is None
    assert parent.properties["azureml.runsource"] == "hyperdrive"
    assert controller.advance(sweep_id).launched and len(_children(sweep_id)) == 2
    assert controller.advance(sweep_id).launched == []  # a repeated step launches nothing more
    kids = _children(sweep_id)
    assert [k.params for k in kids] == [{"lr": 0.1, "bs": 16}, {"lr": 0.1, "bs": 32}]
    first = kids[0].run
    assert first.arguments == ["--epochs", "2", "--lr", "0.1", "--bs", "16"]  # Azure appends "--lr 0.1"
    assert json.loads(first.properties["hyperparameters"]) == {"lr": 0.1, "bs": 16}
    assert first.parent_id == sweep_id and first.status == Status.QUEUED
    assert first.snapshot_sha256 == parent.snapshot_sha256 and first.compute_target.name == "local"
    while True:
        unfinished = [k for k in _children(sweep_id) if k.run.status not in TERMINAL]
        assert len(unfinished) <= 2
        if not unfinished:
            break
        _start(unfinished[0].run_id)
        _end(unfinished[0].run_id)
        controller.advance(sweep_id)
    kids = _children(sweep_id)
    # max_total_runs 10 is capped at the grid's 4 points; each ran once.
    assert sorted(json.dumps(k.params, sort_keys=True) for k in kids) == sorted(
        json.dumps({"lr": lr, "bs": bs}, sort_keys=True) for lr in (0.1, 0.01) for bs in (16, 32)
    )
    parent.refresh_from_db()
    assert parent.status == Status.COMPLETED and parent.status_reason == "max_total_runs reached"
    assert Sweep.objects.get(pk=sweep_id).ended_at is not None


def test_bandit_cancels_the_child_outside_the_slack(world: Any) -> None:
    policy = {"name": "Bandit", "properties": {"slack_factor": 0.1, "evaluation_interval": 1, "delay_evaluation": 2}}
    sweep_id = _make(world, hyperdrive(GRID, max_total_runs=4, max_concurrent_runs=2, policy=policy))
    controller.advance(sweep_id)
    good, poor = _children(sweep_id)
    _start(good.run_id)
    _start(poor.run_id)
    metricstore.store(good.run, [{"name": "acc", "value": v} for v in (0.5, 0.8, 0.9)])
    metricstore.store(poor.run, [{"name": "acc", "value": 0.5}])
    assert controller.advance(sweep_id).stopped == []  # interval 1 is before delay_evaluation
    metricstore.store(poor.run, [{"name": "acc", "value": v} for v in (0.6, 0.7)])
    step = controller.advance(sweep_id)
    assert step.stopped == [poor.run_id]  # at 2: 0.6 < 0.8 / 1.1
    poor.refresh_from_db()
    run = Run.objects.get(pk=poor.run_id)
    assert run.status == Status.CANCEL_REQUESTED
    assert run.status_reason.startswith("Canceled by BanditPolicy: value 0.6 is outside the slack_factor 0.1")
    assert poor.terminated_by == "BanditPolicy" and "interval 2" in poor.termination_reason
    assert Run.objects.get(pk=good.run_id).status == Status.RUNNING
    # A child waiting for a worker is canceled at once and frees its slot.
    transition(poor.run_id, Status.CANCELED, reason=run.status_reason)
    assert len(controller.advance(sweep_id).launched) == 1


def test_cancel_cascades_to_every_child(world: Any) -> None:
    sweep_id = _make(world, hyperdrive(GRID, max_total_runs=4, max_concurrent_runs=3))
    controller.advance(sweep_id)
    kids = _children(sweep_id)
    _start(kids[0].run_id)
    response = world.alice.client.post(f"/api/sweeps/{sweep_id}/cancel/", {"reason": "enough"}, format="json")
    assert response.status_code == 200, response.content
    assert response.json()["status"] == Status.CANCELED
    statuses = [Run.objects.get(pk=k.run_id).status for k in kids]
    assert statuses == [Status.CANCEL_REQUESTED, Status.CANCELED, Status.CANCELED]
    assert controller.advance(sweep_id).launched == []  # ended: nothing more is proposed
    assert SweepChild.objects.filter(sweep_id=sweep_id).count() == 3


def test_max_duration_ends_the_sweep(world: Any) -> None:
    sweep_id = _make(world, hyperdrive(GRID, max_total_runs=4, max_concurrent_runs=1, max_duration_minutes=1))
    controller.advance(sweep_id)
    parent = Run.objects.get(pk=sweep_id)
    Run.objects.filter(pk=sweep_id).update(running_at=parent.running_at.replace(year=parent.running_at.year - 1))
    step = controller.advance(sweep_id)
    assert step.ended == "max_duration_minutes (1) reached"
    assert Run.objects.get(pk=sweep_id).status == Status.COMPLETED
    assert [k.run.status for k in _children(sweep_id)] == [Status.CANCELED]


def test_children_best_and_series_endpoints(world: Any) -> None:
    sweep_id = _make(world, hyperdrive(GRID, max_total_runs=2, goal="minimize"))
    controller.advance(sweep_id)
    a, b = _children(sweep_id)
    metricstore.store(a.run, [{"name": "acc", "value": v, "step": i} for i, v in enumerate((3.0, 2.0))])
    metricstore.store(b.run, [{"name": "acc", "value": 2.5}])
    client = world.alice.client
    rows = client.get(f"/api/sweeps/{sweep_id}/children/").json()
    assert [(r["index"], r["best_primary_metric"], r["last_primary_metric"], r["intervals"]) for r in rows] == [
        (0, 2.0, 2.0, 2),
        (1, 2.5, 2.5, 1),
    ]
    assert rows[0]["parameters"] == {"lr": 0.1, "bs": 16}
    assert client.get(f"/api/sweeps/{sweep_id}/best/").json()["id"] == a.run_id
    series = {s["run"]: s["points"] for s in client.get(f"/api/sweeps/{sweep_id}/metrics/").json()}
    assert [p["value"] for p in series[a.run_id]] == [3.0, 2.0]
    detail = client.get(f"/api/sweeps/{sweep_id}/").json()
    assert detail["best_child"]["id"] == a.run_id and detail["children_by_status"] == {"Queued": 2}
    assert [s["id"] for s in client.get("/api/sweeps/").json()] == [sweep_id]
    # Children are ordinary runs: the run list filters them by parent.
    listed = client.get("/api/runs/", {"parent": sweep_id}).json()["results"]
    assert {r["id"] for r in listed} == {a.run_id, b.run_id}


def test_other_teams_see_nothing_and_change_nothing(world: Any) -> None:
    sweep_id = _make(world, hyperdrive(GRID))
    bob = world.bob.client
    for path in ("", "children/", "best/", "metrics/"):
        assert bob.get(f"/api/sweeps/{sweep_id}/{path}").status_code == 404
    assert bob.post(f"/api/sweeps/{sweep_id}/cancel/", {}, format="json").status_code == 404
    assert bob.get("/api/sweeps/").json() == []
    assert Run.objects.get(pk=sweep_id).status == Status.RUNNING
    assert world.anon.get("/api/sweeps/").status_code in (401, 403)


SAMPLING = "hyperparameter_sampling"


@pytest.mark.parametrize(
    ("config", "field"),
    [
        ({"primary_metric_config": {"name": "acc", "goal": "maximize"}, "max_total_runs": 2}, SAMPLING),
        (hyperdrive({"lr": ["uniform", [1, 0]]}, sampling="RANDOM"), f"{SAMPLING}.parameter_space.lr.min_value"),
        (hyperdrive({"lr": ["uniform", [0, 1]]}), "hyperparameter_sampling.parameter_space.lr"),
        (hyperdrive(GRID, max_total_runs=0), "max_total_runs"),
        (hyperdrive(GRID, goal="best"), "primary_metric_goal"),
        (hyperdrive(GRID, policy={"name": "Bandit"}), "policy.slack_factor"),
    ],
)
def test_bad_sweeps_are_refused_naming_the_field(world: Any, config: dict[str, Any], field: str) -> None:
    response = create_sweep(world.alice, config)
    assert response.status_code == 400, response.content
    assert field in response.json(), response.json()
    assert not Sweep.objects.exists()


def test_a_sweep_without_hyperdrive_or_script_is_refused(world: Any) -> None:
    from tests.conftest import make_tar

    response = world.alice.client.post(
        "/api/sweeps/", {"snapshot": make_tar({"train.py": "1"}), "script": "train.py"}, format="multipart"
    )
    assert response.status_code == 400 and "hyperdrive" in response.json()
    response = create_sweep(world.alice, hyperdrive(GRID), script="missing.py")
    assert response.status_code == 400 and "script" in response.json()


def test_a_sweep_from_json_reuses_a_runs_snapshot(world: Any) -> None:
    from tests.executor.helpers import submit as submit_run

    plain = submit_run(world.alice, {"train.py": "print(1)"})
    body = {"resubmit_of": plain["id"], "script": "train.py", "experiment": "json-sweep"}
    body["hyperdrive"] = hyperdrive({"a": ["randint", [3]]}, sampling="RANDOM", max_total_runs=3, seed=5)
    response = world.alice.client.post("/api/sweeps/", body, format="json")
    assert response.status_code == 201, response.content
    sweep_id = response.json()["id"]
    assert response.json()["config"]["seed"] == 5
    controller.advance(sweep_id)
    kids = _children(sweep_id)
    assert len(kids) == 3 and sorted(k.params["a"] for k in kids) == [0, 1, 2]  # without repeats
    assert kids[0].run.snapshot_sha256 == Run.objects.get(pk=plain["id"]).snapshot_sha256
    assert kids[0].run.experiment.name == "json-sweep"


def test_a_bayesian_sweep_proposes_from_its_history_reproducibly(world: Any) -> None:
    space = {"x": ["uniform", [-5, 5]], "k": ["quniform", [0, 10, 2]]}
    config = hyperdrive(space, sampling="BayesianOptimization", max_total_runs=6, max_concurrent_runs=2, seed=3)

    def run_sweep() -> list[dict[str, Any]]:
        sweep_id = _make(world, config)
        while True:
            controller.advance(sweep_id)
            unfinished = [k for k in _children(sweep_id) if k.run.status not in TERMINAL]
            if not unfinished:
                break
            for kid in unfinished:
                _start(kid.run_id)
                metricstore.store(kid.run, [{"name": "acc", "value": -((kid.params["x"] - 1) ** 2)}])
                _end(kid.run_id)
        assert Run.objects.get(pk=sweep_id).status == Status.COMPLETED
        return [k.params for k in _children(sweep_id)]

    first, second = run_sweep(), run_sweep()
    assert len(first) == 6 and first == second  # same seed, same history: same points
    for p in first:
        assert -5 <= p["x"] <= 5 and p["k"] in range(0, 11, 2)


def test_a_child_ending_queues_a_step_even_when_one_is_pending(
    world: Any, django_capture_on_commit_callbacks: Any
) -> None:
    """The pending mark can belong to a message that died with a SIGKILLed worker (the
    broker gives it back only after its visibility timeout): the recoverer ending that
    worker's children must still wake the sweep. Metric events stay coalesced."""
    sweep_id = _make(world, hyperdrive(GRID, max_total_runs=2, max_concurrent_runs=2), arguments=["--epochs", "2"])
    controller.advance(sweep_id)
    first, second = (k.run_id for k in _children(sweep_id))
    _start(first)
    _start(second)
    client().set(triggers.pending_key(sweep_id), "1", ex=triggers.PENDING_TTL)  # a step pending somewhere
    before = queued_steps(sweep_id)
    with django_capture_on_commit_callbacks(execute=True):
        metricstore.store(Run.objects.get(pk=first), [{"name": "acc", "value": 0.5}])
    assert queued_steps(sweep_id) == before  # coalesced into the pending step
    with django_capture_on_commit_callbacks(execute=True):
        transition(first, Status.FAILED, reason="worker lost")
    assert queued_steps(sweep_id) == before + 1
    client().delete(triggers.pending_key(sweep_id))
    with django_capture_on_commit_callbacks(execute=True):
        metricstore.store(Run.objects.get(pk=second), [{"name": "acc", "value": 0.5}])
    assert queued_steps(sweep_id) == before + 2  # nothing pending: the metric event wakes it
