"""Cypher for the Neo4j backend, generated from ``cmdb.graph.schema``.

Graph model:

* every CI is a node with the label of its class plus ``:CI`` (``(:Host:CI)``);
  properties: ``id``, ``class``, ``name``, ``status``, ``first_seen``, ``last_seen``,
  ``scope``, ``sources``, one ``key_<rule>`` per identification rule it fills, its
  attributes as plain properties where Neo4j can store them (scalars and lists of
  one scalar type; anything else is JSON text marked ``json:``), and the exact
  attribute and attribute-source dicts as JSON (``attributes_json``,
  ``attr_sources_json``), which is what the store reads back;
* every relationship has the schema type (``HAS_INTERFACE`` ...) and the properties
  ``id``, ``first_seen``, ``last_seen``, ``ended_at``, ``scope``, ``sources``,
  ``attributes`` (JSON text) plus its attributes as plain properties, like nodes;
* ``(:HistoryEntry)``, ``(:SourceState {scope})`` and ``(:Report {report_id})``
  hold the audit trail, the last full report per scope and the applied report ids.

Labels, relationship types and property keys cannot be query parameters, so the
statements that need them are generated per class, rule or type from the schema;
every name that reaches query text is checked against the identifier pattern and
backtick-quoted. Values always travel as parameters.
"""

from __future__ import annotations

import json
import re
from typing import Any

from cmdb.graph.neo4j import pending
from cmdb.graph.schema import (
    CI_CLASSES,
    CLASSES,
    LOOKUP_ATTRIBUTES,
    REL_PROVENANCE,
    REL_TYPES,
    RESERVED_PROPERTIES,
)

CI_LABEL = "CI"
JSON_MARKER = "json:"
KEY_PREFIX = "key_"

# Node properties the store itself owns; attributes never overwrite them.
NODE_INTERNAL = frozenset(RESERVED_PROPERTIES | {"attributes_json", "attr_sources_json"})
REL_INTERNAL = frozenset(RESERVED_PROPERTIES | set(REL_PROVENANCE))

_IDENT = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")
_INT64 = (-(2**63), 2**63 - 1)


class CypherNameError(ValueError):
    """A label, type or property name that cannot safely appear in query text."""


def ident(name: str) -> str:
    """``name`` backtick-quoted, after checking it is a plain identifier."""
    if not isinstance(name, str) or not _IDENT.match(name):
        raise CypherNameError(f"{name!r} is not a valid label, type or property name.")
    return f"`{name}`"


def key_prop(rule: str) -> str:
    """The node property holding the identity value of one identification rule."""
    return f"{KEY_PREFIX}{rule}"


def _snake(name: str) -> str:
    return re.sub(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])", "_", name).lower()


