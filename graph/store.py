"""The store protocol: what reconciliation and queries need from a backend.

Records here are plain dataclasses shared by both backends. Timestamps are ISO
8601 UTC strings with a ``Z`` suffix and millisecond precision, so they sort
as text on both stores.

Identity values: every CI stores one string per identification rule it can
fill (``identity[rule_name] = value``); the value of a multi-field rule joins
its fields with ``|``. Lookups go by (class, rule, value).

Relationship history: relationships are never deleted, only closed, so a
relationship row is its own history. Each carries who opened it (report id,
source, actor) and, once closed, who closed it; ``history()`` answers with
those events merged into the CI entries (kind ``relationship``). Writers record
no history entry for opening or closing a relationship; the store derives it,
so the two can never disagree, and a first report writes one row per
relationship instead of two.

Scopes: a CI or relationship managed by one source instance (say the agent on
one host, ``agent:<host id>``) carries that scope. A full report of that source
is compared with everything in its scope; the source's ``last_report_at`` then
stands for the ``last_seen`` of every fact in the scope, so an unchanged report
writes only a handful of rows.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from contextlib import AbstractAsyncContextManager
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from collections.abc import Hashable, Sequence

    from cmdb.graph.records import HopRow, Uplink
    from cmdb.graph.steady import IdentityKey, SteadyProbe

# the id of the HTTP request (or scan) being served: every change set built while it runs
# records it in its history entries and relationship events (cmdb.server.api.requestid sets it)
REQUEST_ID: ContextVar[str | None] = ContextVar("cmdb_request_id", default=None)


class StoreUnavailable(RuntimeError):
    """The store cannot be reached now; the caller should retry later (HTTP 503)."""


class StoreError(RuntimeError):
    """The store refused an operation for a reason a retry will not fix."""


class ServerBusy(StoreUnavailable):
    """More reports in flight than this server admits: come back after ``retry_after``
    seconds (HTTP 503 with Retry-After) instead of waiting in a queue until timing out."""

    def __init__(self, message: str, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class StoreConflict(StoreUnavailable):
    """A concurrent writer got there first (a unique identity value taken meanwhile, a
    deadlock): the whole read-decide-write should run again, and will see its result. A
    caller that runs out of retries answers like an outage (503, Retry-After)."""


@dataclass(slots=True)
class CI:
    id: str
    cls: str
    name: str | None
    status: str = "live"
    first_seen: str | None = None
    last_seen: str | None = None
    scope: str | None = None
    sources: list[str] = field(default_factory=list)
    attributes: dict[str, Any] = field(default_factory=dict)
    attr_sources: dict[str, str] = field(default_factory=dict)
    identity: dict[str, str] = field(default_factory=dict)
    # identity values the CI held before a rename, still matching until their grace period
    # ends (rule -> values); filled by identity lookups, empty elsewhere
    prior_identity: dict[str, list[str]] = field(default_factory=dict)

    def to_api(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "class": self.cls,
            "name": self.name,
            "status": self.status,
            "first_seen": self.first_seen,
            "last_seen": self.last_seen,
            "sources": self.sources,
            "attributes": self.attributes,
        }


@dataclass(slots=True)
class Rel:
    id: str
    type: str
    src: str
    dst: str
    first_seen: str | None = None
    last_seen: str | None = None
    ended_at: str | None = None
    scope: str | None = None
    sources: list[str] = field(default_factory=list)
    attributes: dict[str, Any] = field(default_factory=dict)


@dataclass(slots=True)
class RelView:
    """A relationship as seen from one CI: its type, direction and the CI at the other end."""

    rel: Rel
    direction: str  # "out" or "in"
    other: CI

    def to_api(self) -> dict[str, Any]:
        return {
            "id": self.rel.id,
            "type": self.rel.type,
            "direction": self.direction,
            "other": {"id": self.other.id, "class": self.other.cls, "name": self.other.name},
            "first_seen": self.rel.first_seen,
            "last_seen": self.rel.last_seen,
            "ended_at": self.rel.ended_at,
            "sources": self.rel.sources,
            "attributes": self.rel.attributes,
        }


@dataclass(slots=True)
class HistoryEntry:
    ci_id: str
    kind: str  # "ci" (created, status), "attribute", "relationship"
    field: str  # attribute name, "status", "created", or the relationship type
    old: Any
    new: Any
    at: str
    source: str
    report_id: str | None = None
    other_id: str | None = None
    actor: str | None = None  # the token name for API writes
    request_id: str | None = None  # the request that caused it (X-Request-Id)

    def to_api(self) -> dict[str, Any]:
        return {
            "request_id": self.request_id,
            "ci_id": self.ci_id,
            "kind": self.kind,
            "field": self.field,
            "old": self.old,
            "new": self.new,
            "at": self.at,
            "source": self.source,
            "report_id": self.report_id,
            "other_id": self.other_id,
            "actor": self.actor,
        }


def seen_from(row: Any, ci_id: str) -> Any:
    """A relationship event as the history of ``ci_id`` tells it: for a relationship that
    points at ``ci_id`` (a service DEPENDS_ON this host) the other end is its source, named
    by ``src_name``, and the entry says ``direction: in``."""
    if not row.get("event") or row.get("ci_id") == ci_id or row.get("other_id") != ci_id:
        return row
    return {
        **row,
        "ci_id": ci_id,
        "other_id": row["ci_id"],
        "other_name": row.get("src_name"),
        "direction": "in",
    }


def history_from_stored(row: Any) -> HistoryEntry:
    """A history entry from a backend's stored form: old/new as JSON text, or a relationship
    event (``event`` opened/closed, ``other_name``) whose old/new are built here."""
    event = row.get("event")
    other: dict[str, Any] = {"id": row.get("other_id")}
    if row.get("direction") == "in":  # the relationship points at the CI whose history it is
        other["direction"] = "in"
    if event == "opened":
        old, new = None, {**other, "name": row.get("other_name")}
    elif event == "closed":
        old, new = {**other, "name": row.get("other_name")}, None
    else:
        old = json.loads(row["old"]) if row.get("old") is not None else None
        new = json.loads(row["new"]) if row.get("new") is not None else None
    return HistoryEntry(
        ci_id=row["ci_id"],
        kind=row["kind"],
        field=row["field"],
        old=old,
        new=new,
        at=row["at"],
        source=row["source"],
        report_id=row.get("report_id"),
        other_id=row.get("other_id"),
        actor=row.get("actor"),
        request_id=row.get("request_id"),
    )


@dataclass(slots=True)
class CIUpdate:
    """The new full state of a changed CI (attributes replace the stored ones)."""

    id: str
    name: str | None
    attributes: dict[str, Any]
    attr_sources: dict[str, str]
    identity: dict[str, str]
    sources: list[str]
    status: str = "live"
    cls: str | None = None  # the CI's class when the caller knows it (saves the backend a read)


@dataclass(slots=True)
class PriorIdentity:
    """An identity value a CI gave up (a rename), kept matching until ``until`` (ISO time):
    a source that still reports the old name joins the right CI."""

    ci_id: str
    cls: str
    rule: str
    value: str
    until: str


@dataclass(slots=True)
class SourceState:
    """What the store remembers of one source instance's last applied report: its time
    (server-side, see ``cmdb.server.ingest``), its id (the base a delta must name), the agent's
    sequence number, and per section the item count last applied plus a shrink awaiting
    confirmation (``cmdb.server.reconcile.completeness``)."""

    scope: str
    source: str
    last_report_at: str
    report_id: str
    sequence: int | None = None
    sections: dict[str, Any] = field(default_factory=dict)
    instance: str | None = None


@dataclass(slots=True)
class ChangeSet:
    """Everything one report (or one API request) writes, applied in one transaction."""

    report_id: str
    source: str
    at: str
    create_cis: list[CI] = field(default_factory=list)
    update_cis: list[CIUpdate] = field(default_factory=list)
    touch_cis: list[str] = field(default_factory=list)  # set last_seen = at
    create_rels: list[Rel] = field(default_factory=list)
    update_rels: list[Rel] = field(default_factory=list)  # attributes/sources/last_seen replaced
    close_rels: list[str] = field(default_factory=list)  # ended_at = at
    # the types of close_rels where the caller knows them, by relationship id (a backend that
    # indexes relationships per type seeks one index instead of all); optional and partial
    close_rel_types: dict[str, str] = field(default_factory=dict)
    set_status: list[tuple[str, str]] = field(default_factory=list)  # (ci id, status) only
    history: list[HistoryEntry] = field(default_factory=list)
    source_state: SourceState | None = None
    record_report: bool = True  # remember report_id so a re-send changes nothing
    actor: str | None = None  # the token name behind an API write (relationship provenance)
    prior_identity: list[PriorIdentity] = field(default_factory=list)
    # (agent key, host CI id): the agent token is bound to the host this report describes
    bind_agent: tuple[str, str] | None = None
    # the reporting host's observed connections that linked to nothing yet (its new set)
    pending: PendingSet | None = None
    request_id: str | None = field(default_factory=REQUEST_ID.get)

    def record(
        self,
        ci_id: str,
        kind: str,
        fld: str,
        old: Any,
        new: Any,
        other: str | None = None,
        actor: str | None = None,
    ) -> None:
        """Append a history entry of this change set (its time, source and report id)."""
        self.history.append(
            HistoryEntry(
                ci_id=ci_id,
                kind=kind,
                field=fld,
                old=old,
                new=new,
                at=self.at,
                source=self.source,
                report_id=self.report_id,
                other_id=other,
                actor=actor,
                request_id=self.request_id,
            )
        )

    def is_empty(self) -> bool:
        return not (
            self.create_cis
            or self.update_cis
            or self.create_rels
            or self.update_rels
            or self.close_rels
            or self.set_status
            or self.history
            or self.pending is not None
        )

    def counts(self) -> dict[str, int]:
        return {
            "cis_created": len(self.create_cis),
            "cis_updated": len(self.update_cis),
            "relationships_created": len(self.create_rels),
            "relationships_updated": len(self.update_rels),
            "relationships_closed": len(self.close_rels),
            # opening and closing a relationship are history events too (derived by the store)
            "history_entries": len(self.history) + len(self.create_rels) + len(self.close_rels),
        }


@dataclass(slots=True)
class PendingConnection:
    """An outbound TCP connection a host's agent observed that linked to no endpoint yet
    (nobody held the address, its holder did not listen on the port, or several CIs held
    it): kept so the target's own report can link it (``cmdb.server.catalogue.connections``).

    ``client``: the observing host's CI id; ``address``: the remote address as IPAddress
    CIs store it (``str()`` of the address); ``port``: the remote TCP port. ``first_report``
    and ``first_at``: the report (and its time) that first observed it in the client's
    current run of reports; ``seen_report`` and ``seen_at``: the latest one."""

    client: str
    address: str
    port: int
    process: str | None = None
    first_report: str | None = None
    first_at: str | None = None
    seen_report: str | None = None
    seen_at: str | None = None


@dataclass(slots=True)
class PendingSet:
    """A change set's replacement of one client's pending connections: ``rows`` (client,
    address, port, process) become the whole set, observed by the change set's report at
    its time; rows already pending keep their first report and time, the client's other
    rows are dropped, and so are every client's rows last seen before ``stale_before``."""

    client: str
    rows: list[PendingConnection]
    stale_before: str


