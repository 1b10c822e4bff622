"""Where the state every server of one installation shares lives, chosen by the store.

``store = "sqlite"`` (the embedded single-server default): ``cmdb.server.control.ControlDB`` on
``DATA_DIR/control.db``. ``store = "neo4j"``: ``cmdb.server.shared_state.neo4j.Neo4jSharedState``
on the graph's own Neo4j, so any number of ``cmdb server`` processes (and the ``cmdb
token`` CLI) read and write the same tokens, users, scans, schedules, device claims and
key/value entries.

Both backends offer the same typed methods (tokens: ``create_token``, ``authenticate``,
``list_tokens``, ``revoke_token``; key/value: ``put``, ``put_if_absent``, ``get``,
``items``, ``delete``; ``schedule_*``, ``scan_*``, ``claim_targets``/``release_targets``,
``user_*``) and ``shared`` (True when other servers see the same state).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from cmdb.server.config import Settings, load_settings
from cmdb.server.control import ControlDB


def open_shared_state(settings: Settings) -> Any:
    """The shared state for these settings (raises ``StoreUnavailable``/``StoreError`` when
    Neo4j cannot be reached)."""
    if settings.store == "neo4j":
        from cmdb.server.shared_state.neo4j import Neo4jSharedState

        return Neo4jSharedState(
            settings.neo4j_uri,
            settings.neo4j_user,
            settings.neo4j_password,
            database=settings.neo4j_database,
            timeout=settings.neo4j_timeout,
        )
    return ControlDB(settings.control_db)


def open_cli_state(data_dir: Path | str | None, config: str | None = None) -> Any:
    """What ``cmdb token`` (and other commands run beside the server) use: the server's
    settings from ``config`` or ``CMDB_CONFIG``, then the environment (``CMDB_STORE``,
    ``CMDB_NEO4J_*``), with ``data_dir`` from the command line."""
    overrides = {"data_dir": str(data_dir)} if data_dir else {}
    return open_shared_state(load_settings(config, overrides))


def ensure_app_state(app: Any, settings: Settings, key: Any) -> Any:
    """Make ``app[key]`` the shared state these settings call for: when the app opened the
    per-machine SQLite control database while the store is Neo4j, it is closed and
    replaced by the Neo4j one. Returns what to close at shutdown (or None)."""
    current = app[key]
    if settings.store != "neo4j" or getattr(current, "shared", False):
        return None
    state = open_shared_state(settings)
    app[key] = state
    return state