# ------------------------------------------------------------------ DDL
def ddl_statements() -> list[str]:
    """Constraints and indexes, all ``IF NOT EXISTS``; derived from the schema."""
    out = [
        f"CREATE CONSTRAINT ci_id IF NOT EXISTS FOR (n:{CI_LABEL}) REQUIRE n.id IS UNIQUE",
        f"CREATE INDEX ci_scope IF NOT EXISTS FOR (n:{CI_LABEL}) ON (n.scope)",
        f"CREATE INDEX ci_class_name IF NOT EXISTS FOR (n:{CI_LABEL}) ON (n.class, n.name)",
        f"CREATE INDEX ci_status IF NOT EXISTS FOR (n:{CI_LABEL}) ON (n.status)",
    ]
    for cls in CI_CLASSES:
        label = ident(cls.label)
        for rule in cls.identity:
            prop = ident(key_prop(rule.name))
            name = f"{_snake(cls.label)}_{key_prop(rule.name)}"
            if rule.unique:
                out.append(
                    f"CREATE CONSTRAINT {name} IF NOT EXISTS "
                    f"FOR (n:{label}) REQUIRE n.{prop} IS UNIQUE"
                )
            else:
                out.append(f"CREATE INDEX {name} IF NOT EXISTS FOR (n:{label}) ON (n.{prop})")
    for rel in REL_TYPES:
        rtype = ident(rel.name)
        base = rel.name.lower()
        out.append(
            f"CREATE CONSTRAINT rel_{base}_id IF NOT EXISTS "
            f"FOR ()-[r:{rtype}]-() REQUIRE r.id IS UNIQUE"
        )
        out.append(
            f"CREATE INDEX rel_{base}_scope IF NOT EXISTS FOR ()-[r:{rtype}]-() ON (r.scope)"
        )
        for prop in ("first_seen", "ended_at"):  # relationship events by time
            out.append(
                f"CREATE INDEX rel_{base}_{prop} IF NOT EXISTS FOR ()-[r:{rtype}]-() ON (r.{prop})"
            )
    for label, attr in LOOKUP_ATTRIBUTES:  # cmdb.graph.lookup
        out.append(
            f"CREATE INDEX {label.lower()}_{attr} IF NOT EXISTS "
            f"FOR (n:{ident(label)}) ON (n.{ident(attr)})"
        )
    out += [
        "CREATE INDEX history_ci IF NOT EXISTS FOR (h:HistoryEntry) ON (h.ci_id)",
        "CREATE INDEX history_other IF NOT EXISTS FOR (h:HistoryEntry) ON (h.other_id)",
        "CREATE INDEX history_at IF NOT EXISTS FOR (h:HistoryEntry) ON (h.at)",
        "CREATE INDEX history_request IF NOT EXISTS FOR (h:HistoryEntry) ON (h.request_id)",
        "CREATE CONSTRAINT source_state_scope IF NOT EXISTS "
        "FOR (s:SourceState) REQUIRE s.scope IS UNIQUE",
        "CREATE CONSTRAINT report_id IF NOT EXISTS FOR (r:Report) REQUIRE r.report_id IS UNIQUE",
        # identification inside the write transaction: one lock node per identity value
        "CREATE CONSTRAINT agent_binding_key IF NOT EXISTS "
        "FOR (b:AgentBinding) REQUIRE b.agent_key IS UNIQUE",
        "CREATE CONSTRAINT identity_lock_key IF NOT EXISTS "
        "FOR (l:IdentityLock) REQUIRE l.key IS UNIQUE",
        # identity values given up by a rename, matching until their grace period ends
        "CREATE INDEX prior_identity_value IF NOT EXISTS "
        "FOR (p:PriorIdentity) ON (p.class, p.rule, p.value)",
        "CREATE INDEX prior_identity_ci IF NOT EXISTS FOR (p:PriorIdentity) ON (p.ci_id)",
        # observed connections that linked to nothing yet (cmdb.graph.neo4j.pending)
        *pending.DDL,
    ]
    return out


def identity_index_names() -> set[str]:
    """Names of the identity rules the schema declares weak (an index, not a constraint):
    a constraint of that name is left from an earlier schema and must go."""
    return {
        f"{_snake(cls.label)}_{key_prop(rule.name)}"
        for cls in CI_CLASSES
        for rule in cls.identity
        if not rule.unique
    }


# taken first in a reconciling transaction, in sorted order (no deadlock between two
# reports): a second transaction for the same identity waits here until the first commits,
# then identifies again and finds what the first created
LOCK_IDENTITIES = "UNWIND $keys AS k MERGE (l:IdentityLock {key: k}) SET l.at = $at"

UPSERT_PRIOR_IDENTITY = (
    "UNWIND $rows AS row "
    "MERGE (p:PriorIdentity {class: row.cls, rule: row.rule, value: row.value, ci_id: row.id}) "
    "SET p.until = row.until"
)


# indexes earlier versions created that no read uses any more (each costs every write)
RETIRED_INDEXES = ("history_report",)


def ddl_name(statement: str) -> str:
    """The constraint or index name of one statement of :func:`ddl_statements`."""
    return statement.split()[2]


# ------------------------------------------------------------------ property encoding
def dumps(value: Any) -> str:
    """JSON text exactly as the SQLite backend writes it (so both read back the same)."""
    return json.dumps(value, separators=(",", ":"), sort_keys=True, default=str)


def _scalar_kind(value: Any) -> type | None:
    if isinstance(value, bool):
        return bool
    if isinstance(value, int):
        return int if _INT64[0] <= value <= _INT64[1] else None
    if isinstance(value, float | str):
        return type(value)
    return None


def property_value(value: Any) -> Any:
    """``value`` as Neo4j can store it: scalars and homogeneous scalar lists as they are,
    anything else as ``json:``-marked JSON text. ``None`` means: no property."""
    if value is None:
        return None
    if _scalar_kind(value) is not None:
        return value
    if isinstance(value, list | tuple):
        kinds = {_scalar_kind(v) for v in value}
        if len(kinds) <= 1 and None not in kinds:
            return list(value)
    return JSON_MARKER + dumps(value)


