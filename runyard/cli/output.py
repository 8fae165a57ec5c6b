"""Shared CLI pieces: exit codes, JSON or table output, and the workspace to talk to."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from runyard.workspace import Workspace

EXIT_OK = 0
EXIT_FAILED = 1  # a command error, or a followed run that Failed
EXIT_USAGE = 2  # bad command line (argparse's code)
EXIT_CANCELED = 3  # a followed run that was Canceled
EXIT_INTERRUPTED = 130

RUN_EXIT_CODES = {"Completed": EXIT_OK, "Failed": EXIT_FAILED, "Canceled": EXIT_CANCELED}


def workspace_of(args: argparse.Namespace) -> Workspace:
    if getattr(args, "url", None):
        return Workspace(args.url, getattr(args, "token", None))
    workspace = Workspace.from_config(getattr(args, "config", None))
    if getattr(args, "token", None):
        workspace.client.token = args.token
    return workspace


def print_json(data: Any) -> None:
    json.dump(data, sys.stdout, indent=2, default=str)
    sys.stdout.write("\n")


def print_table(rows: list[dict[str, Any]], columns: list[tuple[str, str]]) -> None:
    """Columns are (key, heading); widths fit the data."""
    if not rows:
        print("(none)")
        return
    cells = [[_cell(row.get(key)) for key, _ in columns] for row in rows]
    widths = [max(len(heading), *(len(line[i]) for line in cells)) for i, (_, heading) in enumerate(columns)]
    print("  ".join(heading.ljust(widths[i]) for i, (_, heading) in enumerate(columns)).rstrip())
    for line in cells:
        print("  ".join(value.ljust(widths[i]) for i, value in enumerate(line)).rstrip())


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, dict):
        return ",".join(f"{k}={v}" for k, v in value.items()) or "-"
    text = str(value)
    return text if len(text) <= 48 else text[:45] + "..."


def parse_pairs(items: list[str] | None, what: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for item in items or []:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise SystemExit(f"runyard: error: {what} must look like KEY=VALUE, got {item!r}")
        out[key] = value
    return out
