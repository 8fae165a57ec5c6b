"""``runyard submit``, ``runyard runs list|show|properties`` (or ``runyard run …``),
``runyard logs``, ``runyard cancel``."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from runyard.cli.output import EXIT_OK, RUN_EXIT_CODES, parse_pairs, print_json, print_table, workspace_of
from runyard.experiment import Experiment
from runyard.logstream import LogFollower
from runyard.run import Run, format_line
from runyard.runconfig import DistributedConfig, MpiConfiguration, PyTorchConfiguration, TensorflowConfiguration
from runyard.script_run_config import ScriptRunConfig


def add_parsers(commands: Any) -> None:
    submit = commands.add_parser(
        "submit",
        help="snapshot a folder and start a run",
        description="Options go before SCRIPT; everything after it is the script's "
        "arguments. An argument @dataset:NAME[:VERSION][:mount|download] or "
        "@datastore:NAME/PATH[:mount|download] or @model:NAME[:VERSION] becomes that input's local path.",
    )
    submit.add_argument("script", help="path of the script inside the source directory")
    submit.add_argument("arguments", nargs=argparse.REMAINDER, help="the script's arguments")
    submit.add_argument("-d", "--source-dir", default=".", help="folder to snapshot (default: .)")
    submit.add_argument("-e", "--experiment", default="default")
    submit.add_argument("--environment", help="NAME or NAME:VERSION (default: the server's default)")
    submit.add_argument("-c", "--compute", default="local", help="compute target name (default: local)")
    submit.add_argument("--distributed", choices=["mpi", "pytorch", "tensorflow"])
    submit.add_argument("--node-count", type=int, default=1)
    submit.add_argument("--process-count-per-node", type=int, default=1, help="mpi, and pytorch per node")
    submit.add_argument("--process-count", type=int, help="pytorch: total processes")
    submit.add_argument("--backend", default="Gloo", help="pytorch communication backend (Gloo, Nccl, Mpi)")
    submit.add_argument("--worker-count", type=int, default=1, help="tensorflow workers")
    submit.add_argument("--parameter-server-count", type=int, default=1, help="tensorflow parameter servers")
    submit.add_argument("--tag", action="append", metavar="KEY=VALUE")
    submit.add_argument("--max-duration", type=int, metavar="SECONDS")
    submit.add_argument(
        "--model",
        action="append",
        metavar="NAME[:VERSION]",
        help="a registered model the script finds with Model.get_model_path (mounted read-only)",
    )
    submit.add_argument(
        "--priority", choices=["low", "normal", "high", "urgent"], help="queue priority (default normal)"
    )
    submit.add_argument(
        "--preemptible",
        action="store_true",
        help="the scheduler may stop it for a higher-priority or under-share run and resume it later",
    )
    submit.add_argument("--name", help="display name")
    submit.add_argument("-f", "--follow", action="store_true", help="stream the log; exit code tells the outcome")
    submit.add_argument("--json", action="store_true")
    submit.set_defaults(handler=submit_command)

    runs = commands.add_parser("runs", aliases=["run"], help="list or show runs, their children and properties")
    runs_commands = runs.add_subparsers(dest="runs_command", required=True)
    listing = runs_commands.add_parser("list", help="recent runs, newest first (a run's children: oldest first)")
    listing.add_argument("-e", "--experiment")
    listing.add_argument("-s", "--status", action="append")
    listing.add_argument("--parent", type=int, metavar="RUN", help="the child runs of this run")
    listing.add_argument("--property", action="append", metavar="KEY=VALUE", help="runs with this property")
    listing.add_argument("-n", "--limit", type=int, default=20)
    listing.add_argument("--json", action="store_true")
    listing.set_defaults(handler=list_command)
    show = runs_commands.add_parser("show", help="one run's details, properties and child runs")
    show.add_argument("run", type=int)
    show.add_argument("--json", action="store_true")
    show.set_defaults(handler=show_command)
    properties = runs_commands.add_parser(
        "properties", help="print a run's properties, or add some (add-only: a set key keeps its value)"
    )
    properties.add_argument("run", type=int)
    properties.add_argument("--add", action="append", metavar="KEY=VALUE")
    properties.add_argument("--json", action="store_true")
    properties.set_defaults(handler=properties_command)

    logs = commands.add_parser("logs", help="print a run's log")
    logs.add_argument("run", type=int)
    logs.add_argument("-f", "--follow", action="store_true", help="keep streaming until the run ends")
    logs.add_argument("--after", type=int, default=0, help="only lines after this sequence number")
    logs.add_argument("--json", action="store_true", help="one JSON object per line")
    logs.set_defaults(handler=logs_command)

    priority = commands.add_parser("priority", help="change a queued run's priority (within the team's cap)")
    priority.add_argument("run", type=int)
    priority.add_argument("level", choices=["low", "normal", "high", "urgent"])
    priority.add_argument("--json", action="store_true")
    priority.set_defaults(handler=priority_command)

    cancel = commands.add_parser("cancel", help="stop a run")
    cancel.add_argument("run", type=int)
    cancel.add_argument("--reason", default="")
    cancel.add_argument("--json", action="store_true")
    cancel.set_defaults(handler=cancel_command)


def parse_input_argument(text: str) -> Any:
    """``@dataset:NAME[:VERSION][:MODE]`` / ``@datastore:NAME/PATH[:MODE]`` → an input object; else the text."""
    if text.startswith("@dataset:"):
        parts = text[len("@dataset:") :].split(":")
        mode = parts.pop() if parts[-1] in ("mount", "download") else "mount"
        name = parts[0]
        version: Any = int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else "latest"
        return {"dataset": name, "version": version, "mode": mode, "name": name}
    if text.startswith("@model:"):
        return model_input(text[len("@model:") :])
    if text.startswith("@datastore:"):
        rest = text[len("@datastore:") :]
        mode = "mount"
        if rest.rsplit(":", 1)[-1] in ("mount", "download"):
            rest, mode = rest.rsplit(":", 1)
        store, _, path = rest.partition("/")
        return {"datastore": store, "path": path.strip("/") + "/" if path.strip("/") else "", "mode": mode}
    return text


def model_input(reference: str) -> dict[str, Any]:
    """``NAME[:VERSION]`` → a model input object (mounted read-only)."""
    from runyard.cli.model_commands import parse_reference

    name, version = parse_reference(reference)
    return {"model": name, "version": "latest" if version is None else version, "mode": "mount"}


def distributed_from(args: argparse.Namespace) -> DistributedConfig | None:
    if args.distributed == "mpi":
        return MpiConfiguration(process_count_per_node=args.process_count_per_node, node_count=args.node_count)
    if args.distributed == "pytorch":
        count = args.process_count or args.node_count * args.process_count_per_node
        return PyTorchConfiguration(communication_backend=args.backend, process_count=count, node_count=args.node_count)
    if args.distributed == "tensorflow":
        return TensorflowConfiguration(
            worker_count=args.worker_count, parameter_server_count=args.parameter_server_count
        )
    return None


def submit_command(args: argparse.Namespace) -> int:
    workspace = workspace_of(args)
    src = ScriptRunConfig(
        source_directory=args.source_dir,
        script=args.script,
        compute_target=args.compute,
        environment=args.environment,
        distributed_job_config=distributed_from(args),
        max_run_duration_seconds=args.max_duration,
        priority=args.priority,
        preemptible=True if args.preemptible else None,
    )
    experiment = Experiment(workspace, args.experiment)
    fields = experiment.submission_fields(src, parse_pairs(args.tag, "--tag"), args.name)
    fields["arguments"] = json.dumps([parse_input_argument(a) for a in args.arguments])
    if args.model:
        fields["inputs"] = json.dumps([model_input(m) for m in args.model])
    run = experiment.post_run(src, fields, show_progress=None if not args.json else False)
    if args.json and not args.follow:
        print_json(run._details)
        return EXIT_OK
    print(f"Submitted run {run.id} ({run.status}): {run.get_portal_url()}", file=sys.stderr if args.json else None)
    if not args.follow:
        return EXIT_OK
    return _follow(run, as_json=args.json)


def _follow(run: Run, as_json: bool, after: int = 0) -> int:
    distributed = bool(run.refresh().get("distributed"))

    def on_line(line: dict[str, Any]) -> None:
        if as_json:
            print(json.dumps(line), flush=True)
        else:
            print(format_line(line, distributed), flush=True)

    def on_status(status: dict[str, Any]) -> None:
        if not as_json:
            print(f"[runyard] status: {status.get('status')}", file=sys.stderr, flush=True)

    final = LogFollower(run.workspace.client, run.id, on_line, on_status, after=after).follow()
    details = run.refresh()
    status = str(details.get("status") or final.get("status"))
    if as_json:
        print_json(
            {"id": run.number, "status": status, "exit_code": details.get("exit_code"), "error": details.get("error")}
        )
    else:
        print(
            f"Run {run.id} {status}"
            + (f" (exit code {details['exit_code']})" if details.get("exit_code") is not None else ""),
            file=sys.stderr,
        )
        if status == "Failed" and details.get("error"):
            print(details["error"], file=sys.stderr)
    return RUN_EXIT_CODES.get(status, 1)


RUN_COLUMNS = [
    ("id", "ID"),
    ("status", "STATUS"),
    ("experiment", "EXPERIMENT"),
    ("display_name", "NAME"),
    ("script", "SCRIPT"),
    ("compute_target", "TARGET"),
    ("environment", "ENVIRONMENT"),
    ("submitted_by", "BY"),
    ("created_at", "CREATED"),
]


def list_command(args: argparse.Namespace) -> int:
    workspace = workspace_of(args)
    params: dict[str, Any] = {"limit": min(args.limit, 500)}
    if args.experiment:
        params["experiment"] = args.experiment
    if args.status:
        params["status"] = args.status
    if args.parent is not None:
        params["parent"] = args.parent
        params["ordering"] = "created_at"  # as run.get_children() and the run page list them
    if args.property:
        params["property"] = [f"{k}={v}" for k, v in parse_pairs(args.property, "--property").items()]
    page = workspace.client.get("/api/runs/", **params)
    rows = page.get("results", [])[: args.limit]
    if args.json:
        print_json(rows)
    else:
        print_table(rows, RUN_COLUMNS)
    return EXIT_OK


def show_command(args: argparse.Namespace) -> int:
    run = Run.get(workspace_of(args), args.run)
    details = run.get_details()
    children = [child._details for child in run.get_children()]
    raw = details["runyard"]
    if args.json:
        print_json({**raw, "children": children})
        return EXIT_OK
    for key in (
        "id",
        "status",
        "experiment",
        "display_name",
        "parent",
        "script",
        "arguments",
        "compute_target",
        "environment",
        "distributed",
        "tags",
        "properties",
        "submitted_by",
        "created_at",
        "running_at",
        "ended_at",
        "exit_code",
        "portal_url",
    ):
        value = raw.get(key)
        if isinstance(value, dict):  # the server's JSON keeps no key order: print them sorted
            value = dict(sorted(value.items()))
        print(f"{key:>15}: {value}")
    if raw.get("error"):
        print(f"{'error':>15}: {raw['error']}")
    print(f"\nChild runs ({len(children)}):" if children else "\nChild runs: none")
    if children:
        print_table(children, [("id", "ID"), ("display_name", "NAME"), ("status", "STATUS"), ("tags", "TAGS")])
    return EXIT_OK


def properties_command(args: argparse.Namespace) -> int:
    run = Run.get(workspace_of(args), args.run)
    if args.add:
        run.add_properties(parse_pairs(args.add, "--add"))
    properties = run.get_properties()
    if args.json:
        print_json(properties)
    elif not properties:
        print(f"Run {run.id} has no properties.")
    else:
        width = max(len(key) for key in properties)
        for key, value in sorted(properties.items()):
            print(f"{key:>{width}}: {value}")
    return EXIT_OK


def logs_command(args: argparse.Namespace) -> int:
    workspace = workspace_of(args)
    run = Run.get(workspace, args.run)
    if args.follow:
        return _follow(run, as_json=args.json, after=args.after)
    distributed = bool(run._details.get("distributed"))
    after = args.after
    while True:
        page = workspace.client.get(f"/api/runs/{run.id}/logs/", after=after, limit=5000)
        for line in page.get("lines", []):
            print(json.dumps(line) if args.json else format_line(line, distributed))
        if not page.get("lines"):
            return EXIT_OK
        after = page["next_after"]


def priority_command(args: argparse.Namespace) -> int:
    run = Run.get(workspace_of(args), args.run)
    level = run.set_priority(args.level)
    if args.json:
        print_json(run._details)
    else:
        print(f"Run {run.id}: priority {level}; {run._details.get('waiting_reason') or run._details.get('status')}")
    return EXIT_OK


def cancel_command(args: argparse.Namespace) -> int:
    run = Run.get(workspace_of(args), args.run)
    status = run.cancel(args.reason)
    if args.json:
        print_json(run._details)
    else:
        print(f"Run {run.id}: {status}")
    return EXIT_OK
