"""Pending observed connections on SQLite (table ``pending_connection``, ``ddl.py``): the
outbound connections a host's agent saw that linked to nothing yet, kept until their
target reports (``cmdb.server.catalogue.connections``).

A change set's ``PendingSet`` is three statements whatever the number of rows, in the
change set's transaction: one ``executemany`` upsert of the client's current set (first
report and time kept, latest ones replaced), one delete of the client's rows this report
no longer has, one delete of every row last seen before the staleness cut (an index
range, empty in the common case). Reads take one query per 900 addresses.
"""

from __future__ import annotations

import sqlite3

from cmdb.graph.store import PendingConnection, PendingSet

_CHUNK = 900  # SQLite's default limit of bound variables is 999

_UPSERT = (
    "INSERT INTO pending_connection (client, address, port, process, first_report, first_at, "
    "seen_report, seen_at) VALUES (?,?,?,?,?,?,?,?) "
    "ON CONFLICT (client, address, port) DO UPDATE SET process=excluded.process, "
    "seen_report=excluded.seen_report, seen_at=excluded.seen_at"
)
_COLUMNS = "client, address, port, process, first_report, first_at, seen_report, seen_at"


def replace(conn: sqlite3.Connection, pending: PendingSet, report_id: str, at: str) -> None:
    """A change set's ``PendingSet``, written in the caller's transaction."""
    client = pending.client
    if pending.rows:
        conn.executemany(
            _UPSERT,
            [
                (client, r.address, r.port, r.process, report_id, at, report_id, at)
                for r in pending.rows
            ],
        )
    # rows this report did not confirm are the ones it no longer observes
    conn.execute(
        "DELETE FROM pending_connection WHERE client=? AND seen_report<>?", (client, report_id)
    )
    conn.execute("DELETE FROM pending_connection WHERE seen_at<?", (pending.stale_before,))


def to_addresses(
    conn: sqlite3.Connection, addresses: list[str], since: str
) -> list[PendingConnection]:
    """Pending connections to ``addresses`` last seen at or after ``since``."""
    out: list[PendingConnection] = []
    wanted = sorted(set(addresses))
    for start in range(0, len(wanted), _CHUNK):
        chunk = wanted[start : start + _CHUNK]
        marks = ",".join("?" * len(chunk))
        sql = f"SELECT {_COLUMNS} FROM pending_connection WHERE address IN ({marks}) AND seen_at>=?"
        out += [PendingConnection(*row) for row in conn.execute(sql, (*chunk, since))]
    return out
