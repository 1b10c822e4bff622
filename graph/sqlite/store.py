"""The embedded SQLite backend (stdlib ``sqlite3``, WAL).

One connection, used from one dedicated thread, so the event loop never blocks
on disk and writes are serialised the way SQLite wants them. Every change set
is one transaction of batched ``executemany`` statements.
"""

from __future__ import annotations

import asyncio
import copy
import json
import sqlite3
from collections.abc import AsyncIterator, Callable, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, TypeVar

from cmdb.graph import times
from cmdb.graph.changes import validate_changes
from cmdb.graph.schema import REL_PROVENANCE
from cmdb.graph.sqlite import history as history_reads
from cmdb.graph.sqlite import impact as impact_reads
from cmdb.graph.sqlite import lookups
from cmdb.graph.sqlite import pending as pending_sql
from cmdb.graph.sqlite.ddl import all_statements, unique_index_names
from cmdb.graph.sqlite.readers import ReadPool
from cmdb.graph.steady import IdentityKey, SteadyProbe
from cmdb.graph.store import (
    CI,
    BreadthFirst,
    ChangeSet,
    HistoryEntry,
    PendingConnection,
    Rel,
    RelView,
    ScopeState,
    SourceState,
    StoreConflict,
    StoreError,
    StoreUnavailable,
    Traversal,
)

T = TypeVar("T")

# last_seen of a scoped fact is the later of its own and its source's last full report
_CI_COLUMNS = (
    "ci.id, ci.class, ci.name, ci.status, ci.first_seen, "
    "CASE WHEN ss.last_report_at > ci.last_seen THEN ss.last_report_at ELSE ci.last_seen END, "
    "ci.scope, ci.sources, ci.attributes, ci.attr_sources"
)
_CI_FROM = "ci LEFT JOIN source_state ss ON ss.scope = ci.scope"
_REL_COLUMNS = (
    "rel.id, rel.type, rel.src, rel.dst, rel.first_seen, "
    "CASE WHEN rel.ended_at IS NULL AND rs.last_report_at > rel.last_seen "
    "THEN rs.last_report_at ELSE rel.last_seen END, "
    "rel.ended_at, rel.scope, rel.sources, rel.attributes"
)
_REL_FROM = "rel LEFT JOIN source_state rs ON rs.scope = rel.scope"
_MAX_SQL_VARS = 900


def _dumps(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), sort_keys=True, default=str)


def _ci_from_row(row: tuple) -> CI:
    return CI(
        id=row[0],
        cls=row[1],
        name=row[2],
        status=row[3],
        first_seen=row[4],
        last_seen=row[5],
        scope=row[6],
        sources=json.loads(row[7]),
        attributes=json.loads(row[8]),
        attr_sources=json.loads(row[9]),
    )


def _rel_from_row(row: tuple) -> Rel:
    return Rel(
        id=row[0],
        type=row[1],
        src=row[2],
        dst=row[3],
        first_seen=row[4],
        last_seen=row[5],
        ended_at=row[6],
        scope=row[7],
        sources=json.loads(row[8]),
        attributes=json.loads(row[9]),
    )


_now = times.now_text


