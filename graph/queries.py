"""Reads that need more than the store protocol: the impact walk and history by time.

Each read has one implementation per backend (``graph.sqlite.impact``,
``graph.neo4j.impact``) taking the store object; the functions here pick the
one for ``store.name``, so the backend classes need no new methods. Both
implementations answer the same question with the same definition:

* ``impact_walk``: the CIs within ``depth`` hops of the start set, where a hop
  goes from X to Y over an open relationship when ``Y -[t]-> X`` with ``t`` in
  ``inbound`` (Y depends on X) or ``X -[t]-> Y`` with ``t`` in ``outbound`` (X
  contains Y); plus every open relationship of those types whose two ends were
  both reached, oriented cause -> effect. Cycles end at the depth bound.
* ``history_between``: history entries of any CI in a time range, from given sources.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from graph.store import HistoryEntry, Store


@dataclass(slots=True)
class ImpactEdge:
    cause: str  # the CI whose failure propagates
    effect: str  # the CI it reaches
    type: str
    rel_id: str


@dataclass(slots=True)
class ImpactWalk:
    """Reached CIs (id -> (class, name, depth)) and the cause -> effect edges among them."""

    nodes: dict[str, tuple[str, str | None, int]] = field(default_factory=dict)
    edges: list[ImpactEdge] = field(default_factory=list)


def _backend(store: Store) -> Any:
    if store.name == "sqlite":
        from graph.sqlite import impact
    elif store.name == "neo4j":
        from graph.neo4j import impact
    else:
        raise NotImplementedError(f"no impact queries for the {store.name!r} store")
    return impact


async def impact_walk(
    store: Store,
    start: list[str],
    depth: int,
    inbound: tuple[str, ...],
    outbound: tuple[str, ...],
) -> ImpactWalk:
    """Depth-bounded, cycle-safe walk in the direction failure propagates."""
    if not start:
        return ImpactWalk()
    return await _backend(store).impact_walk(
        store, sorted(set(start)), max(0, int(depth)), tuple(inbound), tuple(outbound)
    )


async def history_between(
    store: Store,
    since: str | None,
    until: str | None,
    sources: tuple[str, ...] | None = None,
    limit: int = 100_000,
) -> list[HistoryEntry]:
    """History entries of every CI with ``since <= at <= until``, oldest first."""
    return await _backend(store).history_between(store, since, until, sources, limit)


async def impact_hop(store: Store, ids: list[str], types: tuple[str, ...]) -> list[tuple]:
    """One hop for a whole frontier: (rel id, type, src, dst, src class, dst class,
    src name, dst name) of every open relationship of ``types`` touching ``ids``."""
    if not ids or not types:
        return []
    return await _backend(store).impact_hop(store, sorted(set(ids)), tuple(types))


async def uplinks(store: Store, device_ids: list[str]) -> list[tuple]:
    """Layer-2 links of devices to switches: (device, interface, peer interface, peer
    device, its class)."""
    if not device_ids:
        return []
    return await _backend(store).uplinks(store, sorted(set(device_ids)))
