"""Impact reads on Neo4j (query text; ``Neo4jStore`` runs them): one hop of the impact
walk for a whole frontier, and the layer-2 uplinks of devices. Each answers ONE record
holding a list: the driver's per-record cost, not the data, dominated on frontiers of
thousands of CIs.
"""

from __future__ import annotations

from graph.neo4j import cypher


def hop_query(types: tuple[str, ...]) -> str:
    label = cypher.ident(cypher.CI_LABEL)
    typed = "|".join(cypher.ident(t) for t in types)
    return (
        f"UNWIND $ids AS fid MATCH (x:{label} {{id: fid}})-[r:{typed}]-(y) "
        "WHERE r.ended_at IS NULL "
        "WITH DISTINCT r, startNode(r) AS a, endNode(r) AS b "
        "RETURN collect([r.id, type(r), a.id, b.id, a.class, b.class, a.name, b.name]) AS rows"
    )


UPLINKS = (
    f"UNWIND $ids AS did MATCH (d:{cypher.ident(cypher.CI_LABEL)} {{id: did}})"
    "-[h:HAS_INTERFACE]->(i)-[l:CONNECTED_TO]-(p)<-[hp:HAS_INTERFACE]-(e) "
    "WHERE h.ended_at IS NULL AND l.ended_at IS NULL AND hp.ended_at IS NULL "
    "AND e:NetworkDevice "
    "RETURN collect([did, i.id, p.id, e.id, e.class]) AS rows"
)
