"""The permission matrix: member, member of another team, admin, anonymous."""

from __future__ import annotations

from typing import Any

import pytest
from rest_framework.test import APIClient

from datasets.models import Dataset
from environments.models import Environment
from runs.models import Experiment
from tests.factories import make_run


def custom_env(world: Any) -> Environment:
    response = world.alice.client.post(
        "/api/environments/", {"name": "alice-env", "spec": {"pip_requirements": ["six"]}}, format="json"
    )
    assert response.status_code == 201, response.content
    return Environment.objects.get(pk=response.json()["id"])


def test_anonymous_gets_401_everywhere_but_health_and_login(world: Any) -> None:
    anon = APIClient()
    for url in [
        "/api/runs/",
        "/api/environments/",
        "/api/compute-targets/",
        "/api/datasets/",
        "/api/datastores/",
        "/api/experiments/",
        "/api/audit/events/",
        "/api/auth/tokens/",
        "/api/environment-versions/",
        "/api/environment-builds/",
        "/api/dataset-versions/",
        "/api/workspace/",
    ]:
        assert anon.get(url).status_code in (401, 403), url
    assert anon.get("/api/health/").status_code == 200
    assert anon.get("/api/schema/").status_code in (401, 403) or anon.get("/api/schema/").status_code == 200


def test_token_login_and_use(world: Any) -> None:
    anon = APIClient()
    bad = anon.post("/api/auth/token/", {"username": "alice", "password": "nope"}, format="json")
    assert bad.status_code == 400
    good = anon.post("/api/auth/token/", {"username": "alice", "password": "alice-pw-123!"}, format="json")
    assert good.status_code == 201
    key = good.json()["token"]
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    assert client.get("/api/auth/session/").json()["username"] == "alice"
    me = client.get("/api/runs/")
    assert me.status_code == 200
    client.credentials(HTTP_AUTHORIZATION="Token ry_wrong")
    assert client.get("/api/runs/").status_code == 401


def test_session_login(world: Any) -> None:
    client = APIClient(enforce_csrf_checks=False)
    assert (
        client.post("/api/auth/session/", {"username": "bob", "password": "bob-pw-123!"}, format="json").status_code
        == 200
    )
    me = client.get("/api/auth/session/").json()
    assert me["username"] == "bob" and me["teams"][0]["slug"] == "other"
    assert client.delete("/api/auth/session/").status_code == 204
    assert client.get("/api/auth/session/").json() == {"authenticated": False}
    assert client.get("/api/runs/").status_code in (401, 403)


def test_environment_matrix(world: Any) -> None:
    env = custom_env(world)
    url = f"/api/environments/{env.pk}/"
    assert world.alice.client.get(url).status_code == 200
    assert world.bob.client.get(url).status_code == 404  # another team's: invisible
    assert world.admin.client.get(url).status_code == 200
    assert world.bob.client.patch(url, {"description": "x"}, format="json").status_code == 404
    assert world.alice.client.patch(url, {"description": "mine"}, format="json").status_code == 200
    names_for_bob = {e["name"] for e in world.bob.client.get("/api/environments/").json()["results"]}
    assert "alice-env" not in names_for_bob and "Runyard-Python-3.11" in names_for_bob
    assert world.bob.client.delete(url).status_code == 404
    assert world.alice.client.delete(url).status_code == 204


def test_curated_environments_are_admin_only(world: Any) -> None:
    curated = Environment.objects.get(name="Runyard-Python-3.11")
    url = f"/api/environments/{curated.pk}/"
    assert world.alice.client.get(url).status_code == 200
    assert world.alice.client.patch(url, {"description": "hack"}, format="json").status_code == 403
    assert (
        world.alice.client.post(f"{url}versions/", {"spec": {"pip_requirements": ["x"]}}, format="json").status_code
        == 403
    )
    assert world.alice.client.delete(url).status_code == 403
    denied = world.alice.client.post("/api/environments/", {"name": "Runyard-Mine", "spec": {}}, format="json")
    assert denied.status_code == 400 and "name" in denied.json()
    denied = world.alice.client.post("/api/environments/", {"name": "Runyard-X", "curated": True}, format="json")
    assert denied.status_code == 403
    ok = world.admin.client.post(f"{url}versions/", {"spec": {"pip_requirements": ["six"]}}, format="json")
    assert ok.status_code == 201 and ok.json()["version"] == 2
    made = world.admin.client.post(
        "/api/environments/",
        {"name": "Runyard-New", "curated": True, "spec": {"python_version": "3.11"}},
        format="json",
    )
    assert made.status_code == 201 and made.json()["team"] is None


