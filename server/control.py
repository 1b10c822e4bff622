"""The server's own small database (tokens, scans, schedules), beside whichever graph store.

It always lives in ``DATA_DIR/control.db`` (SQLite, WAL): the graph store may be a
remote Neo4j, but who may talk to the server is the server's business.
"""

from __future__ import annotations

import hashlib
import secrets
import sqlite3
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from collectors.model import utc_now_iso
from server.private_files import private_dir, private_sqlite

# agent: its host's reports; poller: SNMP reports (remote scanners); reader: reads;
# editor: also writes; admin: also manages tokens (server.api.auth has the grants)
ROLES = ("agent", "poller", "reader", "editor", "admin")
TOKEN_PREFIX = "cmdb_"

_DDL = (
    """CREATE TABLE IF NOT EXISTS token (
        id INTEGER PRIMARY KEY,
        name TEXT NOT NULL,
        role TEXT NOT NULL,
        hash TEXT NOT NULL UNIQUE,
        created_at TEXT NOT NULL,
        revoked_at TEXT
    )""",
    """CREATE TABLE IF NOT EXISTS kv (
        namespace TEXT NOT NULL,
        key TEXT NOT NULL,
        value TEXT NOT NULL,
        updated_at TEXT NOT NULL,
        PRIMARY KEY (namespace, key)
    )""",
)


def hash_token(token: str) -> str:
    # tokens are 256-bit random strings: a fast hash is enough, no salt or KDF needed
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass(frozen=True)
class Principal:
    """Who is calling: the token's id in this control database, its name and role, and
    ``key``, a stable name of the token itself (a hash of its hash) that is the same on
    every server: what an agent token is bound to its host by."""

    token_id: int
    name: str
    role: str
    key: str = ""


class ControlDB:
    """Synchronous and tiny; called from request handlers (each call is sub-millisecond)."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        # token hashes and scan credentials: the data dir 0700, the database files 0600
        private_dir(self.path.parent)
        private_sqlite(self.path)
        self._lock = threading.Lock()
        self._conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        self._conn.execute("PRAGMA journal_mode=WAL")
        self._conn.execute("PRAGMA synchronous=FULL")
        self._conn.execute("PRAGMA busy_timeout=5000")
        for statement in _DDL:
            self._conn.execute(statement)

    def close(self) -> None:
        self._conn.close()

    def execute(self, sql: str, params: tuple | list = ()) -> list[tuple]:
        with self._lock:
            return self._conn.execute(sql, params).fetchall()

    # ------------------------------------------------------------ tokens
    def create_token(self, role: str, name: str | None = None) -> tuple[int, str]:
        if role not in ROLES:
            raise ValueError(f"role must be one of {', '.join(ROLES)}, not {role!r}")
        token = TOKEN_PREFIX + secrets.token_urlsafe(32)
        with self._lock:
            cur = self._conn.execute(
                "INSERT INTO token (name, role, hash, created_at) VALUES (?,?,?,?)",
                (name or f"{role}-token", role, hash_token(token), utc_now_iso()),
            )
        return int(cur.lastrowid), token

    def authenticate(self, token: str) -> Principal | None:
        hashed = hash_token(token)
        rows = self.execute(
            "SELECT id, name, role FROM token WHERE hash=? AND revoked_at IS NULL", (hashed,)
        )
        if not rows:
            return None
        key = hashlib.sha256(b"agent-binding:" + hashed.encode()).hexdigest()[:32]
        return Principal(*rows[0], key=key)

    def list_tokens(self) -> list[dict[str, Any]]:
        rows = self.execute("SELECT id, name, role, created_at, revoked_at FROM token ORDER BY id")
        keys = ("id", "name", "role", "created_at", "revoked_at")
        return [dict(zip(keys, row, strict=True)) for row in rows]

    def revoke_token(self, token_id: int) -> bool:
        with self._lock:
            cur = self._conn.execute(
                "UPDATE token SET revoked_at=? WHERE id=? AND revoked_at IS NULL",
                (utc_now_iso(), token_id),
            )
        return cur.rowcount > 0

    # ------------------------------------------------------------ key/value (scans, schedules)
    def put(self, namespace: str, key: str, value: str) -> None:
        with self._lock:
            self._conn.execute(
                "INSERT INTO kv (namespace, key, value, updated_at) VALUES (?,?,?,?) "
                "ON CONFLICT (namespace, key) DO UPDATE SET value=excluded.value, "
                "updated_at=excluded.updated_at",
                (namespace, key, value, utc_now_iso()),
            )

    def get(self, namespace: str, key: str) -> str | None:
        rows = self.execute("SELECT value FROM kv WHERE namespace=? AND key=?", (namespace, key))
        return rows[0][0] if rows else None

    def items(self, namespace: str) -> list[tuple[str, str]]:
        return [
            (k, v)
            for k, v in self.execute(
                "SELECT key, value FROM kv WHERE namespace=? ORDER BY key", (namespace,)
            )
        ]

    def delete(self, namespace: str, key: str) -> bool:
        with self._lock:
            cur = self._conn.execute("DELETE FROM kv WHERE namespace=? AND key=?", (namespace, key))
        return cur.rowcount > 0
