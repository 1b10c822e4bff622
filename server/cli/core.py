"""cmdb server | token | agent | ci"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from server.cli.http import ApiClient, CliError
from server.cli.output import emit_json, emit_table
from server.control import ROLES


def add_api_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--server", help="server URL (env CMDB_SERVER)")
    parser.add_argument("--token", help="API token (env CMDB_TOKEN)")
    parser.add_argument("--json", action="store_true", help="print JSON for machines")


def _data_dir(args) -> Path:
    value = args.data_dir or os.environ.get("CMDB_DATA_DIR")
    if not value:
        raise CliError("no data directory given: use --data-dir DIR or set CMDB_DATA_DIR", 2)
    return Path(value)


# ---------------------------------------------------------------- server
def cmd_server(args) -> int:
    from server.app import run_server
    from server.config import ConfigError, load_settings

    try:
        settings = load_settings(
            args.config,
            overrides={"listen": args.listen, "data_dir": args.data_dir, "store": args.store},
        )
    except ConfigError as exc:
        raise CliError(f"configuration: {exc}", 2) from exc
    from server.private_files import prepare_data_dir, server_databases

    # everything the server writes (databases, their -wal/-shm, exports) is its own
    os.umask(0o077)
    try:
        prepare_data_dir(settings.data_dir, server_databases(settings.store))
    except OSError as exc:
        raise CliError(f"cannot prepare the data directory {settings.data_dir}: {exc}", 2) from exc
    return run_server(settings)


# ---------------------------------------------------------------- tokens
def cmd_token_create(args) -> int:
    from server.control import ControlDB

    control = ControlDB(_data_dir(args) / "control.db")
    try:
        token_id, token = control.create_token(args.role, args.name)
    except ValueError as exc:
        raise CliError(str(exc), 2) from exc
    finally:
        control.close()
    if args.json:
        emit_json({"id": token_id, "role": args.role, "token": token})
    else:
        print(token)
    return 0


def cmd_token_list(args) -> int:
    from server.control import ControlDB

    control = ControlDB(_data_dir(args) / "control.db")
    items = control.list_tokens()
    control.close()
    if args.json:
        emit_json({"items": items, "total": len(items)})
    else:
        emit_table(
            [
                (t["id"], t["name"], t["role"], t["created_at"], t["revoked_at"] or "")
                for t in items
            ],
            ("id", "name", "role", "created", "revoked"),
        )
    return 0


# ---------------------------------------------------------------- agent
def _spool_dir(args) -> Path:
    if args.spool_dir:
        return Path(args.spool_dir)
    if os.environ.get("CMDB_SPOOL_DIR"):
        return Path(os.environ["CMDB_SPOOL_DIR"])
    if os.geteuid() == 0:
        return Path("/var/spool/cmdb-agent")
    return Path.home() / ".cache" / "cmdb-agent" / "spool"


def cmd_agent_collect(args) -> int:
    from collectors.host import collect_report

    sections = args.sections.split(",") if args.sections else None
    report = collect_report(sections).to_json()
    json.dump(report, sys.stdout, indent=None if args.compact else 2)
    sys.stdout.write("\n")
    return 0


def cmd_agent_run(args) -> int:
    import logging

    from agent.runner import run_forever, run_once
    from agent.token import TokenError, token_source

    if not logging.getLogger().handlers:
        logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    server = args.server or os.environ.get("CMDB_SERVER")
    if not server:
        raise CliError("the agent needs --server URL (or CMDB_SERVER)", 2)
    try:
        token = token_source(args.token_file, args.token)
    except TokenError as exc:
        raise CliError(f"cmdb agent: {exc}", 2) from exc
    state_dir = args.state_dir or os.environ.get("CMDB_STATE_DIR")
    if args.once:
        outcome = run_once(server, token, _spool_dir(args), state_dir=state_dir)
        aside = f", {outcome.set_aside} set aside" if outcome.set_aside else ""
        if outcome.ok:
            body = outcome.last.body if outcome.last else {}
            print(
                f"report sent: {outcome.sent} acknowledged{aside}"
                + (f", host CI {body.get('ci_id')} ({body.get('status')})" if body else "")
            )
            for reason in outcome.reasons:
                print(f"cmdb agent: set aside: {reason}", file=sys.stderr)
            return 4 if outcome.set_aside else 0
        message = outcome.last.message if outcome.last else "not sent"
        lost = " (the new report could not be spooled and was not sent)" if outcome.lost else ""
        print(
            f"cmdb agent: {outcome.sent} acknowledged{aside}, {outcome.pending} report(s) "
            f"kept in the spool{lost}: {message}",
            file=sys.stderr,
        )
        return 3
    run_forever(server, token, _spool_dir(args), interval=args.interval, state_dir=state_dir)
    return 0


# ---------------------------------------------------------------- ci queries
def cmd_ci_list(args) -> int:
    client = ApiClient(args.server, args.token)
    data = client.get(
        "/api/v1/cis",
        **{"class": args.cls, "q": args.q, "status": args.status},
        limit=args.limit,
        offset=args.offset,
    )
    if args.json:
        emit_json(data)
        return 0
    emit_table(
        [(c["id"], c["class"], c["name"], c["status"], c["last_seen"]) for c in data["items"]],
        ("id", "class", "name", "status", "last seen"),
        f"{len(data['items'])} of {data['total']}",
    )
    return 0


def cmd_ci_show(args) -> int:
    client = ApiClient(args.server, args.token)
    data = client.get(f"/api/v1/cis/{args.id}")
    if args.json:
        emit_json(data)
        return 0
    print(f"{data['class']} {data['name']}  ({data['id']})")
    print(
        f"status {data['status']}, first seen {data['first_seen']}, last seen {data['last_seen']}"
    )
    print(f"sources: {', '.join(data.get('sources', []))}")
    for key, value in sorted(data["attributes"].items()):
        if isinstance(value, list | dict):
            value = json.dumps(value)
        print(f"  {key}: {value if len(str(value)) < 100 else str(value)[:99] + '…'}")
    rels = data["relationships"]
    print(f"\n{len(rels)} relationships")
    emit_table(
        [
            (
                r["type"],
                "->" if r["direction"] == "out" else "<-",
                r["other"]["class"],
                r["other"]["name"],
                r["other"]["id"],
            )
            for r in rels
        ],
        ("type", "dir", "class", "name", "id"),
    )
    return 0


def cmd_ci_history(args) -> int:
    client = ApiClient(args.server, args.token)
    data = client.get(f"/api/v1/cis/{args.id}/history", limit=args.limit, offset=args.offset)
    if args.json:
        emit_json(data)
        return 0
    emit_table(
        [
            (
                h["at"],
                h["source"],
                h["kind"],
                h["field"],
                json.dumps(h["old"]),
                json.dumps(h["new"]),
            )
            for h in data["items"]
        ],
        ("at", "source", "kind", "field", "old", "new"),
        f"{len(data['items'])} of {data['total']}",
    )
    return 0


def cmd_ci_deps(args) -> int:
    client = ApiClient(args.server, args.token)
    data = client.get(
        f"/api/v1/cis/{args.id}/dependencies", direction=args.direction, depth=args.depth
    )
    if args.json:
        emit_json(data)
        return 0
    emit_table(
        [(n["depth"], n["class"], n["name"], n["id"]) for n in data["nodes"]],
        ("depth", "class", "name", "id"),
        f"{len(data['nodes'])} CIs, {len(data['edges'])} relationships ({data['direction']})",
    )
    return 0


# ---------------------------------------------------------------- wiring
def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("server", help="run the CMDB server")
    p.add_argument("--listen", help="HOST:PORT (env CMDB_LISTEN; default 127.0.0.1:8080)")
    p.add_argument("--data-dir", help="where the server keeps its data (env CMDB_DATA_DIR)")
    p.add_argument("--config", help="TOML config file (env CMDB_CONFIG)")
    p.add_argument("--store", choices=("sqlite", "neo4j"), help="graph store (env CMDB_STORE)")
    p.set_defaults(func=cmd_server)

    tok = sub.add_parser("token", help="manage API tokens").add_subparsers(
        dest="token_command", required=True
    )
    p = tok.add_parser("create", help="create a token; it is printed once, only its hash is kept")
    p.add_argument(
        "--role",
        required=True,
        choices=ROLES,
        help="agent: one host's reports; poller: SNMP reports; reader; editor; admin",
    )
    p.add_argument("--name")
    p.add_argument("--data-dir", help="the server's data directory (env CMDB_DATA_DIR)")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_token_create)
    p = tok.add_parser("list", help="list tokens (never their secrets)")
    p.add_argument("--data-dir")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_token_list)

    ag = sub.add_parser("agent", help="the host agent").add_subparsers(
        dest="agent_command", required=True
    )
    p = ag.add_parser("collect", help="print this host's report as JSON")
    p.add_argument("--sections", help="comma-separated sections (default: all)")
    p.add_argument("--compact", action="store_true")
    p.set_defaults(func=cmd_agent_collect)
    p = ag.add_parser(
        "run",
        help="collect and send reports",
        epilog="exit status with --once: 0 sent, 3 kept in the spool for later, "
        "4 sent but some report was set aside (see the spool's rejected/ and corrupt/)",
    )
    p.add_argument("--once", action="store_true", help="one collection, then exit")
    p.add_argument("--server", help="server URL (env CMDB_SERVER)")
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
    p.add_argument("--spool-dir", help="where unsent reports wait (env CMDB_SPOOL_DIR)")
    p.add_argument(
        "--state-dir",
        help="sequence and per-server delta state (env CMDB_STATE_DIR; default SPOOL_DIR/state)",
    )
    p.add_argument("--interval", type=float, default=3600.0, help="seconds between collections")
    p.set_defaults(func=cmd_agent_run)

    ci = sub.add_parser("ci", help="query configuration items").add_subparsers(
        dest="ci_command", required=True
    )
    p = ci.add_parser("list")
    add_api_options(p)
    p.add_argument("--class", dest="cls")
    p.add_argument("--q", help="name contains")
    p.add_argument("--status")
    p.add_argument("--limit", type=int, default=50)
    p.add_argument("--offset", type=int, default=0)
    p.set_defaults(func=cmd_ci_list)
    p = ci.add_parser("show")
    add_api_options(p)
    p.add_argument("id")
    p.set_defaults(func=cmd_ci_show)
    p = ci.add_parser("history")
    add_api_options(p)
    p.add_argument("id")
    p.add_argument("--limit", type=int, default=50)
    p.add_argument("--offset", type=int, default=0)
    p.set_defaults(func=cmd_ci_history)
    p = ci.add_parser("deps")
    add_api_options(p)
    p.add_argument("id")
    p.add_argument("--direction", choices=("up", "down", "both"), default="down")
    p.add_argument("--depth", type=int, default=3)
    p.set_defaults(func=cmd_ci_deps)
