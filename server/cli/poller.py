"""cmdb poller run: a remote SNMP poller for one site (``cmdb.server.poller``)."""

from __future__ import annotations

import asyncio
import json
import os
import tomllib
from pathlib import Path
from typing import Any

from cmdb.server.cli.http import CliError

TOKEN_ENV, TOKEN_FILE_ENV = "CMDB_TOKEN", "CMDB_TOKEN_FILE"


def _config(path: str | None) -> dict[str, Any]:
    if not path:
        return {}
    try:
        return tomllib.loads(Path(path).read_text())
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise CliError(f"cannot read the poller config {path}: {exc}", 2) from exc


def _token(args, config: dict[str, Any]) -> str:
    path = args.token_file or config.get("token_file") or os.environ.get(TOKEN_FILE_ENV)
    if path:
        try:
            text = Path(path).read_text().strip()
        except OSError as exc:
            raise CliError(f"cannot read the token file: {exc}", 2) from exc
        if text:
            return text
    if os.environ.get(TOKEN_ENV):
        return os.environ[TOKEN_ENV]
    raise CliError(f"no token: give --token-file FILE (or {TOKEN_FILE_ENV} / {TOKEN_ENV})", 2)


def _credentials(args, config: dict[str, Any]):
    """Credential profiles the poller holds: ``[[credentials]]`` in the config, or a
    ``--credentials FILE`` (JSON list or TOML with ``[[credentials]]``)."""
    from cmdb.server.scans.credentials import CredentialError, parse_credentials

    items = config.get("credentials")
    if args.credentials:
        text = Path(args.credentials).read_text()
        try:
            items = json.loads(text)
        except ValueError:
            items = tomllib.loads(text).get("credentials")
    try:
        return parse_credentials(items)
    except CredentialError as exc:
        raise CliError(
            f"credentials: {exc} (give [[credentials]] in --config or --credentials FILE)", 2
        ) from exc


def cmd_poller_run(args) -> int:
    from cmdb.server.poller.api import PollerApi, PollerApiError
    from cmdb.server.poller.runner import Poller

    config = _config(args.config)
    site = args.site or config.get("site")
    server = args.server or config.get("server") or os.environ.get("CMDB_SERVER")
    if not site or not server:
        raise CliError("give --site NAME and --server URL (or site/server in --config)", 2)
    if not server.startswith(("http://", "https://")):
        raise CliError(f"--server must start with http:// or https://, not {server!r}", 2)
    cafile = args.cafile or config.get("cafile")
    poller = Poller(
        PollerApi(server, _token(args, config), cafile=cafile),
        site,
        _credentials(args, config),
        concurrency=int(args.concurrency or config.get("concurrency", 64)),
        cafile=cafile,
    )
    interval = float(args.interval or config.get("interval", 30))
    try:
        if args.once:
            runs = asyncio.run(poller.run_once())
            print(
                json.dumps(
                    [{"schedule": r.schedule, "scan_id": r.scan_id, **r.fields()} for r in runs]
                )
            )
            return 0
        asyncio.run(poller.run_forever(interval))
    except PollerApiError as exc:
        raise CliError(f"poller: {exc}", 1) from exc
    return 0


def register(sub) -> None:
    poller = sub.add_parser("poller", help="remote SNMP poller for one site").add_subparsers(
        dest="poller_command", required=True, metavar="COMMAND"
    )
    p = poller.add_parser(
        "run", help="pull the site's schedules, scan here, post device reports (role poller)"
    )
    p.add_argument("--site", help="the site whose schedules this poller runs")
    p.add_argument("--server", help="the CMDB server or load balancer URL (env CMDB_SERVER)")
    p.add_argument(
        "--token-file", help=f"a poller token's file (env {TOKEN_FILE_ENV}, {TOKEN_ENV})"
    )
    p.add_argument(
        "--credentials", help="SNMP credential profiles: JSON list or TOML [[credentials]]"
    )
    p.add_argument("--config", help="TOML: site, server, token_file, interval, [[credentials]]")
    p.add_argument("--interval", type=float, help="seconds between schedule pulls (default 30)")
    p.add_argument("--concurrency", type=int, help="devices probed at once (default 64)")
    p.add_argument("--cafile", help="CA bundle that signs the server's certificate")
    p.add_argument("--once", action="store_true", help="one round, then exit (prints JSON)")
    p.set_defaults(func=cmd_poller_run)
