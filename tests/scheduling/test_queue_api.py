"""Scheduling through the API on a real database: priorities and their caps, quotas
(admins, audited), why-pending texts, the claim's decision, the board and accounting."""

from __future__ import annotations

import csv
import io
from datetime import timedelta
from typing import Any

from django.utils import timezone

from audit.models import AuditEvent
from compute.models import ComputeTarget
from execution.executor import claim
from runs import metricstore
from runs.models import Run
from runs.status import Status
from scheduling.models import TargetPool, TeamQuota
from tests.conftest import World, make_tar
from tests.factories import make_run


def submit(client: Any, **fields: Any) -> Any:
    data = {"snapshot": make_tar({"train.py": "print(1)\n"}), "script": "train.py", "experiment": "q", **fields}
    return client.post("/api/runs/", data, format="multipart")


def queued(user: Any, team: Any, minutes_ago: float, **fields: Any) -> Any:
    return make_run(
        user, team, status=Status.QUEUED, queued_at=timezone.now() - timedelta(minutes=minutes_ago), **fields
    )


def local() -> ComputeTarget:
    return ComputeTarget.objects.get(name="local")


def test_priority_at_submit_is_capped_until_an_admin_raises_it(world: World) -> None:
    made = submit(world.alice.client, priority="high")
    assert made.status_code == 201, made.content
    assert made.json()["priority"] == "high"
    refused = submit(world.alice.client, priority="urgent")
    assert refused.status_code == 400
    assert "priority" in refused.json()
    assert "up to high on local" in refused.json()["priority"][0]
    assert submit(world.alice.client, priority="asap").status_code == 400

    quota = world.admin.client.post(
        "/api/team-quotas/",
        {"team": "default", "compute_target": "local", "share": 1, "max_runs": 2, "max_priority": "urgent"},
        format="json",
    )
    assert quota.status_code == 201, quota.content
    assert AuditEvent.objects.filter(action="scheduling.quota.created").exists()
    assert submit(world.alice.client, priority="urgent").json()["priority"] == "urgent"

    # Lowered again: a later change is audited with before/after.
    changed = world.admin.client.patch(f"/api/team-quotas/{quota.json()['id']}/", {"max_priority": "normal"})
    assert changed.status_code == 200, changed.content
    event = AuditEvent.objects.get(action="scheduling.quota.updated")
    assert event.changes["max_priority"] == [3, 1]
    assert "up to normal" in submit(world.alice.client, priority="high").json()["priority"][0]


def test_quotas_are_admins_to_write_and_team_scoped_to_read(world: World) -> None:
    body = {"team": "default", "compute_target": "local", "share": 1}
    assert world.alice.client.post("/api/team-quotas/", body, format="json").status_code == 403
    made = world.admin.client.post("/api/team-quotas/", body, format="json")
    assert made.status_code == 201
    assert [q["id"] for q in world.alice.client.get("/api/team-quotas/").json()["results"]] == [made.json()["id"]]
    assert world.bob.client.get("/api/team-quotas/").json()["results"] == []
    assert world.bob.client.get(f"/api/team-quotas/{made.json()['id']}/").status_code == 404
    too_big = world.admin.client.post(
        "/api/team-quotas/", {"team": "other", "compute_target": "local", "share": 3, "max_runs": 2}, format="json"
    )
    assert too_big.status_code == 400 and "share" in too_big.json()


def test_changing_a_queued_runs_priority(world: World) -> None:
    run = queued(world.alice.user, world.team_a, 1)
    answer = world.alice.client.post(f"/api/runs/{run.pk}/priority/", {"priority": "high"}, format="json")
    assert answer.status_code == 200, answer.content
    assert answer.json()["priority"] == "high"
    assert AuditEvent.objects.get(action="runs.run.priority_changed").changes == {"priority": ["normal", "high"]}
    capped = world.alice.client.post(f"/api/runs/{run.pk}/priority/", {"priority": "urgent"}, format="json")
    assert capped.status_code == 400 and "priority" in capped.json()
    assert world.bob.client.post(f"/api/runs/{run.pk}/priority/", {"priority": "low"}, format="json").status_code == 404
    done = make_run(world.alice.user, world.team_a, status=Status.COMPLETED)
    late = world.alice.client.post(f"/api/runs/{done.pk}/priority/", {"priority": "low"}, format="json")
    assert late.status_code == 400 and "Completed" in late.json()["priority"][0]


