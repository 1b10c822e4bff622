"""Which discovered CIs nobody has seen since a given time (for stale and retired marking).

A CI counts as seen at the later of its own last_seen, its scope's last full
report, and the derived last_seen of any open relationship that points at it
(a Software CI is seen whenever a host still reports it installed).
"""

from __future__ import annotations

from graph.store import CI, Store

DISCOVERED_CLASSES = (
    "Host",
    "NetworkDevice",
    "Interface",
    "IPAddress",
    "Network",
    "Software",
    "Endpoint",
)

_SQLITE = """
SELECT ci.id FROM ci LEFT JOIN source_state ss ON ss.scope = ci.scope
WHERE ci.status IN ({statuses}) AND ci.class IN ({classes})
  AND max(ci.last_seen, coalesce(ss.last_report_at, '')) < ?
  AND NOT EXISTS (
    SELECT 1 FROM rel r LEFT JOIN source_state rs ON rs.scope = r.scope
    WHERE r.dst = ci.id AND r.ended_at IS NULL
      AND max(r.last_seen, coalesce(rs.last_report_at, '')) >= ?)
LIMIT ?
"""

_CYPHER = """
MATCH (c:CI) WHERE c.status IN $statuses AND any(l IN labels(c) WHERE l IN $classes)
OPTIONAL MATCH (ss:SourceState {scope: c.scope})
WITH c, CASE WHEN ss.last_report_at > c.last_seen THEN ss.last_report_at
             ELSE c.last_seen END AS seen
WHERE seen < $before
CALL (c) {
  OPTIONAL MATCH (c)<-[r]-() WHERE r.ended_at IS NULL
  OPTIONAL MATCH (rs:SourceState {scope: r.scope})
  RETURN max(CASE WHEN rs.last_report_at > r.last_seen THEN rs.last_report_at
                  ELSE r.last_seen END) AS rel_seen
}
WITH c, rel_seen WHERE rel_seen IS NULL OR rel_seen < $before
RETURN c.id AS id LIMIT $limit
"""


async def unseen_since(
    store: Store, before: str, statuses: tuple[str, ...], limit: int = 5000
) -> list[CI]:
    if store.name == "sqlite":
        sql = _SQLITE.format(
            statuses=",".join("?" * len(statuses)),
            classes=",".join("?" * len(DISCOVERED_CLASSES)),
        )
        params = [*statuses, *DISCOVERED_CLASSES, before, before, limit]
        rows = await store._run(lambda: store.conn.execute(sql, params).fetchall())  # type: ignore[attr-defined]
        ids = [r[0] for r in rows]
    else:
        records = await store._query(  # type: ignore[attr-defined]
            _CYPHER,
            statuses=list(statuses),
            classes=list(DISCOVERED_CLASSES),
            before=before,
            limit=limit,
        )
        ids = [r["id"] for r in records]
    found = await store.get_cis(ids)
    return [found[i] for i in ids if i in found]