def decode_property(value: Any) -> Any:
    """The inverse of :func:`property_value` for one property (for ad-hoc readers)."""
    if isinstance(value, str) and value.startswith(JSON_MARKER):
        return json.loads(value[len(JSON_MARKER) :])
    return value


def projected(attributes: dict[str, Any], internal: frozenset[str]) -> dict[str, Any]:
    """Attributes as plain properties, leaving out names the store owns."""
    out = {}
    for key, value in attributes.items():
        if key in internal or key.startswith(KEY_PREFIX) or not isinstance(key, str):
            continue
        encoded = property_value(value)
        if encoded is not None:
            out[key] = encoded
    return out


def unique_rules(cls: str) -> frozenset[str]:
    """Names of the identification rules of ``cls`` that the store keeps unique."""
    found = CLASSES.get(cls)
    return frozenset(r.name for r in found.identity if r.unique) if found else frozenset()


REL_TYPE_NAMES: tuple[str, ...] = tuple(r.name for r in REL_TYPES)

# ------------------------------------------------------------------ writes
# Reading a CI: the shape every read query returns (``n`` bound, ``ss`` its SourceState).
CI_MAP = (
    "n {.id, .class, .name, .status, .first_seen, .last_seen, .scope, .sources, "
    ".attributes_json, .attr_sources_json, "
    f"identity: [k IN keys(n) WHERE k STARTS WITH '{KEY_PREFIX}' "
    f"| [substring(k, {len(KEY_PREFIX)}), n[k]]], "
    "ss_at: ss.last_report_at}"
)
REL_MAP = (
    "r {.id, .first_seen, .last_seen, .ended_at, .scope, .sources, .attributes, "
    "type: type(r), src: startNode(r).id, dst: endNode(r).id, rs_at: rs.last_report_at}"
)
_SS = "OPTIONAL MATCH (ss:SourceState {scope: n.scope})"
_RS = "OPTIONAL MATCH (rs:SourceState {scope: r.scope})"


def create_cis(label: str) -> str:
    return f"UNWIND $rows AS row CREATE (n:{ident(CI_LABEL)}:{ident(label)}) SET n = row.props"


def set_unique_key(label: str, rule: str) -> str:
    """Give a CI a unique identity value. Another CI holding it breaks the constraint and
    fails the transaction (a concurrent writer: the report is identified again)."""
    prop = ident(key_prop(rule))
    return (
        f"UNWIND $rows AS row MATCH (n:{ident(CI_LABEL)} {{id: row.id}}) SET n.{prop} = row.value"
    )


UPDATE_CIS = (
    "UNWIND $rows AS row "
    f"MATCH (n:{ident(CI_LABEL)} {{id: row.id}}) "
    "WITH n, row, n.class AS cls, n.first_seen AS first_seen, n.scope AS scope "
    "SET n = row.props "
    "SET n.class = cls, n.first_seen = first_seen, n.scope = scope "
    "RETURN n.id AS id, n.class AS class"
)

SET_WEAK_KEYS = f"UNWIND $rows AS row MATCH (n:{ident(CI_LABEL)} {{id: row.id}}) SET n += row.keys"

SET_STATUS = f"UNWIND $rows AS row MATCH (n:{ident(CI_LABEL)} {{id: row[0]}}) SET n.status = row[1]"

TOUCH_CIS = f"UNWIND $ids AS id MATCH (n:{ident(CI_LABEL)} {{id: id}}) SET n.last_seen = $at"


def _union_over_types(body: str, returns: str, types: tuple[str, ...] = REL_TYPE_NAMES) -> str:
    """``CALL { <body for type 1> UNION ALL ... }``: relationship indexes are per type."""
    arms = [body.replace("$TYPE", ident(t)) + f" RETURN {returns}" for t in types]
    return " UNION ALL ".join(arms)


# close relationships of unknown type by id: every type's index is sought
CLOSE_RELS_BODY = (
    "UNWIND $ids AS rid CALL (rid) { "
    + _union_over_types("MATCH ()-[r:$TYPE {id: rid}]->() WHERE r.ended_at IS NULL", "r")
    + " } SET r.ended_at = $at, r += $closed"
)


