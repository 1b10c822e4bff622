"""The server's shared state on SQLite (``DATA_DIR/control.db``, WAL): tokens, users,
scans, schedules, device claims and a small key/value store.

This is the embedded, single-server backend. With ``store = "neo4j"`` the same typed
methods are served from Neo4j (``cmdb.server.shared_state.neo4j``), so several servers share
them; ``cmdb.server.shared_state.open_shared_state`` picks one. ``execute`` (raw SQL) exists
only here: code that must work on both backends calls the typed methods.
"""

from __future__ import annotations

import hashlib
import json
import secrets
import sqlite3
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cmdb.collectors.model import utc_now_iso
from cmdb.server.private_files import private_dir, private_sqlite

# agent: its host's reports; poller: SNMP reports (remote scanners); reader: reads;
# editor: also writes; admin: also manages tokens (cmdb.server.api.auth has the grants)
ROLES = ("agent", "poller", "reader", "editor", "admin")
TOKEN_PREFIX = "cmdb_"
# key/value namespaces of the typed records
SCAN_NS, SCHEDULE_NS, CLAIM_NS = "scan", "schedule", "device_claim"
ACTIVE = ("queued", "running")  # a scan in these states may be cancelled
SCAN_LIST_LIMIT = 1000
_USER_COLUMNS = "id, name, role, created_at, disabled_at, session_version, hash"
_USER_FIELDS = ("hash", "role", "disabled_at")

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
    # people who sign in to the web UI (cmdb.server.users)
    """CREATE TABLE IF NOT EXISTS ui_user (
        id INTEGER PRIMARY KEY,
        name TEXT NOT NULL UNIQUE COLLATE NOCASE,
        role TEXT NOT NULL,
        hash TEXT NOT NULL,
        created_at TEXT NOT NULL,
        updated_at TEXT NOT NULL,
        disabled_at TEXT,
        session_version INTEGER NOT NULL DEFAULT 1
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


def token_key(hashed: str) -> str:
    """The stable name of a token (a hash of its hash), the same on every server."""
    return hashlib.sha256(b"agent-binding:" + hashed.encode()).hexdigest()[:32]


class ControlDB:
    """Synchronous and tiny; called from request handlers (each call is sub-millisecond)."""

    shared = False  # one server's file: not seen by other servers

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
        return Principal(*rows[0], key=token_key(hashed))

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

    def put_if_absent(self, namespace: str, key: str, value: str) -> str:
        """Store ``value`` unless the key has one; returns the value that is stored (two
        servers starting at once both call this and both get the one that won)."""
        with self._lock:
            self._conn.execute(
                "INSERT OR IGNORE INTO kv (namespace, key, value, updated_at) VALUES (?,?,?,?)",
                (namespace, key, value, utc_now_iso()),
            )
            return self._conn.execute(
                "SELECT value FROM kv WHERE namespace=? AND key=?", (namespace, key)
            ).fetchone()[0]

    # ------------------------------------------------------------ read-modify-write
    def _update(self, namespace: str, key: str, change) -> dict[str, Any] | None:
        """``change(old)`` (a dict, or None when absent) returns the new value or None for
        no change, inside one IMMEDIATE transaction (other processes wait): the
        compare-and-set under schedules, scans and claims. Returns what was written."""
        with self._lock:
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                row = self._conn.execute(
                    "SELECT value FROM kv WHERE namespace=? AND key=?", (namespace, key)
                ).fetchone()
                new = change(json.loads(row[0]) if row else None)
                if new is not None:
                    self._conn.execute(
                        "INSERT INTO kv (namespace, key, value, updated_at) VALUES (?,?,?,?) "
                        "ON CONFLICT (namespace, key) DO UPDATE SET value=excluded.value, "
                        "updated_at=excluded.updated_at",
                        (namespace, key, json.dumps(new), utc_now_iso()),
                    )
                self._conn.execute("COMMIT")
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
        return new

    def _values(self, namespace: str) -> list[dict[str, Any]]:
        return [json.loads(v) for _, v in self.items(namespace)]

    # ------------------------------------------------------------ schedules
    def schedule_save(self, schedule: dict[str, Any]) -> None:
        self.put(SCHEDULE_NS, schedule["name"], json.dumps(schedule))

    def schedule_get(self, name: str) -> dict[str, Any] | None:
        raw = self.get(SCHEDULE_NS, name)
        return json.loads(raw) if raw else None

    def schedule_list(self) -> list[dict[str, Any]]:
        return self._values(SCHEDULE_NS)

    def schedule_delete(self, name: str) -> bool:
        return self.delete(SCHEDULE_NS, name)

    def schedule_claim(self, name: str, expected: str, new: str) -> dict[str, Any] | None:
        """Compare-and-set of ``next_run`` from ``expected`` to ``new``: the schedule when
        this caller won the firing, None when another did (or it is gone)."""

        def change(old):
            if old is None or old.get("next_run") != expected:
                return None
            return {**old, "next_run": new}

        return self._update(SCHEDULE_NS, name, change)

    def schedule_update(self, name: str, fields: dict[str, Any]) -> dict[str, Any] | None:
        """Merge ``fields`` (last_run, last_scan_id, last_result ...) into a schedule."""
        return self._update(
            SCHEDULE_NS, name, lambda old: None if old is None else {**old, **fields}
        )

    # ------------------------------------------------------------ scans
    def scan_save(self, record: dict[str, Any]) -> None:
        """Write a scan's record, keeping a cancellation another caller asked for."""

        def change(old):
            return {**record, "cancel_requested": bool((old or {}).get("cancel_requested"))}

        self._update(SCAN_NS, record["id"], change)

    def scan_progress(
        self, scan_id: str, owner: str, fields: dict[str, Any]
    ) -> dict[str, Any] | None:
        """Merge an owner's progress ``fields`` (status, counts, heartbeat ...) into its scan
        while the scan is still active, in one compare-and-set; the record as it now stands
        (a finished scan unchanged: a late "running" never reopens it), or None when the
        scan is not this owner's."""

        seen: list[dict[str, Any] | None] = [None]  # the record the transaction read

        def change(old):
            seen[0] = old
            if old is None or old.get("owner") != owner or old.get("status") not in ACTIVE:
                return None
            return {**old, **fields}

        written = self._update(SCAN_NS, scan_id, change)
        if written is not None:
            return written
        old = seen[0]
        return old if old is not None and old.get("owner") == owner else None

    def scan_get(self, scan_id: str) -> dict[str, Any] | None:
        raw = self.get(SCAN_NS, scan_id)
        return json.loads(raw) if raw else None

    def scan_list(self, limit: int = SCAN_LIST_LIMIT) -> list[dict[str, Any]]:
        records = sorted(self._values(SCAN_NS), key=lambda r: r.get("created_at") or "")
        return records[::-1][:limit]

    def scan_cancel(self, scan_id: str) -> dict[str, Any] | None:
        """Ask for a running scan to stop (its owner sees it at its next heartbeat); the
        record, or None when there is no such scan."""

        def change(old):
            if old is None or old.get("status") not in ACTIVE:
                return None
            return {**old, "cancel_requested": True}

        self._update(SCAN_NS, scan_id, change)
        return self.scan_get(scan_id)

    def scan_heartbeat(self, scan_id: str, now: float) -> bool:
        """The owner is alive; True when someone asked the scan to stop."""
        done = self._update(
            SCAN_NS, scan_id, lambda old: None if old is None else {**old, "heartbeat": now}
        )
        return bool(done and done.get("cancel_requested"))

    def scan_mark_stale(self, now: float, fields: dict[str, Any]) -> list[str]:
        """Active scans whose owner stopped beating (heartbeat + lease < now) get ``fields``
        (status interrupted ...); their ids."""
        marked = []
        for record in self._values(SCAN_NS):
            if record.get("status") in ACTIVE and _expired(record, now):

                def change(old):
                    if old is None or old.get("status") not in ACTIVE or not _expired(old, now):
                        return None
                    return {**old, **fields}

                if self._update(SCAN_NS, record["id"], change) is not None:
                    marked.append(record["id"])
        return marked

    def scan_active_for_schedule(self, schedule: str, now: float) -> dict[str, Any] | None:
        for record in self._values(SCAN_NS):
            if (
                record.get("schedule") == schedule
                and record.get("status") in ACTIVE
                and not _expired(record, now)
            ):
                return record
        return None

    # ------------------------------------------------------------ device claims
    def claim_targets(self, targets: list[str], owner: str, ttl: float, now: float) -> list[str]:
        """Targets (``host:port``) this owner may scan now: unclaimed, expired or its own;
        each granted one is claimed until ``now + ttl``."""
        granted = []
        for target in targets:

            def change(old):
                if old and old["owner"] != owner and old["expires"] >= now:
                    return None
                return {"owner": owner, "expires": now + ttl}

            if self._update(CLAIM_NS, target, change) is not None:
                granted.append(target)
        return granted

    def release_targets(self, targets: list[str], owner: str) -> None:
        for target in targets:
            raw = self.get(CLAIM_NS, target)
            if raw and json.loads(raw).get("owner") == owner:
                self.delete(CLAIM_NS, target)

    # ------------------------------------------------------------ users (cmdb.server.users)
    def user_insert(self, name: str, role: str, digest: str, now: str) -> int | None:
        """A new user's id, or None when the name (case-insensitive) is taken."""
        try:
            cur = self._exec(
                "INSERT INTO ui_user (name, role, hash, created_at, updated_at) VALUES (?,?,?,?,?)",
                (name, role, digest, now, now),
            )
        except sqlite3.IntegrityError:
            return None
        return int(cur.lastrowid)

    def user_get(self, user_id: int) -> dict[str, Any] | None:
        rows = self.execute(f"SELECT {_USER_COLUMNS} FROM ui_user WHERE id=?", (int(user_id),))
        return _user(rows[0]) if rows else None

    def user_by_name(self, name: str) -> dict[str, Any] | None:
        rows = self.execute(f"SELECT {_USER_COLUMNS} FROM ui_user WHERE name=?", (name,))
        return _user(rows[0]) if rows else None

    def user_list(self) -> list[dict[str, Any]]:
        return [
            _user(r) for r in self.execute(f"SELECT {_USER_COLUMNS} FROM ui_user ORDER BY name")
        ]

    def user_update(self, user_id: int, fields: dict[str, Any], end_sessions: bool) -> bool:
        """Set ``fields`` (hash, role, disabled_at); ``end_sessions`` bumps session_version."""
        assigned = [f"{k}=?" for k in fields if k in _USER_FIELDS]
        bump = ", session_version=session_version+1" if end_sessions else ""
        cur = self._exec(
            f"UPDATE ui_user SET {', '.join([*assigned, 'updated_at=?'])}{bump} WHERE id=?",
            (*[fields[k] for k in fields if k in _USER_FIELDS], utc_now_iso(), int(user_id)),
        )
        return cur.rowcount > 0

    def user_active_admins(self) -> int:
        rows = self.execute(
            "SELECT count(*) FROM ui_user WHERE role='admin' AND disabled_at IS NULL"
        )
        return int(rows[0][0])

    def _exec(self, sql: str, params: tuple) -> sqlite3.Cursor:
        with self._lock:
            return self._conn.execute(sql, params)


def _expired(record: dict[str, Any], now: float) -> bool:
    return float(record.get("heartbeat") or 0) + float(record.get("lease") or 0) < now


def _user(row: tuple) -> dict[str, Any]:
    return dict(
        zip(
            ("id", "name", "role", "created_at", "disabled_at", "session_version", "hash"),
            row,
            strict=True,
        )
    )
