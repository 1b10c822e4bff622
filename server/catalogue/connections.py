"""Application dependencies from observed TCP connections (the agent's ``connections``).

Model: ``Host A -CONNECTS_TO-> Endpoint B`` where B is the listening socket
(host|protocol|port) that A's client connected to. Client-side ephemeral ports
never become CIs; a connection whose local port A itself listens on is the
server half of an inbound connection and is skipped (the client's report
covers it). Loopback connections stay on their host (A -> A's own endpoint).
A remote address that no known host has (through HAS_INTERFACE/HAS_IP) is not
a CI; it only counts as unresolved.

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

import ipaddress
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any

from graph.store import Rel, ScopeState, Store
from server.catalogue.common import to_datetime
from server.reconcile.host import endpoint_protocol

WINDOW = timedelta(days=7)
CLIENT_STATES = (None, "ESTABLISHED", "established", "SYN_SENT")


def scope_of(host_id: str) -> str:
    return f"connections:{host_id}"


def _address(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        ip = ipaddress.ip_address(text.split("%", 1)[0])
    except ValueError:
        return None
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    return ip


def observations(
    connections: list[dict[str, Any]], listening: list[dict[str, Any]] | None
) -> tuple[dict[tuple[str, int], str | None], dict[int, str | None]]:
    """(remote address, port) -> process for outbound connections, and loopback port ->
    process; the server halves of inbound connections are left out (pure)."""
    listens = {(endpoint_protocol(s["protocol"]), s["port"]) for s in listening or []}
    remote: dict[tuple[str, int], str | None] = {}
    loopback: dict[int, str | None] = {}
    for conn in connections:
        protocol = endpoint_protocol(conn["protocol"])
        if protocol != "tcp" or conn.get("status") not in CLIENT_STATES:
            continue
        if (protocol, conn["local_port"]) in listens:
            continue  # we are the server of this one
        ip = _address(conn["remote_address"])
        if ip is None or ip.is_unspecified:
            continue
        port = conn["remote_port"]
        if ip.is_loopback:
            loopback[port] = loopback.get(port) or conn.get("process")
        else:
            key = (str(ip), port)
            remote[key] = remote.get(key) or conn.get("process")
    return remote, loopback


async def _hosts_with_address(store: Store, addresses: list[str]) -> dict[str, set[str]]:
    """Global address -> ids of the hosts that have it (IPAddress <-HAS_IP- <-HAS_INTERFACE-)."""
    keys = [f"{a}|global" for a in addresses]
    found = await store.find_by_identity("IPAddress", "address_scope", keys)
    out: dict[str, set[str]] = {}
    for key, ips in found.items():
        address = key.rsplit("|", 1)[0]
        for ip in ips:
            for v in await store.relationships(ip.id):
                if v.rel.type != "HAS_IP" or v.direction != "in":
                    continue
                for w in await store.relationships(v.other.id):
                    if (w.rel.type, w.direction, w.other.cls) == ("HAS_INTERFACE", "in", "Host"):
                        out.setdefault(address, set()).add(w.other.id)
    return out


def connection_hook(
    report: dict[str, Any], window: timedelta = WINDOW, stats: dict[str, int] | None = None
) -> Callable[..., Awaitable[None]] | None:
    """The engine hook that adds CONNECTS_TO changes to the report's change set, or None
    when the report has no connections section (then nothing is touched)."""
    sections = report.get("sections") or {}
    if sections.get("connections") is None:
        return None
    remote, loopback = observations(sections["connections"], sections.get("listening"))

    async def hook(store: Store, writer: Any, host_id: str, ids: dict[str, str]) -> None:
        cs = writer.cs
        targets: dict[str, str | None] = {}
        for port, process in loopback.items():
            endpoint = ids.get(f"ep:tcp/{port}")
            if endpoint:
                targets[endpoint] = process
        unresolved = 0
        hosts = await _hosts_with_address(store, sorted({a for a, _ in remote}))
        wanted_keys: dict[str, str | None] = {}
        for (address, port), process in remote.items():
            owners = hosts.get(address)
            if not owners:
                unresolved += 1
                continue
            for owner in owners:
                if owner == host_id and ids.get(f"ep:tcp/{port}"):
                    targets[ids[f"ep:tcp/{port}"]] = process
                else:
                    wanted_keys[f"{owner}|tcp|{port}"] = process
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
            stats.update(linked=len(targets), unresolved=unresolved)

    return hook


def writer_new_id() -> str:
    from server.reconcile.engine import new_id

    return new_id()
