"""Application dependencies from observed TCP connections (the agent's ``connections``).

Model: ``Host A -CONNECTS_TO-> Endpoint B`` where B is the listening socket
(host|protocol|port) that A's client connected to. Client-side ephemeral ports
never become CIs; a connection whose local port A itself listens on is the
server half of an inbound connection and is skipped (the client's report
covers it).

Which host a remote address names (``cmdb.server.reconcile.addresses`` and ``.holders``):

* loopback and unspecified (a connect() to ``0.0.0.0`` or ``::`` reaches the local
  host): A's own endpoint.
* an address A holds itself (in this report's interfaces, or through A's open
  HAS_INTERFACE/HAS_IP in the store): A's own endpoint, whoever else holds it. The
  kernel delivers a connection to a local address locally, so it never reaches another
  host: docker0's ``172.17.0.1`` on every Docker host, the VRRP address on the master.
* an address of a kind that is never unique (link-local, multicast, broadcast), or one
  that several live CIs hold at once (docker0 seen from a host without Docker, a VRRP
  address both nodes report, a NAT'd lab range): nothing; counted as ``ambiguous``.
* an address exactly one current CI holds: that CI's endpoint on the port, if it listens
  there; otherwise, or when nobody holds the address, nothing (``unresolved``).

The hook's ``stats`` (the report answer's ``connections``) are ``linked`` (distinct
endpoints A is linked to by this report), ``unresolved`` and ``ambiguous`` (connections),
and, only when there are any, ``clients_linked``: other hosts' pending observations this
report linked to the reporting host (see Ordering).

Aggregation: one open relationship per (A, endpoint), attributes
``observations`` (reports that saw it) and ``process``; first_seen/last_seen
are the relationship's own (its scope ``connections:<A>`` has no source
state, so last_seen is not the agent's report time). Connections are
transient (a poll catches only what is open at that instant), so a report
that lacks one does not close it: it is closed when no report of A has seen
it for ``WINDOW`` (7 days by default).

Ordering: connections are resolved against the store on every report of A
(agents send full reports). A connection to an ordinary address that links to nothing
(``unresolved``, or held by several CIs) is kept as a pending observation (the change
set's ``PendingSet``: each report of A with a connections section replaces A's pending
set, and rows no report of A confirmed within ``WINDOW`` are dropped). When a host B's
agent report opens an interface, address or listening socket of B, or brings B back to
live, the pending observations to B's global addresses on ports B listens on are
resolved again with B's report applied, in B's own change set: a link appears as soon as
B reports, exactly as if A had reported after B (same scope, attributes and sources;
first_seen is B's report time). The relationship's opening event carries B's report id;
a history entry of kind ``observation`` on A names the report of A that observed it.
Loopback, unspecified and A's own addresses are never pending, so they never become
cross-host links. Limits: an observation that only a change elsewhere would resolve (a
second holder of the address going stale) still waits for A's next report; and on Neo4j
a report of A and one of B reconciled at the same instant may miss each other, which
leaves the link, too, to A's next report.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any, NamedTuple

from cmdb.graph import times
from cmdb.graph.identity import key_of
from cmdb.graph.store import PendingConnection, PendingSet, Rel, ScopeState, Store
from cmdb.server.reconcile.addresses import address_ref, not_unique_reason, parse_address
from cmdb.server.reconcile.holders import address_holders, current_holders
from cmdb.server.reconcile.host import endpoint_protocol

WINDOW = timedelta(days=7)
CLIENT_STATES = (None, "ESTABLISHED", "established", "SYN_SENT")
# address kinds that stay on the reporting host (connect() to 0.0.0.0 reaches it too)
_LOCAL_KINDS = ("loopback", "unspecified")


def scope_of(host_id: str) -> str:
    return f"connections:{host_id}"


class Observed(NamedTuple):
    """A report's outbound connections: (remote address, port) -> process for addresses
    that may name a host, local port -> process for connections that stay on the host,
    and how many went to addresses of a kind that never names one host."""

    remote: dict[tuple[str, int], str | None]
    local: dict[int, str | None]
    not_unique: int


def observations(
    connections: list[dict[str, Any]], listening: list[dict[str, Any]] | None
) -> Observed:
    """The outbound connections of a report, classified by remote address kind; the server
    halves of inbound connections are left out (pure)."""
    listens = {(endpoint_protocol(s["protocol"]), s["port"]) for s in listening or []}
    remote: dict[tuple[str, int], str | None] = {}
    local: dict[int, str | None] = {}
    not_unique: set[tuple[str, int]] = set()
    for conn in connections:
        protocol = endpoint_protocol(conn["protocol"])
        if protocol != "tcp" or conn.get("status") not in CLIENT_STATES:
            continue
        if (protocol, conn["local_port"]) in listens:
            continue  # we are the server of this one
        ip = parse_address(conn["remote_address"])
        if ip is None:
            continue
        port = conn["remote_port"]
        kind = not_unique_reason(ip)
        if kind in _LOCAL_KINDS:
            local[port] = local.get(port) or conn.get("process")
        elif kind is not None:
            not_unique.add((str(ip), port))
        else:
            key = (str(ip), port)
            remote[key] = remote.get(key) or conn.get("process")
    return Observed(remote, local, len(not_unique))


def connection_hook(
    report: dict[str, Any], window: timedelta = WINDOW, stats: dict[str, int] | None = None
) -> Callable[..., Awaitable[None]]:
    """The engine hook of an agent report: with a connections section it adds the
    report's CONNECTS_TO changes (and replaces the host's pending observations); for every
    report it links other hosts' pending observations that now resolve to this host.

    ``stats`` (the report answer's ``connections``) gets ``linked``, ``unresolved`` and
    ``ambiguous`` when the report has a connections section, and ``clients_linked`` (links
    of other hosts this report made) when there are any."""
    sections = report.get("sections") or {}
    observed = None
    if sections.get("connections") is not None:
        observed = observations(sections["connections"], sections.get("listening"))
    reported = {name for name in ("interfaces", "listening") if sections.get(name) is not None}

    async def hook(store: Store, writer: Any, host_id: str, ids: dict[str, str]) -> None:
        if observed is not None:
            await _link_observed(
                store, writer, host_id, ids, observed, "interfaces" in reported, window, stats
            )
        linked = await link_pending(store, writer, host_id, ids, reported, window)
        if linked and stats is not None:
            stats["clients_linked"] = linked

    return hook


def _cutoff(at: str, window: timedelta) -> str:
    """The oldest time still inside ``window`` before ``at`` (store text)."""
    return times.to_store(times.parse_instant(at) - window)


async def _link_observed(
    store: Store,
    writer: Any,
    host_id: str,
    ids: dict[str, str],
    observed: Observed,
    reports_interfaces: bool,
    window: timedelta,
    stats: dict[str, int] | None,
) -> None:
    """A's own connections: CONNECTS_TO changes into A's change set, and what links to
    nothing yet as A's new pending set."""
    cs = writer.cs
    targets: dict[str, str | None] = {}
    unresolved, ambiguous = 0, observed.not_unique
    pending: dict[tuple[str, int], str | None] = {}

    def own(port: int, process: str | None) -> None:
        nonlocal unresolved
        endpoint = ids.get(f"ep:tcp/{port}")
        if endpoint:
            targets[endpoint] = process
        else:
            unresolved += 1  # to ourselves, on a port we do not listen on

    for port, process in observed.local.items():
        own(port, process)
    holders = await address_holders(store, sorted({a for a, _ in observed.remote}))
    wanted_keys: dict[str, str | None] = {}
    asked: dict[str, list[tuple[str, int]]] = {}  # endpoint key -> the connections naming it
    for (address, port), process in observed.remote.items():
        held = dict(holders.get(address, {}))
        # our own addresses: this report's interfaces when it has them (the store may
        # still hold one the report just dropped), else what the store knows
        mine = held.pop(host_id, None) is not None
        if reports_interfaces:
            ip = parse_address(address)
            mine = ip is not None and address_ref(ip, "global") in ids
        if mine:
            own(port, process)  # delivered locally, whoever else holds the address
            continue
        owners = current_holders(held)
        if len(owners) > 1:
            ambiguous += 1
            pending[(address, port)] = process  # a report of one holder may settle it
        elif owners:
            key = key_of(
                "Endpoint", "host_port", host=next(iter(owners)), protocol="tcp", port=port
            )
            if key is not None:
                wanted_keys[key] = process
                asked.setdefault(key, []).append((address, port))
        else:
            unresolved += 1
            pending[(address, port)] = process
    found = await store.find_by_identity("Endpoint", "host_port", list(wanted_keys))
    for key, process in wanted_keys.items():
        if found.get(key):
            targets[found[key][0].id] = process
        else:
            unresolved += 1  # the host is known but does not listen there (yet)
            for address, port in asked[key]:
                pending[(address, port)] = observed.remote[(address, port)]
    cs.pending = PendingSet(
        host_id,
        [PendingConnection(host_id, a, p, proc) for (a, p), proc in sorted(pending.items())],
        _cutoff(cs.at, window),
    )
    if any(ci.id == host_id for ci in cs.create_cis):
        state = ScopeState(cis=[], rels=[])  # a host this report creates has no past
    else:
        state = await store.load_scope(scope_of(host_id), ("CONNECTS_TO",))
    existing = {r.dst: r for r in state.rels if r.type == "CONNECTS_TO"}
    new = [t for t in targets if t not in existing]
    elsewhere = await store.find_open_rels([("CONNECTS_TO", host_id, t) for t in new])
    for dst, process in targets.items():
        rel = existing.get(dst)
        if rel is not None:
            rel.attributes = {
                "observations": int(rel.attributes.get("observations") or 0) + 1,
                "process": process or rel.attributes.get("process"),
            }
            rel.last_seen = cs.at
            cs.update_rels.append(rel)
        elif ("CONNECTS_TO", host_id, dst) not in elsewhere:
            cs.create_rels.append(_new_link(writer, host_id, dst, process))
    cutoff = times.parse_instant(cs.at) - window
    for dst, rel in existing.items():
        if dst not in targets and times.parse_instant(rel.last_seen or cs.at) < cutoff:
            cs.close_rels.append(rel.id)
    if stats is not None:
        stats.update(linked=len(targets), unresolved=unresolved, ambiguous=ambiguous)


def _new_link(writer: Any, client: str, endpoint: str, process: str | None) -> Rel:
    """The CONNECTS_TO a first observation opens, whichever report resolves it."""
    at = writer.cs.at
    return Rel(
        id=writer_new_id(),
        type="CONNECTS_TO",
        src=client,
        dst=endpoint,
        first_seen=at,
        last_seen=at,
        scope=scope_of(client),
        sources=[writer.source],
        attributes={"observations": 1, "process": process},
    )


def own_targets(ids: dict[str, str]) -> tuple[list[str], dict[int, str]]:
    """A host's global addresses and TCP endpoints (port -> Endpoint id) from the local
    references its transform gives them (``ip:10.0.0.5:global``, ``ep:tcp/5432``)."""
    addresses: list[str] = []
    endpoints: dict[int, str] = {}
    for ref, ci_id in ids.items():
        if ref.startswith("ip:") and ref.endswith(":global"):
            addresses.append(ref[3 : -len(":global")])
        elif ref.startswith("ep:tcp/") and ref[7:].isdigit():
            endpoints[int(ref[7:])] = ci_id
    return sorted(addresses), endpoints


async def link_pending(
    store: Store,
    writer: Any,
    host_id: str,
    ids: dict[str, str],
    reported: set[str],
    window: timedelta = WINDOW,
) -> int:
    """Link the pending observations of other hosts that B's report (``host_id``) resolves:
    those to one of B's global addresses on a port B listens on, when, with this report
    applied, B is the one current holder of the address and the observing host does not
    hold it itself. Adds CONNECTS_TO (and an ``observation`` history entry on the client
    naming the report that saw it) to B's change set; answers how many it added.

    Only a report that can make B a new target looks (``_may_become_target``: it opens
    an interface, address or socket, or brings a CI back to live); a report that changes
    none of these resolves nothing new and reads nothing. B's addresses and endpoints are
    this report's (``ids``) for the sections it carries (``reported``: ``interfaces``,
    ``listening``), the store's for the others. Reads: one for the pending rows; only when
    some match, the address holders, the clients and their open links (batched, never one
    per row). Pending rows stay: the client's next report replaces them."""
    cs = writer.cs
    if not _may_become_target(cs):
        return 0
    if {"interfaces", "listening"} - reported:
        # a report without its addresses or sockets (a delta): the store knows them
        from cmdb.server.reconcile.engine import _own_refs

        stored = await _own_refs(store, f"{writer.source}:{host_id}", "", host_id)
        ids = {
            **{r: i for r, i in stored.items() if _section_of(r) not in reported},
            **{r: i for r, i in ids.items() if _section_of(r) in reported},
        }
    addresses, endpoints = own_targets(ids)
    if not addresses or not endpoints:
        return 0
    rows = [
        row
        for row in await store.pending_connections(addresses, _cutoff(cs.at, window))
        if row.port in endpoints and row.client != host_id
    ]
    if not rows:
        return 0
    holders = await address_holders(store, sorted({row.address for row in rows}))
    clients = await store.get_cis(sorted({row.client for row in rows}))
    chosen: dict[tuple[str, str], PendingConnection] = {}
    for row in sorted(rows, key=lambda r: (r.client, r.address, r.port)):
        client = clients.get(row.client)
        if client is None or client.status == "retired":
            continue
        held = dict(holders.get(row.address, {}))
        if row.client in held:
            continue  # the client holds it itself: its own endpoint, never a cross-host link
        held[host_id] = "live"  # B holds it as of this report, which sees B now
        if current_holders(held) != {host_id}:
            continue  # still several holders: stays pending
        link = (row.client, endpoints[row.port])
        if link not in chosen or (chosen[link].process is None and row.process):
            chosen[link] = row
    created_now = {ci.id for ci in cs.create_cis}
    already = await store.find_open_rels(
        [("CONNECTS_TO", c, e) for c, e in chosen if e not in created_now]
    )
    added = 0
    for (client, endpoint), row in sorted(chosen.items()):
        if ("CONNECTS_TO", client, endpoint) in already:
            continue  # linked meanwhile (the client's report or a hand-made link)
        cs.create_rels.append(_new_link(writer, client, endpoint, row.process))
        writer.history(
            client,
            "observation",
            "CONNECTS_TO",
            None,
            {
                "address": row.address,
                "port": row.port,
                "process": row.process,
                "observed_by": row.seen_report,
                "observed_at": row.seen_at,
                "first_observed_by": row.first_report,
                "first_observed_at": row.first_at,
            },
            endpoint,
        )
        added += 1
    return added


# the relationships that make a host hold an address or listen on a port
_HOLDING_TYPES = ("HAS_INTERFACE", "HAS_IP", "LISTENS_ON")


def _may_become_target(cs: Any) -> bool:
    """Whether a change set can make its host the one current holder of an address on a
    listening port that it was not before: it opens an interface, an address or a socket
    (a first report opens them all), or brings a CI back to live (a stale holder loses to
    a live one). Anything else leaves every pending observation as it was: no read."""
    if any(r.type in _HOLDING_TYPES for r in cs.create_rels):
        return True
    return any(h.kind == "ci" and h.field == "status" and h.new == "live" for h in cs.history)


def _section_of(ref: str) -> str | None:
    """The report section a local reference of ``own_targets`` comes from."""
    if ref.startswith("ip:"):
        return "interfaces"
    if ref.startswith("ep:"):
        return "listening"
    return None


def writer_new_id() -> str:
    from cmdb.server.reconcile.engine import new_id

    return new_id()
