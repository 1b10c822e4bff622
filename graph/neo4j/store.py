"""The Neo4j backend of the store protocol (official async driver).

Every change set is one managed write transaction (``execute_write`` retries
transient failures) made of batched ``UNWIND $rows`` statements, grouped by
label or relationship type where Cypher needs those in the query text. Reads
are managed read transactions, so ``neo4j://`` routing URIs work as well as
``bolt://``. Semantics follow ``cmdb.graph.sqlite.store`` (the reference backend):
derived ``last_seen``, the first holder keeping a unique identity value,
history newest first.
"""

from __future__ import annotations

import asyncio
import copy
import functools
import json
import time
from collections import defaultdict
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping
from contextlib import asynccontextmanager
from typing import Any, TypeVar

import neo4j
from neo4j import AsyncGraphDatabase, AsyncManagedTransaction
from neo4j import exceptions as nx

from cmdb.graph import times
from cmdb.graph.changes import validate_changes
from cmdb.graph.dependency import SIGHTING_TYPES
from cmdb.graph.neo4j import cypher, lookups
from cmdb.graph.neo4j import impact as impact_reads
from cmdb.graph.neo4j import pending as pending_cypher
from cmdb.graph.neo4j import steady as steady_cypher
from cmdb.graph.records import frontier_rows
from cmdb.graph.steady import IdentityKey, SteadyProbe
from cmdb.graph.store import (
    CI,
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
    history_from_stored,
    seen_from,
)

T = TypeVar("T")

_UNAVAILABLE = (
    nx.ServiceUnavailable,
    nx.SessionExpired,
    nx.TransientError,
    nx.IncompleteCommit,
    ConnectionError,
    OSError,
)


async def records(result: neo4j.AsyncResult) -> list[neo4j.Record]:
    """A result's records as the driver decoded them (they read like dicts). Not
    ``Result.data()``: it walks every value again in Python to turn graph types into dicts,
    which cost more than the query itself on answers of hundreds of CIs."""
    return [record async for record in result]


async def _consume(result: Awaitable[neo4j.AsyncResult]) -> None:
    await (await result).consume()


def _later(a: str | None, b: str | None) -> str | None:
    if a is None:
        return b
    if b is None:
        return a
    return b if b > a else a


@functools.lru_cache(maxsize=256)
def _owners(text: str) -> tuple[tuple[str, str], ...]:
    """attr_sources documents repeat across CIs of one source: parse each text once."""
    return tuple(json.loads(text).items())


def _summary_from(m: Any) -> CI:
    """A CI without its documents (what a traversal answers): nothing to parse."""
    return CI(
        id=m["id"],
        cls=m["class"],
        name=m.get("name"),
        status=m.get("status") or "live",
        first_seen=m.get("first_seen"),
        last_seen=_later(m.get("last_seen"), m.get("ss_at")),
        scope=m.get("scope"),
    )


def _ci_from(m: Any) -> CI:
    ci = _summary_from(m)
    ci.sources = list(m.get("sources") or [])
    ci.attributes = json.loads(m.get("attributes_json") or "{}")
    ci.attr_sources = dict(_owners(m.get("attr_sources_json") or "{}"))
    ci.identity = {k: v for k, v in (m.get("identity") or [])}
    return ci


def _rel_from(m: dict[str, Any]) -> Rel:
    ended = m.get("ended_at")
    last_seen = m.get("last_seen")
    if ended is None:
        last_seen = _later(last_seen, m.get("rs_at"))
    return Rel(
        id=m["id"],
        type=m["type"],
        src=m["src"],
        dst=m["dst"],
        first_seen=m.get("first_seen"),
        last_seen=last_seen,
        ended_at=ended,
        scope=m.get("scope"),
        sources=list(m.get("sources") or []),
        attributes=json.loads(m.get("attributes") or "{}"),
    )


def _ci_props(
    *,
    ci_id: str,
    cls: str | None,
    name: str | None,
    status: str,
    first_seen: str | None,
    last_seen: str | None,
    scope: str | None,
    sources: list[str],
    attributes: dict[str, Any],
    attr_sources: dict[str, str],
    weak_identity: dict[str, str],
) -> dict[str, Any]:
    props = cypher.projected(attributes, cypher.NODE_INTERNAL)
    for rule, value in weak_identity.items():
        cypher.ident(cypher.key_prop(rule))
        props[cypher.key_prop(rule)] = value
    props.update(
        id=ci_id,
        name=name,
        status=status,
        first_seen=first_seen,
        last_seen=last_seen,
        scope=scope,
        sources=list(sources),
        attributes_json=cypher.dumps(attributes),
        attr_sources_json=cypher.dumps(attr_sources),
    )
    if cls is not None:
        props["class"] = cls
    return {k: v for k, v in props.items() if v is not None}


def _rel_props(rel: Rel, at: str, opened: dict[str, str] | None = None) -> dict[str, Any]:
    """A relationship's properties; ``opened`` (its provenance) when it is created."""
    props = cypher.projected(rel.attributes, cypher.REL_INTERNAL)
    props.update(
        id=rel.id,
        last_seen=rel.last_seen or at,
        scope=rel.scope,
        sources=list(rel.sources),
        attributes=cypher.dumps(rel.attributes),
    )
    if opened is not None:
        props["first_seen"] = rel.first_seen or at
        props.update(opened)
    return {k: v for k, v in props.items() if v is not None}


def _provenance(cs: ChangeSet, event: str) -> dict[str, str]:
    """Who opened or closed a relationship: this change set's report, source and actor."""
    found = {
        f"{event}_by": cs.report_id,
        f"{event}_source": cs.source,
        f"{event}_actor": cs.actor,
        f"{event}_request": cs.request_id,
    }
    return {k: v for k, v in found.items() if v is not None}


def _split_identity(cls: str, identity: dict[str, str]) -> tuple[dict[str, str], dict[str, str]]:
    unique = cypher.unique_rules(cls)
    strong = {r: v for r, v in identity.items() if r in unique and v is not None}
    weak = {r: v for r, v in identity.items() if r not in unique and v is not None}
    return strong, weak


