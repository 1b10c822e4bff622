"""Which discovered CIs nobody has seen since a given time (for stale and retired marking).

A CI counts as seen at the later of its own last_seen, its scope's last full
report, and the derived last_seen of any open relationship that points at it
(a Software CI is seen whenever a host still reports it installed).
"""

from __future__ import annotations

from graph.store import CI, Store

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
