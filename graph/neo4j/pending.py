"""Pending observed connections on Neo4j (query text; ``Neo4jStore`` runs them): the
outbound connections a host's agent saw that linked to nothing yet, kept until their
target reports (``cmdb.server.catalogue.connections``).

One ``(:PendingConnection)`` node per (client, address, port), unique by ``key``
(``client|address|port``), with ``client``, ``address``, ``port``, ``process``,
``first_report``, ``first_at``, ``seen_report`` and ``seen_at``; no relationship to the
client (the client may be created by the very change set written after it). Indexes on
``client``, ``address`` and ``seen_at`` (``cypher.ddl_statements``).

A change set's ``PendingSet`` adds three parts to the change set's one batched query
(upsert every current row, delete the client's rows it did not confirm, delete every row
last seen before the staleness cut): no round trip of its own. A target's report reads
the rows to its addresses in one query.
"""

from __future__ import annotations

LABEL = "PendingConnection"

DDL = [
    f"CREATE CONSTRAINT pending_connection_key IF NOT EXISTS "
    f"FOR (p:{LABEL}) REQUIRE p.key IS UNIQUE",
    f"CREATE INDEX pending_connection_client IF NOT EXISTS FOR (p:{LABEL}) ON (p.client)",
    f"CREATE INDEX pending_connection_address IF NOT EXISTS FOR (p:{LABEL}) ON (p.address)",
    f"CREATE INDEX pending_connection_seen IF NOT EXISTS FOR (p:{LABEL}) ON (p.seen_at)",
]

# a change set's PendingSet: three parts of the change set's one batched query
UPSERT = (
    "UNWIND $rows AS row "
    f"MERGE (p:{LABEL} {{key: $client + '|' + row.address + '|' + toString(row.port)}}) "
    "ON CREATE SET p.client = $client, p.address = row.address, p.port = row.port, "
    "p.first_report = $report_id, p.first_at = $at "
    "SET p.process = row.process, p.seen_report = $report_id, p.seen_at = $at"
)
DROP_UNCONFIRMED = (
    f"MATCH (p:{LABEL} {{client: $client}}) WHERE p.seen_report <> $report_id DELETE p"
)
DROP_STALE = f"MATCH (p:{LABEL}) WHERE p.seen_at < $stale_before DELETE p"

TO_ADDRESSES = f"""
MATCH (p:{LABEL}) WHERE p.address IN $addresses AND p.seen_at >= $since
RETURN collect([p.client, p.address, p.port, p.process, p.first_report, p.first_at,
                p.seen_report, p.seen_at]) AS rows
"""
