"""Batched lookups by attribute, by name and by address, and the staleness scan, on SQLite.

Each takes a batch of values (at most ``_MAX_SQL_VARS`` bound at once) and answers
``(key, CI id)`` pairs in one statement; attribute lookups read the JSON attributes
through ``json_extract``, matching the expression indexes ``cmdb.graph.sqlite.ddl`` creates.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable

from cmdb.graph.dependency import SIGHTING_TYPES
from cmdb.graph.schema import LOOKUP_ATTRIBUTES

MANUAL_SOURCE = "manual"  # cmdb.server.catalogue.writes.SOURCE

_MAX_SQL_VARS = 900


def _pairs(
    conn: sqlite3.Connection, sql: str, values: list[str], leading: Iterable[str] = ()
) -> list[tuple[str, str]]:
    """(key, id) rows of ``sql`` for every batch of ``values`` (bound to ``{marks}``, after
    the ``leading`` parameters)."""
    out: list[tuple[str, str]] = []
    for start in range(0, len(values), _MAX_SQL_VARS):
        chunk = values[start : start + _MAX_SQL_VARS]
        query = sql.format(marks=",".join("?" * len(chunk)))
        out += [(str(k), str(i)) for k, i in conn.execute(query, [*leading, *chunk])]
    return out


def attribute_pairs(
    conn: sqlite3.Connection, cls: str, attr: str, values: list[str]
) -> list[tuple[str, str]]:
    if (cls, attr) not in LOOKUP_ATTRIBUTES:  # names reach the SQL text: only declared ones
        raise ValueError(f"{cls}.{attr} is not an indexed lookup attribute")
    sql = (
        f"SELECT json_extract(attributes, '$.{attr}'), id FROM ci "
        f"WHERE class = '{cls}' AND json_extract(attributes, '$.{attr}') IN ({{marks}})"
    )
    return _pairs(conn, sql, values)


def name_pairs(
    conn: sqlite3.Connection, classes: tuple[str, ...], names: list[str]
) -> list[tuple[str, str]]:
    sql = (
        f"SELECT lower(name), id FROM ci WHERE class IN ({','.join('?' * len(classes))}) "
        "AND name COLLATE NOCASE IN ({marks})"
    )
    return _pairs(conn, sql, names, classes)


def interface_ip_pairs(conn: sqlite3.Connection, addresses: list[str]) -> list[tuple[str, str]]:
    sql = (
        "SELECT json_extract(ip.attributes, '$.address'), rel.src FROM ci ip "
        "JOIN rel ON rel.dst = ip.id AND rel.type = 'HAS_IP' AND rel.ended_at IS NULL "
        "WHERE ip.class = 'IPAddress' AND json_extract(ip.attributes, '$.address') IN ({marks})"
    )
    return _pairs(conn, sql, addresses)


_UNSEEN = """
SELECT ci.id FROM ci LEFT JOIN source_state ss ON ss.scope = ci.scope
WHERE ci.status IN ({statuses}) AND ci.class IN ({classes})
  AND max(ci.last_seen, coalesce(ss.last_report_at, '')) < ?
  AND NOT (json_array_length(ci.sources) = 1 AND json_extract(ci.sources, '$[0]') = ?)
  AND NOT EXISTS (
    SELECT 1 FROM rel r LEFT JOIN source_state rs ON rs.scope = r.scope
    WHERE r.dst = ci.id AND r.ended_at IS NULL AND r.type IN ({sightings})
      AND max(r.last_seen, coalesce(rs.last_report_at, '')) >= ?)
LIMIT ?
"""


def unseen_since(
    conn: sqlite3.Connection,
    before: str,
    statuses: Iterable[str],
    classes: Iterable[str],
    limit: int,
) -> list[str]:
    statuses, classes = list(statuses), list(classes)
    # a relationship keeps its target seen only if its source reports the target exists
    # (an interface, a package): a dependency is not a sighting (cmdb.graph.dependency)
    sql = _UNSEEN.format(
        statuses=",".join("?" * len(statuses)),
        classes=",".join("?" * len(classes)),
        sightings=",".join("?" * len(SIGHTING_TYPES)),
    )
    # a CI declared by hand that no discovery has reported (sources exactly ["manual"]) is
    # never unseen: nothing is expected to see it (cmdb.graph.staleness)
    params = [*statuses, *classes, before, MANUAL_SOURCE, *SIGHTING_TYPES, before, limit]
    return [r[0] for r in conn.execute(sql, params)]
