"""``runyard quota list|set|delete`` (admins set a team's share, limits and max priority
on a target), ``runyard queue TARGET`` (who runs, borrows and waits, and why) and
``runyard usage`` (run-hours, GPU-hours, queue wait and efficiency from system metrics;
--csv for a spreadsheet)."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from runyard.cli.output import EXIT_OK, print_json, print_table, workspace_of
from runyard.exceptions import UserErrorException

PRIORITIES = ("low", "normal", "high", "urgent")
LIMITS = ("share", "max_runs", "max_nodes", "max_processes", "max_gpus")


def add_parsers(commands: Any) -> None:
    quota = commands.add_parser("quota", help="team quotas and priority caps per compute target").add_subparsers(
        dest="quota_command", required=True
    )
    listing = quota.add_parser("list", help="the quotas of your teams (admins: all)")
    listing.add_argument("--json", action="store_true")
    listing.set_defaults(handler=list_command)

    setting = quota.add_parser("set", help="admins: create or change a team's quota on a target")
    setting.add_argument("team", help="team slug")
    setting.add_argument("target", help="compute target name")
    setting.add_argument("--share", type=int, help="guaranteed concurrent runs")
    for name in LIMITS[1:]:
        setting.add_argument(f"--{name.replace('_', '-')}", type=int, help="a limit; 0 or less: none")
    setting.add_argument("--max-priority", choices=PRIORITIES)
    setting.add_argument("--json", action="store_true")
    setting.set_defaults(handler=set_command)

    delete = quota.add_parser("delete", help="admins: remove a team's quota on a target")
    delete.add_argument("team")
    delete.add_argument("target")
    delete.set_defaults(handler=delete_command)

    queue = commands.add_parser("queue", help="a compute target's queue: capacity per team and why runs wait")
    queue.add_argument("target", help="compute target name")
    queue.add_argument("--json", action="store_true")
    queue.set_defaults(handler=queue_command)

    usage = commands.add_parser("usage", help="run-hours, GPU-hours, queue wait and efficiency of your teams' runs")
    usage.add_argument("--by", choices=["team", "user", "experiment", "target"], default="team")
    usage.add_argument("--since", help="ISO date and time (default: 30 days ago)")
    usage.add_argument("--until", help="ISO date and time (default: now)")
    usage.add_argument("--csv", action="store_true", help="print CSV")
    usage.add_argument("--json", action="store_true")
    usage.set_defaults(handler=usage_command)


def _find(args: argparse.Namespace) -> dict[str, Any] | None:
    for item in workspace_of(args).client.paged("/api/team-quotas/"):
        if item["team"] == args.team and item["compute_target"] == args.target:
            return item
    return None


def list_command(args: argparse.Namespace) -> int:
    items = list(workspace_of(args).client.paged("/api/team-quotas/"))
    if args.json:
        print_json(items)
        return EXIT_OK
    print_table(
        items,
        [
            ("team", "TEAM"),
            ("compute_target", "TARGET"),
            ("share", "SHARE"),
            ("max_runs", "MAX RUNS"),
            ("max_gpus", "MAX GPUS"),
            ("max_priority", "MAX PRIORITY"),
        ],
    )
    return EXIT_OK


def set_command(args: argparse.Namespace) -> int:
    body: dict[str, Any] = {}
    if args.share is not None:
        body["share"] = args.share
    for name in LIMITS[1:]:
        value = getattr(args, name)
        if value is not None:
            body[name] = value if value > 0 else None
    if args.max_priority:
        body["max_priority"] = args.max_priority
    client = workspace_of(args).client
    found = _find(args)
    if found is None:
        made = client.post("/api/team-quotas/", {"team": args.team, "compute_target": args.target, **body})
    else:
        made = client.request("PATCH", f"/api/team-quotas/{found['id']}/", json_body=body)
    if args.json:
        print_json(made)
    else:
        print(
            f"Quota of {made['team']} on {made['compute_target']}: share {made['share']}, "
            f"max runs {made['max_runs'] or '-'}, max GPUs {made['max_gpus'] or '-'}, "
            f"priority up to {made['max_priority']}"
        )
    return EXIT_OK


def delete_command(args: argparse.Namespace) -> int:
    found = _find(args)
    if found is None:
        raise UserErrorException(f"Team {args.team} has no quota on {args.target}.")
    workspace_of(args).client.request("DELETE", f"/api/team-quotas/{found['id']}/")
    print(f"Deleted the quota of {args.team} on {args.target}")
    return EXIT_OK


def queue_command(args: argparse.Namespace) -> int:
    client = workspace_of(args).client
    target = client.first("/api/compute-targets/", name=args.target)
    if target is None or target.get("name") != args.target:
        target = next((t for t in client.paged("/api/compute-targets/") if t["name"] == args.target), None)
    if target is None:
        raise UserErrorException(f"No compute target named '{args.target}'.")
    board = client.get(f"/api/schedule/{target['id']}/")
    if args.json:
        print_json(board)
        return EXIT_OK
    served = {True: "", False: "  (no worker is serving it)", None: ""}[board["served"]]
    print(f"{board['target']}: {board['used_runs']}/{board['capacity_runs']} runs{served}")
    print_table(
        board["teams"],
        [("team", "TEAM"), ("share", "SHARE"), ("running", "RUNNING"), ("borrowed", "BORROWED"), ("queued", "QUEUED")],
    )
    if board["runs"]:
        print()
        print_table(
            board["runs"],
            [("position", "#"), ("id", "RUN"), ("team", "TEAM"), ("priority", "PRIORITY"), ("waiting_reason", "WHY")],
        )
    return EXIT_OK


def usage_command(args: argparse.Namespace) -> int:
    client = workspace_of(args).client
    params = {"group_by": args.by, **({"since": args.since} if args.since else {})}
    if args.until:
        params["until"] = args.until
    if args.csv:
        sys.stdout.write(client.read_text("/api/usage/csv/", params))
        return EXIT_OK
    rows = client.get("/api/usage/", **params)
    if args.json:
        print_json(rows)
        return EXIT_OK
    print_table(
        rows,
        [
            ("key", args.by.upper()),
            ("team", "TEAM"),
            ("runs", "RUNS"),
            ("run_hours", "RUN-HOURS"),
            ("gpu_hours", "GPU-HOURS"),
            ("queue_wait_hours", "QUEUE WAIT (H)"),
            ("cpu_percent", "CPU/RANK %"),
            ("gpu_utilization", "GPU UTIL %"),
        ],
    )
    return EXIT_OK
