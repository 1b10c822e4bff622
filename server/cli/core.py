"""cmdb server | token | agent | ci, and what every query command shares.

Finding a CI from what people type (for every command module)::

    from cmdb.server.cli.core import resolve_ci, resolve_ci_id

    resolve_ci(client: ApiClient, ref: str, cls: str | None = None) -> dict
    resolve_ci_id(client: ApiClient, ref: str, cls: str | None = None) -> str

``ref`` is an id (UUID), a name (case-insensitive; a host's or device's short name
matches its FQDN), an IP address (the host or device holding it; with
``cls="IPAddress"`` the address CI itself), or a serial number (hosts, network devices,
assets). ``cls`` narrows the search to one CI class: ``"Service"`` takes a service name,
``"Asset"`` an asset tag or serial, ``"Change"`` a change number (``CHG-…``). An
endpoint is ``HOST:PORT`` or ``HOST:PROTOCOL/PORT`` (``db1:5432``, ``db1:udp/53``,
``[2001:db8::5]:443``), HOST being any reference to its host. ``CLASS:REF`` narrows
any of these to a class as ``cls`` does (``Host:legacy01``, ``Software:perl``), as
declared relationships write references. An address that never
identifies a holder (loopback, link-local, unspecified, multicast, broadcast:
``cmdb.server.reconcile.addresses.not_unique_reason``) is refused. The answer
is the API's CI list item (``{"id", "class", "name", "status", "attributes", …}``).
No match raises ``CliError`` (exit 1) saying what was searched; a live CI is chosen over
retired namesakes (as the API's references choose); several live ones raise
``CliError`` listing the candidates (class, name, status, id, up to 10) and how to pick
one (the id, or ``--class``). Only REST reads: ``GET /api/v1/cis/{id}``,
``GET /api/v1/cis?q=&class=`` (paged), and for an address the address CI's relationships.
"""

from __future__ import annotations

import argparse
import ipaddress
import os
import re
from pathlib import Path
from typing import Any

from cmdb.server.cli.http import ApiClient, CliError
from cmdb.server.cli.output import counted, emit_json, emit_table, emit_text, inline, table
from cmdb.server.control import ROLES

# the server's page-size limit (cmdb.server.config.Settings.max_page_size)
PAGE = 1000
# CIs read at most when a name, address or serial has to be matched by reading lists
SCAN_LIMIT = 20_000
SHOW_CANDIDATES = 10
_UUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
_SERIAL = re.compile(r"^(?=.*\d)[A-Za-z0-9\-_/.]{4,64}$")
SERIAL_CLASSES = ("Host", "NetworkDevice", "Asset")
ADDRESS_ATTRIBUTES = ("management_ip", "identity_address")
SHORT_NAME_CLASSES = ("Host", "NetworkDevice")
# an endpoint as people write it: HOST:PORT, HOST:PROTOCOL/PORT, [IPv6]:PORT
_ENDPOINT = re.compile(
    r"^(?:\[(?P<v6>[0-9A-Fa-f:.%\w]+)\]|(?P<host>[^\s:/\[\]]+)):"
    r"(?:(?P<protocol>tcp|udp|sctp)/)?(?P<port>\d{1,5})$",
    re.IGNORECASE,
)
_ENDPOINT_NAME = re.compile(r"^[a-z0-9]+/(?P<port>\d{1,5})(?: |$)")
# a reference narrowed by its class: CLASS:REF (Host:db1, Software:perl)
_CLASS_PREFIX = re.compile(r"^(?P<cls>[A-Z][A-Za-z]+):(?P<rest>[^:].*)$")


def add_api_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--server", help="server URL, http:// or https:// (env CMDB_SERVER)")
    parser.add_argument("--token", help="API token (env CMDB_TOKEN)")
    parser.add_argument("--json", action="store_true", help="print JSON for machines")
    parser.add_argument("--cafile", help="CA bundle of a private CA (env CMDB_CAFILE)")


def _data_dir(args) -> Path:
    value = args.data_dir or os.environ.get("CMDB_DATA_DIR")
    if not value:
        raise CliError("no data directory given: use --data-dir DIR or set CMDB_DATA_DIR", 2)
    return Path(value)


