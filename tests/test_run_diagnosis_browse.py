"""The run page's diagnosis, browse and edit endpoints, and the settings page's tokens:
GET /runs/{id}/diagnosis/ (a real failed run, and stored logs of other shapes),
GET /runs/{id}/artifacts/zip/, PATCH /runs/{id}/ (audited), POST/DELETE /auth/tokens/."""

from __future__ import annotations

import io
import zipfile
from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from accounts.models import ApiToken
from audit.models import AuditEvent
from runs import logstore
from runs.diagnosis import ExcerptLine, parse_exception
from runs.status import Status
from tests.executor.helpers import submit, wait_status
from tests.factories import make_run

FAILING = """
import sys
print("epoch 1 loss 0.5")
print("warming up", file=sys.stderr)
def load(path):
    raise FileNotFoundError(f"no such dataset: {path}")
load("/data/missing.csv")
"""


@pytest.mark.worker
@pytest.mark.xdist_group("live")
def test_a_failed_run_names_its_exception_and_links_into_the_log(live: Any, world: Any) -> None:
    made = submit(world.alice, {"train.py": FAILING})
    run = wait_status(made["id"])
    assert run.status == Status.FAILED
    answer = world.alice.client.get(f"/api/runs/{run.pk}/diagnosis/")
    assert answer.status_code == 200, answer.content
    found = answer.json()
    assert found["rank"] == 0 and found["exit_code"] == 1
    assert found["exception_type"] == "FileNotFoundError"
    assert found["message"] == "no such dataset: /data/missing.csv"
    line = next(logstore.lines(run.pk, after=found["error_seq"] - 1))
    assert line.seq == found["error_seq"]
    assert line.text.startswith("FileNotFoundError: no such dataset")
    assert next(logstore.lines(run.pk, after=found["traceback_seq"] - 1)).text == "Traceback (most recent call last):"
    texts = [row["text"] for row in found["lines"]]
    assert texts[0] == "warming up" and texts[-1] == line.text
    assert all(row["stream"] == "stderr" for row in found["lines"])
    assert world.bob.client.get(f"/api/runs/{run.pk}/diagnosis/").status_code == 404


def lines(*texts: str) -> list[ExcerptLine]:
    return [ExcerptLine(seq=i + 1, rank=0, stream="stderr", text=t) for i, t in enumerate(texts)]


def test_the_last_traceback_wins_and_multiline_messages_are_kept() -> None:
    parsed = parse_exception(
        lines(
            "Traceback (most recent call last):",
            '  File "a.py", line 1, in <module>',
            "KeyError: 'x'",
            "",
            "During handling of the above exception, another exception occurred:",
            "",
            "Traceback (most recent call last):",
            '  File "a.py", line 3, in <module>',
            "    raise RuntimeError('bad\\nshape')",
            "RuntimeError: CUDA out of memory.",
            "Tried to allocate 2.00 GiB",
        )
    )
    assert parsed == ("RuntimeError", "CUDA out of memory.\nTried to allocate 2.00 GiB", 7, 10)


def test_without_a_traceback_the_last_error_line_is_used() -> None:
    assert parse_exception(lines("loading", "ERROR: mpirun was unable to launch", "bye")) == (
        "ERROR",
        "mpirun was unable to launch",
        None,
        2,
    )
    assert parse_exception(lines("all fine")) == ("", "", None, None)


def test_a_run_with_no_log_has_an_empty_diagnosis(world: Any) -> None:
    run = make_run(world.alice.user, world.team_a)
    found = world.alice.client.get(f"/api/runs/{run.pk}/diagnosis/").json()
    assert found["exception_type"] == "" and found["lines"] == [] and found["rank"] is None


def test_the_failing_rank_is_the_first_to_exit_non_zero(world: Any) -> None:
    run = make_run(world.alice.user, world.team_a, status=Status.FAILED)
    now = timezone.now()
    run.processes.create(rank=0, exit_code=-15, ended_at=now + timedelta(seconds=2))
    run.processes.create(rank=1, exit_code=1, ended_at=now)
    rows = [
        (0, "stderr", "Traceback (most recent call last):"),
        (0, "stderr", "KeyboardInterrupt"),
        (1, "stderr", "Traceback (most recent call last):"),
        (1, "stderr", "ValueError: rank 1 broke"),
    ]
    logstore.store_lines(run.pk, 1, rows, now)
    found = world.alice.client.get(f"/api/runs/{run.pk}/diagnosis/").json()
    assert (found["rank"], found["exception_type"], found["error_seq"]) == (1, "ValueError", 4)


