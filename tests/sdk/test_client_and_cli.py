"""Offline: config discovery, the HTTP client, log following by polling, the CLI's surface."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from runyard.cli import main
from runyard.cli.run_commands import parse_input_argument
from runyard.exceptions import UserErrorException, WebserviceException
from runyard.http import Client, FilePart, MultipartBody
from runyard.logstream import LogFollower
from runyard.run import format_line
from runyard.workspace import Workspace, find_config, write_config
from tests.sdk.fake_server import fake_runyard

ROOT = Path(__file__).resolve().parents[2]


def test_import_uses_only_the_standard_library() -> None:
    code = (
        "import sys; before = set(sys.modules); import runyard, runyard.train, runyard.cli; "
        "extra = {m.split('.')[0] for m in set(sys.modules) - before} - set(sys.stdlib_module_names) - {'runyard'};"
        "print(sorted(extra))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True)
    assert out.stdout.strip() == "[]"


def test_from_config_searches_upward_and_env_overrides(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("RUNYARD_URL", "RUNYARD_TOKEN", "RUNYARD_RUN_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    path = write_config("http://example.test:8000/", "tok-1", tmp_path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    deep = tmp_path / "a" / "b"
    deep.mkdir(parents=True)
    monkeypatch.chdir(deep)
    assert find_config() == path
    ws = Workspace.from_config()
    assert ws.url == "http://example.test:8000" and ws.client.token == "tok-1"
    monkeypatch.setenv("RUNYARD_TOKEN", "tok-2")
    monkeypatch.setenv("RUNYARD_URL", "http://env.test")
    assert Workspace.from_config().client.token == "tok-2" and Workspace.from_config().url == "http://env.test"
    monkeypatch.chdir("/")
    monkeypatch.setenv("RUNYARD_URL", "http://other.test")
    assert Workspace.from_config().url == "http://other.test"
    monkeypatch.delenv("RUNYARD_URL")
    with pytest.raises(UserErrorException, match="runyard login"):
        Workspace.from_config("/")


def test_multipart_body_length_matches_what_is_sent(tmp_path: Path) -> None:
    (tmp_path / "f.bin").write_bytes(os.urandom(3000))
    seen: list[int] = []
    body = MultipartBody(
        {"target_path": "x/y", "overwrite": "true"},
        [FilePart("files", "dir/f.bin", path=tmp_path / "f.bin"), FilePart("files", "g", content=b"hi")],
        on_bytes=seen.append,
    )
    data = b"".join(body)
    assert len(data) == len(body) and sum(seen) == 3002 and b'filename="dir/f.bin"' in data


def test_errors_carry_the_servers_field_messages() -> None:
    def route(method: str, path: str, body: bytes) -> tuple[int, Any]:
        return 400, {"script": ["'x.py' is not in the snapshot."], "detail": "Bad."}

    with fake_runyard(route) as (url, _seen), pytest.raises(WebserviceException) as caught:
        Client(url, "k").post("/api/runs/", {})
    assert caught.value.status == 400 and "script: 'x.py' is not in the snapshot." in str(caught.value)
    with pytest.raises(WebserviceException, match="Cannot reach"):
        Client("http://127.0.0.1:9", "k").get("/api/health/")


def test_paging_follows_next_links() -> None:
    def route(method: str, path: str, body: bytes) -> tuple[int, Any]:
        if "offset=2" in path:
            return 200, {"count": 3, "next": None, "results": [{"n": 3}]}
        return 200, {"count": 3, "next": f"{base[0]}/api/x/?offset=2", "results": [{"n": 1}, {"n": 2}]}

    base: list[str] = []
    with fake_runyard(route) as (url, _):
        base.append(url)
        assert [i["n"] for i in Client(url, "k").paged("/api/x/")] == [1, 2, 3]


def test_polling_follower_delivers_every_line_once_in_order() -> None:
    pages = [
        {"status": "Running", "lines": [{"seq": 1, "rank": -1, "text": "prep"}, {"seq": 2, "rank": 0, "text": "a"}]},
        {"status": "Running", "lines": []},
        {"status": "Completed", "lines": [{"seq": 3, "rank": 1, "text": "b"}]},
        {"status": "Completed", "lines": []},
    ]

    def route(method: str, path: str, body: bytes) -> tuple[int, Any]:
        if "/logs/" in path:
            return 200, pages.pop(0) if pages else {"status": "Completed", "lines": []}
        return 200, {"id": 5, "status": "Completed" if len(pages) < 2 else "Running", "log_seq": 3}

    got: list[str] = []
    with fake_runyard(route) as (url, _):
        follower = LogFollower(
            Client(url, "k"), 5, lambda line: got.append(format_line(line, True)), poll_interval=0.01
        )
        final = follower.poll()
    assert got == ["[runyard] prep", "[rank 0] a", "[rank 1] b"] and final["status"] == "Completed"


def test_a_followed_build_says_when_it_starts_and_names_its_target() -> None:
    import io
    import json

    from runyard.environment_build import start_build

    states = iter(["pending", "building", "succeeded"])
    row = {"id": 9, "content_hash": "c0ffee" * 4, "status": "pending", "duration_seconds": None}

    def route(method: str, path: str, body: bytes) -> tuple[int, Any]:
        if method == "POST":
            return 202, row
        if "/log/" in path:
            fresh = row["status"] == "succeeded" and "after=0" in path
            return 200, {"lines": [{"seq": 1, "text": "Environment ready"}] if fresh else []}
        row["status"] = next(states, "succeeded")
        return 200, {**row, "duration_seconds": 1.5 if row["status"] == "succeeded" else None}

    out = io.StringIO()
    with fake_runyard(route) as (url, seen):
        build = start_build(Workspace(url, "k"), 4, "c0ffee", compute_target="docker")
        assert build.wait_for_completion(stream=out) == "succeeded"
    assert json.loads(seen[0][2]) == {"compute_target": "docker"} and seen[0][1] == "/api/environment-versions/4/build/"
    text = out.getvalue()
    assert "Build building." in text and "Environment ready" in text and "succeeded in 1.5s" in text
    assert text.index("Build building.") < text.index("Environment ready")


def test_cli_usage_and_input_arguments(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as caught:
        main(["--version"])
    assert caught.value.code == 0 and "runyard 0.1.0" in capsys.readouterr().out
    with pytest.raises(SystemExit) as caught:
        main(["frobnicate"])
    assert caught.value.code == 2
    assert parse_input_argument("@dataset:mnist:2:download") == {
        "dataset": "mnist",
        "version": 2,
        "mode": "download",
        "name": "mnist",
    }
    assert parse_input_argument("@datastore:workspaceblobstore/raw/x") == {
        "datastore": "workspaceblobstore",
        "path": "raw/x/",
        "mode": "mount",
    }
    assert parse_input_argument("--lr") == "--lr"


def test_cli_reports_errors_with_exit_code_1(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    for name in ("RUNYARD_URL", "RUNYARD_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    assert main(["runs", "list"]) == 1
    assert "runyard login" in capsys.readouterr().err
    assert main(["--url", "http://127.0.0.1:9", "runs", "list", "--json"]) == 1