def test_waiting_reasons_and_positions(world: World) -> None:
    target = local()
    target.max_concurrent_runs = 1
    target.save()
    TeamQuota.objects.create(team=world.team_a, compute_target=target, max_runs=1)
    running = make_run(world.alice.user, world.team_a, status=Status.RUNNING, preparing_at=timezone.now())
    mine = queued(world.alice.user, world.team_a, 5)
    theirs_low = queued(world.bob.user, world.team_b, 4, priority=0)
    theirs_high = queued(world.bob.user, world.team_b, 3, priority=2)

    got = {r["id"]: r for r in world.admin.client.get("/api/runs/", {"status": "Queued"}).json()["results"]}
    no_worker = "no worker is serving compute.local; "
    assert got[mine.pk]["waiting_reason"] == no_worker + "team Default at its limit 1/1"
    assert got[theirs_high.pk]["queue_position"] == 1
    # The running run has a lower priority but is not preemptible: the head says so.
    full = f"the target is full (1/1 runs); run {running.pk} is not preemptible"
    assert got[theirs_high.pk]["waiting_reason"] == no_worker + full
    assert (
        got[theirs_low.pk]["waiting_reason"]
        == no_worker + "1 run of higher priority ahead; the target is full (1/1 runs)"
    )
    detail = world.alice.client.get(f"/api/runs/{mine.pk}/").json()
    assert detail["waiting_reason"] == got[mine.pk]["waiting_reason"]

    # The claim asks the same scheduler: team A is at its limit, team B's high run is next once a slot frees.
    assert claim(mine.pk, "w1@test") == "busy"
    assert claim(theirs_high.pk, "w1@test") == "busy"
    target.max_concurrent_runs = 3
    target.save()
    assert claim(theirs_low.pk, "w1@test") == "claimed"  # two free slots: B's both start, A's stays limited
    assert claim(mine.pk, "w1@test") == "busy"
    assert claim(theirs_high.pk, "w1@test") == "claimed"


def test_waiting_for_nodes_and_the_clusters_own_reason(world: World) -> None:
    target = ComputeTarget.objects.create(name="cluster", kind="docker", max_concurrent_runs=5, max_nodes=4)
    TargetPool.objects.create(compute_target=target, nodes=3)
    two = {"type": "mpi", "node_count": 2, "process_count_per_node": 1}
    make_run(world.alice.user, world.team_a, status=Status.RUNNING, preparing_at=timezone.now(), distributed=two)
    waiting = queued(world.alice.user, world.team_a, 1, distributed=two)
    pending = queued(
        world.alice.user, world.team_a, 2, worker="w@host", status_reason="waiting in the cluster queue: None"
    )
    held = queued(
        world.alice.user, world.team_a, 2, worker="w@host", status_reason="waiting in the cluster queue: Priority"
    )
    for run in (waiting, pending, held):
        run.compute_target = target
        run.save()
    Run.objects.filter(status=Status.RUNNING).update(compute_target=target)
    got = {r["id"]: r for r in world.alice.client.get("/api/runs/", {"status": "Queued"}).json()["results"]}
    assert got[waiting.pk]["waiting_reason"].endswith("waiting for 2 nodes; 1 free")
    assert got[pending.pk]["waiting_reason"] == "submitted to the cluster; its scheduler has not placed the job yet"
    assert got[held.pk]["waiting_reason"] == "pending in the cluster's scheduler: Priority"
    assert got[held.pk]["queue_position"] is None
    assert claim(waiting.pk, "w@host") == "busy"


def test_board_and_timeline(world: World) -> None:
    target = local()
    TeamQuota.objects.create(team=world.team_a, compute_target=target, share=1)
    make_run(world.alice.user, world.team_a, status=Status.RUNNING, preparing_at=timezone.now() - timedelta(hours=1))
    make_run(world.alice.user, world.team_a, status=Status.RUNNING, preparing_at=timezone.now() - timedelta(minutes=5))
    mine = queued(world.alice.user, world.team_a, 5)
    theirs = queued(world.bob.user, world.team_b, 4)
    board = world.alice.client.get(f"/api/schedule/{target.pk}/").json()
    teams = {t["team"]: t for t in board["teams"]}
    assert teams["Default"]["running"] == 2 and teams["Default"]["borrowed"] == 1 and teams["Default"]["queued"] == 1
    assert teams["Other"]["queued"] == 1
    assert [r["id"] for r in board["runs"]] == [mine.pk]  # only her team's runs by id
    assert theirs.pk in [r["id"] for r in world.admin.client.get(f"/api/schedule/{target.pk}/").json()["runs"]]
    timeline = world.alice.client.get(f"/api/schedule/{target.pk}/timeline/", {"hours": 2, "points": 5}).json()
    series = {s["team"]: s for s in timeline["series"]}
    assert len(timeline["at"]) == 5
    assert series["Default"]["running"][-1] == 2 and series["Default"]["running"][0] == 0
    assert series["Default"]["borrowed"][-1] == 1 and series["Default"]["borrowed"][0] == 0  # share 1
    assert series["Other"]["queued"][-1] == 1
    assert world.alice.client.get(f"/api/schedule/{target.pk}/timeline/", {"hours": "x"}).status_code == 400


