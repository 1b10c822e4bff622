"""History reads on SQLite: the ``history`` rows merged with the relationship events that
``rel`` rows carry (opened at ``first_seen``, closed at ``ended_at``; see ``cmdb.graph.store``).

One ``UNION ALL`` per read, so SQLite sorts and pages the merged sequence itself. Within
one instant, events sort after the CI entries of the same change set (``rank``), which is
the order a reconciliation makes them in.
"""

from __future__ import annotations

import sqlite3
from typing import Any

from cmdb.graph.store import HistoryEntry, history_from_stored, seen_from

COLUMNS = (
    "ci_id",
    "other_id",
    "kind",
    "field",
    "old",
    "new",
    "at",
    "source",
    "report_id",
    "actor",
    "event",
    "other_name",
    "request_id",
    "src_name",
)

_ENTRIES = (
    "SELECT ci_id, other_id, kind, field, old, new, at, source, report_id, actor, "
    "NULL AS event, NULL AS other_name, 0 AS rank, seq AS ord, request_id, NULL "
    "FROM history h WHERE {where}"
)
_OPENED = (
    "SELECT r.src, r.dst, 'relationship', r.type, NULL, NULL, r.first_seen, r.opened_source, "
    "r.opened_by, r.opened_actor, 'opened', (SELECT name FROM ci WHERE ci.id = r.dst), 1, "
    "r.rowid, r.opened_request, (SELECT name FROM ci WHERE ci.id = r.src) "
    "FROM rel r WHERE r.opened_source IS NOT NULL AND {where}"
)
_CLOSED = (
    "SELECT r.src, r.dst, 'relationship', r.type, NULL, NULL, r.ended_at, r.closed_source, "
    "r.closed_by, r.closed_actor, 'closed', (SELECT name FROM ci WHERE ci.id = r.dst), 2, "
    "r.rowid, r.closed_request, (SELECT name FROM ci WHERE ci.id = r.src) "
    "FROM rel r WHERE r.closed_source IS NOT NULL AND {where}"
)


class _Filter:
    """The WHERE clause of each arm and its parameters, built from the same conditions."""

    def __init__(self) -> None:
        self.arms: dict[str, list[str]] = {"h": [], "o": [], "c": []}
        self.params: dict[str, list[Any]] = {"h": [], "o": [], "c": []}

    def add(self, h: str, o: str, c: str, *params: Any) -> None:
        for arm, clause in (("h", h), ("o", o), ("c", c)):
            self.arms[arm].append(clause)
            self.params[arm] += list(params)

    def union(self) -> tuple[str, list[Any]]:
        sql = " UNION ALL ".join(
            template.format(where=" AND ".join(self.arms[arm]) or "1=1")
            for arm, template in (("h", _ENTRIES), ("o", _OPENED), ("c", _CLOSED))
        )
        return sql, self.params["h"] + self.params["o"] + self.params["c"]


def _time_range(f: _Filter, since: str | None, until: str | None) -> None:
    if since:
        f.add("h.at >= ?", "r.first_seen >= ?", "r.ended_at >= ?", since)
    if until:
        f.add("h.at <= ?", "r.first_seen <= ?", "r.ended_at <= ?", until)


def _entries(rows: Any, ci_id: str | None = None) -> list[HistoryEntry]:
    """History entries from rows; with ``ci_id``, relationship events as that CI sees them
    (``cmdb.graph.store.seen_from``)."""
    out = []
    for row in rows:
        stored = dict(zip(COLUMNS, (*row[:12], row[14], row[15]), strict=True))
        out.append(history_from_stored(seen_from(stored, ci_id) if ci_id else stored))
    return out


def of_ci(
    conn: sqlite3.Connection,
    ci_id: str,
    limit: int,
    offset: int,
    since: str | None,
    until: str | None,
    request_id: str | None = None,
) -> tuple[list[HistoryEntry], int]:
    """A CI's history, newest first, with the total count of the range (only what one
    request caused, with ``request_id``)."""
    f = _Filter()
    f.add(
        "(h.ci_id = ? OR h.other_id = ?)",
        "(r.src = ? OR r.dst = ?)",
        "(r.src = ? OR r.dst = ?)",
        ci_id,
        ci_id,
    )
    _time_range(f, since, until)
    if request_id:
        f.add("h.request_id = ?", "r.opened_request = ?", "r.closed_request = ?", request_id)
    sql, params = f.union()
    total = conn.execute(f"SELECT count(*) FROM ({sql})", params).fetchone()[0]
    rows = conn.execute(
        f"{sql} ORDER BY 7 DESC, 13 DESC, 14 DESC LIMIT ? OFFSET ?", [*params, limit, offset]
    )
    return _entries(rows, ci_id), total


def between(
    conn: sqlite3.Connection,
    since: str | None,
    until: str | None,
    sources: tuple[str, ...] | None,
    limit: int,
) -> list[HistoryEntry]:
    """Every CI's history in a time range (oldest first), from the given sources."""
    f = _Filter()
    _time_range(f, since, until)
    if sources:
        marks = ",".join("?" * len(sources))
        f.add(
            f"h.source IN ({marks})",
            f"r.opened_source IN ({marks})",
            f"r.closed_source IN ({marks})",
            *sources,
        )
    sql, params = f.union()
    rows = conn.execute(f"{sql} ORDER BY 7, 13, 14 LIMIT ?", [*params, limit])
    return _entries(rows)