# ---------------------------------------------------------------- finding a CI
def _list_all(client: ApiClient, budget: int = SCAN_LIMIT, **query: Any) -> tuple[list, bool]:
    """Every CI the list query answers, up to ``budget``; (items, cut short)."""
    items: list[dict[str, Any]] = []
    offset = 0
    while True:
        data = client.get("/api/v1/cis", limit=PAGE, offset=offset, **query)
        items.extend(data["items"])
        offset += len(data["items"])
        if not data["items"] or offset >= data["total"]:
            return items, False
        if offset >= budget:
            return items, True


def _holders_of_address(client: ApiClient, address_ci: dict[str, Any]) -> list[dict[str, Any]]:
    """The hosts or devices whose interfaces hold this IPAddress CI (open relationships)."""
    holders: dict[str, dict[str, Any]] = {}
    ip = client.get(f"/api/v1/cis/{address_ci['id']}")
    for rel in ip["relationships"]:
        if rel["type"] != "HAS_IP" or rel["direction"] != "in":
            continue
        iface = client.get(f"/api/v1/cis/{rel['other']['id']}")
        for up in iface["relationships"]:
            if up["type"] == "HAS_INTERFACE" and up["direction"] == "in":
                holders[up["other"]["id"]] = up["other"]
    return [client.get(f"/api/v1/cis/{i}") for i in sorted(holders)]


def _by_name(client: ApiClient, ref: str, cls: str | None) -> list[dict[str, Any]]:
    """Exact names (case-insensitive); else a host's or device's FQDN or short name."""
    found, _ = _list_all(client, q=ref, **{"class": cls})
    want = ref.casefold()
    exact = [c for c in found if (c["name"] or "").casefold() == want]
    if exact:
        return exact
    if _ENDPOINT_NAME.match(want):
        # "tcp/8080" names the endpoints called "tcp/8080 (cmdb)" (its process)
        return [
            c
            for c in found
            if c["class"] == "Endpoint" and (c["name"] or "").casefold().startswith(want + " (")
        ]
    short = want.split(".", 1)[0]
    if short != want:
        # "db1.example.net" names the host called "db1" whose FQDN that is
        found, _ = _list_all(client, q=short, **{"class": cls})
        return [
            c
            for c in found
            if c["class"] in SHORT_NAME_CLASSES
            and str((c.get("attributes") or {}).get("fqdn") or "").casefold() == want
        ]
    # "db1" names the device whose name is its FQDN "db1.example.net"
    return [
        c
        for c in found
        if c["class"] in SHORT_NAME_CLASSES
        and (c["name"] or "").casefold().split(".", 1)[0] == want
    ]


def _by_attributes(
    client: ApiClient, ref: str, classes: tuple[str, ...], keys: tuple[str, ...]
) -> tuple[list[dict[str, Any]], bool]:
    """CIs of ``classes`` whose attribute ``keys`` hold ``ref`` (a bounded read)."""
    hits, cut = [], False
    want = ref.casefold()
    for cls in classes:
        items, short = _list_all(client, **{"class": cls})
        cut = cut or short
        for ci in items:
            attrs = ci.get("attributes") or {}
            if any(str(attrs.get(k) or "").casefold() == want for k in keys):
                hits.append(ci)
    return hits, cut


def _pick(
    ref: str, hits: list[dict[str, Any]], what: str, client: ApiClient | None = None
) -> dict[str, Any]:
    """The one CI of ``hits``, else ``CliError`` listing the candidates (up to 10), with the
    host or device of endpoints and interfaces (read with ``client``) so they can be told
    apart."""
    unique = list({c["id"]: c for c in hits}.values())
    if len(unique) == 1:
        return unique[0]
    live = [c for c in unique if c.get("status") != "retired"]
    if len(live) == 1:  # a retired namesake is history, as the API's references judge it
        return live[0]
    shown = unique[:SHOW_CANDIDATES]
    more = f"\n  … and {len(unique) - len(shown)} more" if len(unique) > len(shown) else ""
    holders = _holder_names(client, shown) if client is not None else {}
    if holders:
        rows = table(
            [
                (c["class"], c["name"], holders.get(c["id"], ""), c["status"], c["id"])
                for c in shown
            ],
            ("class", "name", "on", "status", "id"),
        )
    else:
        rows = table(
            [(c["class"], c["name"], c["status"], c["id"]) for c in shown],
            ("class", "name", "status", "id"),
        )
    raise CliError(
        f"{ref!r} is ambiguous: {len(unique)} CIs have that {what}:\n"
        + "\n".join("  " + line for line in rows.splitlines())
        + more
        + "\ngive the id instead (an endpoint as HOST:PORT; or narrow it with --class where "
        "the command has it)"
    )


