"""``runyard model register|list|show|download``."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from runyard.cli.output import EXIT_OK, parse_pairs, print_json, print_table, workspace_of
from runyard.exceptions import UserErrorException
from runyard.model import Model
from runyard.run import Run


def add_parsers(commands: Any) -> None:
    model = commands.add_parser("model", help="registered models").add_subparsers(dest="model_command", required=True)
    register = model.add_parser(
        "register",
        help="register a local file or folder, or a run's artifacts (--run), as a new model version",
    )
    register.add_argument("name")
    register.add_argument("path", help="a local file or folder; with --run, a path in the run's artifacts")
    register.add_argument("--run", type=int, help="register this run's stored artifacts (no upload)")
    register.add_argument("--tag", action="append", metavar="KEY=VALUE")
    register.add_argument("--property", action="append", metavar="KEY=VALUE")
    register.add_argument("--description", default="")
    register.add_argument("--framework", help="e.g. PyTorch, ScikitLearn, TensorFlow, Onnx, Custom")
    register.add_argument("--framework-version")
    register.add_argument("--json", action="store_true")
    register.set_defaults(handler=register_command)

    listing = model.add_parser("list", help="your teams' model versions, newest first")
    listing.add_argument("--name")
    listing.add_argument("--tag", action="append", metavar="KEY[=VALUE]")
    listing.add_argument("--run", type=int, help="versions this run produced")
    listing.add_argument("--latest", action="store_true", help="only each model's latest version")
    listing.add_argument("--json", action="store_true")
    listing.set_defaults(handler=list_command)

    show = model.add_parser("show", help="one version: files, lineage, metrics")
    show.add_argument("model", metavar="NAME[:VERSION]")
    show.add_argument("--json", action="store_true")
    show.set_defaults(handler=show_command)

    download = model.add_parser("download", help="download a version's files")
    download.add_argument("model", metavar="NAME[:VERSION]")
    download.add_argument("-o", "--output", default=".", help="target folder (default: .)")
    download.add_argument("--exist-ok", action="store_true", help="replace files that exist")
    download.add_argument("--json", action="store_true")
    download.set_defaults(handler=download_command)


def parse_reference(text: str) -> tuple[str, int | None]:
    """``NAME`` or ``NAME:VERSION``."""
    name, sep, version = text.rpartition(":")
    if sep and version.isdigit():
        return name, int(version)
    if sep and version == "latest":
        return name, None
    return text, None


def _get(args: argparse.Namespace) -> Model:
    name, version = parse_reference(args.model)
    return Model(workspace_of(args), name, version=version)


def register_command(args: argparse.Namespace) -> int:
    workspace = workspace_of(args)
    if args.framework_version and not args.framework:
        raise UserErrorException("--framework-version needs --framework.")
    common: dict[str, Any] = {
        "tags": parse_pairs(args.tag, "--tag"),
        "properties": parse_pairs(args.property, "--property"),
        "description": args.description,
        "model_framework": args.framework,
        "model_framework_version": args.framework_version,
    }
    if args.run is not None:
        model = Run.get(workspace, args.run).register_model(args.name, args.path, **common)
    else:
        model = Model.register(workspace, args.path, args.name, show_progress=not args.json, **common)
    if args.json:
        print_json(model.serialize())
    else:
        print(f"Registered model {model.name} version {model.version} ({model.file_count} files): {model.url}")
    return EXIT_OK


def list_command(args: argparse.Namespace) -> int:
    tags = [t.split("=", 1) if "=" in t else t for t in args.tag or []]
    models = Model.list(workspace_of(args), name=args.name, tags=tags or None, run_id=args.run, latest=args.latest)
    if args.json:
        print_json([m.serialize() for m in models])
        return EXIT_OK
    rows = [
        {
            "name": m.name,
            "version": m.version,
            "framework": m.model_framework,
            "run": m.run_id,
            "tags": m.tags,
            "by": m.created_by.get("userName"),
            "at": (m.created_time or "")[:19],
        }
        for m in models
    ]
    columns = [("name", "NAME"), ("version", "VERSION"), ("framework", "FRAMEWORK"), ("run", "RUN")]
    print_table(rows, [*columns, ("tags", "TAGS"), ("by", "BY"), ("at", "REGISTERED")])
    return EXIT_OK


def show_command(args: argparse.Namespace) -> int:
    model = _get(args)
    detail = model.workspace.client.get(model._path()) if model.workspace else {}
    if args.json:
        print_json(detail)
        return EXIT_OK
    print(f"{model.id}  {model.url}")
    print(f"  registered by {model.created_by.get('userName') or '-'} at {model.created_time}")
    if model.description:
        print(f"  {model.description}")
    if model.model_framework:
        print(f"  framework: {model.model_framework} {model.model_framework_version or ''}".rstrip())
    for label, values in (("tags", model.tags), ("properties", model.properties)):
        if values:
            print(f"  {label}: " + ", ".join(f"{k}={v}" for k, v in values.items()))
    if model.run_id:
        print(f"  run: {model.run_id} (experiment {model.experiment_name}), environment {model.environment or '-'}")
    for dataset in model.datasets["training"]:
        print(f"  dataset: {dataset['name']}:{dataset['version']}")
    for name, value in model.metrics.items():
        print(f"  metric {name}: {value}")
    print(f"  files ({model.file_count}, {model.total_size} bytes):")
    for item in detail.get("files", []):
        print(f"    {item['path']}  {item['size']}")
    return EXIT_OK


def download_command(args: argparse.Namespace) -> int:
    model = _get(args)
    path = model.download(args.output, exist_ok=args.exist_ok)
    if args.json:
        print_json({"id": model.id, "path": path})
    else:
        print(f"Downloaded {model.id} to {path}", file=sys.stderr)
        print(path)
    return EXIT_OK
