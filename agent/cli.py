"""The agent's own command: ``cmdb-agent collect | run`` (also ``python -m cmdb.agent``).

This is the agent's whole command path, so it imports only what collection and sending
need: the standard library, ``cmdb.collectors.host`` (psutil, netifaces), ``cmdb.collectors.model``
and ``agent.*``. No server code, no aiohttp, neo4j or pysnmp (a test checks
``sys.modules`` after a run). The server's ``cmdb agent …`` commands call the same
functions, so both spellings behave alike.

Exit status of ``run --once``: 0 sent, 2 usage, 3 kept in the spool for later, 4 sent but
some report was set aside (see the spool's rejected/ and corrupt/).
"""

from __future__ import annotations

import os
import sys

# Collection is timed against other agents and runs on every host each hour: its path
# imports nothing it does not use (json, logging, pathlib, urllib, http, ssl are imported
# by the functions that need them), and `typing` is for the type checker only.
TYPE_CHECKING = False
if TYPE_CHECKING:
    import argparse
    from pathlib import Path
    from typing import Any

EXIT_USAGE = 2
EXIT_SPOOLED = 3
EXIT_SET_ASIDE = 4


class UsageError(ValueError):
    """A setting the agent cannot run with; the message says what to give instead."""


def server_url_problem(url: str, where: str = "--server") -> str | None:
    """Why ``url`` cannot be a server address, or None when it can.

    ``127.0.0.1:8080`` (no scheme) is the common slip: urllib calls it an "unknown url
    type"; this names the fix (``http://127.0.0.1:8080``)."""
    from urllib.parse import urlsplit

    text = url.strip()
    if "://" not in text:
        return (
            f"{where} {text!r} has no scheme: use http://{text} (or https://{text} "
            "when the server has TLS)"
        )
    parts = urlsplit(text)
    if parts.scheme not in ("http", "https"):
        return f"{where} {text!r}: the scheme must be http:// or https://, not {parts.scheme}://"
    if not parts.hostname:
        return f"{where} {text!r} names no host: use http://HOST:PORT"
    try:
        parts.port  # noqa: B018 - raises on a port that is not a number
    except ValueError:
        return f"{where} {text!r}: the port is not a number from 1 to 65535"
    return None


def default_spool_dir() -> Path:
    """``CMDB_SPOOL_DIR``; else /var/spool/cmdb-agent for root, ~/.cache/… for others."""
    from pathlib import Path

    if os.environ.get("CMDB_SPOOL_DIR"):
        return Path(os.environ["CMDB_SPOOL_DIR"])
    if os.geteuid() == 0:
        return Path("/var/spool/cmdb-agent")
    return Path.home() / ".cache" / "cmdb-agent" / "spool"


def collect(sections: str | None, compact: bool) -> int:
    """Print this host's report as JSON (stdout)."""
    from cmdb.collectors.host import collect_report

    try:
        report = collect_report(sections.split(",") if sections else None)
    except ValueError as exc:
        raise UsageError(str(exc)) from exc
    sys.stdout.write(report.dumps(indent=None if compact else 2))
    sys.stdout.write("\n")
    return 0


def _host_text(answer: dict[str, Any], system: dict[str, Any]) -> str:
    """``, host db1 applied (new CI)`` from the server's answer (``status``, ``created``,
    ``ci_id``) and the report's ``system`` section (``hostname``); the id only when the
    name is not known (collection failed and a spooled report went)."""
    if not answer:
        return ""
    name = system.get("hostname") or f"CI {answer.get('ci_id')}"
    status = answer.get("status") or "sent"
    new = " (new CI)" if answer.get("created") else ""
    return f", host {name} {status}{new}"


def run(
    server: str | None,
    token_file: str | None,
    token: str | None,
    spool_dir: str | None,
    state_dir: str | None,
    once: bool,
    interval: float,
) -> int:
    """Collect and send: one collection (``once``) or forever every ``interval`` seconds."""
    import logging
    from pathlib import Path

    from cmdb.agent.runner import run_forever, run_once
    from cmdb.agent.token import TokenError, token_source

    if not logging.getLogger().handlers:
        logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    where = "--server" if server else "CMDB_SERVER"
    server = server or os.environ.get("CMDB_SERVER")
    if not server:
        raise UsageError("the agent needs --server URL (or CMDB_SERVER)")
    problem = server_url_problem(server, where)
    if problem:
        raise UsageError(problem)
    try:
        source = token_source(token_file, token)
    except TokenError as exc:
        raise UsageError(str(exc)) from exc
    spool = Path(spool_dir) if spool_dir else default_spool_dir()
    state_dir = state_dir or os.environ.get("CMDB_STATE_DIR")
    if not once:
        run_forever(server, source, spool, interval=interval, state_dir=state_dir)
        return 0
    collected: dict[str, Any] = {}

    def collect_and_remember() -> dict[str, Any]:
        # the server's answer names the CI only by id: keep the host's name to print
        from cmdb.collectors.host import collect_report

        report = collect_report().to_json()
        collected.update(report.get("sections", {}).get("system") or {})
        return report

    outcome = run_once(server, source, spool, collect=collect_and_remember, state_dir=state_dir)
    aside = f", {outcome.set_aside} set aside" if outcome.set_aside else ""
    if outcome.ok:
        body = (outcome.last.body if outcome.last else None) or {}
        print(f"report sent: {outcome.sent} acknowledged{aside}{_host_text(body, collected)}")
        for reason in outcome.reasons:
            print(f"cmdb agent: set aside: {reason}", file=sys.stderr)
        return EXIT_SET_ASIDE if outcome.set_aside else 0
    message = outcome.last.message if outcome.last else "not sent"
    lost = " (the new report could not be spooled and was not sent)" if outcome.lost else ""
    print(
        f"cmdb agent: {outcome.sent} acknowledged{aside}, {outcome.pending} report(s) "
        f"kept in the spool{lost}: {message}",
        file=sys.stderr,
    )
    return EXIT_SPOOLED