class Neo4jStore:
    name = "neo4j"

    def __init__(
        self,
        uri: str,
        user: str,
        password: str,
        database: str | None = None,
        **driver_config: Any,
    ) -> None:
        self.uri = uri
        self.user = user
        self.database = database
        self._password = password
        self._config = {
            "connection_timeout": 10.0,
            "connection_acquisition_timeout": 30.0,
            "max_transaction_retry_time": 15.0,
            # "property key does not exist" and the like are noise for generated queries
            "notifications_min_severity": neo4j.NotificationMinimumSeverity.OFF,
            **driver_config,
        }
        self._driver: neo4j.AsyncDriver | None = None
        # the explicit transaction of a view that transaction() yields; None: each read and
        # write is a managed transaction of its own
        self._tx: neo4j.AsyncTransaction | None = None
        # every session of this server shares one bookmark manager: on a cluster a read
        # waits for the writes this server committed before it (read-your-writes)
        self._bookmarks = AsyncGraphDatabase.bookmark_manager()

    # ------------------------------------------------------------ plumbing
    @property
    def driver(self) -> neo4j.AsyncDriver:
        if self._driver is None:
            raise StoreError("the Neo4j store is not open")
        return self._driver

    def _where(self) -> str:
        return f"Neo4j at {self.uri}"

    def _map_error(self, exc: BaseException) -> Exception:
        if isinstance(exc, nx.AuthError):
            return StoreError(
                f"{self._where()} refused the credentials of user {self.user!r}: {exc.message}"
            )
        if isinstance(exc, nx.TransientError) or (
            isinstance(exc, nx.Neo4jError)
            and exc.code == "Neo.ClientError.Schema.ConstraintValidationFailed"
        ):
            # a deadlock, or a unique identity value another writer took meanwhile
            return StoreConflict(f"{self._where()}: a concurrent write conflicted: {exc.message}")
        if isinstance(exc, _UNAVAILABLE):
            text = getattr(exc, "message", None) or str(exc) or type(exc).__name__
            return StoreUnavailable(f"{self._where()} is unavailable: {text}")
        if isinstance(exc, nx.Neo4jError):
            return StoreError(f"{self._where()} refused the operation: {exc.code}: {exc.message}")
        if isinstance(exc, nx.DriverError):
            return StoreError(f"{self._where()}: {exc}")
        return exc  # type: ignore[return-value]

    async def _guard(self, awaitable: Awaitable[T]) -> T:
        try:
            return await awaitable
        except (StoreError, StoreUnavailable):
            raise
        except (nx.Neo4jError, nx.DriverError, ConnectionError, OSError) as exc:
            raise self._map_error(exc) from exc

    async def _read(self, fn: Callable[[AsyncManagedTransaction], Awaitable[T]]) -> T:
        if self._tx is not None:
            async with self._tx_turn:  # one query at a time on a transaction's connection
                return await self._guard(fn(self._tx))  # type: ignore[arg-type]

        async def run() -> T:
            async with self.driver.session(
                database=self.database, bookmark_manager=self._bookmarks
            ) as session:
                return await session.execute_read(fn)

        return await self._guard(run())

    async def _write(self, fn: Callable[[AsyncManagedTransaction], Awaitable[T]]) -> T:
        if self._tx is not None:
            async with self._tx_turn:  # one query at a time on a transaction's connection
                return await self._guard(fn(self._tx))  # type: ignore[arg-type]

        async def run() -> T:
            async with self.driver.session(
                database=self.database, bookmark_manager=self._bookmarks
            ) as session:
                return await session.execute_write(fn)

        return await self._guard(run())

    async def _query(self, query: str, **params: Any) -> list[neo4j.Record]:
        async def work(tx: AsyncManagedTransaction) -> list[neo4j.Record]:
            return await records(await tx.run(query, params))

        return await self._read(work)

    @asynccontextmanager
    async def transaction(self, lock_keys: Iterable[str] = ()) -> AsyncIterator[Neo4jStore]:
        """A view of this store whose reads and writes run in one explicit write transaction,
        committed when the block ends (rolled back on an exception).

        ``lock_keys`` (identity values, ``class|rule|value``) are locked first, in sorted
        order, through one ``IdentityLock`` node each (MERGE on a unique key): a second
        transaction for the same identity waits until the first commits and then reads its
        result. A conflict raises ``StoreConflict``: run the whole block again."""
        keys = sorted(set(lock_keys))
        session = self.driver.session(database=self.database, bookmark_manager=self._bookmarks)
        try:
            tx = await self._guard(session.begin_transaction())
            view = copy.copy(self)
            view._tx = tx
            view._tx_turn = asyncio.Lock()
            try:
                if keys:
                    at = times.now_text()
                    await self._guard(_consume(tx.run(cypher.LOCK_IDENTITIES, keys=keys, at=at)))
                yield view
            except BaseException:
                try:
                    await tx.rollback()
                except (nx.Neo4jError, nx.DriverError, ConnectionError, OSError):
                    pass  # the transaction is gone with its connection: nothing to undo
                raise
            await self._guard(tx.commit())
        finally:
            await session.close()

    # ------------------------------------------------------------ lifecycle
    async def open(self) -> None:
        try:
            self._driver = AsyncGraphDatabase.driver(
                self.uri, auth=(self.user, self._password), **self._config
            )
        except (nx.ConfigurationError, ValueError) as exc:
            raise StoreError(f"cannot use the Neo4j URI {self.uri!r}: {exc}") from exc
        try:
            await self._guard(self._driver.verify_connectivity())
            await self._create_schema()
            await self._guard(
                self._driver.execute_query("CALL db.awaitIndexes(60)", database_=self.database)
            )
        except BaseException:
            await self._driver.close()
            self._driver = None
            raise

    async def _create_schema(self) -> None:
        """Create the constraints and indexes the schema implies and the database lacks
        (every statement is IF NOT EXISTS, so concurrent servers do not conflict)."""
        db = self.database
        have: set[str] = set()
        for show in ("SHOW CONSTRAINTS YIELD name", "SHOW INDEXES YIELD name"):
            records, _, _ = await self._guard(self.driver.execute_query(show, database_=db))
            have.update(r["name"] for r in records)
        records, _, _ = await self._guard(
            self.driver.execute_query("SHOW CONSTRAINTS YIELD name", database_=db)
        )
        for name in {r["name"] for r in records} & cypher.identity_index_names():
            # a rule an earlier schema declared unique (a Host serial): an index now
            drop = f"DROP CONSTRAINT {cypher.ident(name)} IF EXISTS"
            await self._guard(self.driver.execute_query(drop, database_=db))
            have.discard(name)
        for statement in cypher.ddl_statements():
            if cypher.ddl_name(statement) not in have:
                try:
                    await self.driver.execute_query(statement, database_=db)
                except nx.ClientError as exc:
                    # another server starting at the same moment created it first
                    if "AlreadyExists" not in (exc.code or ""):
                        raise self._map_error(exc) from exc
        for name in cypher.RETIRED_INDEXES:
            if name in have:
                drop = f"DROP INDEX {cypher.ident(name)} IF EXISTS"
                await self._guard(self.driver.execute_query(drop, database_=db))

    async def close(self) -> None:
        if self._driver is not None:
            await self._driver.close()
            self._driver = None

    async def ping(self) -> None:
        await self._query("RETURN 1 AS ok")

    # ------------------------------------------------------------ writes
    async def apply(self, changes: ChangeSet) -> None:
        validate_changes(changes)
        plan = _WritePlan(changes)
        await self._write(plan.run)

    async def report_seen(self, report_id: str) -> bool:
        rows = await self._query(cypher.REPORT_SEEN, report_id=report_id)
        return bool(rows and rows[0]["seen"])

    # ------------------------------------------------------------ identification
    async def find_by_identity(self, cls: str, rule: str, values: list[str]) -> dict[str, list[CI]]:
        if not values:
            return {}
        try:
            query = cypher.find_by_identity(cls, rule)
        except cypher.CypherNameError:
            return {}
        rules = cypher.identity_rules(cls)
        found: dict[str, list[CI]] = {}
        for row in await self._query(query, values=sorted(set(values))):
            states = {scope: at for scope, at in row["states"] if scope is not None}
            for value, fields in row["found"]:
                m = dict(zip(cypher.CI_FIELDS, fields[:-1], strict=True))
                m["identity"] = [
                    (r, v) for r, v in zip(rules, fields[-1], strict=True) if v is not None
                ]
                m["ss_at"] = states.get(m["scope"])
                found.setdefault(value, []).append(_ci_from(m))
        return found

    async def find_by_identities(self, cls: str, wanted: dict[str, str]) -> dict[str, list[CI]]:
        if not wanted:
            return {}
        try:
            query = cypher.find_by_identities(cls, tuple(sorted(wanted)))
        except cypher.CypherNameError:
            return {}
        found: dict[str, list[CI]] = {}
        now = times.now_text()
        for rows in await self._query(query, wanted=wanted, now=now):
            for rule, m, prior in rows["found"]:
                ci = _ci_from(m)
                for prior_rule, value in prior:
                    ci.prior_identity.setdefault(prior_rule, []).append(value)
                found.setdefault(rule, []).append(ci)
        return found

    async def load_scope(self, scope: str, rel_types: tuple[str, ...] | None = None) -> ScopeState:
        types = cypher.REL_TYPE_NAMES
        if rel_types is not None:
            types = tuple(t for t in rel_types if t in cypher.REL_TYPE_NAMES)
        rels_query = cypher.scope_rels_and_linked(types) if types else None

        async def work(tx: AsyncManagedTransaction) -> ScopeState:
            cis = await records(await tx.run(cypher.SCOPE_CIS, scope=scope))
            if rels_query is None:
                return ScopeState(cis=[_ci_from(r["ci"]) for r in cis], rels=[])
            record = await (await tx.run(rels_query, scope=scope)).single()
            return ScopeState(
                cis=[_ci_from(r["ci"]) for r in cis],
                rels=[_rel_from(m) for m in record["rels"]] if record else [],
                linked=[_ci_from(m) for m in record["cis"]] if record else [],
            )

        return await self._read(work)

    async def source_state(self, scope: str) -> SourceState | None:
        """The source state of ``scope``. Inside ``transaction()`` the state node is locked
        first, until the transaction ends: the steady state's compare-and-set of the same
        source (``advance_source_state``, no identity lock) waits for this transaction and
        then sees what it wrote, instead of slipping in between its read and its write."""
        if self._tx is not None:

            async def locked(tx: Any) -> list[neo4j.Record]:
                return await records(await tx.run(steady_cypher.LOCKED_SOURCE_STATE, scope=scope))

            rows = await self._write(locked)
        else:
            rows = await self._query(cypher.SOURCE_STATE, scope=scope)
        if not rows:
            return None
        row = dict(rows[0])
        row["sections"] = json.loads(row.get("sections") or "{}")
        return SourceState(**row)

    # ------------------------------------------------------------ the steady state
    async def _one_query(self, fn: Callable[[Any], Awaitable[T]], write: bool = False) -> T:
        """``fn(runner)`` in the caller's transaction, or else as ONE auto-commit transaction
        (``fn`` runs one query): one round trip, without the BEGIN and COMMIT a managed
        transaction costs. The steady state's read and its write are each atomic on their
        own; the write is a compare-and-set on what the read saw (``cmdb.graph.steady``)."""
        if self._tx is not None:
            return await (self._write(fn) if write else self._read(fn))

        async def run() -> T:
            async with self.driver.session(
                database=self.database, bookmark_manager=self._bookmarks
            ) as session:
                return await fn(session)

        return await self._guard(run())

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
        of ``scope_types``. One query."""
        types = tuple(t for t in scope_types if t in cypher.REL_TYPE_NAMES)
        if agent_key is not None:
            query = steady_cypher.by_binding(types)
        elif key is not None:
            try:
                query = steady_cypher.by_key(key.cls, key.rule, types)
            except cypher.CypherNameError:
                return SteadyProbe(seen=await self.report_seen(report_id))
        else:
            return SteadyProbe(seen=await self.report_seen(report_id))
        cls, rule, value = key if key is not None else (None, None, None)
        params = {
            "report_id": report_id,
            "source": source,
            "agent_key": agent_key,
            "cls": cls,
            "rule": rule,
            "value": value,
            "now": times.now_text(),
            "scopes": list(scopes),
        }

        async def work(runner: Any) -> neo4j.Record | None:
            return await (await runner.run(query, params)).single()

        row = await self._one_query(work)
        if row is None:
            raise StoreError(f"{self._where()} answered the steady-state read with no row")
        probe = SteadyProbe(
            seen=row["seen"],
            bound=row["bound"],
            empty_scopes=frozenset(row["empty_scopes"]),
            scope_types=types,
        )
        if row["ci"] is not None:
            probe.ci = _ci_from(row["ci"])
            probe.contested = bool(row["contested"])
        if row["state"] is not None:
            state = dict(row["state"])
            state["sections"] = json.loads(state.get("sections") or "{}")
            probe.state = SourceState(**state)
        return probe

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
        ``expected_report_id`` (compare-and-set under the node's write lock); the sections
        stay. Sets ``touch`` CIs' last_seen to the report time and remembers the report id
        (``durable`` changes nothing here: every Neo4j commit is flushed to its log).
        ``changes`` (what else the report writes: observed connections) go in the same
        query, written only when the compare-and-set holds: outside ``transaction()`` it all
        commits or nothing does. False: another report of the source was applied
        meanwhile, and nothing was written."""
        params = {
            "scope": state.scope,
            "expected": expected_report_id,
            "at": state.last_report_at,
            "report_id": state.report_id,
            "sequence": state.sequence,
            "instance": state.instance,
            "source": state.source,
            "touch": list(touch),
        }
        if changes is not None and (not changes.is_empty() or changes.prior_identity):
            validate_changes(changes)
            plan = self._steady_plan()(changes, params)
            try:
                if changes.update_cis or changes.close_rel_types:
                    # their plan runs several queries: one managed transaction for them all
                    await self._write(plan.run)
                else:
                    await self._one_query(plan.run, write=True)
            except _NotAdvanced:
                return False
            return True

        async def work(runner: Any) -> bool:
            record = await (await runner.run(steady_cypher.ADVANCE, params)).single()
            return bool(record and record["moved"])

        return await self._one_query(work, write=True)

    @staticmethod
    @functools.cache
    def _steady_plan() -> type:
        """A change set's write plan whose (first) batch also advances the source state:
        one query for both."""

        class SteadyPlan(_WritePlan):
            def __init__(self, cs: ChangeSet, advance: dict[str, Any]) -> None:
                super().__init__(cs)
                self.advance: dict[str, Any] | None = advance

            async def _send(  # type: ignore[override]
                self, tx: AsyncManagedTransaction, batch: cypher.Batch
            ) -> dict[str, int]:
                counter = None
                if self.advance is not None:
                    counter = batch.add_counted(steady_cypher.ADVANCE_BODY, "s", **self.advance)
                    # first in the query: the source state's lock is the first one taken
                    # (a full-path report of the host holds it from its read on: no deadlock),
                    # and nothing after it runs unless the compare-and-set held
                    batch.parts.insert(0, f"{batch.parts.pop()} WITH * WHERE {counter} > 0")
                    self.advance = None
                counts = await _WritePlan._send(tx, batch)
                if counter is not None and not counts.get(counter):
                    raise _NotAdvanced
                return counts

        return SteadyPlan

    async def agent_binding(self, agent_key: str) -> str | None:
        rows = await self._query(cypher.AGENT_BINDING, key=agent_key)
        return rows[0]["ci_id"] if rows else None

    async def find_open_rels(
        self, triples: list[tuple[str, str, str]]
    ) -> dict[tuple[str, str, str], Rel]:
        by_type: dict[str, list[list[str]]] = defaultdict(list)
        for rel_type, src, dst in triples:
            if rel_type in cypher.REL_TYPE_NAMES:
                by_type[rel_type].append([src, dst])
        if not by_type:
            return {}

        async def work(tx: AsyncManagedTransaction) -> dict[tuple[str, str, str], Rel]:
            found: dict[tuple[str, str, str], Rel] = {}
            for rel_type, pairs in by_type.items():
                result = await tx.run(cypher.find_open_rels(rel_type), pairs=pairs)
                for row in await records(result):
                    rel = _rel_from(row["rel"])
                    found[(rel.type, rel.src, rel.dst)] = rel
            return found

        return await self._read(work)

    # ------------------------------------------------------------ observed connections
    async def pending_connections(
        self, addresses: list[str], since: str
    ) -> list[PendingConnection]:
        if not addresses:
            return []
        rows = await self._collected(
            pending_cypher.TO_ADDRESSES, "rows", addresses=sorted(set(addresses)), since=since
        )
        return [PendingConnection(*row) for row in rows]

    # ------------------------------------------------------------ reads
    async def get_ci(self, ci_id: str) -> CI | None:
        return (await self.get_cis([ci_id])).get(ci_id)

    async def get_cis(self, ci_ids: list[str]) -> dict[str, CI]:
        if not ci_ids:
            return {}
        rows = await self._query(cypher.GET_CIS, ids=sorted(set(ci_ids)))
        return {ci.id: ci for r in rows for ci in map(_ci_from, r["cis"])}

    async def list_cis(
        self,
        cls: str | None,
        q: str | None,
        limit: int,
        offset: int,
        status: str | None = None,
    ) -> tuple[list[CI], int]:
        if cls:
            try:
                cypher.ident(cls)
            except cypher.CypherNameError:
                return [], 0
        params = {
            "status": status or None,
            "q": q.lower() if q else None,
            "limit": max(0, int(limit)),
            "offset": max(0, int(offset)),
        }

        async def work(tx: AsyncManagedTransaction) -> tuple[list[CI], int]:
            total = await (await tx.run(cypher.list_cis(cls or None, True), params)).single()
            rows = await records(await tx.run(cypher.list_cis(cls or None, False), params))
            return [_ci_from(r["ci"]) for r in rows], int(total["total"]) if total else 0

        return await self._read(work)

    async def relationships(self, ci_id: str, include_ended: bool = False) -> list[RelView]:
        rows = await self._query(cypher.RELATIONSHIPS, id=ci_id, all=bool(include_ended))
        views = [
            RelView(rel=_rel_from(r["rel"]), direction=r["direction"], other=_ci_from(r["ci"]))
            for r in rows
        ]
        views.sort(key=lambda v: (v.rel.type, v.direction, v.other.name or "", v.other.id))
        return views

    async def history(
        self,
        ci_id: str,
        limit: int,
        offset: int,
        since: str | None = None,
        until: str | None = None,
        request_id: str | None = None,
    ) -> tuple[list[HistoryEntry], int]:
        rows = await self._query(
            cypher.HISTORY,
            id=ci_id,
            since=since,
            until=until,
            request_id=request_id,
            limit=max(0, int(limit)),
            offset=max(0, int(offset)),
        )
        if not rows:
            return [], 0
        entries = [history_from_stored(seen_from(dict(h), ci_id)) for h in rows[0]["page"]]
        return entries, int(rows[0]["total"])

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
        types = tuple(rel_types) if rel_types else None
        if types:
            types = tuple(t for t in types if t in cypher.REL_TYPE_NAMES)
            if not types:
                types = None
                depth = 0  # no known type: nothing can be walked
        starts = sorted(set(start))
        next_query = cypher.traverse_next(direction, types)
        limited_query = cypher.traverse_next_limited(direction, types)

        async def work(tx: AsyncManagedTransaction) -> Traversal:
            if not starts:
                return Traversal(nodes={}, edges=[])
            record = await (await tx.run(cypher.WALK_STARTS, ids=starts)).single()
            summary = {row[0]: row[1:] for row in (record["cis"] if record else [])}
            depths = dict.fromkeys(summary, 0)
            walked: dict[str, Rel] = {}
            frontier = sorted(depths)
            level = 0
            while frontier and level < depth and (limit is None or len(depths) <= limit):
                level += 1
                if limit is not None:
                    fresh = await self._next_limited(
                        tx, limited_query, frontier, depths, limit, summary, walked
                    )
                    depths.update(dict.fromkeys(fresh, level))
                    frontier = sorted(fresh)
                    continue
                record = await (await tx.run(next_query, frontier=frontier)).single()
                on_frontier = set(frontier)
                fresh = set()
                for step in record["steps"] if record else []:
                    rid, rtype, src, dst = step[:4]
                    # the far end: for "both", the end that is not on the frontier (either
                    # end of a relationship between two frontier CIs, which reaches nothing)
                    far = dst if src in on_frontier else src
                    if far not in depths:
                        # a step that reached a CI first seen at this level
                        fresh.add(far)
                        summary.setdefault(far, step[4:])
                        walked.setdefault(rid, Rel(id=rid, type=rtype, src=src, dst=dst))
                depths.update(dict.fromkeys(fresh, level))
                frontier = sorted(fresh)
            truncated = limit is not None and len(depths) > limit
            if truncated:
                kept = sorted(depths, key=lambda i: (depths[i], i))[:limit]
                depths = {i: depths[i] for i in kept}
            summaries = [
                {"id": ci_id, **dict(zip(cypher.SUMMARY_FIELDS, summary[ci_id], strict=True))}
                for ci_id in depths
            ]
            scopes = sorted({m["scope"] for m in summaries if m.get("scope")})
            if scopes:
                states = await (await tx.run(cypher.SOURCE_STATES, scopes=scopes)).single()
                at = dict(states["states"])
                for m in summaries:
                    m["ss_at"] = at.get(m.get("scope"))
            nodes = {ci.id: (ci, depths[ci.id]) for ci in map(_summary_from, summaries)}
            edges = [r for r in walked.values() if r.src in depths and r.dst in depths]
            edges.sort(key=lambda r: r.id)
            return Traversal(nodes=nodes, edges=edges, truncated=truncated)

        return await self._read(work)

    @staticmethod
    async def _next_limited(
        tx: AsyncManagedTransaction,
        query: str,
        frontier: list[str],
        depths: dict[str, int],
        limit: int,
        summary: dict[str, Any],
        walked: dict[str, Rel],
    ) -> set[str]:
        """One level of a limited walk: the CIs first seen at it, at most one more than the
        limit leaves room for (so the caller knows it truncated), smallest ids first."""
        room = limit - len(depths) + 1
        record = await (
            await tx.run(query, frontier=frontier, seen=list(depths), room=room)
        ).single()
        fresh: set[str] = set()
        for far, via, *far_summary in record["found"] if record else []:
            fresh.add(far)
            summary.setdefault(far, far_summary)
            for rid, rtype, src, dst in via:
                walked.setdefault(rid, Rel(id=rid, type=rtype, src=src, dst=dst))
        return fresh

    # ------------------------------------------------------------ impact, time, lookups
    async def _collected(self, query: str, key: str, **params: Any) -> list[Any]:
        """The list a one-record query collected under ``key``."""
        rows = await self._query(query, **params)
        return list(rows[0][key]) if rows else []

    async def impact_hop(self, ids: list[str], types: tuple[str, ...]) -> list[tuple]:
        rows = await self._collected(impact_reads.hop_query(types), "rows", ids=ids)
        return [impact_reads.HopRow(*r) for r in rows]

    async def uplinks(self, device_ids: list[str]) -> list[tuple]:
        rows = await self._collected(impact_reads.UPLINKS, "rows", ids=device_ids)
        return [impact_reads.Uplink(*r) for r in rows]

    async def impact_steps(
        self,
        ids: list[str],
        types: tuple[str, ...],
        back: Mapping[str, tuple[str, str]] | None = None,
    ) -> list[tuple]:
        rows, _bookmark = await self._read_once(
            impact_reads.walk_step_query(types), "rows", frontier=frontier_rows(ids, back)
        )
        return rows

    async def impact_generation(self) -> Any:
        # the bookmark a read ends with names the last transaction committed to the database,
        # whoever wrote it: equal bookmarks, the same graph. Inside an explicit transaction
        # (its own writes not committed yet), none.
        if self._tx is not None:
            return None
        _rows, bookmark = await self._read_once("RETURN [] AS rows", "rows")
        return bookmark

    async def _read_once(self, query: str, key: str, **params: Any) -> tuple[list[Any], Any]:
        """The list a one-record read collected under ``key``, and the bookmark it ended
        with (None inside a transaction view, or if the server sent none). One auto-commit
        round trip instead of a managed transaction's begin, run and commit: the impact walk
        reads once a level, so round trips are most of a small failure's time. A failure
        the driver calls retryable is retried once as a managed read (which retries on)."""
        if self._tx is not None:
            return await self._collected(query, key, **params), None
        try:
            async with self.driver.session(
                database=self.database,
                bookmark_manager=self._bookmarks,
                default_access_mode=neo4j.READ_ACCESS,
            ) as session:
                record = await (await session.run(query, params)).single()
                bookmark = (await session.last_bookmarks()).raw_values or None
                return (list(record[key]) if record else []), bookmark
        except (nx.Neo4jError, nx.DriverError) as exc:
            if not exc.is_retryable():
                raise self._map_error(exc) from exc
        except (ConnectionError, OSError) as exc:
            raise self._map_error(exc) from exc
        return await self._collected(query, key, **params), None

    async def history_between(
        self,
        since: str | None,
        until: str | None,
        sources: tuple[str, ...] | None,
        limit: int,
    ) -> list[HistoryEntry]:
        rows = await self._query(
            cypher.history_between(since is not None),
            since=since,
            until=until,
            sources=list(sources) if sources else None,
            limit=int(limit),
        )
        return [history_from_stored(r["e"]) for r in rows]

    async def unseen_since(
        self, before: str, statuses: tuple[str, ...], classes: tuple[str, ...], limit: int
    ) -> list[str]:
        rows = await self._query(
            lookups.UNSEEN_SINCE,
            statuses=list(statuses),
            classes=list(classes),
            before=before,
            limit=int(limit),
            # a dependency is not a sighting: only these keep a CI seen (cmdb.graph.dependency)
            sightings=list(SIGHTING_TYPES),
        )
        return [r["id"] for r in rows]

    async def attribute_pairs(
        self, cls: str, attr: str, values: list[str]
    ) -> list[tuple[str, str]]:
        pairs = await self._collected(lookups.attribute_pairs(cls, attr), "pairs", values=values)
        return [(str(k), str(i)) for k, i in pairs]

    async def name_pairs(self, classes: tuple[str, ...], names: list[str]) -> list[tuple[str, str]]:
        pairs = await self._collected(
            lookups.NAME_PAIRS, "pairs", values=names, classes=list(classes)
        )
        return [(str(k), str(i)) for k, i in pairs]

    async def interface_ip_pairs(self, addresses: list[str]) -> list[tuple[str, str]]:
        pairs = await self._collected(lookups.INTERFACE_IP_PAIRS, "pairs", values=addresses)
        return [(str(k), str(i)) for k, i in pairs]

    # ------------------------------------------------------------ light reads (lists, reports)
    async def list_summaries(
        self,
        cls: str | None,
        q: str | None,
        limit: int,
        offset: int,
        status: str | None = None,
        attributes: tuple[str, ...] = (),
    ) -> tuple[list[CI], int]:
        if cls:
            try:
                cypher.ident(cls)
            except cypher.CypherNameError:
                return [], 0
        wanted = tuple(dict.fromkeys(attributes))
        # attributes are node properties too (cypher.projected): read those, not the
        # document; names the store keeps for itself, and text that may be an encoded value
        # (cypher.property_value), come from the document
        props = [
            a
            for a in wanted
            if a not in cypher.NODE_INTERNAL and not a.startswith(cypher.KEY_PREFIX)
        ]
        from_doc = [a for a in wanted if a not in props]
        label = cypher.ident(cls or cypher.CI_LABEL)
        page = (
            f"MATCH (n:{label}) WHERE ($status IS NULL OR n.status = $status) "
            "AND ($q IS NULL OR toLower(n.name) CONTAINS $q) "
            "WITH n ORDER BY n.class, n.name IS NULL DESC, n.name, n.id SKIP $offset LIMIT $limit "
            "OPTIONAL MATCH (ss:SourceState {scope: n.scope}) "
            "RETURN collect([n.id, n.class, n.name, n.status, n.first_seen, n.last_seen, n.scope, "
            "n.sources, ss.last_report_at, [k IN $props | n[k]], CASE WHEN $doc OR "
            "any(k IN $props WHERE n[k] STARTS WITH $marker) THEN n.attributes_json END]) AS rows"
        )
        params = {
            "status": status or None,
            "q": q.lower() if q else None,
            "limit": max(0, int(limit)),
            "offset": max(0, int(offset)),
            "props": props,
            "doc": bool(from_doc),
            "marker": cypher.JSON_MARKER,
        }

        async def work(tx: AsyncManagedTransaction) -> tuple[int, list[Any]]:
            total = await (await tx.run(cypher.list_cis(cls or None, True), params)).single()
            found = await (await tx.run(page, params)).single()
            return int(total["total"]) if total else 0, list(found["rows"]) if found else []

        total, rows = await self._read(work)
        items = []
        for cid, ccls, name, st, first, last, scope, sources, ss_at, values, doc in rows:
            ci = _summary_from(
                {"id": cid, "class": ccls, "name": name, "status": st, "first_seen": first}
                | {"last_seen": last, "scope": scope, "ss_at": ss_at}
            )
            ci.sources = list(sources or [])
            whole = json.loads(doc) if doc is not None else {}
            for a, v in zip(props, values, strict=True):
                if isinstance(v, str) and v.startswith(cypher.JSON_MARKER):
                    v = whole.get(a)
                if v is not None:
                    ci.attributes[a] = v
            ci.attributes.update((a, whole[a]) for a in from_doc if whole.get(a) is not None)
            items.append(ci)
        return items, total

    async def unlinked_cis(
        self,
        classes: tuple[str, ...],
        rel_type: str,
        from_class: str,
        skip_statuses: tuple[str, ...] = (),
    ) -> list[CI]:
        try:
            arms = " UNION ALL ".join(
                f"MATCH (n:{cypher.ident(c)}) RETURN n, {k} AS k" for k, c in enumerate(classes)
            )
            inbound = f"<-[r:{cypher.ident(rel_type)}]-(:{cypher.ident(from_class)})"
        except cypher.CypherNameError:
            return []
        if not arms:
            return []
        rows = await self._collected(
            f"CALL () {{ {arms} }} WITH n, k WHERE NOT coalesce(n.status, 'live') IN $skip "
            f"AND NOT EXISTS {{ MATCH (n){inbound} WHERE r.ended_at IS NULL }} "
            "OPTIONAL MATCH (ss:SourceState {scope: n.scope}) "
            "RETURN collect([k, n.id, n.class, n.name, n.status, n.first_seen, n.last_seen, "
            "n.scope, ss.last_report_at]) AS rows",
            "rows",
            skip=list(skip_statuses),
        )
        # the order SQLite gives: class as listed, name (none first), id
        rows.sort(key=lambda r: (r[0], r[3] is not None, r[3] or "", r[1]))
        return [_summary_from(dict(zip(_UNLINKED_FIELDS, r[1:], strict=True))) for r in rows]