def _holder_names(client: ApiClient, cis: list[dict[str, Any]]) -> dict[str, str]:
    """CI id -> the name of the host of an endpoint or the device of an interface (its
    ``host`` or ``parent`` attribute), one read per holder."""
    holder_of = {
        c["id"]: str(
            (c.get("attributes") or {}).get("host" if c["class"] == "Endpoint" else "parent")
        )
        for c in cis
        if c["class"] in ("Endpoint", "Interface")
    }
    names: dict[str, str] = {}
    for holder in sorted(set(holder_of.values()) - {"None"}):
        try:
            names[holder] = client.get(f"/api/v1/cis/{holder}")["name"] or holder
        except CliError:
            names[holder] = holder  # gone meanwhile: its id still tells them apart
    return {ci: names[h] for ci, h in holder_of.items() if h in names}


def _by_address(client: ApiClient, text: str, cls: str | None) -> dict[str, Any] | None:
    """The host or device holding the IPAddress CI ``text``, else the device whose
    management or identity address it is; None when nothing holds it."""
    ips, _ = _list_all(client, q=text, **{"class": "IPAddress"})
    holders = [h for ip in ips if ip["name"] == text for h in _holders_of_address(client, ip)]
    if not holders:
        classes = (cls,) if cls else SHORT_NAME_CLASSES
        holders, _ = _by_attributes(client, text, classes, ADDRESS_ATTRIBUTES)
    holders = [h for h in holders if cls is None or h["class"] == cls]
    for h in holders:
        h.pop("relationships", None)
    return _pick(text, holders, "address", client) if holders else None


def resolve_ci(client: ApiClient, ref: str, cls: str | None = None) -> dict[str, Any]:
    """The one CI ``ref`` names (id, name, IP address or serial, or any of them after
    ``CLASS:``); see the module doc. A live CI is chosen over retired namesakes."""
    ref = ref.strip()
    if not ref:
        raise CliError("an empty CI reference: give an id, a name, an address or a serial", 2)
    prefixed = _CLASS_PREFIX.match(ref)
    if cls is None and prefixed is not None and not _ENDPOINT.match(ref):
        from cmdb.graph.schema import CLASSES  # only this form needs the class names

        if prefixed["cls"] in CLASSES:  # Host:legacy01, as relationship references write it
            return resolve_ci(client, prefixed["rest"], prefixed["cls"])
    kind = cls or "CI"
    if _UUID.match(ref):
        try:
            ci = client.get(f"/api/v1/cis/{ref.lower()}")
        except CliError as exc:
            if exc.status != 404:
                raise
        else:
            if cls and ci["class"] != cls:
                raise CliError(f"{ref} is a {ci['class']}, not a {cls}")
            ci.pop("relationships", None)
            return ci
    try:
        address = ipaddress.ip_address(ref.split("%", 1)[0])
    except ValueError:
        address = None
    if address is None and cls in (None, "Endpoint"):
        endpoint = _ENDPOINT.match(ref)
        if endpoint is not None:
            try:
                return _endpoint(client, ref, endpoint)
            except CliError as exc:
                named = _by_name(client, ref, cls)  # a CI whose name has a colon
                if not named:
                    raise exc from None
                return _pick(ref, named, "name", client)
    if address is not None and cls != "IPAddress":
        # imported here: the rule's module loads reconciliation, which no other CLI path needs
        from cmdb.server.reconcile.addresses import no_holder_words, not_unique_reason

        reason = not_unique_reason(address)
        if reason is not None:
            raise CliError(
                f"{ref} is {no_holder_words(reason)}: it names no one host; give the host's "
                "name, a global address or its id"
            )
        # an address names the host or device holding it, not the address CI
        holder = _by_address(client, str(address), cls)
        if holder is not None:
            return holder
    hits = _by_name(client, ref, cls)
    if hits:
        return _pick(ref, hits, "address" if address is not None else "name", client)
    if address is None and _SERIAL.match(ref) and (cls is None or cls in SERIAL_CLASSES):
        classes = (cls,) if cls else SERIAL_CLASSES
        hits, cut = _by_attributes(client, ref, classes, ("serial",))
        if hits:
            return _pick(ref, hits, "serial number", client)
        if cut:
            raise CliError(
                f"no {kind} named {ref!r}; serial numbers were searched in the first "
                f"{SCAN_LIMIT} CIs of each class only: give the id"
            )
    searched = (
        "id, name"
        + (", address" if address else "")
        + (", serial" if address is None and _SERIAL.match(ref) else "")
    )
    raise CliError(f"no {kind} matches {ref!r} (searched by {searched})")


