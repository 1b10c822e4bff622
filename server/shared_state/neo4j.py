"""The shared state on Neo4j: what every server process of one installation must agree on.

Tokens (hashes only), users, scans, schedules, device claims and a small key/value store
are nodes with labels of their own (``Cmdb*``, never ``CI``), so graph queries never see
them. Calls are small and rare, so this uses the synchronous driver; each is one managed
transaction (retried by the driver on transient errors).

Compare-and-set: a write that must see the latest committed value first takes the node's
write lock (``SET n.locked_at = ...``) and only then reads (the Cypher manual's pattern
against lost updates), so of two servers claiming one schedule firing or one device,
exactly one wins.

Token authentications are cached per server, so a report costs no token query: every
revocation also counts up one revocation counter (in the same transaction), and each server
reads that counter at most every ``REVOCATION_CHECK_SECONDS`` (2) and forgets every cached
authentication when it moved. A token revoked on another server keeps working here for at
most that long (on the server that revoked it, at once); a cached authentication is checked
again after ``AUTH_CACHE_SECONDS`` (600) in any case (a token revoked by hand in Cypher,
without the counter). Unknown tokens are never cached, so a token made on one server works
on every other at once.
"""

from __future__ import annotations

import json
import secrets
import threading
import time
from collections.abc import Callable
from typing import Any, TypeVar

import neo4j
from neo4j import GraphDatabase
from neo4j import exceptions as nx

from cmdb.collectors.model import utc_now_iso
from cmdb.graph.store import StoreError, StoreUnavailable
from cmdb.server.control import (
    ACTIVE,
    ROLES,
    SCAN_LIST_LIMIT,
    TOKEN_PREFIX,
    Principal,
    hash_token,
    token_key,
)

T = TypeVar("T")
AUTH_CACHE_SECONDS = 600.0  # a cached authentication is checked again after this long
REVOCATION_CHECK_SECONDS = 2.0  # how stale this server's view of revocations may be
MAX_CACHED = 100_000  # authentications kept per server (about 30 MB at most)
_REVOCATIONS = "token_revocations"  # the CmdbCounter every revocation counts up
_USER_FIELDS = ("hash", "role", "disabled_at")

SCHEMA = (
    "CREATE CONSTRAINT cmdb_token_hash IF NOT EXISTS FOR (n:CmdbToken) REQUIRE n.hash IS UNIQUE",
    "CREATE CONSTRAINT cmdb_token_id IF NOT EXISTS FOR (n:CmdbToken) REQUIRE n.id IS UNIQUE",
    "CREATE CONSTRAINT cmdb_counter IF NOT EXISTS FOR (n:CmdbCounter) REQUIRE n.name IS UNIQUE",
    "CREATE CONSTRAINT cmdb_kv IF NOT EXISTS FOR (n:CmdbKV) REQUIRE n.k IS UNIQUE",
    "CREATE CONSTRAINT cmdb_user_id IF NOT EXISTS FOR (n:CmdbUser) REQUIRE n.id IS UNIQUE",
    "CREATE CONSTRAINT cmdb_user_name IF NOT EXISTS "
    "FOR (n:CmdbUser) REQUIRE n.name_lower IS UNIQUE",
    "CREATE CONSTRAINT cmdb_schedule IF NOT EXISTS FOR (n:CmdbSchedule) REQUIRE n.name IS UNIQUE",
    "CREATE CONSTRAINT cmdb_scan IF NOT EXISTS FOR (n:CmdbScan) REQUIRE n.id IS UNIQUE",
    "CREATE CONSTRAINT cmdb_claim IF NOT EXISTS FOR (n:CmdbClaim) REQUIRE n.target IS UNIQUE",
    "CREATE INDEX cmdb_scan_schedule IF NOT EXISTS FOR (n:CmdbScan) ON (n.schedule)",
    "CREATE INDEX cmdb_scan_status IF NOT EXISTS FOR (n:CmdbScan) ON (n.status)",
)