def _chunks(items: list[T], size: int = _MAX_SQL_VARS) -> Iterable[list[T]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _list_where(cls: str | None, q: str | None, status: str | None) -> tuple[str, list[Any]]:
    """The WHERE clause (on table alias ``ci``) and its parameters of a CI list: class and
    status equal, name containing ``q`` (LIKE with its wildcards escaped)."""
    clauses, params = [], []
    if cls:
        clauses.append("ci.class = ?")
        params.append(cls)
    if status:
        clauses.append("ci.status = ?")
        params.append(status)
    if q:
        clauses.append("ci.name LIKE ? ESCAPE '\\'")
        escaped = q.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        params.append(f"%{escaped}%")
    where = " AND ".join(clauses) or "1=1"
    return where, params


class SQLiteStore:
    name = "sqlite"

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._conn: sqlite3.Connection | None = None
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sqlite-store")
        # one writer at a time on the one connection: a transaction() holds it throughout
        self._writer = asyncio.Lock()
        self._in_tx = False  # set on the view a transaction() yields
        # the walk's reads, side by side on connections of their own (not for an in-memory
        # database: another connection would open another, empty, database)
        self._readers = None if str(path) == ":memory:" else ReadPool(self.path)

    # ------------------------------------------------------------ plumbing
    async def _run(self, fn: Callable[..., T], *args: Any) -> T:
        return await self._on(self._executor, fn, *args)

    async def _read(self, fn: Callable[..., T], *args: Any) -> T:
        """``fn(connection, *args)`` on a reader connection (``cmdb.graph.sqlite.readers``);
        inside a transaction on its own connection, whose uncommitted writes it must see."""
        conn = self.conn  # raises when the store is not open
        if self._in_tx or self._readers is None:
            return await self._run(fn, conn, *args)
        return await self._on(self._readers.executor, self._readers.call(fn, *args))

    async def _on(self, executor: ThreadPoolExecutor, fn: Callable[..., T], *args: Any) -> T:
        loop = asyncio.get_running_loop()
        try:
            return await loop.run_in_executor(executor, fn, *args)
        except sqlite3.OperationalError as exc:
            if "locked" in str(exc) or "unable to open" in str(exc) or "disk" in str(exc):
                raise StoreUnavailable(f"SQLite store {self.path}: {exc}") from exc
            raise StoreError(f"SQLite store {self.path}: {exc}") from exc

    @property
    def conn(self) -> sqlite3.Connection:
        if self._conn is None:
            raise StoreError("the SQLite store is not open")
        return self._conn

    def _open_sync(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=FULL")  # an acknowledged report survives power loss
        conn.execute("PRAGMA foreign_keys=ON")
        conn.execute("PRAGMA busy_timeout=5000")
        conn.execute("PRAGMA cache_size=-65536")
        conn.execute("PRAGMA temp_store=MEMORY")
        conn.execute("DROP TRIGGER IF EXISTS rel_type_known")
        have = {row[1] for row in conn.execute("PRAGMA table_info(rel)")}
        for column in REL_PROVENANCE:  # a database of an earlier version
            if have and column not in have:
                conn.execute(f"ALTER TABLE rel ADD COLUMN {column} TEXT")
        entries = {row[1] for row in conn.execute("PRAGMA table_info(history)")}
        if entries and "request_id" not in entries:
            conn.execute("ALTER TABLE history ADD COLUMN request_id TEXT")
        states = {row[1] for row in conn.execute("PRAGMA table_info(source_state)")}
        for column, decl in (
            ("sequence", "INTEGER"),
            ("sections", "TEXT NOT NULL DEFAULT '{}'"),
            ("instance", "TEXT"),
        ):
            if states and column not in states:
                conn.execute(f"ALTER TABLE source_state ADD COLUMN {column} {decl}")
        for statement in all_statements():
            conn.execute(statement)
        conn.execute(
            "CREATE INDEX IF NOT EXISTS history_request ON history (request_id) "
            "WHERE request_id IS NOT NULL"
        )
        declared = unique_index_names()
        for (name,) in conn.execute(
            "SELECT name FROM sqlite_master WHERE type='index' AND name LIKE 'ci_identity_unique_%'"
        ).fetchall():
            if name not in declared:  # a rule an earlier schema declared unique
                conn.execute(f'DROP INDEX "{name}"')
        self._conn = conn

    async def open(self) -> None:
        await self._run(self._open_sync)

    async def close(self) -> None:
        if self._conn is not None:
            await self._run(self._conn.close)
            self._conn = None
        self._executor.shutdown(wait=True)
        if self._readers is not None:
            self._readers.close()

    async def ping(self) -> None:
        await self._run(lambda: self.conn.execute("SELECT 1").fetchone())

    # ------------------------------------------------------------ writes
    def _apply_sync(self, cs: ChangeSet) -> None:
        c = self.conn
        if self._in_tx:  # inside transaction(): it begins and commits
            self._write_sync(c, cs)
            return
        c.execute("BEGIN IMMEDIATE")
        try:
            self._write_sync(c, cs)
            c.execute("COMMIT")
        except BaseException:
            c.execute("ROLLBACK")
            raise

    def _write_sync(self, c: sqlite3.Connection, cs: ChangeSet) -> None:
        if cs.create_cis:
            c.executemany(
                "INSERT INTO ci (id, class, name, status, first_seen, last_seen, scope, "
                "sources, attributes, attr_sources) VALUES (?,?,?,?,?,?,?,?,?,?)",
                [
                    (
                        ci.id,
                        ci.cls,
                        ci.name,
                        ci.status,
                        ci.first_seen or cs.at,
                        ci.last_seen or cs.at,
                        ci.scope,
                        _dumps(ci.sources),
                        _dumps(ci.attributes),
                        _dumps(ci.attr_sources),
                    )
                    for ci in cs.create_cis
                ],
            )
            c.executemany(
                "INSERT INTO ci_identity (class, rule, value, ci_id) VALUES (?,?,?,?)",
                [
                    (ci.cls, rule, value, ci.id)
                    for ci in cs.create_cis
                    for rule, value in ci.identity.items()
                ],
            )
        if cs.update_cis:
            c.executemany(
                "UPDATE ci SET name=?, status=?, sources=?, attributes=?, attr_sources=?, "
                "last_seen=? WHERE id=?",
                [
                    (
                        u.name,
                        u.status,
                        _dumps(u.sources),
                        _dumps(u.attributes),
                        _dumps(u.attr_sources),
                        cs.at,
                        u.id,
                    )
                    for u in cs.update_cis
                ],
            )
            c.executemany("DELETE FROM ci_identity WHERE ci_id=?", [(u.id,) for u in cs.update_cis])
            c.executemany(
                "INSERT INTO ci_identity (class, rule, value, ci_id) "
                "SELECT class, ?, ?, id FROM ci WHERE id=?",
                [(rule, value, u.id) for u in cs.update_cis for rule, value in u.identity.items()],
            )
        if cs.touch_cis:
            c.executemany(
                "UPDATE ci SET last_seen=? WHERE id=?", [(cs.at, i) for i in cs.touch_cis]
            )
        if cs.set_status:
            c.executemany("UPDATE ci SET status=? WHERE id=?", [(st, i) for i, st in cs.set_status])
        if cs.close_rels:
            c.executemany(
                "UPDATE rel SET ended_at=?, closed_by=?, closed_source=?, closed_actor=?, "
                "closed_request=? WHERE id=? AND ended_at IS NULL",
                [
                    (cs.at, cs.report_id, cs.source, cs.actor, cs.request_id, rid)
                    for rid in cs.close_rels
                ],
            )
        if cs.create_rels:
            c.executemany(
                "INSERT INTO rel (id, type, src, dst, first_seen, last_seen, scope, sources, "
                "attributes, opened_by, opened_source, opened_actor, opened_request) "
                "VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)",
                [
                    (
                        r.id,
                        r.type,
                        r.src,
                        r.dst,
                        r.first_seen or cs.at,
                        r.last_seen or cs.at,
                        r.scope,
                        _dumps(r.sources),
                        _dumps(r.attributes),
                        cs.report_id,
                        cs.source,
                        cs.actor,
                        cs.request_id,
                    )
                    for r in cs.create_rels
                ],
            )
        if cs.update_rels:
            c.executemany(
                "UPDATE rel SET sources=?, attributes=?, last_seen=?, scope=? WHERE id=?",
                [
                    (
                        _dumps(r.sources),
                        _dumps(r.attributes),
                        r.last_seen or cs.at,
                        r.scope,
                        r.id,
                    )
                    for r in cs.update_rels
                ],
            )
        if cs.history:
            c.executemany(
                "INSERT INTO history (ci_id, other_id, kind, field, old, new, at, source, "
                "report_id, actor, request_id) VALUES (?,?,?,?,?,?,?,?,?,?,?)",
                [
                    (
                        h.ci_id,
                        h.other_id,
                        h.kind,
                        h.field,
                        _dumps(h.old),
                        _dumps(h.new),
                        h.at,
                        h.source,
                        h.report_id,
                        h.actor,
                        h.request_id,
                    )
                    for h in cs.history
                ],
            )
        if cs.source_state is not None:
            s = cs.source_state
            c.execute(
                "INSERT INTO source_state (scope, source, last_report_at, report_id, sequence, "
                "sections, instance) VALUES (?,?,?,?,?,?,?) ON CONFLICT (scope) DO UPDATE SET "
                "last_report_at=excluded.last_report_at, report_id=excluded.report_id, "
                "sequence=excluded.sequence, sections=excluded.sections, "
                "instance=excluded.instance "
                "WHERE excluded.last_report_at >= source_state.last_report_at",
                (
                    s.scope,
                    s.source,
                    s.last_report_at,
                    s.report_id,
                    s.sequence,
                    _dumps(s.sections),
                    s.instance,
                ),
            )
        if cs.bind_agent is not None:
            c.execute(
                "INSERT INTO agent_binding (agent_key, ci_id, bound_at) VALUES (?,?,?)",
                (*cs.bind_agent, cs.at),
            )
        if cs.prior_identity:
            c.executemany(
                "INSERT INTO ci_identity_prior (class, rule, value, ci_id, until) "
                "VALUES (?,?,?,?,?) ON CONFLICT DO UPDATE SET until=excluded.until",
                [(p.cls, p.rule, p.value, p.ci_id, p.until) for p in cs.prior_identity],
            )
        if cs.pending is not None:
            pending_sql.replace(c, cs.pending, cs.report_id, cs.at)
        if cs.record_report:
            c.execute(
                "INSERT OR IGNORE INTO applied_report (report_id, source, applied_at) "
                "VALUES (?,?,?)",
                (cs.report_id, cs.source, cs.at),
            )

    async def apply(self, changes: ChangeSet) -> None:
        validate_changes(changes)
        try:
            if self._in_tx:
                await self._run(self._apply_sync, changes)
                return
            async with self._writer:
                await self._run(self._apply_sync, changes)
        except sqlite3.IntegrityError as exc:
            if "ci_identity" in str(exc):
                raise StoreConflict(
                    f"the change set gives a CI an identity value another CI holds: {exc}"
                ) from exc
            raise StoreError(f"the change set breaks a constraint: {exc}") from exc

    @asynccontextmanager
    async def transaction(self, lock_keys: Iterable[str] = ()) -> AsyncIterator[SQLiteStore]:
        """A view of this store whose reads and writes are one ``BEGIN IMMEDIATE``
        transaction, committed when the block ends (rolled back on an exception). SQLite
        has one writer: ``lock_keys`` need no lock of their own here."""
        async with self._writer:
            await self._run(lambda: self.conn.execute("BEGIN IMMEDIATE"))
            view = copy.copy(self)
            view._in_tx = True
            try:
                yield view
            except BaseException:
                await self._run(lambda: self.conn.execute("ROLLBACK"))
                raise
            await self._run(lambda: self.conn.execute("COMMIT"))

    async def report_seen(self, report_id: str) -> bool:
        row = await self._run(
            lambda: self.conn.execute(
                "SELECT 1 FROM applied_report WHERE report_id=?", (report_id,)
            ).fetchone()
        )
        return row is not None

    # ------------------------------------------------------------ identification
    def _attach_identity(self, cis: list[CI]) -> None:
        """Fill identity (and prior identity still in its grace period) on every object:
        one CI found by two rules is two objects, and both must carry it."""
        by_id: dict[str, list[CI]] = {}
        for ci in cis:
            by_id.setdefault(ci.id, []).append(ci)
        now = _now()
        for chunk in _chunks(list(by_id)):
            marks = ",".join("?" * len(chunk))
            for ci_id, rule, value in self.conn.execute(
                f"SELECT ci_id, rule, value FROM ci_identity WHERE ci_id IN ({marks})", chunk
            ):
                for ci in by_id[ci_id]:
                    ci.identity[rule] = value
            for ci_id, rule, value in self.conn.execute(
                "SELECT ci_id, rule, value FROM ci_identity_prior "
                f"WHERE until >= ? AND ci_id IN ({marks})",
                [now, *chunk],
            ):
                for ci in by_id[ci_id]:
                    ci.prior_identity.setdefault(rule, []).append(value)

    def _select_cis(self, where: str, params: Iterable[Any]) -> list[CI]:
        rows = self.conn.execute(f"SELECT {_CI_COLUMNS} FROM {_CI_FROM} WHERE {where}", params)
        return [_ci_from_row(r) for r in rows]

    def _find_sync(self, cls: str, rule: str, values: list[str]) -> dict[str, list[CI]]:
        found: dict[str, list[CI]] = {}
        all_cis: list[CI] = []
        for chunk in _chunks(sorted(set(values))):
            marks = ",".join("?" * len(chunk))
            rows = self.conn.execute(
                f"SELECT ident.value, {_CI_COLUMNS} FROM ci_identity ident "
                "JOIN ci ON ci.id = ident.ci_id "
                "LEFT JOIN source_state ss ON ss.scope = ci.scope "
                f"WHERE ident.class=? AND ident.rule=? AND ident.value IN ({marks})",
                [cls, rule, *chunk],
            )
            for row in rows:
                ci = _ci_from_row(row[1:])
                found.setdefault(row[0], []).append(ci)
                all_cis.append(ci)
        self._attach_identity(all_cis)
        return found

    async def find_by_identity(self, cls: str, rule: str, values: list[str]) -> dict[str, list[CI]]:
        if not values:
            return {}
        return await self._run(self._find_sync, cls, rule, values)

    def _find_many_sync(self, cls: str, wanted: dict[str, str]) -> dict[str, list[CI]]:
        pairs = json.dumps([[rule, value] for rule, value in wanted.items()])
        # current values, and values given up by a rename still in their grace period
        arm = (
            f"SELECT ident.rule, {_CI_COLUMNS} FROM json_each(?) w "
            "CROSS JOIN {table} ident ON ident.class = ? "
            "AND ident.rule = json_extract(w.value, '$[0]') "
            "AND ident.value = json_extract(w.value, '$[1]') {extra}"
            "JOIN ci ON ci.id = ident.ci_id LEFT JOIN source_state ss ON ss.scope = ci.scope"
        )
        rows = self.conn.execute(
            arm.format(table="ci_identity", extra="")
            + " UNION ALL "
            + arm.format(table="ci_identity_prior", extra="AND ident.until >= ? "),
            (pairs, cls, pairs, cls, _now()),
        )
        found: dict[str, list[CI]] = {}
        seen: set[tuple[str, str]] = set()
        for row in rows:
            if (row[0], row[1]) not in seen:
                seen.add((row[0], row[1]))
                found.setdefault(row[0], []).append(_ci_from_row(row[1:]))
        self._attach_identity([ci for cis in found.values() for ci in cis])
        return found

    async def find_by_identities(self, cls: str, wanted: dict[str, str]) -> dict[str, list[CI]]:
        if not wanted:
            return {}
        return await self._run(self._find_many_sync, cls, wanted)

    def _scope_sync(self, scope: str, rel_types: tuple[str, ...] | None) -> ScopeState:
        cis = self._select_cis("ci.scope = ?", (scope,))
        self._attach_identity(cis)
        typed, type_params = "", []
        if rel_types is not None:
            typed = f" AND rel.type IN ({','.join('?' * len(rel_types))})"
            type_params = list(rel_types)
        rels = [
            _rel_from_row(r)
            for r in self.conn.execute(
                f"SELECT {_REL_COLUMNS} FROM {_REL_FROM} "
                f"WHERE rel.scope = ? AND rel.ended_at IS NULL{typed}",
                (scope, *type_params),
            )
        ]
        linked = self._select_cis(
            "ci.id IN (SELECT rel.dst FROM rel WHERE rel.scope = ? AND rel.ended_at IS NULL"
            f"{typed}) AND (ci.scope IS NULL OR ci.scope != ?)",
            (scope, *type_params, scope),
        )
        self._attach_identity(linked)
        return ScopeState(cis=cis, rels=rels, linked=linked)

    async def load_scope(self, scope: str, rel_types: tuple[str, ...] | None = None) -> ScopeState:
        return await self._run(self._scope_sync, scope, rel_types)

    async def source_state(self, scope: str) -> SourceState | None:
        row = await self._run(
            lambda: self.conn.execute(
                "SELECT scope, source, last_report_at, report_id, sequence, sections, instance "
                "FROM source_state WHERE scope=?",
                (scope,),
            ).fetchone()
        )
        if row is None:
            return None
        return SourceState(*row[:5], sections=json.loads(row[5] or "{}"), instance=row[6])

    # ------------------------------------------------------------ the steady state
    def _steady_probe_sync(
        self,
        report_id: str,
        source: str,
        agent_key: str | None,
        key: IdentityKey | None,
        scopes: tuple[str, ...],
        scope_types: tuple[str, ...],
    ) -> SteadyProbe:
        c = self.conn
        seen = c.execute("SELECT 1 FROM applied_report WHERE report_id=?", (report_id,))
        probe = SteadyProbe(seen=seen.fetchone() is not None)
        if probe.seen:
            return probe
        if agent_key is not None:
            row = c.execute(
                "SELECT ci_id FROM agent_binding WHERE agent_key=?", (agent_key,)
            ).fetchone()
            probe.bound = row[0] if row else None
            ci_id = probe.bound
        elif key is not None:
            row = c.execute(
                "SELECT ci_id FROM ci_identity WHERE class=? AND rule=? AND value=?", key
            ).fetchone()
            ci_id = row[0] if row else None
        else:
            ci_id = None
        if ci_id is None or (ci := self._get_cis_sync([ci_id]).get(ci_id)) is None:
            return probe
        probe.ci = ci
        probe.scope_types = scope_types
        typed = ",".join("?" * len(scope_types))
        probe.empty_scopes = frozenset(
            scope
            for scope in (prefix + ci_id for prefix in scopes)
            if c.execute(
                "SELECT EXISTS (SELECT 1 FROM ci WHERE scope=?) OR EXISTS (SELECT 1 FROM rel "
                f"WHERE scope=? AND ended_at IS NULL AND type IN ({typed}))",
                (scope, scope, *scope_types),
            ).fetchone()[0]
            == 0
        )
        if key is not None:
            probe.contested = (
                c.execute(
                    "SELECT 1 FROM ci_identity_prior WHERE class=? AND rule=? AND value=? "
                    "AND ci_id<>? AND until>=? LIMIT 1",
                    (*key, ci_id, _now()),
                ).fetchone()
                is not None
            )
        row = c.execute(
            "SELECT scope, source, last_report_at, report_id, sequence, sections, instance "
            "FROM source_state WHERE scope=?",
            (f"{source}:{ci_id}",),
        ).fetchone()
        if row is not None:
            probe.state = SourceState(
                *row[:5], sections=json.loads(row[5] or "{}"), instance=row[6]
            )
        return probe

    async def steady_probe(
        self,
        report_id: str,
        source: str,
        agent_key: str | None = None,
        key: IdentityKey | None = None,
        scopes: tuple[str, ...] = (),
        scope_types: tuple[str, ...] = (),
    ) -> SteadyProbe:
        """One read before identification (``cmdb.graph.steady``): whether ``report_id`` was
        applied, the CI ``agent_key`` is bound to (else the current holder of ``key``, a
        unique rule's value), that CI's source state of ``source``, and which scopes
        ``prefix + CI id`` of the ``scopes`` prefixes hold no CI and no open relationship
        of ``scope_types``."""
        return await self._run(
            self._steady_probe_sync,
            report_id,
            source,
            agent_key,
            key,
            tuple(scopes),
            tuple(scope_types),
        )

    def _advance_sync(
        self, state: SourceState, expected: str, touch: list[str], changes: ChangeSet | None
    ) -> bool:
        c = self.conn
        moved = c.execute(
            "UPDATE source_state SET last_report_at=?, report_id=?, sequence=?, instance=? "
            "WHERE scope=? AND report_id=? AND last_report_at<=?",
            (
                state.last_report_at,
                state.report_id,
                state.sequence,
                state.instance,
                state.scope,
                expected,
                state.last_report_at,
            ),
        ).rowcount
        if moved != 1:
            return False  # the compare-and-set first: nothing else is written then
        if changes is not None:
            self._write_sync(c, changes)
        c.executemany(
            "UPDATE ci SET last_seen=? WHERE id=?", [(state.last_report_at, i) for i in touch]
        )
        c.execute(
            "INSERT OR IGNORE INTO applied_report (report_id, source, applied_at) VALUES (?,?,?)",
            (state.report_id, state.source, state.last_report_at),
        )
        return True

    def _advance_alone_sync(
        self,
        state: SourceState,
        expected: str,
        touch: list[str],
        changes: ChangeSet | None,
        durable: bool,
    ) -> bool:
        c = self.conn
        if not durable:  # this one commit without the fsync (WAL: still crash-safe)
            c.execute("PRAGMA synchronous=NORMAL")
        try:
            c.execute("BEGIN IMMEDIATE")
            try:
                moved = self._advance_sync(state, expected, touch, changes)
                c.execute("COMMIT" if moved else "ROLLBACK")
            except BaseException:
                c.execute("ROLLBACK")
                raise
        finally:
            if not durable:
                c.execute("PRAGMA synchronous=FULL")
        return moved

    async def advance_source_state(
        self,
        state: SourceState,
        expected_report_id: str,
        touch: Iterable[str] = (),
        changes: ChangeSet | None = None,
        durable: bool = True,
    ) -> bool:
        """Move a source's state on to an unchanged report (``cmdb.graph.steady``): report
        time, report id, sequence and instance, only while the stored report id is still
        ``expected_report_id`` (compare-and-set); the sections stay. Sets ``touch`` CIs'
        last_seen to the report time and remembers the report id. ``changes`` (what else
        the report writes: observed connections) are written with it, in one call. False:
        another report of the source was applied meanwhile, and nothing was written.

        ``durable=False`` (bookkeeping only, no fact and no history): outside a
        transaction, the commit skips the fsync (``synchronous=NORMAL`` for it): it
        survives a crash of the process, and a power cut loses it only until the store's
        next durable commit, which syncs it too."""
        if changes is not None:
            validate_changes(changes)
        args = (state, expected_report_id, list(touch), changes)
        try:
            if self._in_tx:
                return await self._run(self._advance_sync, *args)
            async with self._writer:
                return await self._run(self._advance_alone_sync, *args, durable)
        except sqlite3.IntegrityError as exc:
            raise StoreError(f"the change set breaks a constraint: {exc}") from exc

    async def agent_binding(self, agent_key: str) -> str | None:
        row = await self._run(
            lambda: self.conn.execute(
                "SELECT ci_id FROM agent_binding WHERE agent_key=?", (agent_key,)
            ).fetchone()
        )
        return row[0] if row else None

    def _find_rels_sync(
        self, triples: list[tuple[str, str, str]]
    ) -> dict[tuple[str, str, str], Rel]:
        found: dict[tuple[str, str, str], Rel] = {}
        for chunk in _chunks(triples, 300):
            rows = self.conn.execute(
                f"SELECT {_REL_COLUMNS} FROM json_each(?) t JOIN rel "
                "ON rel.type = json_extract(t.value, '$[0]') "
                "AND rel.src = json_extract(t.value, '$[1]') "
                "AND rel.dst = json_extract(t.value, '$[2]') AND rel.ended_at IS NULL "
                "LEFT JOIN source_state rs ON rs.scope = rel.scope",
                (json.dumps(chunk),),
            )
            for row in rows:
                rel = _rel_from_row(row)
                found[(rel.type, rel.src, rel.dst)] = rel
        return found

    async def find_open_rels(
        self, triples: list[tuple[str, str, str]]
    ) -> dict[tuple[str, str, str], Rel]:
        if not triples:
            return {}
        return await self._run(self._find_rels_sync, triples)

    # ------------------------------------------------------------ observed connections
    async def pending_connections(
        self, addresses: list[str], since: str
    ) -> list[PendingConnection]:
        if not addresses:
            return []
        return await self._run(pending_sql.to_addresses, self.conn, addresses, since)

    # ------------------------------------------------------------ reads
    def _get_cis_sync(self, ids: list[str]) -> dict[str, CI]:
        out: dict[str, CI] = {}
        for chunk in _chunks(sorted(set(ids))):
            marks = ",".join("?" * len(chunk))
            for ci in self._select_cis(f"ci.id IN ({marks})", chunk):
                out[ci.id] = ci
        self._attach_identity(list(out.values()))
        return out

    async def get_ci(self, ci_id: str) -> CI | None:
        return (await self.get_cis([ci_id])).get(ci_id)

    async def get_cis(self, ci_ids: list[str]) -> dict[str, CI]:
        if not ci_ids:
            return {}
        return await self._run(self._get_cis_sync, ci_ids)

    def _list_sync(
        self, cls: str | None, q: str | None, limit: int, offset: int, status: str | None
    ) -> tuple[list[CI], int]:
        where, params = _list_where(cls, q, status)
        total = self.conn.execute(f"SELECT count(*) FROM ci WHERE {where}", params).fetchone()[0]
        items = self._select_cis(
            f"{where} ORDER BY ci.class, ci.name, ci.id LIMIT ? OFFSET ?", [*params, limit, offset]
        )
        return items, total

    async def list_cis(
        self,
        cls: str | None,
        q: str | None,
        limit: int,
        offset: int,
        status: str | None = None,
    ) -> tuple[list[CI], int]:
        return await self._run(self._list_sync, cls, q, limit, offset, status)

    def _relationships_sync(self, ci_id: str, include_ended: bool) -> list[RelView]:
        open_only = "" if include_ended else " AND rel.ended_at IS NULL"
        rels = [
            _rel_from_row(r)
            for r in self.conn.execute(
                f"SELECT {_REL_COLUMNS} FROM {_REL_FROM} WHERE rel.src = ?{open_only} "
                f"UNION ALL SELECT {_REL_COLUMNS} FROM {_REL_FROM} "
                f"WHERE rel.dst = ? AND rel.src != rel.dst{open_only}",
                (ci_id, ci_id),
            )
        ]
        others = self._get_cis_sync([r.dst if r.src == ci_id else r.src for r in rels])
        views = []
        for rel in rels:
            direction = "out" if rel.src == ci_id else "in"
            other = others.get(rel.dst if direction == "out" else rel.src)
            if other is not None:
                views.append(RelView(rel=rel, direction=direction, other=other))
        views.sort(key=lambda v: (v.rel.type, v.direction, v.other.name or "", v.other.id))
        return views

    async def relationships(self, ci_id: str, include_ended: bool = False) -> list[RelView]:
        return await self._run(self._relationships_sync, ci_id, include_ended)

    def _history_sync(
        self,
        ci_id: str,
        limit: int,
        offset: int,
        since: str | None,
        until: str | None,
        request_id: str | None,
    ) -> tuple[list[HistoryEntry], int]:
        return history_reads.of_ci(self.conn, ci_id, limit, offset, since, until, request_id)

    async def history(
        self,
        ci_id: str,
        limit: int,
        offset: int,
        since: str | None = None,
        until: str | None = None,
        request_id: str | None = None,
    ) -> tuple[list[HistoryEntry], int]:
        return await self._run(self._history_sync, ci_id, limit, offset, since, until, request_id)

    def _traverse_sync(
        self,
        start: list[str],
        direction: str,
        depth: int,
        rel_types: tuple[str, ...] | None,
        limit: int | None,
    ) -> Traversal:
        type_filter, type_params = "", []
        if rel_types:
            type_filter = f" AND r.type IN ({','.join('?' * len(rel_types))})"
            type_params = list(rel_types)
        # one indexed query per level (rel_src_walk / rel_dst_walk), each CI expanded once
        arms = []
        if direction in ("down", "both"):
            arms.append(
                "SELECT r.rowid, r.src, r.dst FROM json_each(?) f CROSS JOIN rel r "
                f"ON r.src = f.value WHERE r.ended_at IS NULL{type_filter}"
            )
        if direction in ("up", "both"):
            arms.append(
                "SELECT r.rowid, r.dst, r.src FROM json_each(?) f CROSS JOIN rel r "
                f"ON r.dst = f.value WHERE r.ended_at IS NULL{type_filter}"
            )
        level_sql = " UNION ALL ".join(arms)
        existing = [
            row[0]
            for chunk in _chunks(sorted(set(start)))
            for row in self.conn.execute(
                f"SELECT id FROM ci WHERE id IN ({','.join('?' * len(chunk))})", chunk
            )
        ]
        walk = BreadthFirst(existing, depth, limit)
        while not walk.done:
            frontier = json.dumps(walk.frontier)
            params: list[Any] = []
            for _ in arms:
                params += [frontier, *type_params]
            walk.add_level(self.conn.execute(level_sql, params))
        reached, keys, truncated = walk.kept()
        nodes = {}
        ids = json.dumps(list(reached))
        for row in self.conn.execute(
            "SELECT ci.id, ci.class, ci.name, ci.status, ci.first_seen, "
            "CASE WHEN ss.last_report_at > ci.last_seen THEN ss.last_report_at "
            "ELSE ci.last_seen END, ci.scope FROM json_each(?) k CROSS JOIN ci ON ci.id = k.value "
            "LEFT JOIN source_state ss ON ss.scope = ci.scope",
            (ids,),
        ):
            ci = CI(*row)
            nodes[ci.id] = (ci, reached[ci.id])
        # id, type and ends, as Traversal promises and Neo4j answers: no documents to parse
        edges = [
            Rel(id=row[0], type=row[1], src=row[2], dst=row[3])
            for row in self.conn.execute(
                "SELECT rel.id, rel.type, rel.src, rel.dst FROM json_each(?) k CROSS JOIN rel "
                "ON rel.rowid = k.value",
                (json.dumps(keys),),
            )
        ]
        edges.sort(key=lambda r: r.id)
        return Traversal(nodes=nodes, edges=edges, truncated=truncated)

    async def traverse(
        self,
        start: list[str],
        direction: str,
        depth: int,
        rel_types: tuple[str, ...] | None = None,
        limit: int | None = None,
    ) -> Traversal:
        if direction not in ("up", "down", "both"):
            raise ValueError(f"direction must be up, down or both, not {direction!r}")
        return await self._run(self._traverse_sync, start, direction, depth, rel_types, limit)

    # ------------------------------------------------------------ impact, time, lookups
    async def impact_hop(self, ids: list[str], types: tuple[str, ...]) -> list[tuple]:
        return await self._run(impact_reads.hop, self.conn, ids, types)

    async def uplinks(self, device_ids: list[str]) -> list[tuple]:
        return await self._read(impact_reads.uplinks, device_ids)

    async def impact_steps(
        self,
        ids: list[str],
        types: tuple[str, ...],
        back: Mapping[str, tuple[str, str]] | None = None,
    ) -> list[tuple]:
        return await self._read(impact_reads.walk_step, ids, types, back)

    async def impact_generation(self) -> Any:
        if self._conn is None:
            return None
        return await self._run(impact_reads.generation, self._conn)

    async def history_between(
        self,
        since: str | None,
        until: str | None,
        sources: tuple[str, ...] | None,
        limit: int,
    ) -> list[HistoryEntry]:
        return await self._run(history_reads.between, self.conn, since, until, sources, limit)

    async def unseen_since(
        self, before: str, statuses: tuple[str, ...], classes: tuple[str, ...], limit: int
    ) -> list[str]:
        return await self._run(lookups.unseen_since, self.conn, before, statuses, classes, limit)

    async def attribute_pairs(
        self, cls: str, attr: str, values: list[str]
    ) -> list[tuple[str, str]]:
        return await self._run(lookups.attribute_pairs, self.conn, cls, attr, values)

    async def name_pairs(self, classes: tuple[str, ...], names: list[str]) -> list[tuple[str, str]]:
        return await self._run(lookups.name_pairs, self.conn, classes, names)

    async def interface_ip_pairs(self, addresses: list[str]) -> list[tuple[str, str]]:
        return await self._run(lookups.interface_ip_pairs, self.conn, addresses)

    # ------------------------------------------------------------ light reads (lists, reports)
    def _summaries_sync(
        self,
        cls: str | None,
        q: str | None,
        limit: int,
        offset: int,
        status: str | None,
        attributes: tuple[str, ...],
    ) -> tuple[list[CI], int]:
        where, params = _list_where(cls, q, status)
        total = self.conn.execute(f"SELECT count(*) FROM ci WHERE {where}", params).fetchone()[0]
        # a plain key is read by SQLite (``->``: its JSON text, parsed here, so values keep
        # their JSON types); any other key from the whole document
        plain = [a for a in dict.fromkeys(attributes) if a.isidentifier()]
        other = [a for a in dict.fromkeys(attributes) if not a.isidentifier()]
        picks = "".join(", ci.attributes -> ?" for _ in plain)
        if other:
            picks += ", ci.attributes"
        rows = self.conn.execute(
            "SELECT ci.id, ci.class, ci.name, ci.status, ci.first_seen, "
            "CASE WHEN ss.last_report_at > ci.last_seen THEN ss.last_report_at "
            f"ELSE ci.last_seen END, ci.scope, ci.sources{picks} FROM {_CI_FROM} "
            f"WHERE {where} ORDER BY ci.class, ci.name, ci.id LIMIT ? OFFSET ?",
            [*(f"$.{a}" for a in plain), *params, limit, offset],
        )
        # thousands of rows repeat a few texts (sources lists, versions): each parsed once
        parsed: dict[str, Any] = {}

        def value(text: str) -> Any:
            found = parsed.get(text, parsed)
            if found is parsed:
                found = parsed[text] = json.loads(text)
            # only immutable values are shared between CIs
            return json.loads(text) if isinstance(found, list | dict) else found

        items = []
        for row in rows:
            # a null value counts as absent, as on Neo4j (no property)
            attrs = {a: value(v) for a, v in zip(plain, row[8:], strict=False) if v}
            if other:
                doc = json.loads(row[-1])
                attrs.update((a, doc[a]) for a in other if a in doc)
            attrs = {a: v for a, v in attrs.items() if v is not None}
            sources = parsed.get(row[7]) or parsed.setdefault(row[7], json.loads(row[7]))
            items.append(CI(*row[:7], sources=list(sources), attributes=attrs))
        return items, total

    async def list_summaries(
        self,
        cls: str | None,
        q: str | None,
        limit: int,
        offset: int,
        status: str | None = None,
        attributes: tuple[str, ...] = (),
    ) -> tuple[list[CI], int]:
        return await self._run(
            self._summaries_sync, cls, q, limit, offset, status, tuple(attributes)
        )

    def _unlinked_sync(
        self,
        classes: tuple[str, ...],
        rel_type: str,
        from_class: str,
        skip_statuses: tuple[str, ...],
    ) -> list[CI]:
        # one query: the classes' CIs (ci_class_name), each probed for an open inbound
        # relationship of the type (rel_dst_walk) whose source is of from_class
        rows = self.conn.execute(
            "SELECT ci.id, ci.class, ci.name, ci.status, ci.first_seen, "
            "CASE WHEN ss.last_report_at > ci.last_seen THEN ss.last_report_at "
            "ELSE ci.last_seen END, ci.scope "
            "FROM json_each(?) k CROSS JOIN ci ON ci.class = k.value "
            "LEFT JOIN source_state ss ON ss.scope = ci.scope "
            "WHERE ci.status NOT IN (SELECT value FROM json_each(?)) AND NOT EXISTS ("
            "SELECT 1 FROM rel r JOIN ci a ON a.id = r.src WHERE r.dst = ci.id "
            "AND r.type = ? AND r.ended_at IS NULL AND a.class = ?) "
            "ORDER BY k.key, ci.name, ci.id",
            (json.dumps(list(classes)), json.dumps(list(skip_statuses)), rel_type, from_class),
        )
        return [CI(*row) for row in rows]

    async def unlinked_cis(
        self,
        classes: tuple[str, ...],
        rel_type: str,
        from_class: str,
        skip_statuses: tuple[str, ...] = (),
    ) -> list[CI]:
        return await self._run(
            self._unlinked_sync, tuple(classes), rel_type, from_class, tuple(skip_statuses)
        )
