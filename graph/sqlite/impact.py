"""Impact reads on SQLite: one hop of the impact walk for a whole frontier, and the
layer-2 uplinks of devices (``server.catalogue.impact`` decides states from them)."""

from __future__ import annotations

import json
import sqlite3


def _marks(values: tuple[str, ...]) -> str:
    return ",".join("?" * len(values))


def hop(conn: sqlite3.Connection, ids: list[str], types: tuple[str, ...]) -> list[tuple]:
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
    return conn.execute(sql, [json.dumps(ids), *types, *types]).fetchall()


def uplinks(conn: sqlite3.Connection, device_ids: list[str]) -> list[tuple]:
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
    return conn.execute(sql, [json.dumps(device_ids)]).fetchall()