def test_accounting_totals_and_csv(world: World) -> None:
    now = timezone.now()
    docker = ComputeTarget.objects.create(name="gpu", kind="docker", config={"gpus": 2})
    made = []
    for hours, target in ((2, local()), (1, docker)):
        run = make_run(
            world.alice.user,
            world.team_a,
            status=Status.COMPLETED,
            queued_at=now - timedelta(hours=hours, minutes=30),
            preparing_at=now - timedelta(hours=hours),
            running_at=now - timedelta(hours=hours),
            ended_at=now,
        )
        run.compute_target = target
        run.save()
        made.append(run)
    # System metrics as the worker's sampler stores them: the local run's rank 0 at 50% then
    # 150% of a core; the GPU run's two GPUs at 80% and 40%, its rank at 40%.
    at = now

    def point(name: str, value: float, step: int) -> dict[str, Any]:
        return {"name": f"system/{name}", "kind": "scalar", "value": value, "step": step, "time": at}

    metricstore.store(made[0], [point("rank0/cpu_percent", 50.0, 0), point("rank0/memory_mb", 900.0, 0)])
    metricstore.store(made[0], [point("rank0/cpu_percent", 150.0, 1)])
    metricstore.store(
        made[1],
        [
            point("rank0/cpu_percent", 40.0, 0),
            point("gpu0/utilization_percent", 80.0, 0),
            point("gpu1/utilization_percent", 40.0, 0),
        ],
    )
    make_run(world.bob.user, world.team_b, status=Status.COMPLETED, running_at=now - timedelta(hours=5), ended_at=now)
    rows = world.alice.client.get("/api/usage/", {"group_by": "target"}).json()
    by = {r["key"]: r for r in rows}
    assert by["local"]["run_hours"] == 2.0 and by["local"]["gpu_hours"] == 0.0
    assert by["gpu"]["run_hours"] == 1.0 and by["gpu"]["gpu_hours"] == 2.0
    assert by["gpu"]["queue_wait_hours"] == 0.5
    assert by["local"]["cpu_percent"] == 100.0 and by["local"]["gpu_utilization"] is None
    assert by["gpu"]["cpu_percent"] == 40.0 and by["gpu"]["gpu_utilization"] == 60.0
    team = world.alice.client.get("/api/usage/").json()
    assert [(r["key"], r["runs"], r["run_hours"]) for r in team] == [("Default", 2, 3.0)]  # not team B's
    # The team's figures weigh each sampled run by its run-hours: CPU (2 h at 100, 1 h at 40)
    # is 80, not the runs' plain mean 70; GPU only from the GPU run.
    assert team[0]["cpu_percent"] == 80.0 and team[0]["gpu_utilization"] == 60.0
    unsampled = {r["key"]: r for r in world.admin.client.get("/api/usage/").json()}["Other"]
    assert unsampled["cpu_percent"] is None and unsampled["gpu_utilization"] is None
    assert {r["key"] for r in world.admin.client.get("/api/usage/").json()} == {"Default", "Other"}
    exported = world.alice.client.get("/api/usage/csv/", {"group_by": "user"})
    assert exported["Content-Type"] == "text/csv"
    table = list(csv.reader(io.StringIO(exported.content.decode())))
    assert table[0] == [
        "user",
        "team",
        "runs",
        "run_hours",
        "gpu_hours",
        "queue_wait_hours",
        "cpu_percent",
        "gpu_utilization",
    ]
    assert table[1][:4] == ["alice", "Default", "2", "3.0"] and table[1][6:] == ["80.0", "60.0"]
    bad = world.alice.client.get("/api/usage/", {"group_by": "planet"})
    assert bad.status_code == 400 and "group_by" in bad.json()
    assert world.alice.client.get("/api/usage/", {"since": "yesterday"}).status_code == 400


def test_a_sweep_carries_its_priority_to_its_children(world: World) -> None:
    from sweeps import controller
    from tests.sweeps.helpers import create_sweep, hyperdrive

    space = {"lr": ["choice", [[0.1, 0.01, 0.001]]]}
    capped = create_sweep(world.alice, hyperdrive(space, max_concurrent_runs=1), priority="urgent")
    assert capped.status_code == 400 and "up to high" in str(capped.json()["priority"])
    made = create_sweep(world.alice, hyperdrive(space, max_concurrent_runs=2), priority="high")
    assert made.status_code == 201, made.content
    sweep_id = made.json()["id"]
    assert made.json()["priority"] == "high"
    controller.advance(sweep_id)
    kids = Run.objects.filter(parent_id=sweep_id)
    assert kids.count() == 2 and {k.priority for k in kids} == {2}
    # The sweep's priority changes its waiting children and those it launches later.
    lowered = world.alice.client.post(f"/api/runs/{sweep_id}/priority/", {"priority": "low"}, format="json")
    assert lowered.status_code == 200, lowered.content
    assert {k.priority for k in Run.objects.filter(parent_id=sweep_id)} == {0}
    assert world.alice.client.get(f"/api/sweeps/{sweep_id}/").json()["priority"] == "low"
    first = Run.objects.filter(parent_id=sweep_id).order_by("id").first()
    assert first is not None
    Run.objects.filter(pk=first.pk).update(status=Status.CANCELED)
    controller.advance(sweep_id)
    assert sorted(k.priority for k in Run.objects.filter(parent_id=sweep_id)) == [0, 0, 0]
    event = AuditEvent.objects.filter(action="runs.run.priority_changed", object_id=str(sweep_id)).get()
    assert event.changes == {"priority": ["high", "low"], "waiting_children": 2}