def positive_int(text: str) -> int:
    """An argparse type: a whole number of at least 1."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{value} is less than 1")
    return value


def _endpoint(client: ApiClient, ref: str, match: re.Match[str]) -> dict[str, Any]:
    """The endpoint ``HOST:[PROTOCOL/]PORT`` names: among the host's listening endpoints
    (its open LISTENS_ON relationships), the one on that port (and protocol)."""
    port = int(match["port"])
    if not 0 < port < 65536:
        raise CliError(f"{ref!r}: {port} is not a port number (1-65535)", 2)
    protocol = (match["protocol"] or "").lower() or None
    host = resolve_ci(client, match["v6"] or match["host"])
    listening = [
        rel["other"]
        for rel in client.get(f"/api/v1/cis/{host['id']}")["relationships"]
        if rel["type"] == "LISTENS_ON" and rel["direction"] == "out"
    ]
    # an endpoint is named "tcp/5432 (postgres)" (cmdb.server.reconcile.host): read only
    # those on the port, and any named otherwise
    maybe = [
        e["id"]
        for e in listening
        if (named := _ENDPOINT_NAME.match(e.get("name") or "")) is None
        or int(named["port"]) == port
    ]
    hits = []
    for endpoint_id in maybe:
        ci = client.get(f"/api/v1/cis/{endpoint_id}")
        attrs = ci.get("attributes") or {}
        if str(attrs.get("port")) == str(port) and protocol in (None, attrs.get("protocol")):
            ci.pop("relationships", None)
            hits.append(ci)
    if not hits:
        on = f"{protocol}/{port}" if protocol else f"port {port}"
        raise CliError(
            f"{host['class']} {host['name']} has no listening endpoint on {on} "
            f"({len(listening)} endpoints; `cmdb ci show {host['name']}` lists them)"
        )
    return _pick(ref, hits, "host and port (add the protocol: HOST:tcp/PORT)", client)


def resolve_ci_id(client: ApiClient, ref: str, cls: str | None = None) -> str:
    """The id of the one CI ``ref`` names (see ``resolve_ci``)."""
    return resolve_ci(client, ref, cls)["id"]


# ---------------------------------------------------------------- server
def cmd_server(args) -> int:
    from cmdb.server.app import run_server
    from cmdb.server.config import ConfigError, load_settings

    try:
        settings = load_settings(
            args.config,
            overrides={
                "listen": args.listen,
                "data_dir": args.data_dir,
                "store": args.store,
                "tls_cert": args.tls_cert,
                "tls_key": args.tls_key,
                "tls_client_ca": args.tls_client_ca,
            },
        )
    except ConfigError as exc:
        raise CliError(f"configuration: {exc}", 2) from exc
    from cmdb.server.private_files import prepare_data_dir, server_databases

    # everything the server writes (databases, their -wal/-shm, exports) is its own
    os.umask(0o077)
    try:
        prepare_data_dir(settings.data_dir, server_databases(settings.store))
    except OSError as exc:
        raise CliError(f"cannot prepare the data directory {settings.data_dir}: {exc}", 2) from exc
    return run_server(settings)


# ---------------------------------------------------------------- tokens
def _token_state(args):
    """Where tokens live: the server's shared state, from its config (CMDB_CONFIG) and
    environment (CMDB_STORE=neo4j and CMDB_NEO4J_*: Neo4j, seen by every server), else
    DATA_DIR/control.db."""
    from cmdb.graph.store import StoreError, StoreUnavailable
    from cmdb.server.config import ConfigError
    from cmdb.server.shared_state import open_cli_state

    try:
        return open_cli_state(_data_dir(args), getattr(args, "config", None))
    except ConfigError as exc:
        raise CliError(f"configuration: {exc}", 2) from exc
    except (StoreError, StoreUnavailable) as exc:
        raise CliError(f"cannot open the shared state: {exc}", 2) from exc


def cmd_token_create(args) -> int:
    control = _token_state(args)
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
    control = _token_state(args)
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


def _token_of(items: list[dict[str, Any]], ref: str) -> dict[str, Any]:
    """The token ``ref`` names: its number, else its name (unique among open tokens)."""
    if ref.isdigit():
        for t in items:
            if t["id"] == int(ref):
                return t
        raise CliError(f"no token with id {ref}")
    named = [t for t in items if t["name"] == ref]
    open_ = [t for t in named if not t["revoked_at"]]
    if len(open_) == 1 or (len(named) == 1 and not open_):
        return (open_ or named)[0]
    if not named:
        raise CliError(f"no token named {ref!r} (see `cmdb token list`)")
    ids = ", ".join(str(t["id"]) for t in open_)
    raise CliError(f"{len(open_)} open tokens are named {ref!r} (ids {ids}): give the id")


def cmd_token_revoke(args) -> int:
    control = _token_state(args)
    try:
        token = _token_of(control.list_tokens(), args.token_ref)
        revoked = control.revoke_token(token["id"])
        token = next(t for t in control.list_tokens() if t["id"] == token["id"])
    finally:
        control.close()
    if args.json:
        emit_json({**token, "revoked": revoked})
    elif revoked:
        print(f"token {token['id']} ({token['name']}, {token['role']}) revoked")
    else:
        print(f"token {token['id']} ({token['name']}) was already revoked at {token['revoked_at']}")
    return 0


# ---------------------------------------------------------------- agent
def cmd_agent(args) -> int:
    """``cmdb agent collect|run``: the light agent's own code (``cmdb.agent.cli``)."""
    from cmdb.agent.cli import UsageError, dispatch

    try:
        return dispatch(args)
    except UsageError as exc:
        raise CliError(f"agent: {exc}", 2) from exc


