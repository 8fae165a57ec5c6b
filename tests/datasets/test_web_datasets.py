"""Web-URL datasets, single-file datasets and file subsets, without the live stack: the
API's registration rules (schemes, credentials, private addresses, who may register), the
worker's fetch with its URL cache against a real HTTP server on 127.0.0.1, and what
execution.materialize gives a run."""

from __future__ import annotations

import io
import json
import os
import re
import time
from pathlib import Path
from typing import Any

import pytest
from django.core.management import call_command

from common.errors import InvalidInput
from datasets import fetch, storage
from datasets.models import DatasetVersion
from execution import materialize
from runs import inputs
from runs.models import Run
from tests.datasets.helpers import Part, create_dataset, folder, register
from tests.datasets.webserver import WebFiles
from tests.datasets.webserver import web as web
from tests.factories import make_run


@pytest.fixture
def allow_loopback(settings: Any) -> None:
    settings.RUNYARD = {**settings.RUNYARD, "DATASET_URL_ALLOWED_HOSTS": ["127.0.0.1"]}


def post_urls(client: Any, dataset_id: int, urls: Any, **extra: Any) -> Any:
    return client.post(f"/api/datasets/{dataset_id}/versions/", {"urls": urls, **extra}, format="json")


def said_by(run: Run, workdir: Path) -> tuple[dict[str, str], list[str]]:
    said: list[str] = []
    workdir.mkdir(parents=True, exist_ok=True)
    _args, paths, _mounted = materialize.inputs(run, workdir, said.append)
    return paths, said  # the dataset_store fixture releases the mounts under tmp_path


def prepared(world: Any, arguments: list[Any]) -> Run:
    run = make_run(world.alice.user, world.team_a, arguments=arguments)
    inputs.attach(run, inputs.resolve(world.team_a, arguments))
    return run


# ---- registration -----------------------------------------------------------------------
def test_urls_are_recorded_with_paths_relative_to_their_common_folder(world: Any, allow_loopback: None) -> None:
    ds = create_dataset(world.alice.client, "taxi")
    urls = ["http://127.0.0.1:9/demo/green.csv", "http://127.0.0.1:9/demo/2024/yellow.csv"]
    made = post_urls(world.alice.client, ds["id"], urls)
    assert made.status_code == 201, made.content
    version = made.json()
    assert version["file_count"] == 2 and version["total_size"] == 0 and version["single_file"] is False
    detail = world.alice.client.get(f"/api/dataset-versions/{version['id']}/").json()
    assert [(f["path"], f["url"], f["sha256"]) for f in detail["files"]] == [
        ("2024/yellow.csv", urls[1], ""),
        ("green.csv", urls[0], ""),
    ]
    one = post_urls(world.alice.client, ds["id"], "http://127.0.0.1:9/demo/Titanic.csv#part").json()
    assert one["single_file"] is True and one["version"] == 2
    assert world.alice.client.get(f"/api/dataset-versions/{one['id']}/").json()["files"][0]["url"] == (
        "http://127.0.0.1:9/demo/Titanic.csv"
    )


@pytest.mark.parametrize(
    ("urls", "message"),
    [
        (["ftp://example.com/a.csv"], "scheme 'ftp' is not allowed"),
        (["file:///etc/passwd"], "scheme 'file' is not allowed"),
        (["https://user:secret@example.com/a.csv"], "carries credentials"),
        (["https://example.com/folder/"], "does not name a file"),
        (["https://example.com/a b.csv"], "spaces or control characters"),
        (["https://a.example.com/x.csv", "https://b.example.com/x/../x.csv"], "cannot be a file name"),
        (["https://example.com/a/x.csv", "https://example.com/a/x.csv"], "would both be the file 'x.csv'"),
        ([], "one or more"),
        ([42], "give a URL string"),
    ],
)
def test_bad_urls_are_refused_naming_the_field(world: Any, urls: list[Any], message: str) -> None:
    ds = create_dataset(world.alice.client, "bad")
    answer = post_urls(world.alice.client, ds["id"], urls)
    assert answer.status_code == 400, answer.content
    assert message in answer.json()["urls"][0]
    assert not DatasetVersion.objects.filter(dataset_id=ds["id"]).exists()


