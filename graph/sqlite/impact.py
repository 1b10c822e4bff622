"""Impact walk and history-by-time on SQLite: one recursive CTE, then one edge query.

``UNION`` (not ``UNION ALL``) keeps each (CI, depth) pair once, so a cycle
stops growing at the depth bound; the minimum depth per CI is kept.
"""

from __future__ import annotations

import json
from typing import Any

from graph.queries import ImpactEdge, ImpactWalk
from graph.sqlite import history as history_reads
from graph.store import HistoryEntry


def _marks(values: tuple[str, ...]) -> str:
    return ",".join("?" * len(values))


def _walk_sync(
    store: Any, start: list[str], depth: int, inbound: tuple[str, ...], outbound: tuple[str, ...]
) -> ImpactWalk:
    conn = store.conn
    steps: list[str] = []
    params: list[Any] = [json.dumps(start)]
    if inbound:
        # X failed and Y -[t]-> X with t in inbound: Y depends on X
        steps.append(
            "SELECT r.src, w.depth + 1 FROM walk w JOIN rel r ON r.dst = w.id "
            f"AND r.ended_at IS NULL AND r.type IN ({_marks(inbound)}) WHERE w.depth < ?"
        )
        params += [*inbound, depth]
    if outbound:
        # X failed and X -[t]-> Y with t in outbound: X contains Y
        steps.append(
            "SELECT r.dst, w.depth + 1 FROM walk w JOIN rel r ON r.src = w.id "
            f"AND r.ended_at IS NULL AND r.type IN ({_marks(outbound)}) WHERE w.depth < ?"
        )
        params += [*outbound, depth]
    union = "".join(f" UNION {s}" for s in steps)
    sql = (
        f"WITH RECURSIVE walk(id, depth) AS (SELECT value, 0 FROM json_each(?){union}), "
        "reached(id, depth) AS MATERIALIZED (SELECT id, min(depth) FROM walk GROUP BY id) "
        "SELECT reached.id, reached.depth, ci.class, ci.name FROM reached "
        "JOIN ci ON ci.id = reached.id"
    )
    walk = ImpactWalk()
    for ci_id, d, cls, name in conn.execute(sql, params):
        walk.nodes[ci_id] = (cls, name, d)
    types = (*inbound, *outbound)
    if len(walk.nodes) < 2 or not types:
        return walk
    # every open relationship of a walked type leaving a reached CI; the ones whose other
    # end was reached too are the edges (filtered here: a set beats an IN over JSON)
    rows = conn.execute(
        "SELECT rel.id, rel.type, rel.src, rel.dst FROM json_each(?) a CROSS "
        "JOIN rel ON rel.src = a.value AND rel.ended_at IS NULL "
        f"AND rel.type IN ({_marks(types)})",
        [json.dumps(list(walk.nodes)), *types],
    )
    inbound_set = set(inbound)
    for rel_id, rel_type, src, dst in rows:
        if dst not in walk.nodes or src == dst:
            continue
        if rel_type in inbound_set:
            walk.edges.append(ImpactEdge(cause=dst, effect=src, type=rel_type, rel_id=rel_id))
        else:
            walk.edges.append(ImpactEdge(cause=src, effect=dst, type=rel_type, rel_id=rel_id))
    walk.edges.sort(key=lambda e: e.rel_id)
    return walk


async def impact_walk(
    store: Any, start: list[str], depth: int, inbound: tuple[str, ...], outbound: tuple[str, ...]
) -> ImpactWalk:
    return await store._run(_walk_sync, store, start, depth, inbound, outbound)


def _history_sync(
    store: Any,
    since: str | None,
    until: str | None,
    sources: tuple[str, ...] | None,
    limit: int,
) -> list[HistoryEntry]:
    return history_reads.between(store.conn, since, until, sources, limit)


async def history_between(
    store: Any,
    since: str | None,
    until: str | None,
    sources: tuple[str, ...] | None,
    limit: int,
) -> list[HistoryEntry]:
    return await store._run(_history_sync, store, since, until, sources, limit)


def _hop_sync(store: Any, ids: list[str], types: tuple[str, ...]) -> list[tuple]:
    """Open relationships of ``types`` touching ``ids`` (either end), with both ends'
    class and name: one query for a whole frontier."""
    marks = _marks(types)
    sql = (
        "WITH f(id) AS (SELECT value FROM json_each(?)), "
        "r AS ("
        f"SELECT rel.id, rel.type, rel.src, rel.dst FROM f CROSS JOIN rel ON rel.src = f.id "
        f"AND rel.ended_at IS NULL AND rel.type IN ({marks}) "
        f"UNION SELECT rel.id, rel.type, rel.src, rel.dst FROM f CROSS JOIN rel ON rel.dst = f.id "
        f"AND rel.ended_at IS NULL AND rel.type IN ({marks})) "
        "SELECT r.id, r.type, r.src, r.dst, a.class, b.class, a.name, b.name FROM r "
        "JOIN ci a ON a.id = r.src JOIN ci b ON b.id = r.dst"
    )
    return store.conn.execute(sql, [json.dumps(ids), *types, *types]).fetchall()


async def impact_hop(store: Any, ids: list[str], types: tuple[str, ...]) -> list[tuple]:
    return await store._run(_hop_sync, store, ids, types)


def _uplinks_sync(store: Any, device_ids: list[str]) -> list[tuple]:
    """(device, its interface, the peer interface, the peer's device, its class) for every
    open layer-2 link of the given devices to a switch (stored in either direction)."""
    sql = (
        "WITH ports(device, port) AS ("
        "SELECT d.value, hi.dst FROM json_each(?) d CROSS JOIN rel hi ON hi.src = d.value "
        "AND hi.type = 'HAS_INTERFACE' AND hi.ended_at IS NULL), "
        "links(device, port, peer) AS ("
        "SELECT p.device, p.port, l.dst FROM ports p CROSS JOIN rel l ON l.src = p.port "
        "AND l.type = 'CONNECTED_TO' AND l.ended_at IS NULL "
        "UNION ALL SELECT p.device, p.port, l.src FROM ports p CROSS JOIN rel l ON l.dst = p.port "
        "AND l.type = 'CONNECTED_TO' AND l.ended_at IS NULL) "
        "SELECT links.device, links.port, links.peer, hp.src, pd.class FROM links "
        "CROSS JOIN rel hp ON hp.dst = links.peer AND hp.type = 'HAS_INTERFACE' "
        "AND hp.ended_at IS NULL JOIN ci pd ON pd.id = hp.src AND pd.class = 'NetworkDevice'"
    )
    return store.conn.execute(sql, [json.dumps(device_ids)]).fetchall()


async def uplinks(store: Any, device_ids: list[str]) -> list[tuple]:
    return await store._run(_uplinks_sync, store, device_ids)