_UNLINKED_FIELDS = ("id", "class", "name", "status", "first_seen", "last_seen", "scope", "ss_at")


class _NotAdvanced(Exception):
    """A steady-state write whose compare-and-set did not hold (nothing was written)."""


class _WritePlan:
    """The statements of one change set, prepared before the transaction starts so a
    retried transaction function only re-sends them."""

    def __init__(self, cs: ChangeSet) -> None:
        self.cs = cs
        self.tx_stamp = time.time_ns()
        at = cs.at
        # CIs to create, by class; unique identity values set afterwards, first holder wins
        self.create_by_label: dict[str, list[dict[str, Any]]] = defaultdict(list)
        self.create_keys: dict[tuple[str, str], list[dict[str, str]]] = defaultdict(list)
        seen_values: set[tuple[str, str, str]] = set()
        for ci in cs.create_cis:
            try:
                cypher.ident(ci.cls)
            except cypher.CypherNameError as exc:
                raise StoreError(f"CI {ci.id} has an unusable class name: {exc}") from exc
            strong, weak = _split_identity(ci.cls, ci.identity)
            self.create_by_label[ci.cls].append(
                {
                    "props": _ci_props(
                        ci_id=ci.id,
                        cls=ci.cls,
                        name=ci.name,
                        status=ci.status,
                        first_seen=ci.first_seen or at,
                        last_seen=ci.last_seen or at,
                        scope=ci.scope,
                        sources=ci.sources,
                        attributes=ci.attributes,
                        attr_sources=ci.attr_sources,
                        weak_identity=weak,
                    )
                }
            )
            for rule, value in strong.items():
                if (ci.cls, rule, value) in seen_values:
                    continue
                seen_values.add((ci.cls, rule, value))
                self.create_keys[(ci.cls, rule)].append({"id": ci.id, "value": value})
        self.updates = cs.update_cis
        self.touch = list(dict.fromkeys(cs.touch_cis))
        self.close: list[str] = []
        self.close_typed: dict[str, list[str]] = defaultdict(list)
        for rid in dict.fromkeys(cs.close_rels):
            rel_type = cs.close_rel_types.get(rid)
            if rel_type in cypher.REL_TYPE_NAMES:
                self.close_typed[rel_type].append(rid)
            else:
                self.close.append(rid)
        # by (type, fresh): a fresh relationship touches a CI this change set creates
        self.create_rels: dict[tuple[str, bool], list[dict[str, Any]]] = defaultdict(list)
        created = {ci.id for ci in cs.create_cis}
        opened = _provenance(cs, "opened")
        self.closed = _provenance(cs, "closed")
        pairs: set[tuple[str, str, str]] = set()
        for rel in cs.create_rels:
            if rel.type not in cypher.REL_TYPE_NAMES:
                raise StoreError(
                    f"relationship {rel.id} has type {rel.type!r}, "
                    "which cmdb.graph.schema does not declare"
                )
            key = (rel.type, rel.src, rel.dst)
            if key in pairs:
                raise StoreError(
                    f"the change set creates two open {rel.type} relationships "
                    f"from {rel.src} to {rel.dst}"
                )
            pairs.add(key)
            fresh = rel.src in created or rel.dst in created
            self.create_rels[(rel.type, fresh)].append(
                {"src": rel.src, "dst": rel.dst, "props": _rel_props(rel, at, opened)}
            )
        self.update_rels: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for rel in cs.update_rels:
            if rel.type in cypher.REL_TYPE_NAMES:
                self.update_rels[rel.type].append({"id": rel.id, "props": _rel_props(rel, at)})
        self.history = [
            {
                k: v
                for k, v in {
                    "ci_id": h.ci_id,
                    "other_id": h.other_id,
                    "kind": h.kind,
                    "field": h.field,
                    "old": cypher.dumps(h.old),
                    "new": cypher.dumps(h.new),
                    "at": h.at,
                    "source": h.source,
                    "report_id": h.report_id,
                    "actor": h.actor,
                    "request_id": h.request_id,
                    "tx": self.tx_stamp,
                    "seq": i,
                }.items()
                if v is not None
            }
            for i, h in enumerate(cs.history)
        ]

    async def run(self, tx: AsyncManagedTransaction) -> None:
        """The statements in order, batched into as few queries as their data flow allows:
        a first report or an unchanged one is one query; CI updates and typed closes, whose
        answers steer what follows, flush the batch before them and run on their own."""
        cs = self.cs
        batch = cypher.Batch()
        for label, rows in self.create_by_label.items():
            batch.add(cypher.create_cis(label), rows=rows)
        for (label, rule), rows in self.create_keys.items():
            batch.add(cypher.set_unique_key(label, rule), rows=rows)
        if self.updates:
            batch = await self._flush(tx, batch)
            await self._run_updates(tx)
        if self.touch:
            batch.add(cypher.TOUCH_CIS, ids=self.touch, at=cs.at)
        if cs.set_status:
            rows = [[ci_id, status] for ci_id, status in cs.set_status]
            batch.add(cypher.SET_STATUS, rows=rows)
        close = list(self.close)
        if self.close_typed:
            batch = await self._flush(tx, batch)
        for rel_type, ids in self.close_typed.items():
            result = await tx.run(
                cypher.close_rels_typed(rel_type), ids=ids, at=cs.at, closed=self.closed
            )
            found = {row[0] for row in await result.values()}
            close += [rid for rid in ids if rid not in found]  # a wrong type: seek every type
        if close:
            batch.add_counted(cypher.CLOSE_RELS_BODY, "r", ids=close, at=cs.at, closed=self.closed)
        expected: dict[str, tuple[str, int]] = {}
        for (rel_type, fresh), rows in self.create_rels.items():
            body = cypher.create_rels(rel_type, check_open=not fresh)
            counter = batch.add_counted(body, "r", rows=rows)
            expected[counter] = (rel_type, len(rows))
        for rel_type, rows in self.update_rels.items():
            batch.add(cypher.update_rels(rel_type), rows=rows)
        if self.history:
            batch.add(cypher.INSERT_HISTORY, rows=self.history)
        if cs.source_state is not None:
            s = cs.source_state
            batch.add(
                cypher.UPSERT_SOURCE_STATE,
                scope=s.scope,
                source=s.source,
                at=s.last_report_at,
                report_id=s.report_id,
                sequence=s.sequence,
                sections=cypher.dumps(s.sections),
                instance=s.instance,
            )
        if cs.bind_agent is not None:
            key, ci_id = cs.bind_agent
            batch.add(cypher.BIND_AGENT, key=key, ci_id=ci_id, at=cs.at)
        if cs.prior_identity:
            rows = [
                {"cls": p.cls, "rule": p.rule, "value": p.value, "id": p.ci_id, "until": p.until}
                for p in cs.prior_identity
            ]
            batch.add(cypher.UPSERT_PRIOR_IDENTITY, rows=rows)
        if cs.pending is not None:
            mine = {"client": cs.pending.client, "report_id": cs.report_id}
            rows = [
                {"address": r.address, "port": r.port, "process": r.process}
                for r in cs.pending.rows
            ]
            if rows:
                batch.add(pending_cypher.UPSERT, rows=rows, at=cs.at, **mine)
            batch.add(pending_cypher.DROP_UNCONFIRMED, **mine)
            batch.add(pending_cypher.DROP_STALE, stale_before=cs.pending.stale_before)
        if cs.record_report:
            batch.add(cypher.RECORD_REPORT, report_id=cs.report_id, source=cs.source, at=cs.at)
        counts = await self._send(tx, batch)
        for counter, (rel_type, wanted) in expected.items():
            created = counts.get(counter, 0)
            if created != wanted:
                raise StoreError(
                    f"{wanted - created} of {wanted} new {rel_type} relationships name a "
                    "CI that does not exist or duplicate an open relationship"
                )

    @staticmethod
    async def _send(tx: AsyncManagedTransaction, batch: cypher.Batch) -> dict[str, int]:
        if not batch:
            return {}
        record = await (await tx.run(batch.query(), batch.params)).single()
        return dict(record) if record else {}

    async def _flush(self, tx: AsyncManagedTransaction, batch: cypher.Batch) -> cypher.Batch:
        """Send what is batched so far (it has no counted parts) and start a new batch."""
        await self._send(tx, batch)
        return cypher.Batch()

    async def _run_updates(self, tx: AsyncManagedTransaction) -> None:
        at = self.cs.at
        rows = [
            {
                "id": u.id,
                "props": _ci_props(
                    ci_id=u.id,
                    cls=None,
                    name=u.name,
                    status=u.status,
                    first_seen=None,
                    last_seen=at,
                    scope=None,
                    sources=u.sources,
                    attributes=u.attributes,
                    attr_sources=u.attr_sources,
                    weak_identity={},
                ),
            }
            for u in self.updates
        ]
        result = await tx.run(cypher.UPDATE_CIS, rows=rows)
        if all(u.cls for u in self.updates):
            # the caller named every class: no need to read them back
            await result.consume()
            classes = {u.id: u.cls for u in self.updates}
        else:
            classes = {r["id"]: r["class"] async for r in result}
        # identity follows the class the CI has in the store
        weak_rows: list[dict[str, Any]] = []
        keys: dict[tuple[str, str], list[dict[str, str]]] = defaultdict(list)
        seen_values: set[tuple[str, str, str]] = set()
        for u in self.updates:
            cls = classes.get(u.id)
            if cls is None:
                continue
            strong, weak = _split_identity(cls, u.identity)
            if weak:
                for rule in weak:
                    cypher.ident(cypher.key_prop(rule))
                weak_rows.append(
                    {"id": u.id, "keys": {cypher.key_prop(r): v for r, v in weak.items()}}
                )
            for rule, value in strong.items():
                if (cls, rule, value) in seen_values:
                    continue
                seen_values.add((cls, rule, value))
                keys[(cls, rule)].append({"id": u.id, "value": value})
        if weak_rows:
            await (await tx.run(cypher.SET_WEAK_KEYS, rows=weak_rows)).consume()
        for (label, rule), key_rows in keys.items():
            await (await tx.run(cypher.set_unique_key(label, rule), rows=key_rows)).consume()
