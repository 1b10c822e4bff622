"""Which CIs hold an IP address now: the store side of "an address that is not unique
never links hosts" (the address kinds themselves are judged in ``addresses``).

A CI (Host or NetworkDevice) holds an address when it has an open HAS_INTERFACE to an
Interface that has an open HAS_IP to the IPAddress, and neither the CI nor the Interface is
retired. Retirement end-dates those relationships (``cmdb.graph.staleness``), so a reused
address belongs to its new holder only; the status check also covers CIs retired before
that rule existed.

Reads are batched: one ``interface_ip_pairs`` per 500 addresses and one ``get_cis`` for
the interfaces (``cmdb.graph.lookup.interfaces_with_ip``), one ``impact_hop`` per 500
interfaces for their open HAS_INTERFACE, one ``get_cis`` for the holders; never a read per
address.
"""

from __future__ import annotations

from cmdb.graph.lookup import interfaces_with_ip
from cmdb.graph.store import Store

_CHUNK = 500


async def address_holders(store: Store, addresses: list[str]) -> dict[str, dict[str, str]]:
    """address -> {holder CI id: its status ("live" or "stale")} for every address some
    non-retired CI holds now; addresses nobody holds are absent. ``addresses`` are compared
    as stored (the IPAddress CI's ``address`` attribute, ``str()`` of the address)."""
    by_address = await interfaces_with_ip(store, addresses)
    interfaces: dict[str, set[str]] = {}  # interface id -> the queried addresses it holds
    for address, ifaces in by_address.items():
        for iface in ifaces:
            if iface.status != "retired":
                interfaces.setdefault(iface.id, set()).add(address)
    ids = sorted(interfaces)
    parents: dict[str, set[str]] = {}  # interface id -> ids of the CIs holding it
    for start in range(0, len(ids), _CHUNK):
        rows = await store.impact_hop(ids[start : start + _CHUNK], ("HAS_INTERFACE",))
        for _rid, rel_type, src, dst, *_ in rows:
            if rel_type == "HAS_INTERFACE" and dst in interfaces:
                parents.setdefault(dst, set()).add(src)
    found = await store.get_cis(sorted({p for ps in parents.values() for p in ps}))
    out: dict[str, dict[str, str]] = {}
    for iface_id, holder_ids in parents.items():
        for holder_id in holder_ids:
            holder = found.get(holder_id)
            if holder is None or holder.status == "retired":
                continue
            for address in interfaces[iface_id]:
                out.setdefault(address, {})[holder_id] = holder.status
    return out


def current_holders(holders: dict[str, str]) -> set[str]:
    """The holders that count for one address (pure): the live ones; only when none is
    live, the stale ones. A stale CI stopped reporting hours ago (``stale_after_hours``)
    and may still hold the address, but a live CI that reports it now is better evidence;
    with no live holder a stale one is all we know (a server whose agent broke still
    answers its clients)."""
    live = {i for i, status in holders.items() if status == "live"}
    return live or {i for i, status in holders.items() if status == "stale"}