def add_collect_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--sections", help="comma-separated sections (default: all)")
    p.add_argument("--compact", action="store_true", help="one line of JSON")


def add_run_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--once", action="store_true", help="one collection, then exit")
    p.add_argument("--server", help="server URL, http:// or https:// (env CMDB_SERVER)")
    p.add_argument(
        "--token-file",
        help="file holding this host's agent token, read before every send "
        "(env CMDB_TOKEN_FILE; or put the token itself in CMDB_TOKEN)",
    )
    p.add_argument(
        "--token",
        help="the token itself: discouraged, every user of the host sees it in ps; "
        "use --token-file or CMDB_TOKEN",
    )
    p.add_argument(
        "--spool-dir",
        help="where unsent reports wait (env CMDB_SPOOL_DIR; default /var/spool/cmdb-agent "
        "for root, ~/.cache/cmdb-agent/spool for others)",
    )
    p.add_argument(
        "--state-dir",
        help="sequence and per-server delta state (env CMDB_STATE_DIR; default SPOOL_DIR/state)",
    )
    p.add_argument(
        "--interval",
        type=float,
        default=3600.0,
        help="seconds between collections without --once (default 3600)",
    )
    add_tls_arguments(p)  # --cafile, --cert, --key


def add_tls_arguments(parser: argparse.ArgumentParser) -> None:
    """``--cafile``, ``--cert``, ``--key`` (read by ``cmdb.agent.client.configure_tls``).

    Here, not in the client: every command builds the whole parser, and ``collect`` must
    not load http.client and ssl (6 MiB of RSS) to learn these three names."""
    parser.add_argument(
        "--cafile",
        help="CA bundle (PEM) that signs the server's certificate, for a private CA "
        "(env CMDB_CAFILE; default: the system's trust store)",
    )
    parser.add_argument(
        "--cert",
        help="this agent's client certificate (PEM), for a server that asks for one "
        "(mutual TLS; env CMDB_CLIENT_CERT)",
    )
    parser.add_argument(
        "--key", help="the client certificate's private key (PEM; env CMDB_CLIENT_KEY)"
    )


RUN_EPILOG = (
    "exit status with --once: 0 sent, 3 kept in the spool for later, "
    "4 sent but some report was set aside (see the spool's rejected/ and corrupt/)"
)


def dispatch(args: argparse.Namespace) -> int:
    """Run the parsed ``collect`` or ``run`` command (shared with ``cmdb agent``)."""
    if args.agent_command == "collect":
        return collect(args.sections, args.compact)
    from cmdb.agent.client import configure_tls

    configure_tls(args.cafile, args.cert, args.key)  # flags win over CMDB_CAFILE etc.
    return run(
        args.server,
        args.token_file,
        args.token,
        args.spool_dir,
        args.state_dir,
        args.once,
        args.interval,
    )


def build_parser(prog: str = "cmdb-agent") -> argparse.ArgumentParser:
    import argparse

    parser = argparse.ArgumentParser(
        prog=prog, description="cmdb host agent: collect this host's facts and send them"
    )
    sub = parser.add_subparsers(dest="agent_command", required=True, metavar="COMMAND")
    add_collect_arguments(sub.add_parser("collect", help="print this host's report as JSON"))
    add_run_arguments(sub.add_parser("run", help="collect and send reports", epilog=RUN_EPILOG))
    return parser


def _plain_collect(argv: list[str]) -> tuple[str | None, bool] | None:
    """(sections, compact) of a plain ``collect [--compact] [--sections LIST]`` (what the
    timer and the benchmarks run), or None for any other command line. argparse parses
    these the same way, but importing it and building both commands' parsers is a few
    milliseconds of a collection that takes well under a tenth of a second; anything
    else (help, abbreviations, errors, ``run``) goes through argparse as before."""
    if not argv or argv[0] != "collect":
        return None
    compact, sections = False, None
    rest = argv[1:]
    while rest:
        arg = rest.pop(0)
        if arg == "--compact" and not compact:
            compact = True
        elif arg == "--sections" and sections is None and rest and not rest[0].startswith("-"):
            sections = rest.pop(0)
        else:
            return None
    return sections, compact


def main(argv: list[str] | None = None) -> int:
    plain = _plain_collect(sys.argv[1:] if argv is None else argv)
    args = build_parser().parse_args(argv) if plain is None else None
    try:
        status = collect(*plain) if plain is not None else dispatch(args)
        sys.stdout.flush()  # a closed pipe shows here, not in the interpreter's exit
        return status
    except UsageError as exc:
        print(f"cmdb-agent: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except BrokenPipeError:
        # `cmdb-agent collect | head`: the reader left; say nothing more
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141
    except KeyboardInterrupt:
        return 130
