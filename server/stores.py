"""Pick and open the graph store the settings name."""

from __future__ import annotations

from cmdb.graph.store import Store
from cmdb.server.config import Settings


def make_store(settings: Settings) -> Store:
    if settings.store == "neo4j":
        from cmdb.graph.neo4j.store import Neo4jStore

        return Neo4jStore(
            settings.neo4j_uri,
            settings.neo4j_user,
            settings.neo4j_password,
            database=settings.neo4j_database,
            # fail fast while Neo4j is away: the request answers 503 and the agent spools,
            # instead of holding the connection until the agent's own timeout
            connection_timeout=settings.neo4j_timeout,
            connection_acquisition_timeout=settings.neo4j_timeout * 2,
            max_transaction_retry_time=settings.neo4j_timeout,
        )
    from cmdb.graph.sqlite.store import SQLiteStore

    return SQLiteStore(settings.graph_db)
