"""Reads for impact and history by time, with their inputs normalised (empty batches cost
no round trip, ids sorted and unique). Each backend implements them as store methods."""

from __future__ import annotations

from graph.store import HistoryEntry, Store


async def history_between(
    store: Store,
    since: str | None,
    until: str | None,
    sources: tuple[str, ...] | None = None,
    limit: int = 100_000,
) -> list[HistoryEntry]:
    """History entries of every CI with ``since <= at <= until``, oldest first."""
    return await store.history_between(since, until, sources, int(limit))


async def impact_hop(store: Store, ids: list[str], types: tuple[str, ...]) -> list[tuple]:
    """One hop for a whole frontier: (rel id, type, src, dst, src class, dst class,
    src name, dst name) of every open relationship of ``types`` touching ``ids``."""
    if not ids or not types:
        return []
    return await store.impact_hop(sorted(set(ids)), tuple(types))


async def uplinks(store: Store, device_ids: list[str]) -> list[tuple]:
    """Layer-2 links of devices to switches: (device, interface, peer interface, peer
    device, its class)."""
    if not device_ids:
        return []
    return await store.uplinks(sorted(set(device_ids)))
