"""Datastores: admin registration inside the allowed roots, uploads, listing, deletion."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from audit.models import AuditEvent
from datasets.models import Datastore
from runs.models import RunInput
from tests.datasets.helpers import Part, create_dataset, post_parts, temp_files
from tests.factories import make_run


def make_store(world: Any, roots: Path, name: str = "lake", **extra: Any) -> dict[str, Any]:
    (roots / name).mkdir(exist_ok=True)
    response = world.admin.client.post(
        "/api/datastores/", {"name": name, "root_path": str(roots / name), **extra}, format="json"
    )
    assert response.status_code == 201, response.content
    return dict(response.json())


def test_default_datastore_exists_under_the_data_dir(world: Any, settings: Any) -> None:
    stores = world.alice.client.get("/api/datastores/").json()["results"]
    default = [s for s in stores if s["is_default"]]
    assert [s["name"] for s in default] == ["workspaceblobstore"]
    assert Path(default[0]["root_path"]).is_relative_to(Path(settings.DATA_DIR))


def test_admin_registers_a_datastore_inside_an_allowed_root(world: Any, roots: Path) -> None:
    store = make_store(world, roots, description="shared lake", read_only=True)
    assert store["root_path"] == str((roots / "lake").resolve()) and store["read_only"] is True
    assert AuditEvent.objects.filter(action="datasets.datastore.created", actor_name="root").exists()
    changed = world.admin.client.patch(f"/api/datastores/{store['id']}/", {"description": "d2"}, format="json")
    assert changed.status_code == 200
    assert AuditEvent.objects.filter(action="datasets.datastore.updated").exists()


def test_datastore_paths_outside_allowed_roots_are_refused(world: Any, roots: Path, tmp_path: Path) -> None:
    client = world.admin.client
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    for path in (str(outside), "/etc", str(roots / ".." / "elsewhere"), "relative/path"):
        response = client.post("/api/datastores/", {"name": "bad", "root_path": path}, format="json")
        assert response.status_code == 400, path
        assert "root_path" in response.json()
    (roots / "link").symlink_to(outside)
    response = client.post("/api/datastores/", {"name": "bad", "root_path": str(roots / "link")}, format="json")
    assert response.status_code == 400 and "outside the allowed" in str(response.json())
    response = client.post("/api/datastores/", {"name": "bad", "root_path": str(roots / "missing")}, format="json")
    assert response.status_code == 400 and "not an existing folder" in str(response.json())


def test_only_admins_write_datastores(world: Any, roots: Path) -> None:
    (roots / "x").mkdir()
    response = world.alice.client.post("/api/datastores/", {"name": "x", "root_path": str(roots / "x")}, format="json")
    assert response.status_code == 403
    store = make_store(world, roots)
    assert world.alice.client.delete(f"/api/datastores/{store['id']}/").status_code == 403
    assert world.alice.client.get(f"/api/datastores/{store['id']}/").status_code == 200


def test_datastore_names_are_validated(world: Any, roots: Path) -> None:
    (roots / "ok").mkdir()
    for name in ("has space", "../up", "", "9starts-with-digit", "x" * 65, "semi;colon"):
        response = world.admin.client.post(
            "/api/datastores/", {"name": name, "root_path": str(roots / "ok")}, format="json"
        )
        assert response.status_code == 400 and "name" in response.json(), name


def test_making_another_datastore_default_moves_the_flag(world: Any, roots: Path) -> None:
    store = make_store(world, roots, is_default=True)
    assert list(Datastore.objects.filter(is_default=True).values_list("name", flat=True)) == [store["name"]]
    unset = world.admin.client.patch(f"/api/datastores/{store['id']}/", {"is_default": False}, format="json")
    assert unset.status_code == 400 and "default" in str(unset.json())
    assert world.admin.client.delete(f"/api/datastores/{store['id']}/").status_code == 400


def test_upload_into_a_datastore_then_list_it(world: Any, roots: Path, dataset_store: Path) -> None:
    store = make_store(world, roots, team=world.team_a.slug)  # members upload to their team's datastores
    url = f"/api/datastores/{store['id']}/upload/"
    parts = [Part("a.txt", "A"), Part("deep/b.txt", "B")]
    response = post_parts(world.alice.client, url, {"target_path": "incoming/"}, parts)
    assert response.status_code == 200, response.content
    assert response.json() == {"uploaded": ["incoming/a.txt", "incoming/deep/b.txt"]}
    assert (roots / "lake" / "incoming" / "deep" / "b.txt").read_text() == "B"
    again = post_parts(world.alice.client, url, {"target_path": "incoming"}, [Part("a.txt", "A2")])
    assert again.status_code == 409 and "incoming/a.txt" in again.json()["detail"]
    assert (roots / "lake" / "incoming" / "a.txt").read_text() == "A"
    forced = post_parts(
        world.alice.client, url, {"target_path": "incoming", "overwrite": "true"}, [Part("a.txt", "A2")]
    )
    assert forced.status_code == 200 and (roots / "lake" / "incoming" / "a.txt").read_text() == "A2"
    listing = world.alice.client.get(f"/api/datastores/{store['id']}/files/", {"path": "incoming"}).json()
    assert [(e["name"], e["type"], e["size"]) for e in listing["entries"]] == [
        ("a.txt", "file", 2),
        ("deep", "dir", None),
    ]
    assert world.alice.client.get(f"/api/datastores/{store['id']}/files/", {"path": "../.."}).status_code == 400
    assert temp_files(dataset_store) == []
    assert AuditEvent.objects.filter(action="datasets.datastore.uploaded", actor_name="alice").count() == 2


def test_upload_refuses_read_only_datastores_and_escaping_paths(world: Any, roots: Path) -> None:
    read_only = make_store(world, roots, name="frozen", read_only=True, team=world.team_a.slug)
    response = post_parts(world.alice.client, f"/api/datastores/{read_only['id']}/upload/", {}, [Part("a", "A")])
    assert response.status_code == 400 and "read-only" in str(response.json())
    store = make_store(world, roots, team=world.team_a.slug)
    url = f"/api/datastores/{store['id']}/upload/"
    for name in ("../escape.txt", "/etc/passwd", "a/../../b"):
        response = post_parts(world.alice.client, url, {}, [Part(name, "x")])
        assert response.status_code == 400, name
    response = post_parts(world.alice.client, url, {"target_path": "../../x"}, [Part("a", "x")])
    assert response.status_code == 400
    assert not (roots / "escape.txt").exists() and not (roots.parent / "x").exists()


def test_datastore_in_use_cannot_be_deleted(world: Any, roots: Path) -> None:
    store = make_store(world, roots)
    (roots / "lake" / "f.txt").write_text("f")
    ds = create_dataset(world.alice.client, "from-lake")
    version = world.alice.client.post(
        f"/api/datasets/{ds['id']}/versions/", {"datastore": "lake", "path": ""}, format="json"
    )
    assert version.status_code == 201, version.content
    refused = world.admin.client.delete(f"/api/datastores/{store['id']}/")
    assert refused.status_code == 409 and "from-lake:1" in refused.json()["detail"]
    other = make_store(world, roots, name="other")
    run = make_run(world.alice.user, world.team_a)
    RunInput.objects.create(run=run, name="x", mode="mount", datastore_id=other["id"], datastore_path="")
    refused = world.admin.client.delete(f"/api/datastores/{other['id']}/")
    assert refused.status_code == 409 and refused.json()["runs"] == [run.pk]
    run.delete()
    assert world.admin.client.delete(f"/api/datastores/{other['id']}/").status_code == 204


def test_admin_pages_render_and_check_roots(world: Any, roots: Path) -> None:
    from django.test import Client

    client = Client()
    client.force_login(world.admin.user)
    for url in (
        "/admin/datasets/datastore/",
        "/admin/datasets/dataset/",
        "/admin/datasets/datasetversion/",
        "/admin/datasets/datastore/add/",
    ):
        assert client.get(url).status_code == 200, url
    response = client.post("/admin/datasets/datastore/add/", {"name": "adm", "root_path": "/etc", "description": ""})
    assert response.status_code == 200 and b"outside the allowed datastore roots" in response.content
    (roots / "adm").mkdir()
    response = client.post(
        "/admin/datasets/datastore/add/", {"name": "adm", "root_path": str(roots / "adm"), "description": ""}
    )
    assert response.status_code == 302
    assert AuditEvent.objects.filter(action="datasets.datastore.created", via="admin").exists()
