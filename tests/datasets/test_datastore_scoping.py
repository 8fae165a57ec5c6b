"""Datastores by team: a team's datastores are its own, shared ones are read-only for
non-admins, and in the shared default datastore each team has its own folder. Build
logs are readable by the teams whose environments use the build (and admins)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from accounts.models import Team
from datasets.services import default_datastore
from environments.models import BuildLogLine, Environment, EnvironmentBuild
from tests.conftest import make_tar
from tests.datasets.helpers import Part, create_dataset, post_parts
from tests.datasets.test_datastores import make_store


def _default_id() -> int:
    return int(default_datastore().pk)


def _names(actor: Any) -> set[str]:
    return {s["name"] for s in actor.client.get("/api/datastores/").json()["results"]}


def test_a_teams_datastore_is_invisible_to_other_teams(world: Any, roots: Path) -> None:
    mine = make_store(world, roots, name="bobs", team=world.team_b.slug)
    assert mine["team"] == world.team_b.slug
    assert "bobs" in _names(world.bob) and "bobs" not in _names(world.alice) and "bobs" in _names(world.admin)
    assert world.alice.client.get(f"/api/datastores/{mine['id']}/").status_code == 404
    assert world.alice.client.get(f"/api/datastores/{mine['id']}/files/").status_code == 404
    sneaky = post_parts(world.alice.client, f"/api/datastores/{mine['id']}/upload/", {}, [Part("a.txt", "x")])
    assert sneaky.status_code == 404
    own = post_parts(world.bob.client, f"/api/datastores/{mine['id']}/upload/", {}, [Part("a.txt", "B")])
    assert own.status_code == 200
    ds = create_dataset(world.alice.client, "steal")
    refused = world.alice.client.post(
        f"/api/datasets/{ds['id']}/versions/", {"datastore": "bobs", "path": "a.txt"}, format="json"
    )
    assert refused.status_code == 400 and "No datastore named 'bobs'" in str(refused.json())


def test_shared_datastores_are_read_only_for_non_admins(world: Any, roots: Path) -> None:
    shared = make_store(world, roots, name="commons")
    assert shared["team"] is None and "commons" in _names(world.alice)
    url = f"/api/datastores/{shared['id']}/upload/"
    refused = post_parts(world.alice.client, url, {}, [Part("a.txt", "x")])
    assert refused.status_code == 403 and "shared" in refused.json()["detail"]
    assert not (roots / "commons" / "a.txt").exists()
    assert post_parts(world.admin.client, url, {}, [Part("a.txt", "admin's")]).status_code == 200
    assert world.alice.client.get(f"/api/datastores/{shared['id']}/files/").status_code == 200
    moved = world.alice.client.patch(f"/api/datastores/{shared['id']}/", {"team": world.team_a.slug}, format="json")
    assert moved.status_code == 403


def test_the_default_datastore_gives_each_team_its_own_folder(world: Any) -> None:
    url = f"/api/datastores/{_default_id()}/upload/"
    assert post_parts(world.alice.client, url, {"target_path": "data"}, [Part("a.txt", "alice")]).status_code == 200
    # Same path, other team: no conflict, and alice's file is untouched.
    bob = post_parts(world.bob.client, url, {"target_path": "data", "overwrite": "true"}, [Part("a.txt", "bob")])
    assert bob.status_code == 200 and bob.json() == {"uploaded": ["data/a.txt"]}
    root = Path(default_datastore().root_path)
    assert (root / "teams" / world.team_a.slug / "data" / "a.txt").read_text() == "alice"
    assert (root / "teams" / world.team_b.slug / "data" / "a.txt").read_text() == "bob"
    for escape in ("../other/data", "../../x"):
        out = post_parts(world.bob.client, url, {"target_path": escape, "overwrite": "true"}, [Part("a.txt", "b")])
        assert out.status_code == 400, escape
    assert (root / "teams" / world.team_a.slug / "data" / "a.txt").read_text() == "alice"
    listing = world.bob.client.get(f"/api/datastores/{_default_id()}/files/", {"path": "data"}).json()
    assert [e["name"] for e in listing["entries"]] == ["a.txt"]
    top = world.bob.client.get(f"/api/datastores/{_default_id()}/files/").json()
    assert [e["name"] for e in top["entries"]] == ["data"]
    peek = world.bob.client.get(f"/api/datastores/{_default_id()}/files/", {"path": f"../{world.team_a.slug}"})
    assert peek.status_code == 400
    # A new team sees an empty folder, not an error.
    for bad in ("nope", "a\x00b", "../x"):
        refused = world.alice.client.get(f"/api/datastores/{_default_id()}/files/", {"team": bad})
        assert refused.status_code == 400 and "team" in refused.json(), bad
    Team.objects.create(name="Third", slug="third")
    fresh = world.admin.client.get(f"/api/datastores/{_default_id()}/files/", {"team": "third"})
    assert fresh.status_code == 200 and fresh.json()["entries"] == []


def test_registering_from_the_default_datastore_reads_the_teams_folder(world: Any) -> None:
    url = f"/api/datastores/{_default_id()}/upload/"
    post_parts(world.alice.client, url, {"target_path": "train"}, [Part("a.txt", "alice's data")])
    mine = create_dataset(world.alice.client, "mine")
    made = world.alice.client.post(
        f"/api/datasets/{mine['id']}/versions/", {"datastore": "workspaceblobstore", "path": "train"}, format="json"
    )
    assert made.status_code == 201, made.content
    theirs = create_dataset(world.bob.client, "theirs")
    for path in ("train", f"../{world.team_a.slug}/train"):
        refused = world.bob.client.post(
            f"/api/datasets/{theirs['id']}/versions/", {"datastore": "workspaceblobstore", "path": path}, format="json"
        )
        assert refused.status_code == 400, path
    run = world.bob.client.post(
        "/api/runs/",
        {
            "snapshot": make_tar({"train.py": "print(1)"}),
            "script": "train.py",
            "arguments": json.dumps([{"datastore": "workspaceblobstore", "path": "train"}]),
            "experiment": "e",
        },
        format="multipart",
    )
    assert run.status_code == 400 and "has no path 'train'" in str(run.json())


def test_the_default_datastore_stays_shared(world: Any) -> None:
    moved = world.admin.client.patch(f"/api/datastores/{_default_id()}/", {"team": world.team_a.slug}, format="json")
    assert moved.status_code == 400 and "team" in moved.json()


def test_build_logs_are_read_by_the_teams_that_use_the_build(world: Any) -> None:
    spec = {"pip_requirements": ["six==1.16.0"], "environment_variables": {"WHO": "team-a"}}
    made = world.alice.client.post("/api/environments/", {"name": "alices-secret-project", "spec": spec}, format="json")
    assert made.status_code == 201
    content_hash = made.json()["latest_version"]["content_hash"]
    build = EnvironmentBuild.objects.create(content_hash=content_hash, kind="venv", location="/x", status="succeeded")
    BuildLogLine.objects.create(build=build, seq=1, text=f"Building environment {content_hash[:12]} with Python 3.11")
    assert world.alice.client.get(f"/api/environment-builds/{build.pk}/log/").status_code == 200
    assert world.admin.client.get(f"/api/environment-builds/{build.pk}/log/").status_code == 200
    assert world.bob.client.get(f"/api/environment-builds/{build.pk}/log/").status_code == 404
    assert world.bob.client.get("/api/environment-builds/").json()["results"] == []
    # Bob's own environment with the same build inputs uses the same build: he may read it.
    world.bob.client.post(
        "/api/environments/", {"name": "bobs", "spec": {"pip_requirements": ["six==1.16.0"]}}, format="json"
    )
    assert Environment.objects.get(name="bobs").latest_version().content_hash == content_hash  # type: ignore[union-attr]
    assert world.bob.client.get(f"/api/environment-builds/{build.pk}/log/").status_code == 200
