"""Bad input is refused with an error naming the problem, and leaves nothing behind."""

from __future__ import annotations

import io
import json
import tarfile
import zipfile
from pathlib import Path
from typing import Any

import pytest

from datasets.models import DatasetFile, DatasetVersion
from runs.models import Run
from tests.conftest import make_tar
from tests.datasets.helpers import (
    Part,
    blobs,
    create_dataset,
    folder,
    multipart,
    register,
    tar_bytes,
    temp_files,
    zip_bytes,
)


def nothing_left(store: Path, blobs_before: set[str] | None = None) -> None:
    assert DatasetVersion.objects.count() == 0 or blobs_before is not None
    assert temp_files(store) == []
    assert blobs(store) == (blobs_before or set())


@pytest.mark.parametrize("name", ["", "tab\tinside", "../up", "-dash-first", "x" * 129, "a/b", "é"])
def test_dataset_names_are_validated(world: Any, name: str) -> None:
    response = world.alice.client.post("/api/datasets/", {"name": name}, format="json")
    assert response.status_code == 400 and "name" in response.json()


def test_dataset_names_may_have_spaces_inside(world: Any) -> None:
    made = world.alice.client.post("/api/datasets/", {"name": "diabetes dataset"}, format="json")
    assert made.status_code == 201 and made.json()["name"] == "diabetes dataset"
    padded = world.alice.client.post("/api/datasets/", {"name": "  padded "}, format="json")
    assert padded.status_code == 201 and padded.json()["name"] == "padded"  # trimmed, as every text field


def test_duplicate_dataset_name_is_refused(world: Any) -> None:
    create_dataset(world.alice.client, "mnist")
    response = world.alice.client.post("/api/datasets/", {"name": "mnist"}, format="json")
    assert response.status_code == 400 and "already exists" in str(response.json())


def symlink(name: str, target: str) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type = tarfile.SYMTYPE
    info.linkname = target
    return info


def hardlink(name: str, target: str) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type = tarfile.LNKTYPE
    info.linkname = target
    return info


def device(name: str) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type = tarfile.CHRTYPE
    info.devmajor, info.devminor = 1, 3
    return info


def fifo(name: str) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type = tarfile.FIFOTYPE
    return info


def zip_with_symlink() -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("ok.txt", "fine")
        info = zipfile.ZipInfo("evil")
        info.external_attr = 0o120777 << 16
        zf.writestr(info, "/etc/passwd")
    return buf.getvalue()


BAD_ARCHIVES = {
    "dotdot-tar": (tar_bytes([("ok.txt", b"x"), ("../escape.txt", b"x")]), "data.tar.gz", "'../escape.txt' escapes"),
    "absolute-tar": (tar_bytes([("/etc/cron.d/evil", b"x")]), "data.tar.gz", "absolute path"),
    "dotdot-zip": (zip_bytes({"a/../../escape.txt": "x"}), "data.zip", "escapes"),
    "absolute-zip": (zip_bytes({"/abs.txt": "x"}), "data.zip", "absolute path"),
    "symlink-tar": (tar_bytes([symlink("link", "/etc/passwd")]), "data.tar.gz", "'link' is a link"),
    "hardlink-tar": (tar_bytes([("a", b"x"), hardlink("b", "a")]), "data.tar.gz", "'b' is a link"),
    "symlink-zip": (zip_with_symlink(), "data.zip", "'evil' is a symbolic link"),
    "device-tar": (tar_bytes([device("dev/null")]), "data.tar.gz", "device file"),
    "fifo-tar": (tar_bytes([fifo("pipe")]), "data.tar.gz", "device file or FIFO"),
    "duplicate-tar": (tar_bytes([("a.txt", b"1"), ("a.txt", b"2")]), "data.tar.gz", "appears twice"),
    "file-and-folder": (tar_bytes([("a", b"1"), ("a/b", b"2")]), "data.tar.gz", "both a file and a folder"),
    "not-an-archive": (b"just some text", "data.zip", "neither a zip nor a tar"),
    "empty-zip": (zip_bytes({}), "data.zip", "no files"),
}


@pytest.mark.parametrize("case", sorted(BAD_ARCHIVES))
def test_unsafe_archives_are_refused_naming_the_member(world: Any, dataset_store: Path, case: str) -> None:
    data, filename, message = BAD_ARCHIVES[case]
    ds = create_dataset(world.alice.client, "d")
    response = register(world.alice.client, ds["id"], archive=data, archive_name=filename, expect=400)
    assert message in response["archive"][0], response
    nothing_left(dataset_store)
    assert not (dataset_store.parent / "escape.txt").exists()