def upload(client: APIClient, run_id: int, name: str, content: bytes) -> None:
    f = io.BytesIO(content)
    f.name = name.rsplit("/", 1)[-1]
    assert client.post(f"/api/runs/{run_id}/artifacts/", {"file": f, "name": name}).status_code == 201


def test_artifacts_download_as_one_zip_or_one_folder(world: Any) -> None:
    run = make_run(world.alice.user, world.team_a)
    upload(world.alice.client, run.pk, "outputs/model.txt", b"weights")
    upload(world.alice.client, run.pk, "outputs/eval/scores.csv", b"a,b\n1,2\n")
    upload(world.alice.client, run.pk, "images/loss/1.png", b"\x89PNG")
    url = f"/api/runs/{run.pk}/artifacts/zip/"
    answer = world.alice.client.get(url)
    assert answer.status_code == 200 and answer["Content-Type"] == "application/zip"
    with zipfile.ZipFile(io.BytesIO(b"".join(answer.streaming_content))) as zf:
        assert sorted(zf.namelist()) == ["images/loss/1.png", "outputs/eval/scores.csv", "outputs/model.txt"]
        assert zf.read("outputs/eval/scores.csv") == b"a,b\n1,2\n"
    folder = world.alice.client.get(url, {"prefix": "outputs/eval"})
    assert 'filename="run-' in folder["Content-Disposition"]
    with zipfile.ZipFile(io.BytesIO(b"".join(folder.streaming_content))) as zf:
        assert zf.namelist() == ["outputs/eval/scores.csv"]
    assert world.alice.client.get(url, {"prefix": "nothing"}).status_code == 404
    bad = world.alice.client.get(url, {"prefix": "../etc"})
    assert bad.status_code == 400 and "prefix" in bad.json()
    assert world.bob.client.get(url).status_code == 404


def test_name_description_and_tags_are_editable_after_submit_and_audited(world: Any) -> None:
    run = make_run(world.alice.user, world.team_a, tags={"a": "1", "b": "2"})
    url = f"/api/runs/{run.pk}/"
    answer = world.alice.client.patch(
        url, {"description": "lr sweep, best so far", "tags": {"a": "1", "c": "3"}}, format="json"
    )
    assert answer.status_code == 200, answer.content
    assert answer.json()["description"] == "lr sweep, best so far"
    assert answer.json()["tags"] == {"a": "1", "c": "3"}
    event = AuditEvent.objects.get(action="runs.run.edited")
    assert event.changes["tags"] == {"from": {"a": "1", "b": "2"}, "to": {"a": "1", "c": "3"}}
    assert event.changes["description"]["to"] == "lr sweep, best so far"
    assert "display_name" not in event.changes
    bad = world.alice.client.patch(url, {"tags": ["x"]}, format="json")
    assert bad.status_code == 400 and "tags" in bad.json()
    bad = world.alice.client.patch(url, {"tags": {"k": {"nested": 1}}}, format="json")
    assert bad.status_code == 400 and "tags" in bad.json()
    assert world.bob.client.patch(url, {"description": "mine"}, format="json").status_code == 404
    run.refresh_from_db()
    assert run.description == "lr sweep, best so far"


def test_a_user_creates_and_revokes_their_own_tokens(world: Any) -> None:
    made = world.alice.client.post("/api/auth/tokens/", {"name": "laptop"}, format="json")
    assert made.status_code == 201, made.content
    key = made.json()["key"]
    assert key.startswith("ry_") and made.json()["name"] == "laptop"
    listed = world.alice.client.get("/api/auth/tokens/").json()
    rows = listed.get("results", listed) if isinstance(listed, dict) else listed
    assert all("key" not in row for row in rows)
    assert made.json()["id"] in {row["id"] for row in rows}
    fresh = APIClient()
    fresh.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    assert fresh.get("/api/runs/").status_code == 200
    assert world.bob.client.delete(f"/api/auth/tokens/{made.json()['id']}/").status_code == 404
    assert world.alice.client.delete(f"/api/auth/tokens/{made.json()['id']}/").status_code == 204
    assert fresh.get("/api/runs/").status_code == 401
    assert not ApiToken.objects.filter(pk=made.json()["id"]).exists()
    assert AuditEvent.objects.filter(action="accounts.apitoken.created", changes__name="laptop").exists()
    empty = world.alice.client.post("/api/auth/tokens/", {"name": ""}, format="json")
    assert empty.status_code == 400 and "name" in empty.json()
