"""Every kind of action lands in the audit trail, with secrets masked."""

from __future__ import annotations

from typing import Any

from django.test import Client

from audit.models import AuditEvent
from audit.services import MASK
from tests.factories import make_run


def actions() -> list[str]:
    return list(AuditEvent.objects.order_by("id").values_list("action", flat=True))


def test_crud_and_login_are_audited(world: Any) -> None:
    made = world.alice.client.post(
        "/api/environments/",
        {"name": "secret-env", "spec": {"environment_variables": {"API_TOKEN": "hunter2", "LR": "0.1"}}},
        format="json",
    )
    env_id = made.json()["id"]
    world.alice.client.patch(f"/api/environments/{env_id}/", {"description": "d"}, format="json")
    world.alice.client.delete(f"/api/environments/{env_id}/")
    created = AuditEvent.objects.get(action="environments.environment.created")
    assert created.actor == world.alice.user and created.team == world.team_a
    assert created.changes["spec"]["environment_variables"]["API_TOKEN"] == MASK
    assert created.changes["spec"]["environment_variables"]["LR"] == "0.1"
    assert created.request_id and created.ip == "127.0.0.1" and created.via == "api"
    assert "hunter2" not in str(list(AuditEvent.objects.values_list("changes", flat=True)))
    assert {"environments.environment.updated", "environments.environment.deleted"} <= set(actions())
    world.admin.client.post(
        "/api/compute-targets/", {"name": "d1", "kind": "docker", "config": {"tls_key_password": "pw"}}, format="json"
    )
    target = AuditEvent.objects.get(action="compute.computetarget.created")
    assert "pw" not in str(target.changes)
    client = Client()
    assert client.login(username="alice", password="alice-pw-123!")
    client.login(username="alice", password="wrong")
    assert "accounts.user.login" in actions() and "accounts.user.login_failed" in actions()


def test_cancel_is_audited_and_events_are_filterable_and_scoped(world: Any) -> None:
    from runs.lifecycle import transition

    run = make_run(world.alice.user, world.team_a)
    transition(run.pk, "Queued")
    response = world.alice.client.post(f"/api/runs/{run.pk}/cancel/")
    assert response.status_code == 200 and response.json()["status"] == "Canceled"
    assert {"runs.run.cancel_requested", "runs.run.canceled"} <= set(actions())
    mine = world.alice.client.get("/api/audit/events/", {"action": "runs.run"}).json()["results"]
    assert {e["action"] for e in mine} == {"runs.run.cancel_requested", "runs.run.canceled"}
    assert world.bob.client.get("/api/audit/events/", {"action": "runs.run"}).json()["results"] == []
    by_object = world.admin.client.get("/api/audit/events/", {"object_type": "runs.run", "object_id": run.pk})
    assert len(by_object.json()["results"]) == 2
    assert world.alice.client.get("/api/audit/events/", {"actor": "bob"}).json()["results"] == []


def test_admin_changes_are_audited_and_trail_is_append_only(world: Any) -> None:
    import pytest

    client = Client()
    client.force_login(world.admin.user)
    from environments.models import Environment

    curated = Environment.objects.get(name="Runyard-Python-3.11")
    response = client.post(
        f"/admin/environments/environment/{curated.pk}/change/",
        {
            "name": curated.name,
            "curated": "on",
            "description": "edited in admin",
            "versions-TOTAL_FORMS": "0",
            "versions-INITIAL_FORMS": "0",
        },
    )
    assert response.status_code in (200, 302)
    event = AuditEvent.objects.filter(action="environments.environment.updated", via="admin").first()
    assert event is not None and event.changes["description"][1] == "edited in admin"
    with pytest.raises(ValueError):
        event.delete()
    event.action = "x"
    with pytest.raises(ValueError):
        event.save()
