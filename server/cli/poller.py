"""cmdb poller run: a remote SNMP poller for one site (``cmdb.server.poller``)."""

from __future__ import annotations

import asyncio
import json
import os
import tomllib
from pathlib import Path
from typing import Any

from cmdb.server.cli.core import add_api_options
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
    ``--credentials FILE`` (JSON list or TOML with ``[[credentials]]``); none is fine (the
    poller then scans with the profiles the servers send it sealed)."""
    from cmdb.server.scans.credentials import CredentialError, parse_credentials

    items = config.get("credentials")
    if args.credentials:
        try:
            text = Path(args.credentials).read_text()
        except OSError as exc:
            raise CliError(f"cannot read the credentials file: {exc}", 2) from exc
        try:
            items = json.loads(text)
        except ValueError:
            try:
                items = tomllib.loads(text).get("credentials")
            except tomllib.TOMLDecodeError as exc:
                raise CliError(
                    f"{args.credentials} is neither a JSON list nor TOML [[credentials]]", 2
                ) from exc
    if not items:
        return []
    try:
        return parse_credentials(items)
    except CredentialError as exc:
        raise CliError(
            f"credentials: {exc} (give [[credentials]] in --config or --credentials FILE)", 2
        ) from exc


def state_dir(args, config: dict[str, Any]) -> Path:
    """Where the poller keeps its private key: --state-dir, ``state_dir`` in the config,
    $STATE_DIRECTORY (systemd's StateDirectory=), else ~/.local/state/cmdb-poller."""
    value = (
        args.state_dir
        or config.get("state_dir")
        or (os.environ.get("STATE_DIRECTORY") or "").split(":")[0]
    )
    return Path(value) if value else Path.home() / ".local" / "state" / "cmdb-poller"


def cmd_poller_run(args) -> int:
    from cmdb.server.poller.api import PollerApi, PollerApiError
    from cmdb.server.poller.keys import SealError, load_or_create_key
    from cmdb.server.poller.runner import Poller

    config = _config(args.config)
    site = args.site or config.get("site")
    server = args.server or config.get("server") or os.environ.get("CMDB_SERVER")
    if not site or not server:
        raise CliError("give --site NAME and --server URL (or site/server in --config)", 2)
    if not server.startswith(("http://", "https://")):
        raise CliError(f"--server must start with http:// or https://, not {server!r}", 2)
    cafile = args.cafile or config.get("cafile")
    where = state_dir(args, config)
    try:
        key = load_or_create_key(where)
    except (OSError, SealError) as exc:
        raise CliError(f"the poller's key in {where}: {exc}", 2) from exc
    poller = Poller(
        PollerApi(server, _token(args, config), cafile=cafile),
        site,
        _credentials(args, config),
        concurrency=int(args.concurrency or config.get("concurrency", 64)),
        cafile=cafile,
        key=key,
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


def cmd_poller_keys(args) -> int:
    from cmdb.server.cli.http import ApiClient
    from cmdb.server.cli.output import emit_json, emit_table

    data = ApiClient(args.server, args.token, cafile=args.cafile).get("/api/v1/poller/keys")
    if args.json:
        emit_json(data)
        return 0
    emit_table(
        [
            (k["token_id"], k["token_name"], k["site"], k["fingerprint"], k["registered_at"])
            for k in data["items"]
        ],
        ("token", "name", "site", "key", "registered"),
    )
    return 0


def cmd_poller_forget_key(args) -> int:
    from cmdb.server.cli.http import ApiClient

    ApiClient(args.server, args.token, cafile=args.cafile).delete(
        f"/api/v1/poller/keys/{args.token_id}"
    )
    print(f"the key of poller token {args.token_id} is forgotten: its next start registers one")
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
    p.add_argument(
        "--state-dir",
        help="where the poller keeps its private key (default $STATE_DIRECTORY, else "
        "~/.local/state/cmdb-poller)",
    )
    p.add_argument("--once", action="store_true", help="one round, then exit (prints JSON)")
    p.set_defaults(func=cmd_poller_run)

    p = poller.add_parser("keys", help="the public keys pollers registered (admin token)")
    add_api_options(p)
    p.set_defaults(func=cmd_poller_keys)
    p = poller.add_parser(
        "forget-key", help="remove the key registered on a poller token (admin token)"
    )
    add_api_options(p)
    p.add_argument("token_id", type=int, help="the poller token's id (cmdb token list)")
    p.set_defaults(func=cmd_poller_forget_key)