# ---------------------------------------------------------------- ci queries
def _client(args) -> ApiClient:
    return ApiClient(args.server, args.token, cafile=getattr(args, "cafile", None))


def cmd_ci_list(args) -> int:
    client = _client(args)
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


def _rel_types(values: list[str] | None) -> set[str] | None:
    """``--rel A --rel B,C`` as a set of upper-case types, checked against the schema."""
    if not values:
        return None
    from cmdb.graph.schema import RELS

    wanted = {t.strip().upper() for v in values for t in v.split(",") if t.strip()}
    unknown = sorted(wanted - set(RELS))
    if unknown:
        raise CliError(
            f"unknown relationship type {', '.join(unknown)}; known: {', '.join(sorted(RELS))}",
            2,
        )
    return wanted


def cmd_ci_show(args) -> int:
    client = _client(args)
    ci_id = resolve_ci_id(client, args.id, args.cls)
    data = client.get(f"/api/v1/cis/{ci_id}", include_ended="1" if args.ended else None)
    wanted = _rel_types(args.rel)
    rels = [r for r in data["relationships"] if wanted is None or r["type"] in wanted]
    limit = args.limit if args.limit > 0 else len(rels)
    if args.json:
        emit_json({**data, "relationships": rels[:limit], "relationships_total": len(rels)})
        return 0
    print(f"{data['class']} {data['name']}  ({data['id']})")
    print(
        f"status {data['status']}, first seen {data['first_seen']}, last seen {data['last_seen']}"
    )
    print(f"sources: {', '.join(data.get('sources', []))}")
    if data["attributes"]:
        print("attributes:")
        emit_text({k: data["attributes"][k] for k in sorted(data["attributes"])}, depth=1)
    counts: dict[tuple[str, str], int] = {}
    for r in data["relationships"]:
        key = (r["type"], r["direction"])
        counts[key] = counts.get(key, 0) + 1
    summary = ", ".join(
        f"{t} {'->' if d == 'out' else '<-'} {n}" for (t, d), n in sorted(counts.items())
    )
    print(f"\n{len(data['relationships'])} relationships" + (f": {summary}" if summary else ""))
    if not rels:
        return 0
    emit_table(
        [
            (
                r["type"],
                "->" if r["direction"] == "out" else "<-",
                r["other"]["class"],
                r["other"]["name"],
                r["other"]["id"],
            )
            + ((r["ended_at"] or "",) if args.ended else ())
            for r in rels[:limit]
        ],
        ("type", "dir", "class", "name", "id") + (("ended",) if args.ended else ()),
    )
    if limit < len(rels):
        print(
            f"showing {limit} of {len(rels)}"
            + (f" {', '.join(sorted(wanted))}" if wanted else "")
            + ": --limit N (0 for all), --rel TYPE to choose"
        )
    return 0


