"""``runyard dataset upload|list|download`` and ``runyard login``."""

from __future__ import annotations

import argparse
import getpass
import socket
import sys
from typing import Any

from runyard import weburl
from runyard.cli.output import EXIT_FAILED, EXIT_OK, print_json, print_table, workspace_of
from runyard.dataset import Dataset
from runyard.datastore import Datastore
from runyard.http import Client
from runyard.workspace import Workspace, write_config


def add_parsers(commands: Any) -> None:
    login = commands.add_parser("login", help="sign in and write .runyard/config.json")
    login.add_argument("--url", required=True, help="the Runyard server, e.g. http://127.0.0.1:8000")
    login.add_argument("--username", "-u", help="sign in with a username (password prompted or --password)")
    login.add_argument("--password", "-p", help="(prefer the prompt)")
    login.add_argument("--token", help="use an existing API token instead of signing in")
    login.add_argument("--dir", default=".", help="folder to write .runyard/config.json in (default: .)")
    login.set_defaults(handler=login_command)

    dataset = commands.add_parser("dataset", help="datasets").add_subparsers(dest="dataset_command", required=True)
    upload = dataset.add_parser(
        "upload", help="upload a file or folder, or register http(s) URLs, as a new dataset version"
    )
    upload.add_argument("name")
    upload.add_argument("path", nargs="+", help="a local file or folder, or one or more http(s) URLs")
    upload.add_argument("--datastore", help="upload into this datastore folder and reference it instead")
    upload.add_argument("--target-path", help="folder in the datastore (with --datastore; default: NAME)")
    upload.add_argument("--description", default="")
    upload.add_argument("--json", action="store_true")
    upload.set_defaults(handler=upload_command)
    listing = dataset.add_parser("list", help="your team's datasets")
    listing.add_argument("--json", action="store_true")
    listing.set_defaults(handler=list_command)
    download = dataset.add_parser("download", help="download a dataset version's files")
    download.add_argument("name")
    download.add_argument("--version", default="latest")
    download.add_argument("--target", default=".", help="folder to write the files in (default: .)")
    download.add_argument("--overwrite", action="store_true", help="replace files that exist already")
    download.add_argument("--json", action="store_true")
    download.set_defaults(handler=download_command)


def login_command(args: argparse.Namespace) -> int:
    token = args.token
    if not token:
        username = args.username or input("Username: ")
        password = args.password or getpass.getpass("Password: ")
        answer = Client(args.url, None).post(
            "/api/auth/token/",
            {"username": username, "password": password, "token_name": f"runyard-cli@{socket.gethostname()}"[:100]},
        )
        token = answer["token"]
    workspace = Workspace(args.url, token)
    me = workspace.client.get("/api/auth/session/")
    if not me or "username" not in me:
        print("runyard: the server did not accept the token.", file=sys.stderr)
        return EXIT_FAILED
    path = write_config(args.url, token, args.dir)
    print(f"Signed in to {workspace.url} as {me['username']}; wrote {path}")
    return EXIT_OK


def upload_command(args: argparse.Namespace) -> int:
    workspace = workspace_of(args)
    show = not args.json
    paths = list(args.path)
    if len(paths) > 1 and not all(weburl.is_web_url(p) for p in paths):
        print("runyard: give one local file or folder, or one or more http(s) URLs.", file=sys.stderr)
        return EXIT_FAILED
    if args.datastore:
        store = Datastore.get(workspace, args.datastore)
        target = (args.target_path or args.name).strip("/")
        dataset = Dataset.File.upload_directory(paths[0], (store, target), overwrite=True, show_progress=show)
    else:
        dataset = Dataset.File.from_files(paths if len(paths) > 1 else paths[0])
    registered = dataset.register(
        workspace, args.name, description=args.description, create_new_version=True, show_progress=show
    )
    if args.json:
        print_json(
            {
                "name": registered.name,
                "version": registered.version,
                "id": registered.id,
                "file_count": registered.file_count,
                "total_size": registered.total_size,
            }
        )
    else:
        print(f"Registered dataset {registered.name} version {registered.version} ({registered.file_count} files)")
    return EXIT_OK


def list_command(args: argparse.Namespace) -> int:
    items = list(workspace_of(args).client.paged("/api/datasets/"))
    if args.json:
        print_json(items)
        return EXIT_OK
    rows = [
        {
            "name": i["name"],
            "version": (i.get("latest_version") or {}).get("version"),
            "files": (i.get("latest_version") or {}).get("file_count"),
            "size": (i.get("latest_version") or {}).get("total_size"),
            "description": i.get("description"),
        }
        for i in items
    ]
    print_table(
        rows,
        [
            ("name", "NAME"),
            ("version", "LATEST"),
            ("files", "FILES"),
            ("size", "BYTES"),
            ("description", "DESCRIPTION"),
        ],
    )
    return EXIT_OK


def download_command(args: argparse.Namespace) -> int:
    dataset = Dataset.get_by_name(workspace_of(args), args.name, version=args.version)
    written = dataset.download(target_path=args.target, overwrite=args.overwrite)
    if args.json:
        print_json({"name": dataset.name, "version": dataset.version, "files": written})
    else:
        for path in written:
            print(path)
        print(f"Downloaded {len(written)} file(s) of dataset {dataset.name} version {dataset.version}")
    return EXIT_OK