@pytest.mark.parametrize("host", ["127.0.0.1", "169.254.169.254", "10.1.2.3", "[::1]"])
def test_private_addresses_are_refused_unless_an_admin_allowed_them(world: Any, host: str) -> None:
    ds = create_dataset(world.alice.client, "internal")
    answer = post_urls(world.alice.client, ds["id"], [f"http://{host}/latest/meta-data.txt"])
    assert answer.status_code == 400
    assert "not a public address" in answer.json()["urls"][0]
    assert "RUNYARD_DATASET_URL_ALLOWED_HOSTS" in answer.json()["urls"][0]


def test_who_may_register_url_datasets(world: Any, settings: Any) -> None:
    url = "https://example.com/data/a.csv"
    settings.RUNYARD = {**settings.RUNYARD, "DATASET_URLS": "admins"}
    ds = create_dataset(world.alice.client, "policy")
    refused = post_urls(world.alice.client, ds["id"], [url])
    assert refused.status_code == 400 and "Only admins" in refused.json()["urls"][0]
    assert post_urls(world.admin.client, ds["id"], [url]).status_code == 201
    settings.RUNYARD = {**settings.RUNYARD, "DATASET_URLS": "off"}
    off = post_urls(world.admin.client, ds["id"], [url])
    assert off.status_code == 400 and "turned off" in off.json()["urls"][0]


def test_register_endpoint_takes_urls_too(world: Any) -> None:
    made = world.alice.client.post(
        "/api/datasets/register/", {"name": "web data", "urls": ["https://example.com/a.csv"]}, format="json"
    )
    assert made.status_code == 201, made.content
    assert made.json()["dataset_name"] == "web data" and made.json()["single_file"] is True


# ---- fetching (the worker side) --------------------------------------------------------
def test_fetch_revalidates_and_transfers_only_changed_content(web: WebFiles, allow_loopback: None) -> None:
    web.files["/d/a.csv"] = b"1,2\n"
    said: list[str] = []
    first = fetch.fetch("a.csv", web.url("/d/a.csv"), said.append)
    assert first.transferred and first.blob.read_bytes() == b"1,2\n" and first.size == 4
    second = fetch.fetch("a.csv", web.url("/d/a.csv"), said.append)
    assert not second.transferred and second.sha256 == first.sha256
    assert web.bodies["/d/a.csv"] == 1 and web.not_modified["/d/a.csv"] == 1
    web.files["/d/a.csv"] = b"3,4,5\n"
    third = fetch.fetch("a.csv", web.url("/d/a.csv"), said.append)
    assert third.transferred and third.blob.read_bytes() == b"3,4,5\n" and third.sha256 != first.sha256
    assert web.bodies["/d/a.csv"] == 2


def test_without_validators_content_is_fetched_again_and_stored_once(web: WebFiles, allow_loopback: None) -> None:
    web.validators = False
    web.files["/plain.txt"] = b"same"
    first = fetch.fetch("plain.txt", web.url("/plain.txt"), print)
    second = fetch.fetch("plain.txt", web.url("/plain.txt"), print)
    assert first.transferred and second.transferred and web.bodies["/plain.txt"] == 2
    assert first.blob == second.blob and len(list((fetch.cache_dir() / "blobs").glob("*/*"))) == 1


def test_fetch_errors_name_the_url(web: WebFiles, allow_loopback: None, settings: Any) -> None:
    missing = web.url("/nope.csv")
    with pytest.raises(fetch.FetchError, match=f"{missing}: the server answered 404"):
        fetch.fetch("nope.csv", missing, print)
    web.files["/big.bin"] = b"x" * 5000
    settings.RUNYARD = {**settings.RUNYARD, "DATASET_URL_MAX_BYTES": 1000}
    with pytest.raises(fetch.FetchError, match="over the limit of 1000"):
        fetch.fetch("big.bin", web.url("/big.bin"), print)
    settings.RUNYARD = {**settings.RUNYARD, "DATASET_URL_MAX_BYTES": 10_000, "DATASET_URL_MAX_SECONDS": 1e-9}
    with pytest.raises(fetch.FetchError, match="RUNYARD_DATASET_URL_MAX_SECONDS"):
        fetch.fetch("big.bin", web.url("/big.bin"), print)
    assert not list((storage.root() / "tmp").glob("*.url"))  # no partial file left
    closed = "http://127.0.0.1:9/closed.csv"  # the discard port: nothing listens
    with pytest.raises(fetch.FetchError, match=closed):
        fetch.fetch("closed.csv", closed, print)