def cmd_ci_history(args) -> int:
    client = _client(args)
    ci_id = resolve_ci_id(client, args.id, args.cls)
    data = client.get(
        f"/api/v1/cis/{ci_id}/history",
        limit=args.limit,
        offset=args.offset,
        since=args.since,
        until=args.until,
    )
    if args.json:
        emit_json(data)
        return 0
    emit_table(
        [
            (
                h["at"],
                h["source"],
                h.get("actor") or "",  # who: the token of a manual change, none for discovery
                h["kind"],
                h["field"],
                inline(h["old"]),
                inline(h["new"]),
            )
            for h in data["items"]
        ],
        ("at", "source", "by", "kind", "field", "old", "new"),
        f"{len(data['items'])} of {data['total']}",
    )
    return 0


def cmd_ci_deps(args) -> int:
    client = _client(args)
    ci_id = resolve_ci_id(client, args.id, args.cls)
    data = client.get(
        f"/api/v1/cis/{ci_id}/dependencies",
        direction=args.direction,
        depth=args.depth,
        limit=args.limit,
    )
    if args.json:
        emit_json(data)
        return 0
    names = {n["id"]: n["name"] or n["id"][:8] for n in data["nodes"]}
    depth = {n["id"]: n["depth"] for n in data["nodes"]}
    via: dict[str, str] = {}
    for e in data["edges"]:  # how each CI was reached: a relationship to a CI one step nearer
        for here, there in ((e["to"], e["from"]), (e["from"], e["to"])):
            if here in depth and depth.get(there) == depth[here] - 1:
                via.setdefault(here, f"{e['type']} {names[there]}")
    emit_table(
        [
            (n["depth"], n["class"], n["name"], n["status"], via.get(n["id"], ""))
            for n in data["nodes"]
        ],
        ("depth", "class", "name", "status", "via"),
        f"{counted(len(data['nodes']), 'CI')}, {counted(len(data['edges']), 'relationship')} "
        f"({data['direction']})"
        + (" - more are reachable: raise --limit" if data.get("truncated") else ""),
    )
    return 0


# ---------------------------------------------------------------- CIs declared by hand
MANUAL_CLASSES = ("Host", "NetworkDevice", "Software")  # cmdb.server.catalogue.manual_cis
CI_ADD_EPILOG = """\
NAME is the CI's name: a Host's hostname, a NetworkDevice's sys_name, a Software's name.
--set takes the attributes the class declares (anything else is refused, listing them):
  --set os_name=AIX                 a string
  --set cpu_cores:=8                a JSON value: number, true or false
  --set custom.tier=gold            a custom attribute the server config declares
If the CI exists already (same name, short name against FQDN, or an identity value such
as a serial), nothing is written and the existing CIs are listed: declare relationships
to one of them instead. Discovery adopts the CI when an agent or scan first reports it.

examples:
  cmdb ci add Host legacy01 --set os_name=AIX
  cmdb ci add Software orders-app --set version=4.2
  cmdb relationship add RUNS_ON --from Software:orders-app --to Host:legacy01"""


def _attributes(items: list[str] | None) -> dict[str, Any]:
    """``--set KEY=VALUE`` (a string), ``KEY:=JSON`` (a number, true, false) and
    ``custom.NAME=VALUE`` as the attributes object of ``POST /api/v1/cis``."""
    import json

    out: dict[str, Any] = {}
    for item in items or []:
        key, sep, value = item.partition("=")
        if not sep or not key.strip(":").strip():
            raise CliError(f"--set takes KEY=VALUE or KEY:=JSON, not {item!r}", 2)
        typed: Any = value
        if key.endswith(":"):
            key = key[:-1]
            try:
                typed = json.loads(value)
            except ValueError:
                raise CliError(
                    f"--set {key}:={value}: not a JSON value (a number, true or false; "
                    f"for text use {key}={value})",
                    2,
                ) from None
        key = key.strip()
        if key.startswith("custom."):
            out.setdefault("custom", {})[key[len("custom.") :]] = typed
        else:
            out[key] = typed
    return out


