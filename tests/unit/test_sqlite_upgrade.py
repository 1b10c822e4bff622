"""A SQLite database written by an earlier version opens and keeps its history."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from cmdb.graph.schema import REL_PROVENANCE
from cmdb.graph.sqlite.store import SQLiteStore
from cmdb.graph.store import ChangeSet

T0 = "2026-11-01T00:00:00.000Z"
T1 = "2026-11-02T00:00:00.000Z"


def _earlier_database(path: Path) -> None:
    """The ci, rel and history tables as they were before relationships kept provenance,
    with one relationship and the history row that recorded its opening."""
    conn = sqlite3.connect(path)
    conn.executescript(
        """
        CREATE TABLE ci (id TEXT PRIMARY KEY, class TEXT NOT NULL, name TEXT,
            status TEXT NOT NULL DEFAULT 'live', first_seen TEXT NOT NULL,
            last_seen TEXT NOT NULL, scope TEXT, sources TEXT NOT NULL DEFAULT '[]',
            attributes TEXT NOT NULL DEFAULT '{}', attr_sources TEXT NOT NULL DEFAULT '{}');
        CREATE TABLE rel (id TEXT PRIMARY KEY, type TEXT NOT NULL, src TEXT NOT NULL,
            dst TEXT NOT NULL, first_seen TEXT NOT NULL, last_seen TEXT NOT NULL,
            ended_at TEXT, scope TEXT, sources TEXT NOT NULL DEFAULT '[]',
            attributes TEXT NOT NULL DEFAULT '{}');
        CREATE TABLE history (seq INTEGER PRIMARY KEY AUTOINCREMENT, ci_id TEXT NOT NULL,
            other_id TEXT, kind TEXT NOT NULL, field TEXT NOT NULL, old TEXT, new TEXT,
            at TEXT NOT NULL, source TEXT NOT NULL, report_id TEXT, actor TEXT);
        CREATE INDEX history_report ON history (report_id);
        """
    )
    conn.executemany(
        "INSERT INTO ci (id, class, name, first_seen, last_seen) VALUES (?,?,?,?,?)",
        [("h1", "Host", "h1", T0, T0), ("s1", "Software", "s1", T0, T0)],
    )
    conn.execute(
        "INSERT INTO rel (id, type, src, dst, first_seen, last_seen) "
        "VALUES ('r1', 'INSTALLED', 'h1', 's1', ?, ?)",
        (T0, T0),
    )
    conn.execute(
        "INSERT INTO history (ci_id, other_id, kind, field, old, new, at, source, report_id) "
        "VALUES ('h1', 's1', 'relationship', 'INSTALLED', NULL, '{\"id\":\"s1\"}', ?, "
        "'agent', 'rep-0')",
        (T0,),
    )
    conn.commit()
    conn.close()


async def test_earlier_database_gains_provenance_and_keeps_its_history(tmp_path: Path) -> None:
    path = tmp_path / "cmdb.db"
    _earlier_database(path)
    store = SQLiteStore(path)
    await store.open()
    try:
        columns = {row[1] for row in store.conn.execute("PRAGMA table_info(rel)")}
        assert set(REL_PROVENANCE) <= columns
        indexes = {row[1] for row in store.conn.execute("PRAGMA index_list(history)")}
        assert "history_report" not in indexes  # no read used it
        # the stored opening stays; a relationship without provenance adds no event
        entries, total = await store.history("h1", 10, 0)
        assert total == 1 and entries[0].report_id == "rep-0"
        # closing it now is recorded on the relationship, and read as an event
        await store.apply(ChangeSet(report_id="rep-1", source="agent", at=T1, close_rels=["r1"]))
        entries, total = await store.history("h1", 10, 0)
        assert total == 2
        assert (entries[0].at, entries[0].old, entries[0].new) == (
            T1,
            {"id": "s1", "name": "s1"},
            None,
        )
        assert entries[0].report_id == "rep-1"
    finally:
        await store.close()
