"""Shared fixtures. ``store`` runs every store test on SQLite and on the real Neo4j."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from tests.store.neo4j_fixture import neo4j_server, neo4j_store, open_neo4j_store  # noqa: E402

__all__ = ["neo4j_server", "neo4j_store"]

IN_CI = os.environ.get("CI") == "true"


@pytest.fixture(params=["sqlite", "neo4j"])
async def store(request, tmp_path):
    if request.param == "sqlite":
        from cmdb.graph.sqlite.store import SQLiteStore

        backend = SQLiteStore(tmp_path / "graph.db")
        await backend.open()
        yield backend
        await backend.close()
    else:
        async with open_neo4j_store(request.getfixturevalue("neo4j_server")) as backend:
            yield backend
