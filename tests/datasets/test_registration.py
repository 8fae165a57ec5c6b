"""Registering dataset versions: uploads, archives, datastore paths, dedup, editing,
deleting, team scoping and the audit trail."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

from audit.models import AuditEvent
from datasets.models import DatasetFile, DatasetVersion
from datasets.storage import blob_path
from runs.models import RunInput
from tests.datasets.helpers import (
    Part,
    blobs,
    create_dataset,
    folder,
    post_parts,
    register,
    tar_bytes,
    temp_files,
    zip_bytes,
)
from tests.factories import make_run

FILES = {"train/a.csv": "x,y\n1,2\n", "train/b.csv": "x,y\n3,4\n", "README.md": "# mnist-ish\n"}


def sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def test_upload_folder_makes_version_1_with_files_sizes_and_checksums(world: Any, dataset_store: Path) -> None:
    ds = create_dataset(world.alice.client, "mnist", description="digits")
    version = register(world.alice.client, ds["id"], files=folder(FILES), description="first", tags={"src": "lab"})
    assert version["version"] == 1 and version["dataset"] == ds["id"] and version["dataset_name"] == "mnist"
    assert version["file_count"] == 3 and version["total_size"] == sum(len(v) for v in FILES.values())
    assert version["created_by"] == "alice" and version["created_at"]
    assert version["description"] == "first" and version["tags"] == {"src": "lab"}
    assert version["datastore"] is None and version["source_path"] == ""
    detail = world.alice.client.get(f"/api/dataset-versions/{version['id']}/").json()
    assert detail["files"] == [
        {"path": path, "size": len(content), "sha256": sha(content), "url": ""}
        for path, content in sorted(FILES.items())
    ]
    for content in FILES.values():
        assert blob_path(sha(content)).read_text() == content
    assert temp_files(dataset_store) == []
    listed = world.alice.client.get("/api/datasets/", {"name": "mnist"}).json()["results"]
    assert [d["latest_version"]["version"] for d in listed] == [1]


def test_upload_zip_and_tar_make_version_1(world: Any) -> None:
    client = world.alice.client
    zipped = create_dataset(client, "zipped")
    version = register(client, zipped["id"], archive=zip_bytes(FILES))
    assert version["version"] == 1 and version["file_count"] == 3
    tarred = create_dataset(client, "tarred")
    version = register(
        client, tarred["id"], archive=tar_bytes([(k, v.encode()) for k, v in FILES.items()]), archive_name="data.tar.gz"
    )
    files = client.get(f"/api/dataset-versions/{version['id']}/").json()["files"]
    assert sorted(f["path"] for f in files) == sorted(FILES)


def test_reregistering_makes_version_2_and_identical_files_are_stored_once(world: Any, dataset_store: Path) -> None:
    client = world.alice.client
    ds = create_dataset(client, "mnist")
    v1 = register(client, ds["id"], files=folder(FILES))
    stored = blobs(dataset_store)
    assert len(stored) == 3
    v2 = register(client, ds["id"], archive=zip_bytes(FILES))
    assert v2["version"] == 2 and v2["id"] != v1["id"]
    assert blobs(dataset_store) == stored  # nothing new stored
    v3 = register(client, ds["id"], files=folder({**FILES, "extra.txt": "new"}))
    assert v3["version"] == 3 and blobs(dataset_store) == stored | {sha("new")}
    versions = client.get(f"/api/datasets/{ds['id']}/versions/").json()["results"]
    assert [v["version"] for v in versions] == [3, 2, 1]
    by_dataset = client.get("/api/dataset-versions/", {"dataset": ds["id"]}).json()["results"]
    assert {v["version"] for v in by_dataset} == {1, 2, 3}
    assert DatasetFile.objects.filter(sha256=sha(FILES["README.md"])).count() == 3


def test_register_from_a_datastore_path_copies_an_immutable_version(world: Any, roots: Path) -> None:
    folder_path = roots / "shared" / "raw" / "2024"
    (folder_path / "sub").mkdir(parents=True)
    (folder_path / "a.txt").write_text("alpha")
    (folder_path / "sub" / "b.txt").write_text("beta")
    store = world.admin.client.post(
        "/api/datastores/", {"name": "shared", "root_path": str(roots / "shared")}, format="json"
    )
    assert store.status_code == 201, store.content
    ds = create_dataset(world.alice.client, "raw")
    response = world.alice.client.post(
        f"/api/datasets/{ds['id']}/versions/",
        {"datastore": "shared", "path": "raw/2024/", "tags": {"k": 1}},
        format="json",
    )
    assert response.status_code == 201, response.content
    version = response.json()
    assert version["datastore"] == "shared" and version["source_path"] == "raw/2024"
    assert version["file_count"] == 2 and version["tags"] == {"k": "1"}
    (folder_path / "a.txt").write_text("changed later")
    files = {
        f["path"]: f["sha256"]
        for f in world.alice.client.get(f"/api/dataset-versions/{version['id']}/").json()["files"]
    }
    assert files == {"a.txt": sha("alpha"), "sub/b.txt": sha("beta")}
    assert blob_path(sha("alpha")).read_text() == "alpha"


def test_register_endpoint_creates_the_dataset_then_adds_versions(world: Any) -> None:
    client = world.alice.client
    first = post_parts(client, "/api/datasets/register/", {"name": "fresh"}, folder(FILES))
    assert first.status_code == 201, first.content
    second = post_parts(client, "/api/datasets/register/", {"name": "fresh"}, folder(FILES))
    assert second.json()["version"] == 2 and second.json()["dataset"] == first.json()["dataset"]
    bad = post_parts(client, "/api/datasets/register/", {"name": "empty"}, [Part("../x", "no")])
    assert bad.status_code == 400
    assert client.get("/api/datasets/", {"name": "empty"}).json()["results"] == []


def test_description_and_tags_edit_but_the_rest_is_immutable(world: Any) -> None:
    client = world.alice.client
    ds = create_dataset(client, "mnist")
    version = register(client, ds["id"], files=folder(FILES))
    url = f"/api/dataset-versions/{version['id']}/"
    patched = client.patch(
        url, {"description": "cleaned", "tags": {"stage": "gold"}, "file_count": 99, "version": 7}, format="json"
    )
    assert patched.status_code == 200, patched.content
    stored = DatasetVersion.objects.get(pk=version["id"])
    assert (stored.description, stored.tags, stored.file_count, stored.version) == ("cleaned", {"stage": "gold"}, 3, 1)
    assert client.patch(url, {"tags": ["not", "a", "dict"]}, format="json").status_code == 400
    assert client.put(url, {"description": "x"}, format="json").status_code == 405
    rename = client.patch(f"/api/datasets/{ds['id']}/", {"name": "other"}, format="json")
    assert rename.status_code == 400 and "cannot change" in str(rename.json())


def test_delete_refused_while_a_run_uses_it_then_blobs_go(
    world: Any, dataset_store: Path, django_capture_on_commit_callbacks: Any
) -> None:
    client = world.alice.client
    ds = create_dataset(client, "mnist")
    v1 = register(client, ds["id"], files=folder(FILES))
    v2 = register(client, ds["id"], files=folder({"only-in-v2.txt": "v2"}))
    run = make_run(world.alice.user, world.team_a)
    RunInput.objects.create(run=run, name="train", mode="mount", dataset_version_id=v1["id"])
    refused = client.delete(f"/api/dataset-versions/{v1['id']}/")
    assert refused.status_code == 409
    assert refused.json()["runs"] == [run.pk] and f"run {run.pk}" in refused.json()["detail"]
    refused = client.delete(f"/api/datasets/{ds['id']}/")
    assert refused.status_code == 409 and str(run.pk) in refused.json()["detail"]
    with django_capture_on_commit_callbacks(execute=True):
        assert client.delete(f"/api/dataset-versions/{v2['id']}/").status_code == 204
    assert sha("v2") not in blobs(dataset_store)
    assert sha(FILES["README.md"]) in blobs(dataset_store)  # still referenced by v1
    run.delete()
    with django_capture_on_commit_callbacks(execute=True):
        assert client.delete(f"/api/dataset-versions/{v1['id']}/").status_code == 204
    assert blobs(dataset_store) == set()
    actions = set(AuditEvent.objects.values_list("action", flat=True))
    assert {"datasets.dataset.created", "datasets.datasetversion.created", "datasets.datasetversion.deleted"} <= actions


def test_every_change_is_audited(world: Any) -> None:
    client = world.alice.client
    ds = create_dataset(client, "mnist")
    version = register(client, ds["id"], files=folder(FILES))
    client.patch(f"/api/dataset-versions/{version['id']}/", {"description": "d"}, format="json")
    client.patch(f"/api/datasets/{ds['id']}/", {"description": "dd"}, format="json")
    client.delete(f"/api/dataset-versions/{version['id']}/")
    client.delete(f"/api/datasets/{ds['id']}/")
    events = list(
        AuditEvent.objects.filter(action__startswith="datasets.").order_by("id").values_list("action", "actor_name")
    )
    assert events == [
        ("datasets.dataset.created", "alice"),
        ("datasets.datasetversion.created", "alice"),
        ("datasets.datasetversion.updated", "alice"),
        ("datasets.dataset.updated", "alice"),
        ("datasets.datasetversion.deleted", "alice"),
        ("datasets.dataset.deleted", "alice"),
    ]
    created = AuditEvent.objects.get(action="datasets.datasetversion.created")
    assert created.changes["file_count"] == 3 and created.team == world.team_a


def test_datasets_are_team_scoped(world: Any) -> None:
    ds = create_dataset(world.alice.client, "secret")
    version = register(world.alice.client, ds["id"], files=folder(FILES))
    bob = world.bob.client
    assert bob.get("/api/datasets/").json()["results"] == []
    assert bob.get(f"/api/datasets/{ds['id']}/").status_code == 404
    assert bob.get(f"/api/dataset-versions/{version['id']}/").status_code == 404
    assert bob.delete(f"/api/dataset-versions/{version['id']}/").status_code == 404
    assert post_parts(bob, f"/api/datasets/{ds['id']}/versions/", {}, folder(FILES)).status_code == 404
    assert world.anon.get("/api/datasets/").status_code == 401
    # bob may use the same name in his own team
    create_dataset(bob, "secret")
    assert len(world.admin.client.get("/api/datasets/", {"name": "secret"}).json()["results"]) == 2


def test_large_upload_streams_in_chunks_to_disk(world: Any, dataset_store: Path, monkeypatch: Any) -> None:
    from datasets import uploads

    seen: list[int] = []
    original = uploads.SpoolingUploadHandler.receive_data_chunk

    def spy(self: Any, raw_data: bytes, start: int) -> None:
        seen.append(len(raw_data))
        original(self, raw_data, start)

    monkeypatch.setattr(uploads.SpoolingUploadHandler, "receive_data_chunk", spy)
    big = bytes(range(256)) * (12 * 4096)  # 12 MiB
    ds = create_dataset(world.alice.client, "big")
    version = register(world.alice.client, ds["id"], files=[Part("shards/big.bin", big)])
    assert version["total_size"] == len(big)
    assert blob_path(hashlib.sha256(big).hexdigest()).stat().st_size == len(big)
    assert len(seen) >= 12 and max(seen) <= 1 << 20  # never more than one chunk in memory
    assert temp_files(dataset_store) == []


def test_gc_removes_what_no_version_references(world: Any, dataset_store: Path) -> None:
    from django.core.management import call_command

    from datasets import services, storage

    ds = create_dataset(world.alice.client, "mnist")
    version = register(world.alice.client, ds["id"], files=folder(FILES))
    services.version_tree(DatasetVersion.objects.get(pk=version["id"]))
    assert len(list((dataset_store / "trees").iterdir())) == 1
    DatasetVersion.objects.filter(pk=version["id"]).delete()  # behind the service's back
    (dataset_store / "tmp" / "old.part").write_bytes(b"x")
    call_command("runyard_datasets_gc", "--tmp-age", "0")
    assert blobs(dataset_store) == set() and temp_files(dataset_store) == []
    assert list((dataset_store / "trees").iterdir()) == []
    assert storage.gc() == {"blobs": 0, "temp_files": 0, "version_trees": 0}