_NEXT_ID = (
    "MERGE (c:CmdbCounter {name: $name}) SET c.locked_at = timestamp() "
    "WITH c SET c.value = coalesce(c.value, 0) + 1 RETURN c.value AS value"
)
_SCAN_FIELDS = "s.data AS data, s.cancel_requested AS cancel"


def _kv_key(namespace: str, key: str) -> str:
    return f"{namespace}\x1f{key}"


def _scan(row: Any) -> dict[str, Any] | None:
    if row is None:
        return None
    return {**json.loads(row["data"]), "cancel_requested": bool(row["cancel"])}


class Neo4jSharedState:
    """The typed methods of ``cmdb.server.control.ControlDB`` (no raw ``execute``) on Neo4j."""

    shared = True  # every server on this Neo4j sees the same state

    def __init__(
        self,
        uri: str,
        user: str,
        password: str,
        database: str | None = None,
        timeout: float = 3.0,
    ) -> None:
        self.uri = uri
        self.database = database
        try:
            self._driver = GraphDatabase.driver(
                uri,
                auth=(user, password),
                connection_timeout=timeout,
                connection_acquisition_timeout=timeout * 2,
                max_transaction_retry_time=max(timeout, 5.0),
                notifications_min_severity=neo4j.NotificationMinimumSeverity.OFF,
            )
        except (nx.ConfigurationError, ValueError) as exc:
            raise StoreError(f"cannot use the Neo4j URI {uri!r}: {exc}") from exc
        # one bookmark manager for this process: on a cluster a read sees our own writes
        self._bookmarks = GraphDatabase.bookmark_manager()
        # token hash -> (expires, the revocation counter it was read under, principal)
        self._auth_cache: dict[str, tuple[float, int | None, Principal]] = {}
        self._cache_lock = threading.Lock()
        # the revocation counter as last read, and when (monotonic); one reader at a time
        self._revocations: int | None = None
        self._revocations_read = float("-inf")
        self._revocations_lock = threading.Lock()
        for statement in SCHEMA:
            self._run(lambda tx, q=statement: tx.run(q).consume(), write=True)

    def close(self) -> None:
        self._driver.close()

    # ------------------------------------------------------------ plumbing
    def _run(self, work: Callable[[neo4j.ManagedTransaction], T], write: bool = False) -> T:
        try:
            with self._driver.session(
                database=self.database, bookmark_manager=self._bookmarks
            ) as session:
                if write:
                    return session.execute_write(work)
                return session.execute_read(work)
        except (nx.ServiceUnavailable, nx.SessionExpired, ConnectionError, OSError) as exc:
            raise StoreUnavailable(f"Neo4j at {self.uri} is unavailable: {exc}") from exc
        except nx.AuthError as exc:
            raise StoreError(f"Neo4j at {self.uri} refused the credentials: {exc}") from exc

    def _one(self, query: str, write: bool = False, **params: Any) -> Any:
        return self._run(lambda tx: tx.run(query, params).single(), write=write)

    def _all(self, query: str, write: bool = False, **params: Any) -> list[Any]:
        return self._run(lambda tx: list(tx.run(query, params)), write=write)

    # ------------------------------------------------------------ tokens
    def create_token(self, role: str, name: str | None = None) -> tuple[int, str]:
        if role not in ROLES:
            raise ValueError(f"role must be one of {', '.join(ROLES)}, not {role!r}")
        token = TOKEN_PREFIX + secrets.token_urlsafe(32)

        def work(tx: neo4j.ManagedTransaction) -> int:
            token_id = tx.run(_NEXT_ID, name="token").single()["value"]
            tx.run(
                "CREATE (:CmdbToken {id: $id, name: $name, role: $role, hash: $hash, "
                "created_at: $at, revoked_at: null})",
                id=token_id,
                name=name or f"{role}-token",
                role=role,
                hash=hash_token(token),
                at=utc_now_iso(),
            ).consume()
            return int(token_id)

        return self._run(work, write=True), token

    def authenticate(self, token: str) -> Principal | None:
        """The token's principal, or None when it is unknown or revoked. Served from this
        server's cache while no token was revoked anywhere (``_revocations_moved``): at most
        one small read every ``REVOCATION_CHECK_SECONDS``, not a query per request."""
        hashed = hash_token(token)
        now = time.monotonic()
        self._revocations_moved(now)
        # read before the query: an entry read under an older counter is never served,
        # however its insertion and a revocation elsewhere interleave
        epoch = self._revocations
        with self._cache_lock:
            cached = self._auth_cache.get(hashed)
        if cached is not None and cached[0] > now and cached[1] == epoch:
            return cached[2]
        row = self._one(
            "MATCH (t:CmdbToken {hash: $hash}) WHERE t.revoked_at IS NULL "
            "RETURN t.id AS id, t.name AS name, t.role AS role",
            hash=hashed,
        )
        if row is None:
            with self._cache_lock:
                self._auth_cache.pop(hashed, None)
            return None
        principal = Principal(int(row["id"]), row["name"], row["role"], key=token_key(hashed))
        with self._cache_lock:
            if len(self._auth_cache) >= MAX_CACHED:  # bounded: drop the lot, it refills
                self._auth_cache.clear()
            self._auth_cache[hashed] = (now + AUTH_CACHE_SECONDS, epoch, principal)
        return principal

    def _revocations_moved(self, now: float) -> None:
        """Read the revocation counter when the last read is older than
        ``REVOCATION_CHECK_SECONDS``; when another server revoked a token since, forget every
        cached authentication. Threads that find a read under way go on with the cache."""
        if now - self._revocations_read < REVOCATION_CHECK_SECONDS:
            return
        if not self._revocations_lock.acquire(blocking=self._revocations is None):
            return  # another thread is reading it; the first read is waited for
        try:
            if now - self._revocations_read < REVOCATION_CHECK_SECONDS:
                return
            row = self._one(
                "MATCH (c:CmdbCounter {name: $name}) RETURN c.value AS v", name=_REVOCATIONS
            )
            value = int(row["v"]) if row and row["v"] is not None else 0
            if value != self._revocations:
                with self._cache_lock:
                    self._auth_cache.clear()
                self._revocations = value
            self._revocations_read = now
        finally:
            self._revocations_lock.release()

    def list_tokens(self) -> list[dict[str, Any]]:
        rows = self._all(
            "MATCH (t:CmdbToken) RETURN t.id AS id, t.name AS name, t.role AS role, "
            "t.created_at AS created_at, t.revoked_at AS revoked_at ORDER BY t.id"
        )
        return [dict(r) for r in rows]

    def revoke_token(self, token_id: int) -> bool:
        """Revoke a token; the revocation counter moves in the same transaction, so every
        server forgets its cached authentications within ``REVOCATION_CHECK_SECONDS``."""
        row = self._one(
            "MATCH (t:CmdbToken {id: $id}) WHERE t.revoked_at IS NULL "
            "SET t.revoked_at = $at WITH t "
            "MERGE (c:CmdbCounter {name: $counter}) SET c.value = coalesce(c.value, 0) + 1 "
            "RETURN t.hash AS hash",
            write=True,
            id=int(token_id),
            at=utc_now_iso(),
            counter=_REVOCATIONS,
        )
        if row is None:
            return False
        with self._cache_lock:
            self._auth_cache.pop(row["hash"], None)
        return True

    # ------------------------------------------------------------ key/value
    def put(self, namespace: str, key: str, value: str) -> None:
        self._one(
            "MERGE (n:CmdbKV {k: $k}) SET n.namespace = $ns, n.key = $key, n.value = $value, "
            "n.updated_at = $at",
            write=True,
            k=_kv_key(namespace, key),
            ns=namespace,
            key=key,
            value=value,
            at=utc_now_iso(),
        )

    def put_if_absent(self, namespace: str, key: str, value: str) -> str:
        row = self._one(
            "MERGE (n:CmdbKV {k: $k}) ON CREATE SET n.namespace = $ns, n.key = $key, "
            "n.value = $value, n.updated_at = $at RETURN n.value AS value",
            write=True,
            k=_kv_key(namespace, key),
            ns=namespace,
            key=key,
            value=value,
            at=utc_now_iso(),
        )
        return row["value"]

    def get(self, namespace: str, key: str) -> str | None:
        row = self._one("MATCH (n:CmdbKV {k: $k}) RETURN n.value AS v", k=_kv_key(namespace, key))
        return row["v"] if row else None

    def items(self, namespace: str) -> list[tuple[str, str]]:
        rows = self._all(
            "MATCH (n:CmdbKV) WHERE n.namespace = $ns RETURN n.key AS k, n.value AS v "
            "ORDER BY n.key",
            ns=namespace,
        )
        return [(r["k"], r["v"]) for r in rows]

    def delete(self, namespace: str, key: str) -> bool:
        row = self._one(
            "MATCH (n:CmdbKV {k: $k}) DELETE n RETURN count(*) AS n",
            write=True,
            k=_kv_key(namespace, key),
        )
        return bool(row and row["n"])

    # ------------------------------------------------------------ schedules
    def schedule_save(self, schedule: dict[str, Any]) -> None:
        self._one(
            "MERGE (s:CmdbSchedule {name: $name}) SET s.data = $data, "
            "s.next_run = $next_run, s.site = $site",
            write=True,
            name=schedule["name"],
            data=json.dumps(schedule),
            next_run=schedule.get("next_run"),
            site=schedule.get("site"),
        )

    def schedule_get(self, name: str) -> dict[str, Any] | None:
        row = self._one("MATCH (s:CmdbSchedule {name: $name}) RETURN s.data AS data", name=name)
        return json.loads(row["data"]) if row else None

    def schedule_list(self) -> list[dict[str, Any]]:
        rows = self._all("MATCH (s:CmdbSchedule) RETURN s.data AS data ORDER BY s.name")
        return [json.loads(r["data"]) for r in rows]

    def schedule_delete(self, name: str) -> bool:
        row = self._one(
            "MATCH (s:CmdbSchedule {name: $name}) DELETE s RETURN count(*) AS n",
            write=True,
            name=name,
        )
        return bool(row and row["n"])

    def _schedule_change(self, name: str, change) -> dict[str, Any] | None:
        """Lock the schedule, read it, write ``change(old)`` unless it returns None."""

        def work(tx: neo4j.ManagedTransaction) -> dict[str, Any] | None:
            row = tx.run(
                "MATCH (s:CmdbSchedule {name: $name}) SET s.locked_at = timestamp() "
                "WITH s RETURN s.data AS data",
                name=name,
            ).single()
            if row is None:
                return None
            new = change(json.loads(row["data"]))
            if new is not None:
                tx.run(
                    "MATCH (s:CmdbSchedule {name: $name}) "
                    "SET s.data = $data, s.next_run = $next_run, s.site = $site",
                    name=name,
                    data=json.dumps(new),
                    next_run=new.get("next_run"),
                    site=new.get("site"),
                ).consume()
            return new

        return self._run(work, write=True)

    def schedule_claim(self, name: str, expected: str, new: str) -> dict[str, Any] | None:
        def change(old):
            return {**old, "next_run": new} if old.get("next_run") == expected else None

        return self._schedule_change(name, change)

    def schedule_update(self, name: str, fields: dict[str, Any]) -> dict[str, Any] | None:
        return self._schedule_change(name, lambda old: {**old, **fields})

    # ------------------------------------------------------------ scans
    def scan_save(self, record: dict[str, Any]) -> None:
        # cancel_requested is never written here: a cancellation asked on another server
        # survives the owner's next progress save
        data = {k: v for k, v in record.items() if k != "cancel_requested"}
        self._one(
            "MERGE (s:CmdbScan {id: $id}) SET s.data = $data, s.status = $status, "
            "s.schedule = $schedule, s.created_at = $created_at, s.heartbeat = $heartbeat, "
            "s.lease = $lease",
            write=True,
            id=record["id"],
            data=json.dumps(data),
            status=record.get("status"),
            schedule=record.get("schedule"),
            created_at=record.get("created_at"),
            heartbeat=float(record.get("heartbeat") or 0),
            lease=float(record.get("lease") or 0),
        )

    def scan_progress(
        self, scan_id: str, owner: str, fields: dict[str, Any]
    ) -> dict[str, Any] | None:
        # the node's write lock first, then the check: a heartbeat posted before the final
        # status but arriving after it finds the scan finished and changes nothing
        def work(tx: neo4j.ManagedTransaction) -> dict[str, Any] | None:
            row = tx.run(
                "MATCH (s:CmdbScan {id: $id}) SET s.locked_at = timestamp() "
                f"RETURN {_SCAN_FIELDS}",
                id=scan_id,
            ).single()
            record = _scan(row)
            if record is None or record.get("owner") != owner:
                return None
            if record.get("status") not in ACTIVE:
                return record
            data = {k: v for k, v in {**record, **fields}.items() if k != "cancel_requested"}
            tx.run(
                "MATCH (s:CmdbScan {id: $id}) SET s.data = $data, s.status = $status, "
                "s.heartbeat = $heartbeat",
                id=scan_id,
                data=json.dumps(data),
                status=data.get("status"),
                heartbeat=float(data.get("heartbeat") or 0),
            ).consume()
            return {**data, "cancel_requested": record.get("cancel_requested", False)}

        return self._run(work, write=True)

    def scan_get(self, scan_id: str) -> dict[str, Any] | None:
        return _scan(self._one(f"MATCH (s:CmdbScan {{id: $id}}) RETURN {_SCAN_FIELDS}", id=scan_id))

    def scan_list(self, limit: int = SCAN_LIST_LIMIT) -> list[dict[str, Any]]:
        rows = self._all(
            f"MATCH (s:CmdbScan) RETURN {_SCAN_FIELDS} ORDER BY s.created_at DESC LIMIT $limit",
            limit=int(limit),
        )
        return [_scan(r) for r in rows]

    def scan_cancel(self, scan_id: str) -> dict[str, Any] | None:
        self._one(
            "MATCH (s:CmdbScan {id: $id}) WHERE s.status IN $active SET s.cancel_requested = true",
            write=True,
            id=scan_id,
            active=list(ACTIVE),
        )
        return self.scan_get(scan_id)

    def scan_heartbeat(self, scan_id: str, now: float) -> bool:
        row = self._one(
            "MATCH (s:CmdbScan {id: $id}) SET s.heartbeat = $now "
            "RETURN coalesce(s.cancel_requested, false) AS cancel",
            write=True,
            id=scan_id,
            now=float(now),
        )
        return bool(row and row["cancel"])

    def scan_mark_stale(self, now: float, fields: dict[str, Any]) -> list[str]:
        def work(tx: neo4j.ManagedTransaction) -> list[str]:
            marked = []
            stale = tx.run(
                "MATCH (s:CmdbScan) WHERE s.status IN $active AND s.heartbeat + s.lease < $now "
                "SET s.locked_at = timestamp() WITH s "
                "WHERE s.status IN $active AND s.heartbeat + s.lease < $now "
                "RETURN s.id AS id, s.data AS data",
                active=list(ACTIVE),
                now=float(now),
            )
            for row in list(stale):
                data = {**json.loads(row["data"]), **fields}
                tx.run(
                    "MATCH (s:CmdbScan {id: $id}) SET s.data = $data, s.status = $status",
                    id=row["id"],
                    data=json.dumps(data),
                    status=data.get("status"),
                ).consume()
                marked.append(row["id"])
            return marked

        return self._run(work, write=True)

    def scan_active_for_schedule(self, schedule: str, now: float) -> dict[str, Any] | None:
        return _scan(
            self._one(
                "MATCH (s:CmdbScan {schedule: $schedule}) WHERE s.status IN $active "
                f"AND s.heartbeat + s.lease >= $now RETURN {_SCAN_FIELDS} LIMIT 1",
                schedule=schedule,
                active=list(ACTIVE),
                now=float(now),
            )
        )

    # ------------------------------------------------------------ device claims
    def claim_targets(self, targets: list[str], owner: str, ttl: float, now: float) -> list[str]:
        rows = self._all(
            "UNWIND $targets AS target MERGE (c:CmdbClaim {target: target}) "
            "SET c.locked_at = $now WITH c "
            "WHERE c.owner IS NULL OR c.owner = $owner OR c.expires < $now "
            "SET c.owner = $owner, c.expires = $now + $ttl RETURN c.target AS target",
            write=True,
            targets=sorted(set(targets)),  # sorted: two claimers lock in the same order
            owner=owner,
            ttl=float(ttl),
            now=float(now),
        )
        return [r["target"] for r in rows]

    def release_targets(self, targets: list[str], owner: str) -> None:
        self._one(
            "UNWIND $targets AS target MATCH (c:CmdbClaim {target: target, owner: $owner}) "
            "DELETE c",
            write=True,
            targets=list(targets),
            owner=owner,
        )

    # ------------------------------------------------------------ users (cmdb.server.users)
    def user_insert(self, name: str, role: str, digest: str, now: str) -> int | None:
        def work(tx: neo4j.ManagedTransaction) -> int | None:
            taken = tx.run(
                "MATCH (u:CmdbUser {name_lower: $lower}) RETURN u.id", lower=name.lower()
            ).single()
            if taken is not None:
                return None
            user_id = tx.run(_NEXT_ID, name="user").single()["value"]
            tx.run(
                "CREATE (:CmdbUser {id: $id, name: $name, name_lower: $lower, role: $role, "
                "hash: $hash, created_at: $at, updated_at: $at, disabled_at: null, "
                "session_version: 1})",
                id=user_id,
                name=name,
                lower=name.lower(),
                role=role,
                hash=digest,
                at=now,
            ).consume()
            return int(user_id)

        try:
            return self._run(work, write=True)
        except nx.ConstraintError:
            return None  # the same name created at the same moment elsewhere

    _USER_RETURN = (
        "RETURN u.id AS id, u.name AS name, u.role AS role, u.created_at AS created_at, "
        "u.disabled_at AS disabled_at, u.session_version AS session_version, u.hash AS hash"
    )

    def user_get(self, user_id: int) -> dict[str, Any] | None:
        row = self._one(f"MATCH (u:CmdbUser {{id: $id}}) {self._USER_RETURN}", id=int(user_id))
        return dict(row) if row else None

    def user_by_name(self, name: str) -> dict[str, Any] | None:
        row = self._one(
            f"MATCH (u:CmdbUser {{name_lower: $lower}}) {self._USER_RETURN}",
            lower=(name or "").lower(),
        )
        return dict(row) if row else None

    def user_list(self) -> list[dict[str, Any]]:
        rows = self._all(f"MATCH (u:CmdbUser) {self._USER_RETURN} ORDER BY u.name_lower")
        return [dict(r) for r in rows]

    def user_update(self, user_id: int, fields: dict[str, Any], end_sessions: bool) -> bool:
        values = {k: v for k, v in fields.items() if k in _USER_FIELDS}
        bump = ", u.session_version = u.session_version + 1" if end_sessions else ""
        row = self._one(
            f"MATCH (u:CmdbUser {{id: $id}}) SET u += $values, u.updated_at = $at{bump} "
            "RETURN u.id AS id",
            write=True,
            id=int(user_id),
            values=values,
            at=utc_now_iso(),
        )
        return row is not None

    def user_active_admins(self) -> int:
        row = self._one(
            "MATCH (u:CmdbUser) WHERE u.role = 'admin' AND u.disabled_at IS NULL "
            "RETURN count(u) AS n"
        )
        return int(row["n"])