def test_versions_are_immutable_and_edits_add_versions(world: Any) -> None:
    env = custom_env(world)
    first = env.latest_version()
    response = world.alice.client.patch(
        f"/api/environments/{env.pk}/", {"spec": {"pip_requirements": ["six", "attrs"]}}, format="json"
    )
    assert response.status_code == 200
    assert env.versions.count() == 2
    first.refresh_from_db()
    assert first.spec["pip_requirements"] == ["six"]
    second = env.latest_version()
    assert second.version == 2 and second.content_hash != first.content_hash
    from django.core.exceptions import ValidationError

    second.spec = {"python_version": "3.12"}
    with pytest.raises(ValidationError):
        second.save()
    # Environment variables do not change what is built.
    world.alice.client.patch(
        f"/api/environments/{env.pk}/",
        {"spec": {"pip_requirements": ["six", "attrs"], "environment_variables": {"A": "1"}}},
        format="json",
    )
    assert env.latest_version().content_hash == second.content_hash


def test_spec_validation_names_the_field(world: Any) -> None:
    bad = world.alice.client.post(
        "/api/environments/", {"name": "e1", "spec": {"python_version": "banana"}}, format="json"
    )
    assert bad.status_code == 400 and "python_version" in str(bad.json())
    bad = world.alice.client.post(
        "/api/environments/", {"name": "e2", "spec": {"environment_variables": {"1A": "x"}}}, format="json"
    )
    assert "environment_variables" in str(bad.json())
    conda = "dependencies:\n  - python=3.11\n  - cudatoolkit=11.8\n  - pip:\n    - six\n"
    bad = world.alice.client.post(
        "/api/environments/", {"name": "e3", "spec": {"conda_specification": conda}}, format="json"
    )
    assert bad.status_code == 400 and "cudatoolkit" in str(bad.json())
    bad = world.alice.client.post("/api/environments/", {"name": "bad name!"}, format="json")
    assert "name" in bad.json()


def test_compute_targets_admin_write(world: Any) -> None:
    assert world.alice.client.get("/api/compute-targets/").json()["results"][0]["name"] == "local"
    body = {"name": "gpu-box", "kind": "docker", "max_nodes": 2, "config": {"base_url": "tcp://x", "password": "s3"}}
    assert world.alice.client.post("/api/compute-targets/", body, format="json").status_code == 403
    made = world.admin.client.post("/api/compute-targets/", body, format="json")
    assert made.status_code == 201
    assert made.json()["config"]["password"] == "********"
    bad = world.admin.client.post(
        "/api/compute-targets/", {"name": "l2", "kind": "local", "max_nodes": 3}, format="json"
    )
    assert bad.status_code == 400 and "max_nodes" in bad.json()


def test_datasets_and_experiments_are_team_scoped(world: Any) -> None:
    made = world.alice.client.post("/api/datasets/", {"name": "mnist"}, format="json")
    assert made.status_code == 201
    ds = Dataset.objects.get(name="mnist")
    assert ds.team == world.team_a
    assert world.bob.client.get(f"/api/datasets/{ds.pk}/").status_code == 404
    assert world.admin.client.get(f"/api/datasets/{ds.pk}/").status_code == 200
    assert world.alice.client.post("/api/experiments/", {"name": "exp1"}, format="json").status_code == 201
    exp = Experiment.objects.get(name="exp1")
    assert world.bob.client.delete(f"/api/experiments/{exp.pk}/").status_code == 404
    spoof = world.bob.client.post("/api/experiments/", {"name": "x", "team": "default"}, format="json")
    assert spoof.status_code == 400 and "team" in spoof.json()
    assert world.bob.client.get("/api/datastores/").status_code == 200
    assert world.bob.client.post("/api/datastores/", {"name": "s", "root_path": "/"}, format="json").status_code == 403