def close_rels_typed(rel_type: str) -> str:
    """Close relationships of one known type by id (one index seek each); returns the ids it
    found, open or not, so the caller can send the others through :data:`CLOSE_RELS_BODY`."""
    return (
        f"UNWIND $ids AS rid MATCH ()-[r:{ident(rel_type)} {{id: rid}}]->() "
        "FOREACH (_ IN CASE WHEN r.ended_at IS NULL THEN [1] ELSE [] END | "
        "SET r.ended_at = $at, r += $closed) RETURN r.id AS id"
    )


def create_rels(rel_type: str, check_open: bool = True) -> str:
    """Create relationships of one type between CIs matched by id; an open relationship
    of the same type between the same CIs is not duplicated (the caller counts). Without
    ``check_open``, for relationships touching a CI created in the same transaction, which
    cannot have one yet: no check to pay for."""
    t = ident(rel_type)
    ci = ident(CI_LABEL)
    check = f"WHERE NOT EXISTS {{ MATCH (a)-[x:{t}]->(b) WHERE x.ended_at IS NULL }} "
    return (
        "UNWIND $rows AS row "
        f"MATCH (a:{ci} {{id: row.src}}) MATCH (b:{ci} {{id: row.dst}}) "
        f"{check if check_open else ''}"
        f"CREATE (a)-[r:{t}]->(b) SET r = row.props"
    )


# what an update of a relationship's attributes and sources leaves as it was
_KEPT_ON_UPDATE = ", ".join(f".{p}" for p in ("first_seen", "ended_at", *REL_PROVENANCE))


def update_rels(rel_type: str) -> str:
    return (
        "UNWIND $rows AS row "
        f"MATCH ()-[r:{ident(rel_type)} {{id: row.id}}]->() "
        f"WITH r, row, r {{{_KEPT_ON_UPDATE}}} AS kept SET r = row.props SET r += kept"
    )


INSERT_HISTORY = "UNWIND $rows AS row CREATE (h:HistoryEntry) SET h = row"

UPSERT_SOURCE_STATE = (
    "MERGE (s:SourceState {scope: $scope}) "
    "ON CREATE SET s.source = $source, s.last_report_at = $at, s.report_id = $report_id "
    "WITH s WHERE s.last_report_at <= $at "
    "SET s.last_report_at = $at, s.report_id = $report_id, s.sequence = $sequence, "
    "s.sections_json = $sections, s.instance = $instance"
)

BIND_AGENT = "CREATE (b:AgentBinding {agent_key: $key, ci_id: $ci_id, bound_at: $at})"
AGENT_BINDING = "MATCH (b:AgentBinding {agent_key: $key}) RETURN b.ci_id AS ci_id"

RECORD_REPORT = (
    "MERGE (r:Report {report_id: $report_id}) ON CREATE SET r.source = $source, r.applied_at = $at"
)

_PARAM = re.compile(r"\$([A-Za-z_][A-Za-z0-9_]*)")


class Batch:
    """Write statements run in order as unit subqueries of ONE query: a change set costs
    one round trip to the server instead of one per label, type and table. Each part's
    parameters are renamed (``$rows`` -> ``$p3``) so parts cannot see each other's."""

    def __init__(self) -> None:
        self.parts: list[str] = []
        self.params: dict[str, Any] = {}
        self.counters: list[str] = []

    def __bool__(self) -> bool:
        return bool(self.parts)

    def _bind(self, body: str, params: dict[str, Any]) -> str:
        names: dict[str, str] = {}
        for key, value in params.items():
            names[key] = f"p{len(self.params)}"
            self.params[names[key]] = value
        return _PARAM.sub(lambda m: "$" + names[m.group(1)], body)

    def add(self, body: str, **params: Any) -> None:
        """A statement whose result is not needed (it must not RETURN)."""
        self.parts.append(f"CALL () {{ {self._bind(body, params)} }}")

    def add_counted(self, body: str, variable: str, **params: Any) -> str:
        """A statement whose rows of ``variable`` are counted; returns the counter's name."""
        alias = f"c{len(self.counters)}"
        self.counters.append(alias)
        self.parts.append(
            f"CALL () {{ {self._bind(body, params)} RETURN count({variable}) AS {alias} }}"
        )
        return alias

    def query(self) -> str:
        returns = ", ".join(self.counters) or "true AS done"
        return " ".join(self.parts) + f" RETURN {returns}"


