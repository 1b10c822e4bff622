"""Batched attribute lookups the store protocol does not index: CIs by MAC, by
management address, by name, Interfaces by parent, interfaces holding an IP.

Topology needs "which Interface has this MAC" for hundreds of MACs at once; the
protocol only indexes identity values. Each function here is one query per
batch (never one per row), dispatching on ``store.name``: SQLite reads the JSON
attributes through ``json_extract`` with expression indexes, Neo4j the scalar
properties every attribute is projected to, with range indexes. Indexes are
created lazily, once per store object, with ``IF NOT EXISTS``.
"""

from __future__ import annotations

import weakref
from typing import Any

from graph.store import CI, Store

_CHUNK = 500

# (class, attribute) pairs looked up here, each with an index on both stores
_INDEXED = (
    ("Interface", "mac"),
    ("Interface", "parent"),
    ("NetworkDevice", "management_ip"),
    ("Host", "management_ip"),
    ("IPAddress", "address"),
)
_ready: weakref.WeakSet[Any] = weakref.WeakSet()


def _sqlite_index(cls: str, attr: str) -> str:
    return (
        f"CREATE INDEX IF NOT EXISTS ci_{cls.lower()}_{attr} "
        f"ON ci (json_extract(attributes, '$.{attr}')) WHERE class = '{cls}'"
    )


def _neo4j_index(cls: str, attr: str) -> str:
    return f"CREATE INDEX {cls.lower()}_{attr} IF NOT EXISTS FOR (n:`{cls}`) ON (n.`{attr}`)"


async def ensure_indexes(store: Store) -> None:
    if store in _ready:
        return
    if store.name == "sqlite":
        statements = [_sqlite_index(c, a) for c, a in _INDEXED]

        def create() -> None:
            for statement in statements:
                store.conn.execute(statement)  # type: ignore[attr-defined]

        await store._run(create)  # type: ignore[attr-defined]
    else:
        for cls, attr in _INDEXED:
            await store.driver.execute_query(  # type: ignore[attr-defined]
                _neo4j_index(cls, attr),
                database_=store.database,  # type: ignore[attr-defined]
            )
    _ready.add(store)


def _chunks(values: list[str]) -> list[list[str]]:
    return [values[i : i + _CHUNK] for i in range(0, len(values), _CHUNK)]


async def _sqlite_pairs(store: Store, sql: str, values: list[str]) -> list[tuple[str, str]]:
    rows: list[tuple[str, str]] = []
    for chunk in _chunks(values):
        marks = ",".join("?" * len(chunk))
        query = sql.format(marks=marks)
        found = await store._run(  # type: ignore[attr-defined]
            lambda q=query, c=chunk: store.conn.execute(q, c).fetchall()  # type: ignore[attr-defined]
        )
        rows.extend((str(k), str(i)) for k, i in found)
    return rows


async def _neo4j_pairs(store: Store, cypher: str, values: list[str]) -> list[tuple[str, str]]:
    rows: list[tuple[str, str]] = []
    for chunk in _chunks(values):
        found = await store._query(cypher, values=chunk)  # type: ignore[attr-defined]
        rows.extend((str(r["key"]), str(r["id"])) for r in found)
    return rows


async def _by_key(store: Store, pairs: list[tuple[str, str]]) -> dict[str, list[CI]]:
    cis = await store.get_cis(sorted({ci_id for _, ci_id in pairs}))
    out: dict[str, list[CI]] = {}
    for key, ci_id in pairs:
        ci = cis.get(ci_id)
        if ci is not None and ci not in out.setdefault(key, []):
            out[key].append(ci)
    return out


async def cis_by_attribute(
    store: Store, cls: str, attr: str, values: list[str]
) -> dict[str, list[CI]]:
    """CIs of ``cls`` whose attribute ``attr`` equals one of ``values`` (exact), by value."""
    wanted = sorted({v for v in values if v})
    if not wanted:
        return {}
    if (cls, attr) not in _INDEXED:
        raise ValueError(f"{cls}.{attr} is not an indexed lookup attribute")
    await ensure_indexes(store)
    if store.name == "sqlite":
        sql = (
            f"SELECT json_extract(attributes, '$.{attr}'), id FROM ci "
            f"WHERE class = '{cls}' AND json_extract(attributes, '$.{attr}') IN ({{marks}})"
        )
        pairs = await _sqlite_pairs(store, sql, wanted)
    else:
        cypher = (
            f"UNWIND $values AS v MATCH (n:`{cls}`) WHERE n.`{attr}` = v "
            "RETURN v AS key, n.id AS id"
        )
        pairs = await _neo4j_pairs(store, cypher, wanted)
    return await _by_key(store, pairs)


async def interfaces_by_mac(store: Store, macs: list[str]) -> dict[str, list[CI]]:
    """Interface CIs by MAC (lower-case, colon-separated as both collectors write it)."""
    return await cis_by_attribute(store, "Interface", "mac", [m.lower() for m in macs if m])


async def interfaces_of(store: Store, parent_ids: list[str]) -> dict[str, list[CI]]:
    """Interface CIs by the id of the Host or NetworkDevice they belong to."""
    return await cis_by_attribute(store, "Interface", "parent", parent_ids)


async def cis_by_name(
    store: Store, classes: tuple[str, ...], names: list[str]
) -> dict[str, list[CI]]:
    """CIs of ``classes`` whose name equals one of ``names`` ignoring case, by lower-case name."""
    wanted = sorted({n.lower() for n in names if n})
    if not wanted:
        return {}
    labels = ",".join(f"'{c}'" for c in classes)
    if store.name == "sqlite":
        sql = (
            f"SELECT lower(name), id FROM ci WHERE class IN ({labels}) "
            "AND name COLLATE NOCASE IN ({marks})"
        )
        pairs = await _sqlite_pairs(store, sql, wanted)
    else:
        cypher = (
            "UNWIND $values AS v MATCH (n:CI) "
            f"WHERE n.class IN [{labels}] AND toLower(n.name) = v "
            "RETURN v AS key, n.id AS id"
        )
        pairs = await _neo4j_pairs(store, cypher, wanted)
    return await _by_key(store, pairs)


async def interfaces_with_ip(store: Store, addresses: list[str]) -> dict[str, list[CI]]:
    """Interfaces holding one of ``addresses`` (an open HAS_IP to that IPAddress), by address."""
    wanted = sorted({a for a in addresses if a})
    if not wanted:
        return {}
    await ensure_indexes(store)
    if store.name == "sqlite":
        sql = (
            "SELECT json_extract(ip.attributes, '$.address'), rel.src FROM ci ip "
            "JOIN rel ON rel.dst = ip.id AND rel.type = 'HAS_IP' AND rel.ended_at IS NULL "
            "WHERE ip.class = 'IPAddress' "
            "AND json_extract(ip.attributes, '$.address') IN ({marks})"
        )
        pairs = await _sqlite_pairs(store, sql, wanted)
    else:
        cypher = (
            "UNWIND $values AS v MATCH (i:Interface)-[r:HAS_IP]->(a:IPAddress) "
            "WHERE a.address = v AND r.ended_at IS NULL RETURN v AS key, i.id AS id"
        )
        pairs = await _neo4j_pairs(store, cypher, wanted)
    return await _by_key(store, pairs)
