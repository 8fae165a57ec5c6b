"""``runyard index list|create|delete``: the package indexes environments may select
(admins create and delete them; everyone lists them)."""

from __future__ import annotations

import argparse
import getpass
import os
from typing import Any

from runyard.cli.output import EXIT_OK, print_json, print_table, workspace_of
from runyard.exceptions import UserErrorException


def add_parsers(commands: Any) -> None:
    index = commands.add_parser("index", help="allowed package indexes").add_subparsers(
        dest="index_command", required=True
    )
    listing = index.add_parser("list", help="the package indexes environments may select")
    listing.add_argument("--json", action="store_true")
    listing.set_defaults(handler=list_command)

    create = index.add_parser("create", help="admins: allow a package index")
    create.add_argument("name")
    # Not "url": that is the global --url of the server.
    create.add_argument("index_url", metavar="URL", help="https://, http:// or file:// URL of a PEP 503 index")
    create.add_argument("--username", default="")
    create.add_argument(
        "--password-env",
        metavar="VARIABLE",
        help="read the password from this environment variable (never from the command line)",
    )
    create.add_argument("--ask-password", action="store_true", help="prompt for the password")
    create.add_argument("--description", default="")
    create.add_argument("--json", action="store_true")
    create.set_defaults(handler=create_command)

    delete = index.add_parser("delete", help="admins: stop allowing a package index")
    delete.add_argument("name")
    delete.set_defaults(handler=delete_command)


def _by_name(args: argparse.Namespace, name: str) -> dict[str, Any]:
    found = workspace_of(args).client.first("/api/package-indexes/", name=name)
    if found is None:
        raise UserErrorException(f"No package index named '{name}'.")
    return found


def list_command(args: argparse.Namespace) -> int:
    items = list(workspace_of(args).client.paged("/api/package-indexes/"))
    if args.json:
        print_json(items)
        return EXIT_OK
    for item in items:
        item["login"] = (item.get("username") or "") + (" (password set)" if item.get("has_password") else "")
    print_table(items, [("name", "NAME"), ("url", "URL"), ("login", "LOGIN"), ("description", "DESCRIPTION")])
    return EXIT_OK


def create_command(args: argparse.Namespace) -> int:
    password = ""
    if args.password_env:
        password = os.environ.get(args.password_env, "")
        if not password:
            raise UserErrorException(f"The environment variable {args.password_env} is empty or not set.")
    elif args.ask_password:
        password = getpass.getpass(f"Password for {args.name}: ")
    body = {"name": args.name, "url": args.index_url, "username": args.username, "description": args.description}
    if password:
        body["password"] = password
    made = workspace_of(args).client.post("/api/package-indexes/", body)
    if args.json:
        print_json(made)
    else:
        print(f"Allowed package index {made['name']}: {made['url']}")
    return EXIT_OK


def delete_command(args: argparse.Namespace) -> int:
    found = _by_name(args, args.name)
    workspace_of(args).client.request("DELETE", f"/api/package-indexes/{found['id']}/")
    print(f"Deleted package index {args.name}")
    return EXIT_OK