# ------------------------------------------------------------------ reads
REPORT_SEEN = "MATCH (r:Report {report_id: $report_id}) RETURN count(r) > 0 AS seen"

SOURCE_STATE = (
    "MATCH (s:SourceState {scope: $scope}) "
    "RETURN s.scope AS scope, s.source AS source, s.last_report_at AS last_report_at, "
    "s.report_id AS report_id, s.sequence AS sequence, s.sections_json AS sections, "
    "s.instance AS instance"
)

GET_CIS = (
    f"UNWIND $ids AS id MATCH (n:{ident(CI_LABEL)} {{id: id}}) {_SS} "
    f"RETURN collect({CI_MAP}) AS cis"
)
# the few source states behind a walk's derived last_seen values, read once, not per CI
SOURCE_STATES = (
    "MATCH (s:SourceState) WHERE s.scope IN $scopes "
    "RETURN collect([s.scope, s.last_report_at]) AS states"
)


# a CI of a known class as a list (cheaper to build and ship than a map, which matters
# for the hundreds of shared CIs a first report looks up): CI_FIELDS, then the values of
# the class's identity rules in schema order
CI_FIELDS = (
    "id",
    "class",
    "name",
    "status",
    "first_seen",
    "last_seen",
    "scope",
    "sources",
    "attributes_json",
    "attr_sources_json",
)


def identity_rules(label: str) -> tuple[str, ...]:
    cls = CLASSES.get(label)
    return tuple(rule.name for rule in cls.identity) if cls else ()


def ci_list(label: str) -> str:
    fields = [f"n.{ident(f)}" for f in CI_FIELDS]
    keys = [f"n.{ident(key_prop(rule))}" for rule in identity_rules(label)]
    return f"[{', '.join(fields)}, [{', '.join(keys)}]]"


def find_by_identity(label: str, rule: str) -> str:
    """CIs by one rule's values, as [value, ci list] pairs; the source states behind their
    derived last_seen are read once for the whole answer, not per CI."""
    return (
        f"UNWIND $values AS value MATCH (n:{ident(label)} {{{ident(key_prop(rule))}: value}}) "
        f"WITH collect([value, {ci_list(label)}]) AS found, "
        "collect(DISTINCT coalesce(n.scope, '')) AS scopes "
        "OPTIONAL MATCH (s:SourceState) WHERE s.scope IN scopes "
        "RETURN found, collect([s.scope, s.last_report_at]) AS states"
    )


def find_by_identities(label: str, rules: tuple[str, ...]) -> str:
    """Every rule's candidates in one query: an index seek per rule, one record."""
    arms = [
        f"MATCH (n:{ident(label)} {{{ident(key_prop(rule))}: $wanted.{ident(rule)}}}) "
        f"RETURN '{rule}' AS rule, n"
        for rule in rules
    ]
    # values given up by a rename still in their grace period count as the CI's own
    arms += [
        # label and rule are checked identifiers (ident above): safe as literals
        f"MATCH (p:PriorIdentity {{class: '{label}', rule: '{rule}', "
        f"value: $wanted.{ident(rule)}}}) WHERE p.until >= $now "
        f"MATCH (n:{ident(label)} {{id: p.ci_id}}) RETURN '{rule}' AS rule, n"
        for rule in rules
    ]
    prior = (
        "COLLECT { MATCH (q:PriorIdentity {ci_id: n.id}) WHERE q.until >= $now "
        "RETURN [q.rule, q.value] }"
    )
    return (
        "CALL () { " + " UNION ".join(arms) + f" }} {_SS} "
        f"RETURN collect([rule, {CI_MAP}, {prior}]) AS found"
    )


SCOPE_CIS = f"MATCH (n:{ident(CI_LABEL)} {{scope: $scope}}) {_SS} RETURN {CI_MAP} AS ci"


# a scope's open relationships and the CIs they point at outside the scope (shared Software,
# Networks), as ONE record: per-record driver overhead, not data, is what costs here
def scope_rels_and_linked(types: tuple[str, ...] = REL_TYPE_NAMES) -> str:
    return (
        "CALL () { "
        + _union_over_types(
            "MATCH ()-[r:$TYPE {scope: $scope}]->(n) WHERE r.ended_at IS NULL", "r, n", types
        )
        + f" }} {_RS} {_SS} RETURN collect({REL_MAP}) AS rels, "
        + f"collect(DISTINCT CASE WHEN coalesce(n.scope, '') <> $scope THEN {CI_MAP} END) AS cis"
    )


