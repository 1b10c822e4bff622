"""The Neo4j backend on a real server: apply, reads, history and traversal.

The shared contract suite runs both backends; this file checks the Neo4j specifics
(the graph engineers query directly, identity keys, relationship closing, routing).
"""

from __future__ import annotations

import pytest

from cmdb.graph.neo4j.store import Neo4jStore
from cmdb.graph.store import CI, ChangeSet, HistoryEntry, Rel, SourceState, StoreError

pytestmark = pytest.mark.neo4j

T0 = "2026-01-01T00:00:00.000Z"
T1 = "2026-01-02T00:00:00.000Z"
T2 = "2026-01-03T00:00:00.000Z"


def _host(ci_id: str, uuid: str, **attrs: object) -> CI:
    return CI(
        id=ci_id,
        cls="Host",
        name=ci_id,
        scope=f"agent:{ci_id}",
        sources=["agent"],
        attributes={"hostname": ci_id, "system_uuid": uuid, **attrs},
        attr_sources={"hostname": "agent"},
        identity={"system_uuid": uuid, "machine_id": "shared-clone-id"},
    )


def _ci(ci_id: str, cls: str, name: str, identity: dict[str, str]) -> CI:
    return CI(id=ci_id, cls=cls, name=name, attributes={"name": name}, identity=identity)


def _rel(rel_id: str, rel_type: str, src: str, dst: str, **attrs: object) -> Rel:
    return Rel(
        id=rel_id,
        type=rel_type,
        src=src,
        dst=dst,
        scope="s",
        sources=["agent"],
        attributes=dict(attrs),
    )


async def _seed(store: Neo4jStore) -> None:
    cis = [
        _host("h1", "u-1", disks=[{"name": "sda", "bytes": 10}], gateways=["10.0.0.1"]),
        _host("h2", "u-2"),
        _ci("svc", "Service", "shop", {"name": "shop"}),
        _ci("sw1", "Software", "openssl", {"software_key": "|openssl|3|amd64"}),
        _ci("sw2", "Software", "nginx", {"software_key": "|nginx|1|amd64"}),
    ]
    rels = [
        _rel("r1", "DEPENDS_ON", "svc", "h1"),
        _rel("r2", "HOSTED_ON", "h1", "h2"),
        _rel("r3", "HOSTED_ON", "h2", "h1"),  # a cycle
        _rel("r4", "INSTALLED", "h1", "sw1", install_date="2025-01-01"),
        _rel("r5", "RUNS_ON", "sw2", "h2"),
    ]
    history = [
        HistoryEntry(
            ci_id=c.id,
            kind="ci",
            field="created",
            old=None,
            new="live",
            at=T0,
            source="agent",
            report_id="rep-0",
        )
        for c in cis
    ]
    await store.apply(
        ChangeSet(
            report_id="rep-0",
            source="agent",
            at=T0,
            create_cis=cis,
            create_rels=rels,
            history=history,
            source_state=SourceState("agent:h1", "agent", T0, "rep-0"),
        )
    )


async def test_round_trip_and_readable_graph(neo4j_store: Neo4jStore) -> None:
    await _seed(neo4j_store)
    h1 = await neo4j_store.get_ci("h1")
    assert h1 is not None
    assert h1.cls == "Host" and h1.first_seen == T0
    assert h1.attributes == {
        "hostname": "h1",
        "system_uuid": "u-1",
        "disks": [{"name": "sda", "bytes": 10}],
        "gateways": ["10.0.0.1"],
    }
    assert h1.identity == {"system_uuid": "u-1", "machine_id": "shared-clone-id"}
    assert await neo4j_store.report_seen("rep-0")
    assert not await neo4j_store.report_seen("rep-x")

    # what an engineer types in Neo4j Browser works on the stored graph
    records, _, _ = await neo4j_store.driver.execute_query(
        "MATCH (h:Host {hostname: 'h1'})-[i:INSTALLED]->(s:Software) "
        "RETURN s.name AS name, i.install_date AS d, h.gateways AS gw, h.disks AS disks"
    )
    row = records[0]
    assert (row["name"], row["d"], row["gw"]) == ("openssl", "2025-01-01", ["10.0.0.1"])
    assert row["disks"].startswith("json:")

    found = await neo4j_store.find_by_identity("Host", "machine_id", ["shared-clone-id"])
    assert sorted(c.id for c in found["shared-clone-id"]) == ["h1", "h2"]
    found = await neo4j_store.find_by_identity("Host", "system_uuid", ["u-2", "nope"])
    assert [c.id for c in found["u-2"]] == ["h2"] and "nope" not in found