def test_zip_bomb_past_the_ratio_limit_is_refused(world: Any, dataset_store: Path, settings: Any) -> None:
    settings.RUNYARD = {**settings.RUNYARD, "DATASET_ARCHIVE_MAX_RATIO": 50}
    bomb = zip_bytes({"zeros.bin": b"\0" * (8 * 1024 * 1024)})  # deflates ~1000×
    assert len(bomb) < 100_000
    ds = create_dataset(world.alice.client, "d")
    response = register(world.alice.client, ds["id"], archive=bomb, expect=400)
    assert "zip bomb" in response["archive"][0] and "50" in response["archive"][0]
    gz_bomb = tar_bytes([("zeros.bin", b"\0" * (8 * 1024 * 1024))])
    response = register(world.alice.client, ds["id"], archive=gz_bomb, archive_name="d.tar.gz", expect=400)
    assert "zip bomb" in response["archive"][0]
    nothing_left(dataset_store)
    settings.RUNYARD = {**settings.RUNYARD, "DATASET_ARCHIVE_MAX_RATIO": 2000}
    assert register(world.alice.client, ds["id"], archive=bomb)["total_size"] == 8 * 1024 * 1024


def test_archive_past_the_size_or_file_limit_is_refused(world: Any, dataset_store: Path, settings: Any) -> None:
    settings.RUNYARD = {**settings.RUNYARD, "DATASET_ARCHIVE_MAX_BYTES": 1000, "DATASET_ARCHIVE_MAX_FILES": 3}
    ds = create_dataset(world.alice.client, "d")
    response = register(world.alice.client, ds["id"], archive=zip_bytes({"big": b"x" * 1001}), expect=400)
    assert "more than the limit of 1000 bytes" in response["archive"][0]
    response = register(world.alice.client, ds["id"], archive=zip_bytes({f"f{i}": "x" for i in range(4)}), expect=400)
    assert "more than the limit of 3 files" in response["archive"][0]
    nothing_left(dataset_store)


def test_zip_member_lying_about_its_size_is_refused(world: Any, dataset_store: Path) -> None:
    data = bytearray(zip_bytes({"a.txt": "A" * 100}))
    # Patch the declared uncompressed size (central directory and local header) to 10 bytes.
    for marker in (b"PK\x01\x02", b"PK\x03\x04"):
        start = data.index(marker)
        offset = start + (24 if marker == b"PK\x01\x02" else 22)
        data[offset : offset + 4] = (10).to_bytes(4, "little")
    ds = create_dataset(world.alice.client, "d")
    response = register(world.alice.client, ds["id"], archive=bytes(data), expect=400)
    assert "a.txt" in response["archive"][0] or "corrupt" in response["archive"][0]
    nothing_left(dataset_store)


@pytest.mark.parametrize(
    "path, message",
    [
        ("../escape.txt", "escapes"),
        ("/etc/passwd", "absolute path"),
        ("C:/win.txt", "absolute path"),
        ("ok/../../x", "escapes"),
        ("tab\there", "control characters"),
    ],
)
def test_uploaded_file_paths_are_checked(world: Any, dataset_store: Path, path: str, message: str) -> None:
    ds = create_dataset(world.alice.client, "d")
    response = register(world.alice.client, ds["id"], files=[Part("fine.txt", "ok"), Part(path, "bad")], expect=400)
    assert message in response["files"][0]
    nothing_left(dataset_store)


def test_duplicate_and_clashing_uploaded_paths_are_refused(world: Any, dataset_store: Path) -> None:
    ds = create_dataset(world.alice.client, "d")
    response = register(world.alice.client, ds["id"], files=[Part("a.txt", "1"), Part("a.txt", "2")], expect=400)
    assert "appears twice" in response["files"][0]
    response = register(world.alice.client, ds["id"], files=[Part("a", "1"), Part("a/b", "2")], expect=400)
    assert "both a file and a folder" in response["files"][0]
    nothing_left(dataset_store)


def test_a_version_needs_exactly_one_source(world: Any, dataset_store: Path) -> None:
    ds = create_dataset(world.alice.client, "d")
    assert "exactly one" in str(register(world.alice.client, ds["id"], expect=400))
    response = register(
        world.alice.client, ds["id"], files=folder({"a": "1"}), archive=zip_bytes({"b": "2"}), expect=400
    )
    assert "exactly one" in str(response)
    bad = world.alice.client.post(
        f"/api/datasets/{ds['id']}/versions/", {"datastore": "nope", "path": "x"}, format="json"
    )
    assert bad.status_code == 400 and "No datastore named 'nope'" in str(bad.json())
    bad = world.alice.client.post(
        f"/api/datasets/{ds['id']}/versions/", {"datastore": "workspaceblobstore", "path": "../../etc"}, format="json"
    )
    assert bad.status_code == 400 and "outside datastore" in str(bad.json())
    bad = world.alice.client.post(
        f"/api/datasets/{ds['id']}/versions/",
        {"datastore": "workspaceblobstore", "path": "no/such/folder"},
        format="json",
    )
    assert bad.status_code == 400 and "has no path 'no/such/folder'" in str(bad.json())
    bad = register(world.alice.client, ds["id"], files=folder({"a": "1"}), tags="{not json", expect=400)
    assert "tags" in bad
    nothing_left(dataset_store)