def test_fetch_refuses_loopback_by_default_and_redirects_to_it(web: WebFiles) -> None:
    web.files["/a.csv"] = b"secret"
    with pytest.raises(fetch.FetchError, match="not a public address"):
        fetch.fetch("a.csv", web.url("/a.csv"), print)
    with pytest.raises(fetch.FetchError, match=r"cannot resolve host|not a public address"):
        fetch.fetch("x.csv", "http://localhost.invalid/x.csv", print)
    assert web.bodies["/a.csv"] == 0


def test_redirects_are_checked_again(web: WebFiles, settings: Any) -> None:
    # Allowed by name, then sent on to an address that is not allowed: refused.
    settings.RUNYARD = {**settings.RUNYARD, "DATASET_URL_ALLOWED_HOSTS": ["localhost"]}
    web.redirects["/go"] = web.url("/a.csv")
    web.files["/a.csv"] = b"internal"
    with pytest.raises(fetch.FetchError, match=r"127\.0\.0\.1 is at 127\.0\.0\.1"):
        fetch.fetch("go", f"http://localhost:{web.port}/go", print)
    assert web.bodies["/a.csv"] == 0
    web.redirects["/ftp"] = "ftp://example.com/x"
    with pytest.raises(fetch.FetchError, match="not an http"):
        fetch.fetch("ftp", f"http://localhost:{web.port}/ftp", print)


# ---- what a run gets -------------------------------------------------------------------
def test_a_run_gets_web_files_fetched_once_and_a_single_url_as_the_file(
    world: Any, web: WebFiles, allow_loopback: None, tmp_path: Path
) -> None:
    web.files.update({"/d/a.csv": b"a\n", "/d/sub/b.csv": b"b\n", "/one/Titanic.csv": b"name,age\n"})
    many = create_dataset(world.alice.client, "web many")
    post_urls(world.alice.client, many["id"], [web.url("/d/a.csv"), web.url("/d/sub/b.csv")])
    single = create_dataset(world.alice.client, "titanic")
    post_urls(world.alice.client, single["id"], [web.url("/one/Titanic.csv")])
    arguments = [{"dataset": "web many", "name": "many"}, {"dataset": "titanic", "mode": "download", "name": "t"}]
    workdir = tmp_path / "w1"
    paths, said = said_by(prepared(world, arguments), workdir)
    assert paths == {"many": str(workdir / "inputs/many"), "t": str(workdir / "inputs/t/Titanic.csv")}
    assert (Path(paths["many"]) / "sub/b.csv").read_text() == "b\n"
    assert Path(paths["t"]).read_text() == "name,age\n"
    assert any(web.url("/d/sub/b.csv") in line and "sha256" in line and "(fetched)" in line for line in said)
    # A second run: revalidated, nothing transferred again.
    paths2, said2 = said_by(prepared(world, arguments), tmp_path / "w2")
    assert (Path(paths2["many"]) / "a.csv").read_text() == "a\n"
    assert web.bodies == {"/d/a.csv": 1, "/d/sub/b.csv": 1, "/one/Titanic.csv": 1}
    assert sum("unchanged, from the cache" in line for line in said2) == 3


def test_a_failed_fetch_fails_the_input_naming_the_url(
    world: Any, web: WebFiles, allow_loopback: None, tmp_path: Path
) -> None:
    ds = create_dataset(world.alice.client, "gone")
    post_urls(world.alice.client, ds["id"], [web.url("/missing.csv")])
    run = prepared(world, [{"dataset": "gone", "name": "gone"}])
    with pytest.raises(materialize.InputError, match=r"Input 'gone' .*fetching failed: .*/missing.csv: .*404"):
        said_by(run, tmp_path / "w")


def test_single_file_versions_mount_as_the_file_and_folders_as_folders(
    world: Any, roots: Path, tmp_path: Path, settings: Any
) -> None:
    client = world.alice.client
    one = create_dataset(client, "diabetes dataset")
    register(client, one["id"], files=[Part("diabetes.csv", "age,bmi\n")], single_file="true")
    folder_of_one = create_dataset(client, "folder of one")
    register(client, folder_of_one["id"], files=folder({"only.csv": "x\n"}))
    run = prepared(
        world,
        [
            {"dataset": "diabetes dataset", "name": "diabetes"},
            {"dataset": "diabetes dataset", "mode": "download", "name": "copy"},
            {"dataset": "folder of one", "name": "f"},
        ],
    )
    workdir = tmp_path / "w"
    paths, _said = said_by(run, workdir)
    assert paths["diabetes"] == str(workdir / "inputs/diabetes/diabetes.csv")
    assert Path(paths["diabetes"]).read_text() == "age,bmi\n"
    assert paths["copy"] == str(workdir / "inputs/copy/diabetes.csv") and Path(paths["copy"]).is_file()
    assert paths["f"] == str(workdir / "inputs/f") and (Path(paths["f"]) / "only.csv").is_file()