def test_runs_are_team_scoped(world: Any) -> None:
    run = make_run(world.alice.user, world.team_a)
    assert world.alice.client.get(f"/api/runs/{run.pk}/").status_code == 200
    assert world.bob.client.get(f"/api/runs/{run.pk}/").status_code == 404
    assert world.bob.client.post(f"/api/runs/{run.pk}/cancel/").status_code == 404
    assert world.admin.client.get(f"/api/runs/{run.pk}/").status_code == 200
    assert [r["id"] for r in world.bob.client.get("/api/runs/").json()["results"]] == []
    assert [r["id"] for r in world.alice.client.get("/api/runs/").json()["results"]] == [run.pk]


def test_run_token_is_scoped_to_its_run(world: Any) -> None:
    from runs.models import RunToken

    run = make_run(world.alice.user, world.team_a)
    other = make_run(world.alice.user, world.team_a)
    key = RunToken.issue(run)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    assert client.get(f"/api/runs/{run.pk}/").status_code == 200
    assert (
        client.post(
            f"/api/runs/{run.pk}/metrics/", {"points": [{"name": "loss", "value": 1.5, "step": 1}]}, format="json"
        ).status_code
        == 201
    )
    assert client.get(f"/api/runs/{other.pk}/").status_code == 404
    assert client.post(f"/api/runs/{run.pk}/cancel/").status_code == 403
    assert client.get("/api/environments/").status_code == 403


def test_run_token_cannot_touch_its_submitters_account(world: Any) -> None:
    """The token user code gets must not list or revoke the submitter's API tokens (an
    admin's when an admin submitted), nor act as the submitter anywhere else."""
    from accounts.models import ApiToken
    from accounts.permissions import RUN_TOKEN_DENIED
    from runs.models import RunToken

    run = make_run(world.admin.user, world.team_a)
    other = make_run(world.admin.user, world.team_a)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {RunToken.issue(run)}")
    token = ApiToken.objects.get(user=world.admin.user)
    for method, url in [
        ("get", "/api/auth/tokens/"),
        ("delete", f"/api/auth/tokens/{token.pk}/"),
        ("get", "/api/auth/session/"),
        ("delete", "/api/auth/session/"),
        ("get", "/api/auth/teams/"),
        ("post", "/api/runs/"),
        ("post", f"/api/runs/{run.pk}/cancel/"),
        ("get", "/api/datasets/"),
        ("get", "/api/audit/events/"),
        ("post", "/api/compute-targets/"),
        ("get", "/api/schema/"),
    ]:
        denied = getattr(client, method)(url)
        assert denied.status_code == 403, (method, url, denied.content)
        assert RUN_TOKEN_DENIED in denied.content.decode()
    assert ApiToken.objects.filter(pk=token.pk).exists()
    # The run list (Azure's get_children) holds only its run and the child runs under it.
    listed = client.get("/api/runs/")
    assert listed.status_code == 200 and [r["id"] for r in listed.json()["results"]] == [run.pk]
    assert other.pk != run.pk
    # Its own run's in-run routes work; the same routes on another run do not exist for it.
    assert client.get(f"/api/runs/{run.pk}/metrics/").status_code == 200
    assert client.post(f"/api/runs/{run.pk}/tag/", {"tags": {"a": "1"}}, format="json").status_code == 200
    assert client.get(f"/api/runs/{run.pk}/artifacts/").status_code == 200
    assert client.get(f"/api/runs/{run.pk}/logs/").status_code == 200
    assert client.get(f"/api/runs/{run.pk}/inputs/").status_code == 200
    for url in [f"/api/runs/{other.pk}/metrics/", f"/api/runs/{other.pk}/tag/"]:
        assert client.post(url, {"tags": {"a": "1"}, "points": []}, format="json").status_code == 404, url


@pytest.mark.django_db(transaction=True)
def test_run_token_websocket_watches_its_own_run_only(world: Any) -> None:
    import asyncio

    from asgiref.testing import ApplicationCommunicator

    from config.asgi import application
    from runs.models import RunToken

    run = make_run(world.alice.user, world.team_a)
    other = make_run(world.alice.user, world.team_a)
    key = RunToken.issue(run)

    async def connects(path: str) -> bool:
        scope = {
            "type": "websocket",
            "path": path,
            "query_string": b"",
            "headers": [(b"authorization", f"Token {key}".encode())],
            "subprotocols": [],
        }
        comm = ApplicationCommunicator(application, scope)
        await comm.send_input({"type": "websocket.connect"})
        answer = await comm.receive_output(timeout=30)
        await comm.send_input({"type": "websocket.disconnect", "code": 1000})
        await comm.wait(timeout=30)
        return bool(answer["type"] == "websocket.accept")

    assert asyncio.run(connects(f"/ws/runs/{run.pk}/"))
    assert not asyncio.run(connects(f"/ws/runs/{other.pk}/"))
    assert not asyncio.run(connects("/ws/runs/"))  # the team's run list


