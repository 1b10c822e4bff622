"""Impact reads on SQLite: one hop of a dependency walk for a whole frontier, the layer-2
links of devices to switches, and the raw closure of a failure (one recursive CTE; the
benchmark's yardstick). Relationship types come from ``cmdb.graph.dependency``."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Mapping

from cmdb.graph.dependency import LINK_TYPE, PORT_TYPE, split_directed, steps
from cmdb.graph.records import HopRow, Uplink, frontier_rows


def _marks(values: tuple[str, ...] | list[str]) -> str:
    return ",".join("?" * len(values))


def hop(conn: sqlite3.Connection, ids: list[str], types: tuple[str, ...]) -> list[HopRow]:
    """Open relationships of ``types`` touching ``ids``, with both ends' class, name and
    status: one query for a whole frontier. A bare type is read from either end, ``>T``
    only where the frontier CI is its src, ``<T`` only its dst (``split_directed``)."""
    from_src, from_dst = split_directed(types)
    arms, params = [], [json.dumps(ids)]
    for near, wanted in (("src", from_src), ("dst", from_dst)):
        if wanted:
            arms.append(
                f"SELECT rel.id, rel.type, rel.src, rel.dst FROM f CROSS JOIN rel "
                f"ON rel.{near} = f.id AND rel.ended_at IS NULL "
                f"AND rel.type IN ({_marks(wanted)})"
            )
            params += wanted
    if not arms:
        return []
    sql = (
        "WITH f(id) AS (SELECT value FROM json_each(?)), r AS ("
        + " UNION ".join(arms)
        + ") SELECT r.id, r.type, r.src, r.dst, a.class, b.class, a.name, b.name, "
        "a.status, b.status FROM r JOIN ci a ON a.id = r.src JOIN ci b ON b.id = r.dst"
    )
    return [HopRow(*row) for row in conn.execute(sql, params).fetchall()]


def uplinks(conn: sqlite3.Connection, device_ids: list[str]) -> list[Uplink]:
    """Every open layer-2 link of the given devices to a NetworkDevice (links are stored in
    either direction)."""
    sql = (
        "WITH ports(device, port) AS ("
        "SELECT d.value, hi.dst FROM json_each(?) d CROSS JOIN rel hi ON hi.src = d.value "
        f"AND hi.type = '{PORT_TYPE}' AND hi.ended_at IS NULL), "
        "links(device, port, peer) AS ("
        "SELECT p.device, p.port, l.dst FROM ports p CROSS JOIN rel l ON l.src = p.port "
        f"AND l.type = '{LINK_TYPE}' AND l.ended_at IS NULL "
        "UNION ALL SELECT p.device, p.port, l.src FROM ports p CROSS JOIN rel l ON l.dst = p.port "
        f"AND l.type = '{LINK_TYPE}' AND l.ended_at IS NULL) "
        "SELECT links.device, links.port, links.peer, hp.src, pd.class FROM links "
        f"CROSS JOIN rel hp ON hp.dst = links.peer AND hp.type = '{PORT_TYPE}' "
        "AND hp.ended_at IS NULL JOIN ci pd INDEXED BY ci_walk ON pd.id = hp.src "
        "AND pd.class = 'NetworkDevice'"
    )
    return [Uplink(*row) for row in conn.execute(sql, [json.dumps(device_ids)])]


def closure_sql() -> str:
    """The recursive CTE that follows every dependency of ``cmdb.graph.dependency`` upwards,
    without states or redundancy: what could be affected. A port leads to its device only
    when it is a host's port or one of the given switch uplinks (``?2``)."""
    arms = []
    for rel_type, ways in steps("up").items():
        for way in ways:
            near, far = ("src", "dst") if way == "out" else ("dst", "src")
            guard = ""
            if rel_type == PORT_TYPE and way == "in":
                guard = (
                    " AND ((SELECT class FROM ci WHERE ci.id = r.src) = 'Host'"
                    " OR r.dst IN (SELECT value FROM json_each(?2)))"
                )
            arms.append(
                f"SELECT r.{far} FROM hit CROSS JOIN rel r ON r.{near} = hit.id "
                f"AND r.type = '{rel_type}' AND r.ended_at IS NULL{guard}"
            )
    return (
        "WITH RECURSIVE hit(id) AS (SELECT value FROM json_each(?1) UNION "
        + " UNION ".join(arms)
        + ") SELECT id FROM hit"
    )


def closure(conn: sqlite3.Connection, start: list[str], uplink_ports: list[str]) -> list[str]:
    return [
        r[0] for r in conn.execute(closure_sql(), (json.dumps(start), json.dumps(uplink_ports)))
    ]


def walk_step(
    conn: sqlite3.Connection,
    ids: list[str],
    types: tuple[str, ...],
    back: Mapping[str, tuple[str, str]] | None = None,
) -> list[list]:
    """One hop of the impact walk, from the frontier's side: [type, near id, far id, near is
    the relationship's src (1/0), far class, far name, far status] for every open relationship
    of ``types`` touching ``ids`` (``>T`` / ``<T`` as in ``hop``), except those of type T to
    C where ``back`` maps the near id to (C, T). A relationship between two frontier CIs
    comes once from each end it is read from. Only the far end is looked up (the walk knows
    the near one): half the ``ci`` reads of ``hop`` and no de-duplication.
    The far end is read from the covering index ``ci_walk``, not the table's wide rows.
    The rows come as ONE JSON array built inside SQLite: the statement runs without the GIL
    from start to end (row by row, the thread would take it back for every row), so the
    walk's own work on the previous chunk runs meanwhile."""
    from_src, from_dst = split_directed(types)
    arms, params = [], [json.dumps(frontier_rows(ids, back))]
    for near, far, out, wanted in (("src", "dst", 1, from_src), ("dst", "src", 0, from_dst)):
        if wanted:
            arms.append(
                f"SELECT rel.type, rel.{near}, rel.{far}, {out} FROM f CROSS JOIN rel "
                f"ON rel.{near} = f.id AND rel.ended_at IS NULL "
                f"AND rel.type IN ({_marks(wanted)}) "
                f"AND NOT (rel.{far} = f.back AND rel.type = f.back_type)"
            )
            params += wanted
    if not arms:
        return []
    sql = (
        "WITH f(id, back, back_type) AS (SELECT json_extract(value, '$[0]'), "
        "json_extract(value, '$[1]'), json_extract(value, '$[2]') FROM json_each(?)), "
        "r(type, near, far, out) AS ("
        + " UNION ALL ".join(arms)
        + ") SELECT json_group_array(json_array(r.type, r.near, r.far, r.out, c.class, c.name, "
        "c.status)) FROM r CROSS JOIN ci c INDEXED BY ci_walk ON c.id = r.far"
    )
    # tuples: a tuple of strings and numbers leaves the garbage collector's lists, a list never
    return list(map(tuple, json.loads(conn.execute(sql, params).fetchone()[0])))


def generation(conn: sqlite3.Connection) -> tuple | None:
    """What changes whenever the graph may have: this connection (a reopened store is a new
    one), its row changes (``total_changes``, its own writes) and ``data_version`` (commits
    of other connections). None while a transaction is open on the connection: its writes
    may still roll back, and ``total_changes`` would not go back with them."""
    if conn.in_transaction:
        return None
    version = conn.execute("PRAGMA data_version").fetchone()[0]
    return (conn, version, conn.total_changes)
