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
endpoints A is linked to by this report), ``unresolved`` and ``ambiguous`` (connections).

Aggregation: one open relationship per (A, endpoint), attributes
``observations`` (reports that saw it) and ``process``; first_seen/last_seen
are the relationship's own (its scope ``connections:<A>`` has no source
state, so last_seen is not the agent's report time). Connections are
transient (a poll catches only what is open at that instant), so a report
that lacks one does not close it: it is closed when no report of A has seen
it for ``WINDOW`` (7 days by default).

Ordering: connections are resolved against the store on every report of A
(agents send full reports). If B is first reported after A, the link appears
with A's next report; nothing unresolved is kept between reports (it would
need an index from remote address to waiting hosts that the store does not
have, and the next report brings the facts again anyway).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any, NamedTuple

from cmdb.graph.identity import key_of
from cmdb.graph.store import Rel, ScopeState, Store
from cmdb.server.catalogue.common import to_datetime
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
) -> Callable[..., Awaitable[None]] | None:
    """The engine hook that adds CONNECTS_TO changes to the report's change set, or None
    when the report has no connections section (then nothing is touched)."""
    sections = report.get("sections") or {}
    if sections.get("connections") is None:
        return None
    observed = observations(sections["connections"], sections.get("listening"))
    reports_interfaces = sections.get("interfaces") is not None

    async def hook(store: Store, writer: Any, host_id: str, ids: dict[str, str]) -> None:
        cs = writer.cs
        targets: dict[str, str | None] = {}
        unresolved, ambiguous = 0, observed.not_unique

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
            elif owners:
                key = key_of(
                    "Endpoint", "host_port", host=next(iter(owners)), protocol="tcp", port=port
                )
                if key is not None:
                    wanted_keys[key] = process
            else:
                unresolved += 1
        found = await store.find_by_identity("Endpoint", "host_port", list(wanted_keys))
        for key, process in wanted_keys.items():
            if found.get(key):
                targets[found[key][0].id] = process
            else:
                unresolved += 1  # the host is known but does not listen there (yet)
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
                cs.create_rels.append(
                    Rel(
                        id=writer_new_id(),
                        type="CONNECTS_TO",
                        src=host_id,
                        dst=dst,
                        first_seen=cs.at,
                        last_seen=cs.at,
                        scope=scope_of(host_id),
                        sources=[writer.source],
                        attributes={"observations": 1, "process": process},
                    )
                )
        cutoff = to_datetime(cs.at) - window
        for dst, rel in existing.items():
            if dst not in targets and to_datetime(rel.last_seen or cs.at) < cutoff:
                cs.close_rels.append(rel.id)
        if stats is not None:
            stats.update(linked=len(targets), unresolved=unresolved, ambiguous=ambiguous)

    return hook


def writer_new_id() -> str:
    from cmdb.server.reconcile.engine import new_id

    return new_id()
