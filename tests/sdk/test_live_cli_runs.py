"""``runyard run list --parent``, ``run show`` (children, properties) and ``run properties``
against a live server, with runs made by the SDK as a notebook would."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from runyard import Experiment, Workspace
from tests.sdk.test_live_cli import cli

pytestmark = [pytest.mark.worker, pytest.mark.xdist_group("live")]


def test_children_and_properties_from_the_cli(live: Any, world: Any, tmp_path: Path) -> None:
    ws = Workspace(live.url, world.alice.key)
    parent = Experiment(ws, "cli-children").start_logging()
    first, second = parent.child_run("fold-1"), parent.child_run("fold-2")
    first.complete()
    other = Experiment(ws, "cli-children").start_logging()
    login = cli(tmp_path, "login", "--url", live.url, "--username", "alice", "--password", "alice-pw-123!")
    assert login.returncode == 0, login.stderr

    listed = cli(tmp_path, "run", "list", "--parent", parent.id, "--json")
    assert listed.returncode == 0, listed.stderr
    assert [(r["id"], r["display_name"], r["status"]) for r in json.loads(listed.stdout)] == [
        (first.number, "fold-1", "Completed"),
        (second.number, "fold-2", "Running"),
    ]
    table = cli(tmp_path, "runs", "list", "--parent", parent.id).stdout.splitlines()
    assert "NAME" in table[0] and "fold-1" in table[1] and "fold-2" in table[2] and len(table) == 3

    added = cli(tmp_path, "run", "properties", parent.id, "--add", "algorithm=ridge", "--add", "folds=2")
    assert added.returncode == 0, added.stderr
    assert added.stdout.split("\n")[:2] == ["algorithm: ridge", "    folds: 2"]
    assert json.loads(cli(tmp_path, "run", "properties", parent.id, "--json").stdout) == {
        "algorithm": "ridge",
        "folds": "2",
    }
    refused = cli(tmp_path, "run", "properties", parent.id, "--add", "algorithm=lasso")
    assert refused.returncode == 1 and "cannot be changed" in refused.stderr
    bad = cli(tmp_path, "run", "properties", parent.id, "--add", "no-equals")
    assert bad.returncode != 0 and "KEY=VALUE" in bad.stderr
    assert "has no properties" in cli(tmp_path, "run", "properties", other.id).stdout
    found = json.loads(cli(tmp_path, "run", "list", "--property", "algorithm=ridge", "--json").stdout)
    assert [r["id"] for r in found] == [parent.number]

    shown = cli(tmp_path, "run", "show", parent.id)
    assert shown.returncode == 0, shown.stderr
    assert "properties: {'algorithm': 'ridge', 'folds': '2'}" in shown.stdout
    assert "Child runs (2):" in shown.stdout
    rows = shown.stdout.split("Child runs (2):")[1].strip().splitlines()
    assert rows[0].split() == ["ID", "NAME", "STATUS", "TAGS"]
    assert rows[1].split() == [first.id, "fold-1", "Completed", "-"] and rows[2].split()[:3] == [
        second.id,
        "fold-2",
        "Running",
    ]
    child = cli(tmp_path, "run", "show", second.id)
    assert f"parent: {parent.id}" in child.stdout and "Child runs: none" in child.stdout
    as_json = json.loads(cli(tmp_path, "run", "show", parent.id, "--json").stdout)
    assert [c["id"] for c in as_json["children"]] == [first.number, second.number]