def cmd_ci_add(args) -> int:
    client = _client(args)
    body: dict[str, Any] = {"class": args.ci_class, "name": args.name}
    attributes = _attributes(args.set)
    if attributes:
        body["attributes"] = attributes
    data = client.post("/api/v1/cis", body)
    if args.json:
        emit_json(data)
        return 0
    emit_table(
        [(data["id"], data["class"], data["name"], data["status"], ", ".join(data["sources"]))],
        ("id", "class", "name", "status", "sources"),
    )
    return 0


def _end(end: dict[str, Any]) -> str:
    return f"{end.get('class') or '?'} {end.get('name') or end['id']}"


def cmd_ci_retire(args) -> int:
    client = _client(args)
    ci = resolve_ci(client, args.id, args.cls)
    data = client.delete(f"/api/v1/cis/{ci['id']}")
    if args.json:
        emit_json(data)
        return 0
    closed = data["closed_relationships"]
    already = " (already: nothing changed)" if data.get("already_retired") else ""
    print(f"{data['class']} {data['name']} ({data['id']}) is {data['status']}{already}")
    if closed:
        print(f"closed {counted(len(closed), 'declared relationship')}:")
        emit_table(
            [(_end(r["from"]), r["type"], _end(r["to"])) for r in closed],
            ("from", "type", "to"),
        )
    return 0


# ---------------------------------------------------------------- wiring
CI_REF_HELP = "the CI: id, name (a host's short name or FQDN), IP address or serial"


def add_ci_ref(parser: argparse.ArgumentParser, dest: str = "id") -> None:
    """The positional CI reference and ``--class`` to narrow it (see ``resolve_ci``)."""
    from cmdb.graph.schema import CLASSES

    parser.add_argument(dest, metavar="CI", help=CI_REF_HELP)
    parser.add_argument(
        "--class",
        dest="cls",
        choices=sorted(CLASSES),
        metavar="CLASS",
        help="only CIs of this class (when a name is ambiguous)",
    )


