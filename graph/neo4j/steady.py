"""The steady state's two queries on Neo4j (``cmdb.graph.steady``; ``Neo4jStore`` runs them).

``probe``: one read, one record, whether a report was applied, the host an agent token is
bound to (or the holder of one unique identity value), that CI, its source's state and
which of the scopes asked about are empty.
``ADVANCE``: one write, a compare-and-set of the source state on the report id read by
the probe, the root CI's last_seen and the report id remembered.
"""

from __future__ import annotations

import functools

from cmdb.graph.neo4j.cypher import CI_LABEL, CI_MAP, ident, key_prop

_STATE = (
    "s {.scope, .source, .last_report_at, .report_id, .sequence, .instance, "
    "sections: s.sections_json}"
)


# the scopes asked about (a prefix and the CI's id) holding no CI and no open relationship
# of the types asked about (relationship indexes are per type: one seek per type)
def _empty(types: tuple[str, ...]) -> str:
    rels = "".join(
        f"AND NOT EXISTS {{ MATCH ()-[r:{ident(t)} {{scope: sc}}]->() WHERE r.ended_at IS NULL }} "
        for t in types
    )
    return (
        "CALL (n) { UNWIND CASE WHEN n IS NULL THEN [] ELSE $scopes END AS prefix "
        "WITH prefix + n.id AS sc "
        f"WHERE NOT EXISTS {{ MATCH (c:{ident(CI_LABEL)} {{scope: sc}}) }} "
        + rels
        + "RETURN collect(sc) AS empty_scopes } "
    )


# the CI found and its source state; ``ss`` is the CI's own scope's state (CI_MAP's
# derived last_seen): none for a root CI, which keeps its own last_seen
def _tail(types: tuple[str, ...]) -> str:
    return (
        _empty(types) + "OPTIONAL MATCH (ss:SourceState {scope: n.scope}) "
        "OPTIONAL MATCH (s:SourceState {scope: $source + ':' + n.id}) "
        "RETURN seen, bound, empty_scopes, CASE WHEN n IS NULL THEN null ELSE "
        + CI_MAP
        + " END AS ci, "
        + _STATE
        + " AS state, "
        # a value another CI gave up (a rename) and still holds in its grace period
        "n IS NOT NULL AND EXISTS { MATCH (p:PriorIdentity {class: $cls, rule: $rule, "
        "value: $value}) WHERE p.until >= $now AND p.ci_id <> n.id } AS contested"
    )


_SEEN = "OPTIONAL MATCH (r:Report {report_id: $report_id}) WITH count(r) > 0 AS seen "


@functools.lru_cache(maxsize=64)
def by_binding(types: tuple[str, ...]) -> str:
    """The probe by the host an agent token is bound to."""
    return (
        _SEEN + "OPTIONAL MATCH (b:AgentBinding {agent_key: $agent_key}) "
        "WITH seen, b.ci_id AS bound "
        f"OPTIONAL MATCH (n:{ident(CI_LABEL)} {{id: bound}}) " + _tail(types)
    )


@functools.lru_cache(maxsize=64)
def by_key(label: str, rule: str, types: tuple[str, ...]) -> str:
    """The probe by the holder of one unique identity value (no agent token)."""
    return (
        _SEEN + "WITH seen, null AS bound "
        f"OPTIONAL MATCH (n:{ident(label)} {{{ident(key_prop(rule))}: $value}}) " + _tail(types)
    )


# the node's write lock first (SET), then the comparison: a report of the same source
# committed meanwhile is seen, never overwritten (Neo4j reads committed data without locks).
# A body: a part of a change set's batch (counted on ``s``) or, with ADVANCE, a query
ADVANCE_BODY = (
    "MATCH (s:SourceState {scope: $scope}) SET s.advancing = true "
    "WITH s, s.report_id = $expected AND s.last_report_at <= $at AS free "
    "REMOVE s.advancing "
    "WITH s WHERE free "
    "SET s.last_report_at = $at, s.report_id = $report_id, s.sequence = $sequence, "
    "s.instance = $instance "
    "WITH s "
    f"CALL (s) {{ UNWIND $touch AS id MATCH (n:{ident(CI_LABEL)} {{id: id}}) "
    "SET n.last_seen = $at } "
    "MERGE (r:Report {report_id: $report_id}) ON CREATE SET r.source = $source, r.applied_at = $at"
)
ADVANCE = ADVANCE_BODY + " RETURN count(s) AS moved"

# the full path's read of a source state inside its transaction: the node's write lock
# first, held to the end of the transaction (see ``Neo4jStore.source_state``)
LOCKED_SOURCE_STATE = (
    "MATCH (s:SourceState {scope: $scope}) SET s.reading = true REMOVE s.reading "
    "RETURN s.scope AS scope, s.source AS source, s.last_report_at AS last_report_at, "
    "s.report_id AS report_id, s.sequence AS sequence, s.sections_json AS sections, "
    "s.instance AS instance"
)