def test_interrupted_upload_leaves_no_version_and_no_files(world: Any, dataset_store: Path) -> None:
    ds = create_dataset(world.alice.client, "d")
    body, content_type = multipart({"description": "x"}, [Part("a.txt", "complete"), Part("b.bin", b"z" * 100_000)])
    cut = body[: len(body) - 50_000]  # the connection dropped in the middle of b.bin
    response = world.alice.client.post(f"/api/datasets/{ds['id']}/versions/", data=cut, content_type=content_type)
    assert response.status_code == 400 and "interrupted" in str(response.json())
    assert DatasetVersion.objects.count() == 0
    nothing_left(dataset_store)


def test_failure_while_saving_rolls_back_and_removes_new_blobs(
    world: Any, dataset_store: Path, monkeypatch: Any
) -> None:
    client = world.alice.client
    ds = create_dataset(client, "d")
    register(client, ds["id"], files=folder({"kept.txt": "kept"}))
    before = blobs(dataset_store)

    def broken(*args: Any, **kwargs: Any) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(DatasetFile.objects, "bulk_create", broken)
    with pytest.raises(OSError, match="disk full"):
        register(client, ds["id"], files=folder({"kept.txt": "kept", "new.txt": "new"}))
    assert list(DatasetVersion.objects.values_list("version", flat=True)) == [1]
    assert blobs(dataset_store) == before  # 'new' removed, 'kept' (still referenced) stays
    assert temp_files(dataset_store) == []


def test_unknown_datasets_versions_and_datastores_in_run_arguments(world: Any) -> None:
    client = world.alice.client
    ds = create_dataset(client, "mnist")
    register(client, ds["id"], files=folder({"a": "1"}))
    empty = create_dataset(client, "empty")
    assert empty["latest_version"] is None

    def submit(*arguments: Any) -> Any:
        return client.post(
            "/api/runs/",
            {
                "snapshot": make_tar({"train.py": "print(1)"}),
                "script": "train.py",
                "arguments": json.dumps(list(arguments)),
                "experiment": "e",
            },
            format="multipart",
        )

    cases = [
        ({"dataset": "nope"}, "arguments[1]: no dataset named 'nope'"),
        ({"dataset": "mnist", "version": 9}, "Dataset 'mnist' has no version 9 (versions: 1)"),
        ({"dataset": "mnist", "version": "two"}, "Version must be a number or 'latest'"),
        ({"dataset": "empty"}, "Dataset 'empty' has no versions yet"),
        ({"dataset": "mnist", "mode": "copy"}, "mode must be 'mount' or 'download'"),
        ({"dataset": "mnist", "mood": "mount"}, "unknown key(s) mood"),
        ({"dataset": "mnist", "name": "1bad"}, "input name '1bad' is not valid"),
        ({"datastore": "nope", "path": "x"}, "no datastore named 'nope'"),
        ({"datastore": "workspaceblobstore", "path": "../../etc"}, "outside datastore"),
        ({"datastore": "workspaceblobstore", "path": "missing/"}, "has no path 'missing/'"),
        ({"dataset": "mnist", "datastore": "workspaceblobstore"}, "give one of"),
        ([1, 2], "must be a string, a number, or a dataset input"),
    ]
    for bad, message in cases:
        response = submit("--data", bad)
        assert response.status_code == 400, bad
        assert message in response.json()["arguments"][0], (bad, response.json())
    response = submit({"dataset": "mnist"}, {"dataset": "mnist", "mode": "download"})
    assert response.status_code == 400 and "two inputs are named 'mnist'" in str(response.json())
    # bob's team cannot use alice's dataset
    response = world.bob.client.post(
        "/api/runs/",
        {
            "snapshot": make_tar({"train.py": "x"}),
            "script": "train.py",
            "arguments": json.dumps([{"dataset": "mnist"}]),
        },
        format="multipart",
    )
    assert response.status_code == 400 and "no dataset named 'mnist'" in str(response.json())
    assert Run.objects.count() == 0


def test_too_many_files_in_one_request_is_refused_clearly(world: Any, dataset_store: Path, settings: Any) -> None:
    settings.DATA_UPLOAD_MAX_NUMBER_FILES = 3
    ds = create_dataset(world.alice.client, "d")
    response = register(world.alice.client, ds["id"], files=folder({f"f{i}": "x" for i in range(4)}), expect=400)
    assert "More than 3 files in one request" in response["detail"]
    nothing_left(dataset_store)
