"""Batched lookups by attribute, by name and by address, and the staleness scan, on Neo4j
(query text; ``Neo4jStore`` runs them). Attributes are read from the scalar properties
every attribute is projected to, with the range indexes ``cypher.ddl_statements`` creates.
"""

from __future__ import annotations

from cmdb.graph.neo4j.cypher import CI_LABEL, ident
from cmdb.graph.schema import LOOKUP_ATTRIBUTES


def attribute_pairs(cls: str, attr: str) -> str:
    if (cls, attr) not in LOOKUP_ATTRIBUTES:  # names reach the query text: only declared ones
        raise ValueError(f"{cls}.{attr} is not an indexed lookup attribute")
    return (
        f"UNWIND $values AS v MATCH (n:{ident(cls)}) WHERE n.{ident(attr)} = v "
        "RETURN collect([v, n.id]) AS pairs"
    )


NAME_PAIRS = (
    f"UNWIND $values AS v MATCH (n:{ident(CI_LABEL)}) "
    "WHERE n.class IN $classes AND toLower(n.name) = v RETURN collect([v, n.id]) AS pairs"
)

INTERFACE_IP_PAIRS = (
    "UNWIND $values AS v MATCH (i:Interface)-[r:HAS_IP]->(a:IPAddress) "
    "WHERE a.address = v AND r.ended_at IS NULL RETURN collect([v, i.id]) AS pairs"
)

# a CI is seen at the later of its own last_seen, its scope's last report and the derived
# last_seen of any open relationship pointing at it (see cmdb.graph.staleness); a CI declared
# by hand that no discovery has reported (sources exactly ["manual"], a constant of the
# query, cmdb.server.catalogue.writes.SOURCE) is never unseen
UNSEEN_SINCE = f"""
MATCH (c:{ident(CI_LABEL)}) WHERE c.status IN $statuses AND any(l IN labels(c) WHERE l IN $classes)
  AND NOT coalesce(c.sources = ['manual'], false)
OPTIONAL MATCH (ss:SourceState {{scope: c.scope}})
WITH c, CASE WHEN ss.last_report_at > c.last_seen THEN ss.last_report_at
             ELSE c.last_seen END AS seen
WHERE seen < $before
CALL (c) {{
  OPTIONAL MATCH (c)<-[r]-() WHERE r.ended_at IS NULL AND type(r) IN $sightings
  OPTIONAL MATCH (rs:SourceState {{scope: r.scope}})
  RETURN max(CASE WHEN rs.last_report_at > r.last_seen THEN rs.last_report_at
                  ELSE r.last_seen END) AS rel_seen
}}
WITH c, rel_seen WHERE rel_seen IS NULL OR rel_seen < $before
RETURN c.id AS id LIMIT $limit
"""
