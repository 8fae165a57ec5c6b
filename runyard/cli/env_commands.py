"""``runyard env list|show|create|build``."""

from __future__ import annotations

import argparse
from typing import Any

from runyard.cli.output import EXIT_OK, parse_pairs, print_json, print_table, workspace_of
from runyard.conda_dependencies import CondaDependencies
from runyard.environment import Environment, read_pip_requirements


def add_parsers(commands: Any) -> None:
    env = commands.add_parser("env", help="environments").add_subparsers(dest="env_command", required=True)
    listing = env.add_parser("list", help="your team's and curated environments")
    listing.add_argument("--json", action="store_true")
    listing.set_defaults(handler=list_command)

    show = env.add_parser("show", help="one environment's spec")
    show.add_argument("name", help="NAME or NAME:VERSION")
    show.add_argument("--json", action="store_true")
    show.set_defaults(handler=show_command)

    create = env.add_parser("create", help="register an environment (a new version if it exists)")
    create.add_argument("name")
    create.add_argument("--pip", action="append", metavar="REQUIREMENT", help="a pip requirement (repeatable)")
    create.add_argument("-r", "--requirements", help="a requirements.txt")
    create.add_argument(
        "--conda-file", help="an environment.yml (Python, conda packages installed from PyPI, channels, pip section)"
    )
    create.add_argument("--python", help="Python version, e.g. 3.11")
    create.add_argument("--docker-image", help="Docker base image")
    create.add_argument("--dockerfile", help="path of a Dockerfile")
    create.add_argument("--var", action="append", metavar="NAME=VALUE", help="environment variable (repeatable)")
    create.add_argument(
        "--index", action="append", metavar="NAME", help="an allowed package index to search too (repeatable)"
    )
    create.add_argument("--build", action="store_true", help="build it now, showing the build log")
    create.add_argument("--target", help="the compute target to build on (with --build; default: local)")
    create.add_argument("--json", action="store_true")
    create.set_defaults(handler=create_command)

    build = env.add_parser("build", help="build a registered environment now, showing the build log")
    build.add_argument("name", help="NAME or NAME:VERSION")
    build.add_argument("--target", help="the compute target to build on (default: local)")
    build.set_defaults(handler=build_command)


def _split(ref: str) -> tuple[str, str | None]:
    name, sep, version = ref.rpartition(":")
    return (name, version) if sep and version.isdigit() else (ref, None)


def list_command(args: argparse.Namespace) -> int:
    items = list(workspace_of(args).client.paged("/api/environments/"))
    if args.json:
        print_json(items)
        return EXIT_OK
    rows = [
        {
            "name": i["name"],
            "curated": "yes" if i.get("curated") else "",
            "version": (i.get("latest_version") or {}).get("version"),
            "versions": i.get("version_count"),
            "description": i.get("description"),
        }
        for i in items
    ]
    print_table(
        rows,
        [
            ("name", "NAME"),
            ("version", "LATEST"),
            ("versions", "VERSIONS"),
            ("curated", "CURATED"),
            ("description", "DESCRIPTION"),
        ],
    )
    return EXIT_OK


def show_command(args: argparse.Namespace) -> int:
    name, version = _split(args.name)
    env = Environment.get(workspace_of(args), name, version)
    spec = env.to_spec()
    if args.json:
        print_json({"name": env.name, "version": env.version, "curated": env.curated, "spec": spec})
        return EXIT_OK
    print(f"{env.name}:{env.version}" + (" (curated)" if env.curated else ""))
    for key, value in spec.items():
        if value:
            print(f"  {key}: {value}")
    return EXIT_OK


def create_command(args: argparse.Namespace) -> int:
    workspace = workspace_of(args)
    if args.conda_file:
        env = Environment.from_conda_specification(args.name, args.conda_file)
    else:
        env = Environment(args.name)
        env.python.conda_dependencies = CondaDependencies.create(python_version=args.python)
    deps = env.python.conda_dependencies
    if args.python:
        deps.set_python_version(args.python)
    for requirement in [*(read_pip_requirements(args.requirements) if args.requirements else []), *(args.pip or [])]:
        deps.add_pip_package(requirement)
    env.docker.base_image = args.docker_image
    if args.dockerfile:
        with open(args.dockerfile) as handle:
            env.docker.base_dockerfile = handle.read()
    env.environment_variables = parse_pairs(args.var, "--var")
    env.package_indexes = list(args.index or [])
    env.register(workspace)
    if args.json:
        print_json({"name": env.name, "version": env.version, "spec": env.to_spec()})
    else:
        print(f"Registered {env.name}:{env.version}")
    if args.build:
        env.build(workspace, args.target).wait_for_completion(show_output=not args.json)
    return EXIT_OK


def build_command(args: argparse.Namespace) -> int:
    workspace = workspace_of(args)
    name, version = _split(args.name)
    Environment.get(workspace, name, version).build(workspace, args.target).wait_for_completion(show_output=True)
    return EXIT_OK