@dataclass(slots=True)
class ScopeState:
    """What one source instance currently holds: its CIs and its open relationships."""

    cis: list[CI]
    rels: list[Rel]
    # CIs outside the scope that its open relationships point at (shared Software,
    # Networks): known without one identity lookup per fact on an unchanged report
    linked: list[CI] = field(default_factory=list)


@dataclass(slots=True)
class Traversal:
    """Nodes reached from the start set (with their distance) and the edges walked: the open
    relationships joining a CI at distance d to one at distance d + 1 in the walk's direction.
    ``truncated``: a ``limit`` left out reachable CIs (those kept are the nearest, ties by id).
    Nodes are summaries (id, class, name, status, first and last seen, scope) and edges need
    only carry id, type, src and dst: a walk loads no attribute documents; ``get_cis`` and
    ``relationships`` read whole records."""

    nodes: dict[str, tuple[CI, int]]
    edges: list[Rel]
    truncated: bool = False


class BreadthFirst:
    """The backend-neutral part of ``Store.traverse``: a level-by-level walk with a visited
    set, so every CI is expanded at most once (cycles and diamonds cost nothing) and a
    ``limit`` stops the walk as soon as it is exceeded. A backend feeds it, one level at a
    time, the open relationships touching ``frontier`` as ``(key, near, far)`` rows (``near``
    in the frontier, ``far`` the CI at the other end), then asks for ``kept()``.

    With a limit the result is the same as an unlimited walk cut to the ``limit`` CIs of
    smallest (distance, id), so both backends answer identically."""

    def __init__(self, start: list[str], depth: int, limit: int | None = None) -> None:
        self.depths: dict[str, int] = dict.fromkeys(sorted(set(start)), 0)
        self.frontier: list[str] = list(self.depths)
        self.level = 0
        self.max_depth = max(0, int(depth))
        self.limit = None if limit is None else max(0, int(limit))
        self.walked: dict[Any, tuple[str, str]] = {}  # edge key -> (near, far)

    @property
    def done(self) -> bool:
        return (
            not self.frontier
            or self.level >= self.max_depth
            or (self.limit is not None and len(self.depths) > self.limit)
        )

    def add_level(self, rows: Any) -> None:
        """Record one level: every open relationship touching the current frontier."""
        nxt = self.level + 1
        found: list[str] = []
        for key, near, far in rows:
            if key in self.walked:
                continue
            seen = self.depths.get(far)
            if seen is None:
                self.depths[far] = nxt
                found.append(far)
            elif seen != nxt:
                continue
            self.walked[key] = (near, far)
        self.level = nxt
        self.frontier = sorted(set(found))

    def kept(self) -> tuple[dict[str, int], list[Any], bool]:
        """(CI id -> distance, keys of the edges between kept CIs, truncated)."""
        depths = self.depths
        truncated = self.limit is not None and len(depths) > self.limit
        if truncated:
            order = sorted(depths, key=lambda i: (depths[i], i))[: self.limit]
            depths = {i: self.depths[i] for i in order}
        keys = [k for k, (a, b) in self.walked.items() if a in depths and b in depths]
        return depths, keys, truncated


