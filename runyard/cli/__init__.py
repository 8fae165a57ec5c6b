"""The ``runyard`` command line.

Exit codes: 0 success; 1 an error, or a followed run that Failed; 2 a bad command line;
3 a followed run that was Canceled; 130 interrupted. ``--json`` prints machine-readable
output on stdout (progress and messages go to stderr).
"""

from __future__ import annotations

import argparse
import sys

from runyard import __version__
from runyard.cli import data_commands, env_commands, index_commands, model_commands, run_commands, sweep_commands
from runyard.cli.output import EXIT_FAILED, EXIT_INTERRUPTED
from runyard.exceptions import RunyardError


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="runyard", description="Submit and watch Runyard training runs.")
    parser.add_argument("--version", action="version", version=f"runyard {__version__}")
    parser.add_argument("--url", help="server URL (default: .runyard/config.json or RUNYARD_URL)")
    parser.add_argument("--token", help="API token (default: .runyard/config.json or RUNYARD_TOKEN)")
    parser.add_argument("--config", help="path of a config.json, or a folder to search upward from")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    data_commands.add_parsers(commands)
    run_commands.add_parsers(commands)
    env_commands.add_parsers(commands)
    index_commands.add_parsers(commands)
    model_commands.add_parsers(commands)
    sweep_commands.add_parsers(commands)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.handler(args))
    except RunyardError as exc:
        print(f"runyard: error: {exc}", file=sys.stderr)
        return EXIT_FAILED
    except KeyboardInterrupt:
        print("runyard: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED


if __name__ == "__main__":
    sys.exit(main())