def find_open_rels(rel_type: str) -> str:
    ci = ident(CI_LABEL)
    return (
        "UNWIND $pairs AS pair "
        f"MATCH (a:{ci} {{id: pair[0]}})-[r:{ident(rel_type)}]->(b:{ci} {{id: pair[1]}}) "
        f"WHERE r.ended_at IS NULL {_RS} RETURN {REL_MAP} AS rel"
    )


def list_cis(label: str | None, count: bool) -> str:
    """One page of CIs (or their count) of one class or all, filtered by status and by a
    case-insensitive substring of the name; ordered like the SQLite backend (nulls first)."""
    match = f"MATCH (n:{ident(label)})" if label else f"MATCH (n:{ident(CI_LABEL)})"
    where = (
        " WHERE ($status IS NULL OR n.status = $status)"
        " AND ($q IS NULL OR toLower(n.name) CONTAINS $q)"
    )
    if count:
        return match + where + " RETURN count(n) AS total"
    return (
        match
        + where
        + " WITH n ORDER BY n.class, n.name IS NULL DESC, n.name, n.id SKIP $offset LIMIT $limit "
        + f"{_SS} RETURN {CI_MAP} AS ci"
    )


RELATIONSHIPS = (
    f"MATCH (c:{ident(CI_LABEL)} {{id: $id}}) "
    "CALL (c) { "
    "MATCH (c)-[r]->(n) WHERE $all OR r.ended_at IS NULL RETURN r, n, 'out' AS direction "
    "UNION ALL "
    "MATCH (c)<-[r]-(n) WHERE ($all OR r.ended_at IS NULL) AND n <> c "
    "RETURN r, n, 'in' AS direction } "
    f"{_RS} {_SS} RETURN {REL_MAP} AS rel, direction, {CI_MAP} AS ci"
)

# relationship events (see cmdb.graph.store) as history rows: ``event`` opened or closed, ordered
# after the CI entries of the same instant (``rank``), by relationship id among themselves
_OPENED = (
    "{ci_id: startNode(r).id, other_id: endNode(r).id, kind: 'relationship', field: type(r), "
    "at: r.first_seen, source: r.opened_source, report_id: r.opened_by, actor: r.opened_actor, "
    "request_id: r.opened_request, event: 'opened', other_name: endNode(r).name, "
    "src_name: startNode(r).name, rank: 1, ord: r.id}"
)
_CLOSED = (
    "{ci_id: startNode(r).id, other_id: endNode(r).id, kind: 'relationship', field: type(r), "
    "at: r.ended_at, source: r.closed_source, report_id: r.closed_by, actor: r.closed_actor, "
    "request_id: r.closed_request, event: 'closed', other_name: endNode(r).name, "
    "src_name: startNode(r).name, rank: 2, ord: r.id}"
)
_IN_RANGE = "($since IS NULL OR {t} >= $since) AND ($until IS NULL OR {t} <= $until)"

HISTORY = (
    f"OPTIONAL MATCH (c:{ident(CI_LABEL)} {{id: $id}}) "
    "CALL (c) { "
    "MATCH (h:HistoryEntry {ci_id: $id}) RETURN h {.*, rank: 0} AS e "
    "UNION ALL "
    "MATCH (h:HistoryEntry {other_id: $id}) WHERE h.ci_id <> $id RETURN h {.*, rank: 0} AS e "
    "UNION ALL "
    f"MATCH (c)-[r]-() WHERE r.opened_source IS NOT NULL RETURN {_OPENED} AS e "
    "UNION ALL "
    f"MATCH (c)-[r]-() WHERE r.closed_source IS NOT NULL RETURN {_CLOSED} AS e }} "
    f"WITH e WHERE {_IN_RANGE.format(t='e.at')} "
    "AND ($request_id IS NULL OR e.request_id = $request_id) "
    "WITH e ORDER BY e.at DESC, e.rank DESC, e.tx DESC, e.seq DESC, e.ord DESC "
    "WITH collect(e) AS entries "
    "RETURN size(entries) AS total, entries[$offset..$offset + $limit] AS page"
)


