"""Impact reads on Neo4j (query text; ``Neo4jStore`` runs them): one hop of a dependency
walk for a whole frontier, the layer-2 links of devices to switches, and the raw closure of
a failure (one variable-length query; the benchmark's yardstick). Each answers ONE record
holding a list: the driver's per-record cost, not the data, dominated on frontiers of
thousands of CIs. Relationship types come from ``cmdb.graph.dependency``.
"""

from __future__ import annotations

from cmdb.graph.dependency import LINK_TYPE, PORT_TYPE, split_directed, steps
from cmdb.graph.neo4j import cypher
from cmdb.graph.records import HopRow, Uplink

__all__ = [
    "HopRow",
    "Uplink",
    "UPLINKS",
    "closure_params",
    "closure_query",
    "closure_step_query",
    "walk_step_query",
    "hop_query",
]

_CI = cypher.ident(cypher.CI_LABEL)


def hop_query(types: tuple[str, ...]) -> str:
    """A bare type is read from either end, ``>T`` only where the frontier CI is its src,
    ``<T`` only its dst (``split_directed``)."""
    from_src, from_dst = split_directed(types)
    typed = "|".join(cypher.ident(t) for t in dict.fromkeys(from_src + from_dst))
    ends = []
    if from_src:
        ends.append(f"(startNode(r) = x AND type(r) IN {_list(from_src)})")
    if from_dst:
        ends.append(f"(endNode(r) = x AND type(r) IN {_list(from_dst)})")
    return (
        f"UNWIND $ids AS fid MATCH (x:{_CI} {{id: fid}})-[r:{typed}]-(y) "
        f"WHERE r.ended_at IS NULL AND ({' OR '.join(ends)}) "
        "WITH DISTINCT r, startNode(r) AS a, endNode(r) AS b "
        "RETURN collect([r.id, type(r), a.id, b.id, a.class, b.class, a.name, b.name, "
        "a.status, b.status]) AS rows"
    )


def _list(types: list[str]) -> str:
    # relationship types are identifiers of the rules table, never user input
    return "[" + ", ".join(f"'{t}'" for t in types) + "]"


UPLINKS = (
    f"UNWIND $ids AS did MATCH (d:{_CI} {{id: did}})"
    f"-[h:{cypher.ident(PORT_TYPE)}]->(i)-[l:{cypher.ident(LINK_TYPE)}]-(p)"
    f"<-[hp:{cypher.ident(PORT_TYPE)}]-(e) "
    "WHERE h.ended_at IS NULL AND l.ended_at IS NULL AND hp.ended_at IS NULL "
    "AND e:NetworkDevice "
    "RETURN collect([did, i.id, p.id, e.id, e.class]) AS rows"
)


def closure_query() -> str:
    """Every CI reachable upwards along the dependency rules from ``$ids``, without states
    or redundancy: one quantified path pattern, one shortest path per reached CI (a
    breadth-first search, not a path enumeration). Directions per type are parameters
    (``closure_params``); a port leads to its device only when that is a host or the port
    is one of ``$uplinks``."""
    typed = "|".join(cypher.ident(t) for t in steps("up"))
    rule = (
        "r.ended_at IS NULL AND (type(r) IN $both "
        "OR (type(r) IN $outs AND startNode(r) = a) "
        "OR (type(r) IN $ins AND endNode(r) = a "
        f"AND (type(r) <> '{PORT_TYPE}' OR b:Host OR a.id IN $uplinks)))"
    )
    return (
        f"MATCH (s:{_CI}) WHERE s.id IN $ids "
        f"MATCH ANY SHORTEST (s)((a)-[r:{typed}]-(b) WHERE {rule})*(n) "
        "RETURN collect(DISTINCT n.id) AS ids"
    )


def closure_step_query() -> str:
    """One level of the closure: the CIs one dependency step up from ``$ids`` (the same
    rules as ``closure_query``). A quantified path query with the rule in its predicate
    ran for minutes on 69k CIs (it enumerates paths); a level-by-level frontier with the
    visited set kept by the caller reads each relationship once, as the CTE does."""
    typed = "|".join(cypher.ident(t) for t in steps("up"))
    rule = (
        "r.ended_at IS NULL AND (type(r) IN $both "
        "OR (type(r) IN $outs AND startNode(r) = a) "
        "OR (type(r) IN $ins AND endNode(r) = a "
        f"AND (type(r) <> '{PORT_TYPE}' OR b:Host OR a.id IN $uplinks)))"
    )
    return (
        f"UNWIND $ids AS aid MATCH (a:{_CI} {{id: aid}})-[r:{typed}]-(b) WHERE {rule} "
        "RETURN collect(DISTINCT b.id) AS ids"
    )


def closure_params(uplinks: list[str]) -> dict[str, list[str]]:
    """Which way each type is followed upwards: ``ins`` from its dst, ``outs`` from its src,
    ``both`` either way (the layer-2 link)."""
    up = steps("up")
    return {
        "ins": [t for t, ways in up.items() if "in" in ways and t != LINK_TYPE],
        "outs": [t for t, ways in up.items() if "out" in ways and t != LINK_TYPE],
        "both": [LINK_TYPE],
        "uplinks": uplinks,
    }


def walk_step_query(types: tuple[str, ...]) -> str:
    """One hop of the impact walk, from the frontier's side (``$frontier``: [id, back id,
    back type], "" for none): one record holding [type, near id, far id, near is the src, far
    class, far name, far status] for every open relationship of ``types`` touching the ids,
    except those of the back type to the back CI. Each direction is its own directed
    pattern (``>T`` from the src, ``<T`` from the dst, a bare type both), so a relationship
    between two frontier CIs comes once from each end it is read from and nothing is
    de-duplicated."""
    from_src, from_dst = split_directed(types)
    arms = []
    for wanted, pattern, out in (
        (from_src, "(x)-[r:{}]->(y)", "true"),
        (from_dst, "(x)<-[r:{}]-(y)", "false"),
    ):
        if wanted:
            typed = "|".join(cypher.ident(t) for t in dict.fromkeys(wanted))
            arms.append(
                f"MATCH {pattern.format(typed)} WHERE r.ended_at IS NULL "
                "AND NOT (type(r) = back_type AND y.id = back) "
                f"RETURN type(r) AS t, y, {out} AS out"
            )
    return (
        "UNWIND $frontier AS f WITH f[0] AS fid, f[1] AS back, f[2] AS back_type "
        f"MATCH (x:{_CI} {{id: fid}}) "
        f"CALL (x, back, back_type) {{ {' UNION ALL '.join(arms)} }} "
        "RETURN collect([t, fid, y.id, out, y.class, y.name, y.status]) AS rows"
    )