class Store(Protocol):
    """One protocol, two backends (``cmdb.graph.sqlite``, ``cmdb.graph.neo4j``)."""

    name: str

    async def open(self) -> None:
        """Connect and create constraints and indexes derived from ``cmdb.graph.schema``."""

    async def close(self) -> None: ...

    async def ping(self) -> None:
        """Raise StoreUnavailable when the store cannot answer."""

    # ------------------------------------------------------------ writes
    async def apply(self, changes: ChangeSet) -> None:
        """Write a change set atomically (one transaction); raise StoreUnavailable on outage,
        StoreConflict when a concurrent writer took a unique identity value meanwhile, and
        cmdb.graph.schema.SchemaError for a write the schema does not allow."""

    def transaction(self, lock_keys: Iterable[str] = ()) -> AbstractAsyncContextManager[Store]:
        """A view of the store whose reads and ``apply`` calls form one write transaction,
        committed when the ``async with`` block ends. ``lock_keys`` (identity values) are
        locked first, so concurrent identifications of one CI serialise in the store; a
        conflict raises StoreConflict and the caller runs the whole block again."""

    async def report_seen(self, report_id: str) -> bool:
        """Whether a report with this id was already applied."""

    # ------------------------------------------------------------ identification
    async def find_by_identity(self, cls: str, rule: str, values: list[str]) -> dict[str, list[CI]]:
        """CIs of ``cls`` whose identity value for ``rule`` is one of ``values``, by value."""

    async def find_by_identities(self, cls: str, wanted: dict[str, str]) -> dict[str, list[CI]]:
        """CIs of ``cls`` holding any of the identity values ``wanted`` (rule -> value), by
        rule: every rule of one identification in a single read."""

    async def load_scope(self, scope: str, rel_types: tuple[str, ...] | None = None) -> ScopeState:
        """The CIs and open relationships whose scope is ``scope`` (only relationships of
        ``rel_types`` when given, and the CIs outside the scope those point at)."""

    async def source_state(self, scope: str) -> SourceState | None: ...

    # ------------------------------------------------------------ the steady state
    async def steady_probe(
        self,
        report_id: str,
        source: str,
        agent_key: str | None = None,
        key: IdentityKey | None = None,
        scopes: tuple[str, ...] = (),
    ) -> SteadyProbe:
        """One read before identification (``cmdb.graph.steady``): whether ``report_id`` was
        applied, the CI ``agent_key`` is bound to (else the current holder of ``key``, a
        unique rule's value), that CI's source state of ``source``, and which scopes
        ``prefix + CI id`` of the ``scopes`` prefixes are empty."""

    async def advance_source_state(
        self,
        state: SourceState,
        expected_report_id: str,
        touch: Iterable[str] = (),
        changes: ChangeSet | None = None,
        durable: bool = True,
    ) -> bool:
        """Move a source's state on to an unchanged report: report time, report id, sequence
        and instance, only while the stored report id is still ``expected_report_id``
        (compare-and-set); the sections stay. ``touch`` CIs take the report time as
        last_seen, the report id is remembered, ``changes`` are written with it, all
        atomically (outside ``transaction()``, its own; inside, the caller's). False:
        another report of the source was applied meanwhile. ``durable=False``
        (bookkeeping only): a backend may commit it without syncing to disk."""

    async def agent_binding(self, agent_key: str) -> str | None:
        """The id of the host CI an agent token is bound to (its first accepted report)."""

    async def find_open_rels(
        self, triples: list[tuple[str, str, str]]
    ) -> dict[tuple[str, str, str], Rel]:
        """Open relationships by (type, src id, dst id), whatever their scope."""

    # ------------------------------------------------------------ observed connections
    async def pending_connections(
        self, addresses: list[str], since: str
    ) -> list[PendingConnection]:
        """Pending connections to any of ``addresses`` last seen at or after ``since``
        (every client's), in no particular order."""

    # ------------------------------------------------------------ reads
    async def get_ci(self, ci_id: str) -> CI | None: ...

    async def get_cis(self, ci_ids: list[str]) -> dict[str, CI]: ...

    async def list_cis(
        self,
        cls: str | None,
        q: str | None,
        limit: int,
        offset: int,
        status: str | None = None,
    ) -> tuple[list[CI], int]: ...

    async def relationships(self, ci_id: str, include_ended: bool = False) -> list[RelView]: ...

    async def history(
        self,
        ci_id: str,
        limit: int,
        offset: int,
        since: str | None = None,
        until: str | None = None,
        request_id: str | None = None,
    ) -> tuple[list[HistoryEntry], int]:
        """A CI's history, newest first, with the range's total; ``request_id``: only what
        that request (``X-Request-Id``) caused."""

    async def traverse(
        self,
        start: list[str],
        direction: str,
        depth: int,
        rel_types: tuple[str, ...] | None = None,
        limit: int | None = None,
    ) -> Traversal:
        """Breadth-first over open relationships: ``down`` follows them out, ``up`` in,
        ``both`` either way; depth-bounded and cycle-safe. With ``limit``, at most that many
        CIs (the nearest, ties by id) and ``truncated`` set when some were left out."""

    # ------------------------------------------------------------ impact, time, lookups
    async def impact_hop(self, ids: list[str], types: tuple[str, ...]) -> list[HopRow]:
        """One hop for a whole frontier: a ``cmdb.graph.records.HopRow`` (relationship id, type,
        both ends' ids, classes, names and statuses) for every open relationship of
        ``types`` touching ``ids``. A type written ``>T`` is read only where ``ids`` are its
        source, ``<T`` only where they are its target (``cmdb.graph.dependency.split_directed``)."""

    async def uplinks(self, device_ids: list[str]) -> list[Uplink]:
        """Open layer-2 links of devices to switches: (device, its interface, the peer
        interface, the peer's device, that device's class)."""

    async def impact_steps(
        self,
        ids: list[str],
        types: tuple[str, ...],
        back: Mapping[str, tuple[str, str]] | None = None,
    ) -> list[Sequence[Any]]:
        """One hop of the impact walk from the frontier's side, for every open relationship
        of ``types`` touching ``ids`` (``>T`` / ``<T`` as in ``impact_hop``): (type, near id,
        far id, whether near is the src, far class, far name, far status). A relationship
        between two of ``ids`` comes once from each end it is read from. ``back`` maps a
        frontier CI to (a CI, a relationship type) whose relationships of that type to it
        are skipped: the way its state came, which going back cannot change."""

    async def impact_generation(self) -> Hashable | None:
        """A cheap value that differs whenever the graph may have changed since it was last
        read (any writer, this process or another), for caching what is derived from the
        graph (``cmdb.graph.queries.layer2_at``); None when the store cannot tell (inside a
        transaction): derive afresh."""

    async def history_between(
        self,
        since: str | None,
        until: str | None,
        sources: tuple[str, ...] | None,
        limit: int,
    ) -> list[HistoryEntry]:
        """History of every CI with ``since <= at <= until`` (oldest first), relationship
        events included, from the given sources (all when None)."""

    async def unseen_since(
        self, before: str, statuses: tuple[str, ...], classes: tuple[str, ...], limit: int
    ) -> list[str]:
        """Ids of CIs of ``classes`` in ``statuses`` nothing has seen since ``before``
        (their own, their scope's and their inbound open relationships' last_seen). A CI
        whose only source is ``manual`` (declared by hand, ``cmdb.graph.staleness``) is
        never among them."""

    async def attribute_pairs(
        self, cls: str, attr: str, values: list[str]
    ) -> list[tuple[str, str]]:
        """(value, CI id) for CIs of ``cls`` whose ``attr`` is one of ``values``; only the
        pairs of ``cmdb.graph.schema.LOOKUP_ATTRIBUTES`` (indexed) are accepted."""

    async def name_pairs(self, classes: tuple[str, ...], names: list[str]) -> list[tuple[str, str]]:
        """(lower-case name, CI id) for CIs of ``classes`` named one of ``names`` (lower-case),
        ignoring case."""

    async def interface_ip_pairs(self, addresses: list[str]) -> list[tuple[str, str]]:
        """(address, Interface id) for interfaces with an open HAS_IP to one of ``addresses``."""

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
        """What ``list_cis`` answers (same filters, order and total) without the documents a
        scan of thousands of CIs does not need: each CI carries its summary (id, class, name,
        status, first and last seen, scope), its sources and, of its attributes, only those
        named in ``attributes`` that it has (a null counts as absent); no attribute sources,
        no identity. For a list that filters or sorts CIs the store has no index for, then
        shows one page of them (``get_cis`` reads that page whole)."""

    async def unlinked_cis(
        self,
        classes: tuple[str, ...],
        rel_type: str,
        from_class: str,
        skip_statuses: tuple[str, ...] = (),
    ) -> list[CI]:
        """Summaries (as ``traverse`` gives: id, class, name, status, first and last seen,
        scope) of the CIs of ``classes`` not in ``skip_statuses`` that no open ``rel_type``
        relationship from a CI of ``from_class`` points at, ordered by class (in the order
        of ``classes``), name (none first) and id. One read, for reports such as the
        discovered CIs no asset represents (``cmdb.server.catalogue.assets.unregistered``)."""