def test_a_datastore_file_registered_is_a_single_file_version(world: Any, roots: Path) -> None:
    (roots / "shared" / "csv").mkdir(parents=True)
    (roots / "shared" / "csv" / "x.csv").write_text("1\n")
    store = world.admin.client.post(
        "/api/datastores/", {"name": "shared", "root_path": str(roots / "shared")}, format="json"
    )
    assert store.status_code == 201, store.content
    ds = create_dataset(world.alice.client, "from store")
    made = world.alice.client.post(
        f"/api/datasets/{ds['id']}/versions/", {"datastore": "shared", "path": "csv/x.csv"}, format="json"
    )
    assert made.status_code == 201, made.content
    assert made.json()["single_file"] is True
    folder_version = world.alice.client.post(
        f"/api/datasets/{ds['id']}/versions/", {"datastore": "shared", "path": "csv/"}, format="json"
    ).json()
    assert folder_version["single_file"] is False


# ---- subsets ---------------------------------------------------------------------------
def test_a_subset_of_files_as_run_input_and_as_a_new_version(world: Any, tmp_path: Path) -> None:
    client = world.alice.client
    ds = create_dataset(client, "images")
    version = register(client, ds["id"], files=folder({"a.jpg": "a", "b.jpg": "b", "c/d.jpg": "d"}))
    for files, message in [(["zzz.jpg"], "no file 'zzz.jpg'"), ([], "selects no files"), ("a.jpg", "a list")]:
        with pytest.raises(InvalidInput, match=message) as refused:
            inputs.resolve(world.team_a, ["--x", {"dataset": "images", "files": files}])
        assert "arguments[1]" in str(refused.value.errors["arguments"])
    run = prepared(world, [{"dataset": "images", "files": ["c/d.jpg", "a.jpg"], "name": "part"}])
    paths, said = said_by(run, tmp_path / "w")
    got = sorted(p.relative_to(paths["part"]).as_posix() for p in Path(paths["part"]).rglob("*") if p.is_file())
    assert got == ["a.jpg", "c/d.jpg"]
    assert any("2 of 3 files" in line for line in said)
    derived = client.post(
        f"/api/datasets/{ds['id']}/versions/", {"from_version": version["id"], "files": ["b.jpg"]}, format="json"
    )
    assert derived.status_code == 201, derived.content
    detail = client.get(f"/api/dataset-versions/{derived.json()['id']}/").json()
    assert [f["path"] for f in detail["files"]] == ["b.jpg"] and detail["total_size"] == 1
    other_team = create_dataset(world.bob.client, "bobs")
    refused = world.bob.client.post(
        f"/api/datasets/{other_team['id']}/versions/", {"from_version": version["id"]}, format="json"
    )
    assert refused.status_code == 400 and "from_version" in refused.json()


def test_stored_files_download_and_web_files_say_where_they_are(world: Any) -> None:
    client = world.alice.client
    ds = create_dataset(client, "dl")
    version = register(client, ds["id"], files=folder({"x/y.txt": "hello"}))
    got = client.get(f"/api/dataset-versions/{version['id']}/download/", {"path": "x/y.txt"})
    assert got.status_code == 200 and b"".join(got.streaming_content) == b"hello"
    missing = client.get(f"/api/dataset-versions/{version['id']}/download/", {"path": "nope"})
    assert missing.status_code == 400 and "no file 'nope'" in missing.json()["path"][0]
    web_version = post_urls(client, ds["id"], ["https://example.com/a.csv"]).json()
    answer = client.get(f"/api/dataset-versions/{web_version['id']}/download/", {"path": "a.csv"})
    assert answer.status_code == 400 and "https://example.com/a.csv" in answer.json()["path"][0]
    other = world.bob.client.get(f"/api/dataset-versions/{version['id']}/download/", {"path": "x/y.txt"})
    assert other.status_code == 404


