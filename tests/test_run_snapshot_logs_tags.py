"""Over the API: a run's snapshot as a zip (restore_snapshot) and an interactive run's
(take_snapshot), one rank's log (get_details_with_logs' log files), tag removal (remove_tags)."""

from __future__ import annotations

import io
import zipfile
from typing import Any

from django.utils import timezone
from rest_framework.test import APIClient

from audit.models import AuditEvent
from runs import logstore, snapshots
from runs.models import Run, RunToken
from tests.conftest import make_tar
from tests.executor.helpers import submit
from tests.test_interactive_runs import start


def zip_members(content: bytes) -> dict[str, bytes]:
    with zipfile.ZipFile(io.BytesIO(content)) as zf:
        return {name: zf.read(name) for name in zf.namelist()}


def test_snapshot_is_served_as_a_zip(world: Any) -> None:
    files = {"train.py": "print('hi')\n", "pkg/util.py": "X = 1\n"}
    run = submit(world.alice, files)
    url = f"/api/runs/{run['id']}/snapshot/"
    answer = world.alice.client.get(url)
    assert answer.status_code == 200 and answer["Content-Type"] == "application/zip"
    assert f"{run['snapshot_sha256']}.zip" in answer["Content-Disposition"]
    body = b"".join(answer.streaming_content)
    assert zip_members(body) == {name: text.encode() for name, text in files.items()}
    assert snapshots.path_of(run["snapshot_sha256"]).with_suffix(".zip").exists()  # converted once, kept
    again = world.alice.client.get(url)
    assert b"".join(again.streaming_content) == body
    assert world.bob.client.get(url).status_code == 404  # another team's run


def test_a_zip_snapshot_is_served_as_uploaded(world: Any) -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        zf.writestr("train.py", "print(2)\n")
    buffer.seek(0)
    buffer.name = "snapshot.zip"
    answer = world.alice.client.post(
        "/api/runs/", {"snapshot": buffer, "script": "train.py", "experiment": "z"}, format="multipart"
    )
    assert answer.status_code == 201, answer.content
    served = world.alice.client.get(f"/api/runs/{answer.json()['id']}/snapshot/")
    assert b"".join(served.streaming_content) == buffer.getvalue()


def test_snapshot_by_id_stays_within_the_callers_runs(world: Any) -> None:
    mine = submit(world.alice, {"train.py": "print('mine')\n"})
    other = submit(world.alice, {"train.py": "print('other')\n"})
    theirs = submit(world.bob, {"train.py": "print('theirs')\n"})
    url = f"/api/runs/{mine['id']}/snapshot/"
    by_id = world.alice.client.get(url, {"snapshot_id": other["snapshot_sha256"]})
    assert by_id.status_code == 200
    assert zip_members(b"".join(by_id.streaming_content)) == {"train.py": b"print('other')\n"}
    hidden = world.alice.client.get(url, {"snapshot_id": theirs["snapshot_sha256"]})
    assert hidden.status_code == 404 and "among the runs you can see" in hidden.json()["detail"]
    bad = world.alice.client.get(url, {"snapshot_id": "../../etc/passwd"})
    assert bad.status_code == 400 and "snapshot_id" in bad.json()
    token = APIClient()
    token.credentials(HTTP_AUTHORIZATION=f"Token {RunToken.issue(Run.objects.get(pk=mine['id']))}")
    assert token.get(url).status_code == 200
    assert token.get(url, {"snapshot_id": other["snapshot_sha256"]}).status_code == 404  # not under its run
    assert token.get(f"/api/runs/{other['id']}/snapshot/").status_code == 404


def test_an_interactive_run_has_no_snapshot(world: Any) -> None:
    run = start(world.alice.client, experiment="nb")
    answer = world.alice.client.get(f"/api/runs/{run['id']}/snapshot/")
    assert answer.status_code == 404 and "interactive" in answer.json()["detail"]