@pytest.mark.parametrize("path", ["/api/schema/", "/api/docs/"])
def test_schema_and_docs_for_signed_in_users(world: Any, path: str) -> None:
    assert world.alice.client.get(path).status_code == 200


# ---- writes: an object's team is fixed for members; admins move with an audit entry ----
def _team_owned(world: Any) -> dict[str, str]:
    """One object of each team-owned kind that can be PATCHed, in team A: kind -> URL."""
    env = custom_env(world)
    exp = world.alice.client.post("/api/experiments/", {"name": "exp"}, format="json").json()
    ds = world.alice.client.post("/api/datasets/", {"name": "ds-a"}, format="json").json()
    return {
        "environment": f"/api/environments/{env.pk}/",
        "experiment": f"/api/experiments/{exp['id']}/",
        "dataset": f"/api/datasets/{ds['id']}/",
    }


@pytest.mark.parametrize("method", ["patch", "put"])
def test_members_cannot_move_objects_to_another_team(world: Any, method: str) -> None:
    for kind, url in _team_owned(world).items():
        before = world.alice.client.get(url).json()
        body = {"name": before["name"], "team": "other"}
        moved = getattr(world.alice.client, method)(url, body, format="json")
        assert moved.status_code == 400 and "team" in moved.json(), (kind, moved.content)
        assert world.alice.client.get(url).json()["team"] == "default", kind
        # Bob (team B) cannot pull it over either: he cannot even see it.
        assert getattr(world.bob.client, method)(url, body, format="json").status_code == 404, kind
    names = {e["name"] for e in world.bob.client.get("/api/environments/").json()["results"]}
    assert "alice-env" not in names


def test_admins_move_objects_with_an_audit_entry_in_the_old_team(world: Any) -> None:
    from audit.models import AuditEvent

    urls = _team_owned(world)
    run = make_run(world.alice.user, world.team_a)  # in experiment "exp"
    for kind, url in urls.items():
        moved = world.admin.client.patch(url, {"team": "other"}, format="json")
        assert moved.status_code == 200 and moved.json()["team"] == "other", (kind, moved.content)
        event = AuditEvent.objects.get(action__endswith=f".{kind}.moved")
        assert event.team == world.team_a and event.changes == {"team": ["default", "other"]}
        assert event.actor == world.admin.user
        assert world.bob.client.get(url).status_code == 200 and world.alice.client.get(url).status_code == 404
    run.refresh_from_db()
    assert run.team == world.team_b  # an experiment's runs go with it
    assert world.bob.client.get(f"/api/runs/{run.pk}/").status_code == 200


def test_a_move_or_rename_onto_a_taken_name_is_a_400_naming_name(world: Any) -> None:
    urls = _team_owned(world)
    world.bob.client.post("/api/experiments/", {"name": "exp"}, format="json")
    world.bob.client.post("/api/datasets/", {"name": "ds-a"}, format="json")
    world.bob.client.post("/api/environments/", {"name": "alice-env"}, format="json")
    for kind, url in urls.items():
        clash = world.admin.client.patch(url, {"team": "other"}, format="json")
        assert clash.status_code == 400 and "name" in clash.json(), (kind, clash.content)
    world.alice.client.post("/api/experiments/", {"name": "exp-b"}, format="json")
    world.alice.client.post("/api/environments/", {"name": "env-b"}, format="json")
    for url, taken in [(urls["experiment"], "exp-b"), (urls["environment"], "env-b")]:
        for method in ("patch", "put"):
            clash = getattr(world.alice.client, method)(url, {"name": taken}, format="json")
            assert clash.status_code == 400 and "name" in clash.json(), (url, clash.content)
    assert world.alice.client.put(urls["experiment"], {"name": "exp-c"}, format="json").status_code == 200