def test_https_is_verified_on_the_pinned_connection(web: WebFiles, allow_loopback: None) -> None:
    # Our test server speaks plain HTTP: the TLS handshake fails, and the error names the URL.
    url = f"https://127.0.0.1:{web.port}/a.csv"
    with pytest.raises(fetch.FetchError, match=re.escape(url)):
        fetch.fetch("a.csv", url, print)


def test_gc_prunes_web_files_and_derived_trees_unused_for_a_while(
    world: Any, web: WebFiles, allow_loopback: None, tmp_path: Path
) -> None:
    web.files.update({"/old": b"old", "/new": b"new"})
    old = fetch.fetch("old", web.url("/old"), print)
    new = fetch.fetch("new", web.url("/new"), print)
    ds = create_dataset(world.alice.client, "web gc")
    post_urls(world.alice.client, ds["id"], [web.url("/old")])
    run = prepared(
        world,
        [{"dataset": "web gc", "mode": "download", "name": "x"}, {"dataset": "web gc", "name": "mounted"}],
    )
    paths, _ = said_by(run, tmp_path / "w")
    materialize.release(run, tmp_path / "w")  # the run ended
    trees = list((storage.root() / "derived").glob("*"))
    assert len(trees) == 1
    long_ago = time.time() - 40 * 24 * 3600
    old_entries = [
        e for e in (fetch.cache_dir() / "entries").glob("*.json") if json.loads(e.read_text())["url"].endswith("/old")
    ]
    for path in [*trees, *old_entries, old.blob, new.blob]:  # both blobs are old; only one is unused
        os.utime(path, (long_ago, long_ago))
    out = io.StringIO()
    call_command("runyard_datasets_gc", stdout=out)
    assert "url_cache_entries: 1" in out.getvalue() and "url_cache_blobs: 1" in out.getvalue()
    assert not old.blob.exists() and new.blob.exists()
    assert not trees[0].exists() and "derived_trees: 1" in out.getvalue()
    assert Path(paths["x"]).read_bytes() == b"old"  # what a run was given stays
    again = fetch.fetch("old", web.url("/old"), print)
    assert again.transferred and again.blob.read_bytes() == b"old"


def test_web_files_given_inline_in_arguments(
    world: Any, web: WebFiles, allow_loopback: None, tmp_path: Path, settings: Any
) -> None:
    web.files.update({"/x/one.csv": b"1\n", "/x/y/two.csv": b"2\n"})
    arguments = [
        "--data",
        {"urls": [web.url("/x/one.csv"), web.url("/x/y/two.csv")], "name": "data"},
        "--one",
        {"urls": [web.url("/x/one.csv")], "mode": "download"},
    ]
    run = prepared(world, arguments)
    workdir = tmp_path / "w"
    paths, _said = said_by(run, workdir)
    assert paths == {"data": str(workdir / "inputs/data"), "one_csv": str(workdir / "inputs/one_csv/one.csv")}
    assert (Path(paths["data"]) / "y/two.csv").read_text() == "2\n" and Path(paths["one_csv"]).read_text() == "1\n"
    listed = world.alice.client.get(f"/api/runs/{run.pk}/inputs/").json()
    assert {i["name"]: i["urls"] for i in listed}["data"] == [web.url("/x/one.csv"), web.url("/x/y/two.csv")]
    for bad, message in [
        ({"urls": ["gopher://example.com/a"]}, "scheme 'gopher' is not allowed"),
        ({"urls": ["http://10.0.0.8/a.csv"]}, "not a public address"),
        ({"urls": ["https://example.com/a.csv"], "dataset": "x"}, "give one of"),
        ({"urls": ["https://example.com/a.csv"], "version": 2}, "unknown key(s) version"),
    ]:
        with pytest.raises(InvalidInput) as refused:
            inputs.resolve(world.team_a, ["--x", bad], actor=world.alice.user)
        assert "arguments[1]" in str(refused.value.errors) and message in str(refused.value.errors), bad
    settings.RUNYARD = {**settings.RUNYARD, "DATASET_URLS": "admins"}
    with pytest.raises(InvalidInput, match="Only admins"):
        inputs.resolve(world.team_a, [{"urls": ["https://example.com/a.csv"]}], actor=world.alice.user)
    assert inputs.resolve(world.team_a, [{"urls": ["https://example.com/a.csv"]}], actor=world.admin.user)
