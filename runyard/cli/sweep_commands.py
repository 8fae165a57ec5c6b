"""``runyard sweep submit|show|cancel``: HyperDrive sweeps from the command line."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from runyard.cli.output import EXIT_OK, RUN_EXIT_CODES, parse_pairs, print_json, print_table, workspace_of
from runyard.cli.run_commands import distributed_from, parse_input_argument
from runyard.exceptions import UserErrorException
from runyard.experiment import Experiment
from runyard.script_run_config import ScriptRunConfig
from runyard.train.hyperdrive.run import HyperDriveRun

CONFIG_HELP = (
    "JSON file with HyperDriveConfig's fields as Azure serialises them: hyperparameter_sampling "
    '({"name": "RANDOM", "parameter_space": {"lr": ["loguniform", [-6, -1]]}}), policy, '
    "primary_metric_config ({name, goal}), max_total_runs, max_concurrent_runs, max_duration_minutes, seed"
)


def add_parsers(commands: Any) -> None:
    sweep = commands.add_parser("sweep", help="hyperparameter sweeps (HyperDrive)").add_subparsers(
        dest="sweep_command", required=True
    )
    submit = sweep.add_parser(
        "submit",
        help="snapshot a folder and start a sweep",
        description="Options go before SCRIPT; everything after it is the script's arguments, "
        "to which each child's parameters are appended (--name value).",
    )
    submit.add_argument("script")
    submit.add_argument("arguments", nargs=argparse.REMAINDER)
    submit.add_argument("--sweep-config", required=True, metavar="FILE", help=CONFIG_HELP)
    submit.add_argument("-d", "--source-dir", default=".")
    submit.add_argument("-e", "--experiment", default="default")
    submit.add_argument("--environment", help="NAME or NAME:VERSION")
    submit.add_argument("-c", "--compute", default="local")
    submit.add_argument("--distributed", choices=["mpi", "pytorch", "tensorflow"])
    submit.add_argument("--node-count", type=int, default=1)
    submit.add_argument("--process-count-per-node", type=int, default=1)
    submit.add_argument("--process-count", type=int)
    submit.add_argument("--backend", default="Gloo")
    submit.add_argument("--worker-count", type=int, default=1)
    submit.add_argument("--parameter-server-count", type=int, default=1)
    submit.add_argument("--tag", action="append", metavar="KEY=VALUE")
    submit.add_argument("--max-duration", type=int, metavar="SECONDS", help="each child's limit")
    submit.add_argument("--name", help="display name")
    submit.add_argument("-f", "--follow", action="store_true", help="show the live table until the sweep ends")
    submit.add_argument("--json", action="store_true")
    submit.set_defaults(handler=submit_command)

    show = sweep.add_parser("show", help="a sweep and its children")
    show.add_argument("sweep", type=int)
    show.add_argument("--json", action="store_true")
    show.set_defaults(handler=show_command)

    cancel = sweep.add_parser("cancel", help="cancel a sweep and every child still going")
    cancel.add_argument("sweep", type=int)
    cancel.add_argument("--reason", default="")
    cancel.add_argument("--json", action="store_true")
    cancel.set_defaults(handler=cancel_command)


def _config(path: str) -> dict[str, Any]:
    try:
        data = json.loads(Path(path).read_text())
    except OSError as exc:
        raise UserErrorException(f"--sweep-config {path}: {exc.strerror}") from None
    except json.JSONDecodeError as exc:
        raise UserErrorException(f"--sweep-config {path}: not JSON ({exc.msg}, line {exc.lineno})") from None
    if not isinstance(data, dict):
        raise UserErrorException(f"--sweep-config {path}: must be a JSON object")
    return data


def submit_command(args: argparse.Namespace) -> int:
    workspace = workspace_of(args)
    config = _config(args.sweep_config)
    src = ScriptRunConfig(
        source_directory=args.source_dir,
        script=args.script,
        compute_target=args.compute,
        environment=args.environment,
        distributed_job_config=distributed_from(args),
        max_run_duration_seconds=args.max_duration,
    )
    experiment = Experiment(workspace, args.experiment)
    fields = experiment.submission_fields(src, parse_pairs(args.tag, "--tag"), args.name)
    fields["arguments"] = json.dumps([parse_input_argument(a) for a in args.arguments])
    fields["hyperdrive"] = json.dumps(config)
    item = experiment.post_snapshot(src, fields, show_progress=None if not args.json else False, path="/api/sweeps/")
    run = HyperDriveRun(experiment, item["id"])
    if args.json and not args.follow:
        print_json(item)
        return EXIT_OK
    print(f"Submitted sweep {run.id}: {run.get_portal_url()}", file=sys.stderr if args.json else None)
    if not args.follow:
        return EXIT_OK
    run.wait_for_completion(show_output=not args.json, raise_on_error=False)
    sweep = run.get_sweep()
    if args.json:
        print_json(sweep)
    return RUN_EXIT_CODES.get(sweep["status"], 1)


def _sweep(args: argparse.Namespace) -> HyperDriveRun:
    workspace = workspace_of(args)
    item = workspace.client.get(f"/api/sweeps/{args.sweep}/")
    run = HyperDriveRun(Experiment(workspace, item["experiment"]), item["id"])
    run._sweep = item
    return run


def show_command(args: argparse.Namespace) -> int:
    run = _sweep(args)
    sweep = run._sweep
    children = run._children_rows()
    if args.json:
        print_json({**sweep, "children": children})
        return EXIT_OK
    config = sweep["config"]
    metric = config["primary_metric_config"]
    print(f"Sweep {sweep['id']} {sweep['status']} ({sweep['end_reason'] or sweep['status_reason']})")
    print(
        f"  {config['hyperparameter_sampling']['name']} sampling, policy {(config.get('policy') or {}).get('name')}, "
        f"{metric['goal']} {metric['name']}, {sweep['proposed']}/{config['max_total_runs']} children, "
        f"{config['max_concurrent_runs']} at a time, seed {config.get('seed')}"
    )
    best = sweep.get("best_child")
    if best:
        print(f"  best: run {best['id']} {metric['name']}={best['best_primary_metric']} {best['parameters']}")
    print_table(
        children,
        [
            ("index", "#"),
            ("id", "RUN"),
            ("status", "STATUS"),
            ("best_primary_metric", metric["name"].upper()),
            ("parameters", "PARAMETERS"),
            ("terminated_by", "STOPPED BY"),
        ],
    )
    return EXIT_OK


def cancel_command(args: argparse.Namespace) -> int:
    run = _sweep(args)
    run.cancel(args.reason)
    if args.json:
        print_json(run._sweep)
    else:
        print(f"Sweep {run.id} {run._sweep['status']}")
    return EXIT_OK