def history_between(with_since: bool) -> str:
    """History of every CI in a time range, oldest first. Relationship events are sought per
    type (relationship indexes are per type); ``first_seen`` and ``ended_at`` are indexed,
    so a range with a start seeks instead of scanning."""
    opened = _IN_RANGE.format(t="r.first_seen")
    closed = _IN_RANGE.format(t="r.ended_at")
    if with_since:
        opened = f"r.first_seen >= $since AND {opened}"
        closed = f"r.ended_at >= $since AND {closed}"
    sources = "($sources IS NULL OR {s} IN $sources)"
    arms = [
        "MATCH (h:HistoryEntry) WHERE "
        f"{_IN_RANGE.format(t='h.at')} AND {sources.format(s='h.source')} "
        "RETURN h {.*, rank: 0} AS e"
    ]
    for rel_type in REL_TYPE_NAMES:
        t = ident(rel_type)
        arms.append(
            f"MATCH ()-[r:{t}]->() WHERE {opened} AND r.opened_source IS NOT NULL "
            f"AND {sources.format(s='r.opened_source')} RETURN {_OPENED} AS e"
        )
        arms.append(
            f"MATCH ()-[r:{t}]->() WHERE {closed} AND r.closed_source IS NOT NULL "
            f"AND {sources.format(s='r.closed_source')} RETURN {_CLOSED} AS e"
        )
    return (
        "CALL () { " + " UNION ALL ".join(arms) + " } "
        "RETURN e ORDER BY e.at, e.rank, e.tx, e.seq, e.ord LIMIT $limit"
    )


def _typed(types: tuple[str, ...] | None) -> str:
    return ":" + "|".join(ident(t) for t in types) if types else ""


# what a walk answers per CI, read while expanding it (no lookup by id afterwards)
SUMMARY_FIELDS = ("class", "name", "status", "first_seen", "last_seen", "scope")
_SUMMARY = ", ".join(f"b.{f}" for f in SUMMARY_FIELDS)


def _walk_step(direction: str, types: tuple[str, ...] | None) -> tuple[str, str]:
    """The MATCH of one level from the frontier ``a`` to ``b``, and the [src, dst] ids of
    its relationship ``r``: going down or up one end is the frontier CI itself, so only the
    far end is read."""
    rel = f"[r{_typed(types)}]"
    pattern, ends = {
        "down": (f"-{rel}->", "fid, b.id"),
        "up": (f"<-{rel}-", "b.id, fid"),
    }.get(direction, (f"-{rel}-", "startNode(r).id, endNode(r).id"))
    return f"UNWIND $frontier AS fid MATCH (a:{ident(CI_LABEL)} {{id: fid}}){pattern}(b)", ends


def traverse_next(direction: str, types: tuple[str, ...] | None) -> str:
    """One level of a breadth-first walk as ONE record: every open relationship touching
    the frontier as [id, type, src, dst, far end's summary...] (record count, not rows, is
    what costs here; the walk keeps the steps that reach a CI first seen at this level)."""
    match, ends = _walk_step(direction, types)
    return (
        f"{match} WHERE r.ended_at IS NULL "
        f"RETURN collect([r.id, type(r), {ends}, {_SUMMARY}]) AS steps"
    )


def traverse_next_limited(direction: str, types: tuple[str, ...] | None) -> str:
    """One level of a walk with a limit: only the ``$room`` CIs of smallest id not yet
    reached (``$seen``, at most the limit) come back, each with every step reaching it
    ([far id, [[id, type, src, dst], ...], summary...]): a level that would overshoot the
    limit ships what is kept, not everything it touches."""
    match, ends = _walk_step(direction, types)
    return (
        f"{match} WHERE r.ended_at IS NULL AND NOT b.id IN $seen "
        f"WITH b, collect([r.id, type(r), {ends}]) AS via ORDER BY b.id LIMIT $room "
        f"RETURN collect([b.id, via, {_SUMMARY}]) AS found"
    )


# the walk's start CIs that exist, with their summaries
WALK_STARTS = (
    f"UNWIND $ids AS id MATCH (b:{ident(CI_LABEL)} {{id: id}}) "
    f"RETURN collect([b.id, {_SUMMARY}]) AS cis"
)
