"""The ``cmdb`` command: server, agent, tokens and queries (each command group a module)."""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import sys

from cmdb.server.cli.http import CliError
from cmdb.server.cli.output import terminal_safe

# command modules, each with register(subparsers); optional ones may be absent
COMMAND_MODULES = (
    "cmdb.server.cli.core",
    "cmdb.server.cli.scan",
    "cmdb.server.cli.catalogue",
    "cmdb.server.cli.users",
    "cmdb.server.cli.poller",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="cmdb", description="Discovery agent and configuration management database"
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug messages")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in COMMAND_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name == name:
                continue
            raise
        module.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    try:
        with terminal_safe():
            try:
                status = int(args.func(args) or 0)
                sys.stdout.flush()  # a closed pipe shows here, not in the interpreter's exit
                return status
            except CliError as exc:
                print(f"cmdb: {exc}", file=sys.stderr)
                return exc.exit_code
    except BrokenPipeError:
        return _reader_left()
    except KeyboardInterrupt:
        return 130


def _reader_left() -> int:
    """``cmdb ci list | head``: the reader closed the pipe. Say nothing (no traceback) and
    point stdout at /dev/null, so the interpreter's last flush cannot fail again; the
    exit status is a shell's for SIGPIPE (128 + 13)."""
    try:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    except (OSError, ValueError):
        pass
    return 141


if __name__ == "__main__":
    sys.exit(main())