def test_one_ranks_log_as_printed(world: Any) -> None:
    run = submit(world.alice, {"train.py": "print(1)\n"})
    now = timezone.now()
    rows = [
        (-1, "system", "Preparing run"),
        (0, "stdout", "rank zero"),
        (1, "stderr", "rank one"),
        (0, "stdout", "bye"),
    ]
    Run.objects.filter(pk=run["id"]).update(log_seq=len(rows))
    logstore.store_lines(run["id"], 1, rows, now)
    url = f"/api/runs/{run['id']}/logs/download/"

    def text(**params: Any) -> str:
        answer = world.alice.client.get(url, params)
        assert answer.status_code == 200, answer.content
        return b"".join(answer.streaming_content).decode()

    assert text() == "[runyard] Preparing run\n[rank 0] rank zero\n[rank 1 !] rank one\n[rank 0] bye\n"
    assert text(rank=0) == "rank zero\nbye\n"
    assert text(rank=1) == "rank one\n"
    assert text(rank=-1) == "Preparing run\n"
    assert text(rank=7) == ""
    for bad in ("x", "-2"):
        answer = world.alice.client.get(url, {"rank": bad})
        assert answer.status_code == 400 and "rank" in answer.json()


def test_tags_are_set_and_removed(world: Any) -> None:
    run = start(world.alice.client, experiment="nb", tags={"a": "1", "b": "2", "c": "3"})
    url = f"/api/runs/{run['id']}/tag/"
    changed = world.alice.client.post(url, {"tags": {"d": "4"}, "remove": ["a", "c", "never-set"]}, format="json")
    assert changed.status_code == 200 and changed.json() == {"tags": {"b": "2", "d": "4"}}
    assert world.alice.client.post(url, {"remove": ["b"]}, format="json").json() == {"tags": {"d": "4"}}
    assert world.alice.client.post(url, {"tags": {}}, format="json").json() == {"tags": {"d": "4"}}
    for body, field in [({}, "tags"), ({"tags": ["x"]}, "tags"), ({"remove": "d"}, "remove")]:
        answer = world.alice.client.post(url, body, format="json")
        assert answer.status_code == 400 and field in answer.json(), (body, answer.content)
    assert world.bob.client.post(url, {"remove": ["d"]}, format="json").status_code == 404
    assert Run.objects.get(pk=run["id"]).tags == {"d": "4"}


def test_an_interactive_run_takes_snapshots(world: Any) -> None:
    run = start(world.alice.client, experiment="nb")
    url = f"/api/runs/{run['id']}/snapshot/"
    taken = world.alice.client.post(url, {"snapshot": make_tar({"nb.py": "print(1)\n"})}, format="multipart")
    assert taken.status_code == 200, taken.content
    first = taken.json()["snapshot_sha256"]
    assert (taken.json()["snapshot_files"], len(first)) == (1, 64)
    again = world.alice.client.post(url, {"snapshot": make_tar({"nb.py": "print(2)\n"})}, format="multipart")
    assert again.json()["snapshot_sha256"] != first  # the latest replaces it, as in Azure
    assert zip_members(b"".join(world.alice.client.get(url).streaming_content)) == {"nb.py": b"print(2)\n"}
    assert world.alice.client.get(url, {"snapshot_id": first}).status_code == 404  # no run holds it now
    events = AuditEvent.objects.filter(action="runs.run.snapshot_taken", object_id=str(run["id"]))
    assert events.count() == 2

    not_an_archive = io.BytesIO(b"just text")
    not_an_archive.name = "notes.txt"
    for body, said in [
        ({"snapshot": not_an_archive}, "neither a zip nor a tar"),
        ({}, "This field is required"),
    ]:
        answer = world.alice.client.post(url, body, format="multipart")
        assert answer.status_code == 400 and said in str(answer.json()["snapshot"]), answer.content
    submitted = submit(world.alice, {"train.py": "print(1)\n"})
    refused = world.alice.client.post(
        f"/api/runs/{submitted['id']}/snapshot/", {"snapshot": make_tar({"x.py": ""})}, format="multipart"
    )
    assert refused.status_code == 400 and "cannot change" in str(refused.json()["snapshot"])
    other = world.bob.client.post(url, {"snapshot": make_tar({"x.py": ""})}, format="multipart")
    assert other.status_code == 404


def test_runs_filter_on_every_tag_given(world: Any) -> None:
    both = start(world.alice.client, experiment="tags", tags={"fold": "1", "best": ""})
    start(world.alice.client, experiment="tags", tags={"fold": "1"})
    start(world.alice.client, experiment="tags", tags={"best": ""})

    def ids(*tags: str) -> list[int]:
        answer = world.alice.client.get("/api/runs/", {"experiment": "tags", "tag": list(tags)})
        assert answer.status_code == 200, answer.content
        return [r["id"] for r in answer.json()["results"]]

    assert ids("fold=1", "best") == [both["id"]]
    assert len(ids("fold=1")) == 2 and len(ids("best")) == 2 and ids("fold=2") == []
