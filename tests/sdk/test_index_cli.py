"""``runyard index`` against a live server: an admin allows an index (the password from
an environment variable, never shown again), a member lists it and selects it with
``env create --index``, and cannot create one; the admin deletes it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.sdk.test_live_cli import cli

pytestmark = [pytest.mark.worker, pytest.mark.xdist_group("live")]


def test_index_commands(live: Any, world: Any, tmp_path: Path, monkeypatch: Any) -> None:
    admin, member = tmp_path / "admin", tmp_path / "member"
    for folder, user in ((admin, "root"), (member, "alice")):
        folder.mkdir()
        login = cli(folder, "login", "--url", live.url, "--username", user, "--password", f"{user}-pw-123!")
        assert login.returncode == 0, login.stderr

    monkeypatch.setenv("CORP_INDEX_PASSWORD", "cli-s3cret-pw")
    made = cli(admin, "index", "create", "corp", "https://pypi.corp.example/simple", "--username", "bot",
               "--password-env", "CORP_INDEX_PASSWORD", "--json")  # fmt: skip
    assert made.returncode == 0, made.stderr
    assert json.loads(made.stdout)["has_password"] is True and "cli-s3cret-pw" not in made.stdout

    listed = cli(member, "index", "list")
    assert listed.returncode == 0, listed.stderr
    assert "corp" in listed.stdout and "bot (password set)" in listed.stdout and "pytorch-cpu" in listed.stdout
    refused = cli(member, "index", "create", "mine", "https://mine.example/simple")
    assert refused.returncode == 1 and "403" in refused.stderr

    env = cli(member, "env", "create", "cli-indexed", "--pip", "six", "--index", "corp", "--json")
    assert env.returncode == 0, env.stderr
    assert json.loads(env.stdout)["spec"]["package_indexes"] == ["corp"]
    bad = cli(member, "env", "create", "cli-bad", "--pip", "six", "--index", "nope")
    assert bad.returncode == 1 and "package_indexes" in bad.stderr and "nope" in bad.stderr

    deleted = cli(admin, "index", "delete", "corp")
    assert deleted.returncode == 0, deleted.stderr
    assert "corp" not in cli(member, "index", "list").stdout