def register(sub: argparse._SubParsersAction) -> None:
    from cmdb.agent.cli import RUN_EPILOG, add_collect_arguments, add_run_arguments

    p = sub.add_parser("server", help="run the CMDB server")
    p.add_argument("--listen", help="HOST:PORT (env CMDB_LISTEN; default 127.0.0.1:8080)")
    p.add_argument(
        "--data-dir", help="where the server keeps its data (env CMDB_DATA_DIR; default ./var)"
    )
    p.add_argument("--config", help="TOML config file (env CMDB_CONFIG)")
    p.add_argument(
        "--store", choices=("sqlite", "neo4j"), help="graph store (env CMDB_STORE; default sqlite)"
    )
    p.add_argument("--tls-cert", help="serve HTTPS with this certificate (env CMDB_TLS_CERT)")
    p.add_argument("--tls-key", help="the certificate's private key (env CMDB_TLS_KEY)")
    p.add_argument(
        "--tls-client-ca", help="CA of agents' client certificates (env CMDB_TLS_CLIENT_CA)"
    )
    p.set_defaults(func=cmd_server)

    tok = sub.add_parser("token", help="manage API tokens").add_subparsers(
        dest="token_command", required=True, metavar="COMMAND"
    )
    p = tok.add_parser("create", help="create a token; it is printed once, only its hash is kept")
    p.add_argument(
        "--role",
        required=True,
        choices=ROLES,
        help="agent: one host's reports; poller: SNMP reports; reader; editor; admin",
    )
    p.add_argument("--name", help="a label (default ROLE-token); one per host for agents")
    p.add_argument("--data-dir", help="the server's data directory (env CMDB_DATA_DIR)")
    p.add_argument(
        "--config", help="the server's TOML config (env CMDB_CONFIG): store = neo4j -> Neo4j"
    )
    p.add_argument("--json", action="store_true", help="print JSON for machines")
    p.set_defaults(func=cmd_token_create)
    p = tok.add_parser("list", help="list tokens (never their secrets)")
    p.add_argument("--data-dir", help="the server's data directory (env CMDB_DATA_DIR)")
    p.add_argument(
        "--config", help="the server's TOML config (env CMDB_CONFIG): store = neo4j -> Neo4j"
    )
    p.add_argument("--json", action="store_true", help="print JSON for machines")
    p.set_defaults(func=cmd_token_list)
    p = tok.add_parser("revoke", help="revoke a token at once (it stays listed, revoked)")
    p.add_argument("token_ref", metavar="TOKEN", help="the token's id or name (`cmdb token list`)")
    p.add_argument("--data-dir", help="the server's data directory (env CMDB_DATA_DIR)")
    p.add_argument(
        "--config", help="the server's TOML config (env CMDB_CONFIG): store = neo4j -> Neo4j"
    )
    p.add_argument("--json", action="store_true", help="print JSON for machines")
    p.set_defaults(func=cmd_token_revoke)

    ag = sub.add_parser(
        "agent", help="the host agent (also installed alone as cmdb-agent)"
    ).add_subparsers(dest="agent_command", required=True, metavar="COMMAND")
    p = ag.add_parser("collect", help="print this host's report as JSON")
    add_collect_arguments(p)
    p.set_defaults(func=cmd_agent)
    p = ag.add_parser("run", help="collect and send reports", epilog=RUN_EPILOG)
    add_run_arguments(p)
    p.set_defaults(func=cmd_agent)

    ci = sub.add_parser(
        "ci", help="query configuration items, declare ones discovery cannot see"
    ).add_subparsers(dest="ci_command", required=True, metavar="COMMAND")
    p = ci.add_parser("list", help="list CIs, filtered")
    add_api_options(p)
    p.add_argument("--class", dest="cls", help="one CI class (Host, NetworkDevice, …)")
    p.add_argument("--q", help="name contains (case-insensitive)")
    p.add_argument("--status", choices=("live", "stale", "retired", "planned"))
    p.add_argument("--limit", type=int, default=50, help="default 50, at most 1000")
    p.add_argument("--offset", type=int, default=0)
    p.set_defaults(func=cmd_ci_list)
    p = ci.add_parser("show", help="a CI, its attributes and relationships")
    add_api_options(p)
    add_ci_ref(p)
    p.add_argument(
        "--rel",
        action="append",
        metavar="TYPE",
        help="only relationships of this type (repeatable, or comma-separated)",
    )
    p.add_argument(
        "--limit", type=int, default=20, help="relationships listed (default 20; 0 for all)"
    )
    p.add_argument("--ended", action="store_true", help="ended relationships too")
    p.set_defaults(func=cmd_ci_show)
    p = ci.add_parser("history", help="attribute and relationship changes, newest first")
    add_api_options(p)
    add_ci_ref(p)
    p.add_argument("--since", help="from this time (ISO 8601)")
    p.add_argument("--until", help="up to this time (ISO 8601)")
    p.add_argument("--limit", type=int, default=50, help="default 50, at most 1000")
    p.add_argument("--offset", type=int, default=0)
    p.set_defaults(func=cmd_ci_history)
    p = ci.add_parser("deps", help="what the CI depends on (down) or what depends on it (up)")
    add_api_options(p)
    add_ci_ref(p)
    p.add_argument("--direction", choices=("up", "down", "both"), default="down")
    p.add_argument(
        "--depth",
        type=positive_int,
        default=3,
        help="levels walked (default 3, at most max_depth: 20)",
    )
    p.add_argument(
        "--limit",
        type=positive_int,
        default=1000,
        help="nearest CIs returned (default 1000, at most 20000)",
    )
    p.set_defaults(func=cmd_ci_deps)
    p = ci.add_parser(
        "add",
        help="declare a host, device or application discovery cannot see (source manual)",
        description="Record a CI by hand, so relationships and impact can reach it.",
        epilog=CI_ADD_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_api_options(p)
    p.add_argument(
        "ci_class",
        metavar="CLASS",
        choices=MANUAL_CLASSES,
        help="Host, NetworkDevice, or Software (an application)",
    )
    p.add_argument("name", metavar="NAME", help="its name (a host's hostname, e.g. legacy01)")
    p.add_argument(
        "--set",
        action="append",
        metavar="KEY=VALUE",
        help="an attribute (repeatable): KEY=TEXT, KEY:=JSON, custom.NAME=VALUE",
    )
    p.set_defaults(func=cmd_ci_add)
    p = ci.add_parser(
        "retire",
        help="retire a CI declared by hand, closing its declared relationships",
        description="Retire a CI recorded with `cmdb ci add` (status retired, in its history); "
        "its declared relationships end. A CI discovery reported is refused: it is retired "
        "when no longer seen.",
    )
    add_api_options(p)
    add_ci_ref(p)
    p.set_defaults(func=cmd_ci_retire)