async def test_update_touch_close_and_derived_last_seen(neo4j_store: Neo4jStore) -> None:
    await _seed(neo4j_store)
    from cmdb.graph.store import CIUpdate

    await neo4j_store.apply(
        ChangeSet(
            report_id="rep-1",
            source="agent",
            at=T1,
            update_cis=[
                CIUpdate(
                    id="h1",
                    name="h1",
                    attributes={"hostname": "h1", "kernel": "6"},
                    attr_sources={},
                    identity={"system_uuid": "u-9"},
                    sources=["agent", "snmp"],
                )
            ],
            touch_cis=["h2"],
            close_rels=["r2"],
            source_state=SourceState("agent:h1", "agent", T2, "rep-1"),
        )
    )
    h1 = await neo4j_store.get_ci("h1")
    assert h1 is not None
    assert h1.attributes == {"hostname": "h1", "kernel": "6"}
    assert h1.identity == {"system_uuid": "u-9"}
    assert h1.first_seen == T0 and h1.scope == "agent:h1"
    assert h1.last_seen == T2  # the scope's last full report stands for last_seen
    h2 = await neo4j_store.get_ci("h2")
    assert h2 is not None and h2.last_seen == T1

    open_rels = await neo4j_store.relationships("h1")
    assert sorted(v.rel.id for v in open_rels) == ["r1", "r3", "r4"]
    every = await neo4j_store.relationships("h1", include_ended=True)
    closed = [v for v in every if v.rel.id == "r2"]
    assert closed and closed[0].rel.ended_at == T1 and closed[0].direction == "out"

    # relationship history comes from the relationships: r2, r3 and r5 opened at T0 (after
    # h2's created entry), r2 closed at T1 by rep-1; newest first
    entries, total = await neo4j_store.history("h2", limit=10, offset=0)
    assert total == 5
    closing = entries[0]
    assert (closing.at, closing.kind, closing.field) == (T1, "relationship", "HOSTED_ON")
    # told from h2's side: h1 HOSTED_ON h2 points at it
    assert (closing.ci_id, closing.other_id, closing.old, closing.new) == (
        "h2",
        "h1",
        {"id": "h1", "name": "h1", "direction": "in"},
        None,
    )
    assert (closing.source, closing.report_id) == ("agent", "rep-1")
    # by relationship id, each told from h2's side (direction in: it points at h2)
    assert [(e.ci_id, e.other_id, e.new) for e in entries[1:4]] == [
        ("h2", "sw2", {"id": "sw2", "name": "nginx", "direction": "in"}),
        ("h2", "h1", {"id": "h1", "name": "h1"}),
        ("h2", "h1", {"id": "h1", "name": "h1", "direction": "in"}),
    ]
    assert entries[1].report_id == "rep-0"
    assert (entries[4].kind, entries[4].field) == ("ci", "created")
    entries, total = await neo4j_store.history("h1", limit=1, offset=0, since=T1)
    assert total == 1 and entries[0].field == "HOSTED_ON" and entries[0].new is None

    scope = await neo4j_store.load_scope("agent:h1")
    assert [c.id for c in scope.cis] == ["h1"]
    state = await neo4j_store.source_state("agent:h1")
    assert state is not None and state.last_report_at == T2


async def test_traverse_is_depth_bounded_and_cycle_safe(neo4j_store: Neo4jStore) -> None:
    await _seed(neo4j_store)
    down = await neo4j_store.traverse(["svc"], "down", 6)
    assert {k: d for k, (_, d) in down.nodes.items()} == {"svc": 0, "h1": 1, "h2": 2, "sw1": 2}
    assert sorted(r.id for r in down.edges) == ["r1", "r2", "r4"]

    up = await neo4j_store.traverse(["h2"], "up", 6, ("HOSTED_ON", "DEPENDS_ON", "RUNS_ON"))
    assert {k: d for k, (_, d) in up.nodes.items()} == {"h2": 0, "h1": 1, "sw2": 1, "svc": 2}
    assert sorted(r.id for r in up.edges) == ["r1", "r2", "r5"]

    one = await neo4j_store.traverse(["svc"], "both", 1)
    assert set(one.nodes) == {"svc", "h1"}
    none = await neo4j_store.traverse(["svc"], "down", 0)
    assert set(none.nodes) == {"svc"} and none.edges == []


async def test_list_cis_pages_and_filters(neo4j_store: Neo4jStore) -> None:
    await _seed(neo4j_store)
    items, total = await neo4j_store.list_cis("Host", None, limit=1, offset=1)
    assert total == 2 and [c.id for c in items] == ["h2"]
    items, total = await neo4j_store.list_cis(None, "OPEN", limit=10, offset=0)
    assert total == 1 and items[0].id == "sw1"


async def test_bad_changes_roll_back(neo4j_store: Neo4jStore) -> None:
    await _seed(neo4j_store)
    with pytest.raises(StoreError):
        await neo4j_store.apply(
            ChangeSet(
                report_id="rep-bad",
                source="agent",
                at=T1,
                create_cis=[_ci("x", "Service", "x", {"name": "x"})],
                create_rels=[_rel("rx", "DEPENDS_ON", "x", "missing")],
            )
        )
    assert await neo4j_store.get_ci("x") is None
    assert not await neo4j_store.report_seen("rep-bad")


async def test_routing_uri_and_wrong_password(neo4j_server) -> None:
    routed = Neo4jStore(
        neo4j_server.uri.replace("bolt://", "neo4j://"), neo4j_server.user, neo4j_server.password
    )
    await routed.open()
    try:
        await routed.ping()
    finally:
        await routed.close()
    wrong = Neo4jStore(neo4j_server.uri, neo4j_server.user, "not-the-password")
    with pytest.raises(StoreError, match="credentials"):
        await wrong.open()
