"""Which discovered CIs nobody has seen since a given time (for stale and retired marking).

A CI counts as seen at the later of its own last_seen, its scope's last full
report, and the derived last_seen of any open relationship that points at it
(a Software CI is seen whenever a host still reports it installed).

A CI whose only source is ``manual`` (a host or application an engineer declared because
discovery cannot see it, ``cmdb.server.catalogue.manual_cis``) is never unseen: nothing is
expected to report it, so it stays live until someone retires it. Once a discovery source
has reported it too (reconciliation adopts the placeholder), it ages like any discovered CI.
"""

from __future__ import annotations

from cmdb.graph.store import CI, Store

DISCOVERED_CLASSES = (
    "Host",
    "NetworkDevice",
    "Interface",
    "IPAddress",
    "Network",
    "Software",
    "Endpoint",
)


async def unseen_since(
    store: Store, before: str, statuses: tuple[str, ...], limit: int = 5000
) -> list[CI]:
    ids = await store.unseen_since(before, tuple(statuses), DISCOVERED_CLASSES, limit)
    found = await store.get_cis(ids)
    return [found[i] for i in ids if i in found]


# what a retired CI stops holding: its interfaces and its addresses
HOLDING_TYPES = ("HAS_INTERFACE", "HAS_IP")
HOLDER_CLASSES = ("Host", "NetworkDevice")
_CHUNK = 500


async def _open_rels(store: Store, ids: list[str], types: tuple[str, ...]) -> list[tuple]:
    rows: list[tuple] = []
    for start in range(0, len(ids), _CHUNK):
        rows += await store.impact_hop(ids[start : start + _CHUNK], types)
    return rows


async def holding_rels(store: Store, retired: list[CI]) -> dict[str, str]:
    """Relationship id -> type of the open HAS_INTERFACE and HAS_IP relationships that end
    when ``retired`` CIs are retired: every one touching them, and the HAS_IP of the
    interfaces of a retired Host or NetworkDevice (its addresses are free for a new holder
    even when one of its interfaces is kept seen by a switch's layer-2 link). Two batched
    reads (``impact_hop``) per 500 CIs; an already closed relationship is not found again,
    so a repeated sweep closes nothing twice."""
    ids = sorted({ci.id for ci in retired})
    holders = {ci.id for ci in retired if ci.cls in HOLDER_CLASSES}
    found: dict[str, str] = {}
    interfaces: set[str] = set()
    for rid, rel_type, src, dst, *_ in await _open_rels(store, ids, HOLDING_TYPES):
        found[rid] = rel_type
        if rel_type == "HAS_INTERFACE" and src in holders:
            interfaces.add(dst)
    for rid, rel_type, src, *_ in await _open_rels(store, sorted(interfaces), ("HAS_IP",)):
        if rel_type == "HAS_IP" and src in interfaces:
            found[rid] = rel_type
    return found
