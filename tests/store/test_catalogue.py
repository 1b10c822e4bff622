"""Catalogue rules on both stores: services, redundancy groups, impact, observed
connections, assets, changes and status accounting, from real agent reports."""

from __future__ import annotations

from datetime import date

import pytest

from cmdb.server.catalogue import CatalogueError, assets, changes, services, status
from cmdb.server.catalogue.impact import impact
from cmdb.server.ingest import Ingestor  # noqa: F401
from tests.reports import ReplayIngestor, agent_report, nic

pytestmark = pytest.mark.asyncio

T0 = "2026-11-20T10:00:00.000Z"
T1 = "2026-11-21T10:00:00.000Z"
T2 = "2026-11-22T10:00:00.000Z"


def host(name, n, ip, listening=(), connections=(), at=T0):
    """A realistic report of host ``name`` with one NIC and the given sockets."""
    return agent_report(
        hostname=name,
        system_uuid=f"4c4c4544-0042-3510-8057-b4c04f4a4d{n:02d}",
        machine_id=f"5f2d0c7a9b1e4d3c8a6f0e1d2c3b4a{n:02d}",
        serial=f"SER{n:04d}",
        interfaces=[
            nic("lo", None, [("127.0.0.1", 8)], kind="loopback"),
            nic("eth0", f"52:54:00:00:00:{n:02x}", [(ip, 24)]),
        ],
        packages=2,
        listening=[
            {"protocol": "tcp", "address": "0.0.0.0", "port": p, "pid": 100 + p, "process": proc}
            for p, proc in listening
        ],
        connections=[
            {
                "protocol": "tcp",
                "local_address": la,
                "local_port": lp,
                "remote_address": ra,
                "remote_port": rp,
                "pid": 4242,
                "process": proc,
                "status": "ESTABLISHED",
            }
            for la, lp, ra, rp, proc in connections
        ],
        collected_at=at,
    )


async def ingest(store, report):
    return await ReplayIngestor(store).ingest(report)


async def rels(store, ci_id, rel_type, direction="out", include_ended=False):
    return [
        v
        for v in await store.relationships(ci_id, include_ended=include_ended)
        if v.rel.type == rel_type and v.direction == direction
    ]


APP_CONNS = (
    ("10.20.0.21", 51544, "10.20.0.11", 5432, "java"),  # to db1
    ("127.0.0.1", 40001, "127.0.0.1", 6379, "java"),  # loopback to its own redis
    ("10.20.0.21", 8080, "10.20.0.99", 61000, "java"),  # inbound (we listen on 8080)
    ("10.20.0.21", 50000, "192.0.2.7", 443, "java"),  # nobody we know
)


async def cluster(store):
    """db1 and db2 listening on 5432, app1 talking to db1, web9 unrelated; then services."""
    db1 = (await ingest(store, host("db1", 1, "10.20.0.11", [(5432, "postgres")])))["ci_id"]
    db2 = (await ingest(store, host("db2", 2, "10.20.0.12", [(5432, "postgres")])))["ci_id"]
    app = await ingest(
        store, host("app1", 3, "10.20.0.21", [(8080, "java"), (6379, "redis")], APP_CONNS)
    )
    web9 = (await ingest(store, host("web9", 9, "10.20.0.99", [(80, "nginx")])))["ci_id"]
    orders_db = await services.create_service(
        store,
        {
            "name": "orders-db",
            "owner": "dba",
            "criticality": "high",
            "sla": {"availability": 99.9, "response_time": "30m", "resolution_time": "4h"},
            "depends_on": [{"group": {"name": "pg", "min": 1, "members": [db1, db2]}}],
        },
        "alice",
    )
    shop = await services.create_service(
        store,
        {
            "name": "shop",
            "kind": "business",
            "owner": "sales",
            "criticality": "critical",
            "depends_on": [{"service": orders_db["id"]}],
        },
        "alice",
    )
    return {
        "db1": db1,
        "db2": db2,
        "app1": app["ci_id"],
        "app_result": app,
        "web9": web9,
        "orders_db": orders_db,
        "shop": shop,
    }


# ---------------------------------------------------------------- services and impact
async def test_service_record_and_group(store):
    c = await cluster(store)
    record = await services.service_record(
        store, await services.get_service(store, c["orders_db"]["id"])
    )
    assert record["owner"] == "dba" and record["criticality"] == "high"
    assert record["sla"] == {"availability": 99.9, "response_time": "30m", "resolution_time": "4h"}
    (group,) = [d["group"] for d in record["depends_on"]]
    assert group["min"] == 1 and sorted(m["id"] for m in group["members"]) == sorted(
        [c["db1"], c["db2"]]
    )
    items, total = await services.list_services(store, None, 50, 0)
    assert total == 2


async def test_one_node_down_degrades_both_down(store):
    c = await cluster(store)
    one = await impact(store, [c["db1"]])
    states = {s["name"]: s["state"] for s in one["services"]}
    assert states == {"orders-db": "degraded", "shop": "degraded"}
    shop = next(s for s in one["services"] if s["name"] == "shop")
    assert shop["criticality"] == "critical" and shop["owner"] == "sales"
    (path,) = shop["paths"]
    ids = [step["id"] for step in path["steps"]]
    assert ids[0] == c["db1"] and ids[-1] == c["shop"]["id"]
    assert c["orders_db"]["id"] in ids
    affected = {x["id"] for x in one["cis"]}
    assert c["app1"] in affected  # it connects to db1's postgres
    assert c["db2"] not in affected and c["web9"] not in affected

    both = await impact(store, [c["db1"], c["db2"]])
    assert {s["name"]: s["state"] for s in both["services"]} == {
        "orders-db": "down",
        "shop": "down",
    }
    assert len(next(s for s in both["services"] if s["name"] == "shop")["paths"]) == 2


async def test_unrelated_host_affects_no_service(store):
    c = await cluster(store)
    result = await impact(store, [c["web9"]])
    assert result["services"] == []
    assert {x["id"] for x in result["cis"]} >= {c["web9"]}
    assert c["db1"] not in {x["id"] for x in result["cis"]}


async def test_impact_is_depth_bounded(store):
    c = await cluster(store)
    shallow = await impact(store, [c["db1"]], depth=2)  # db1 -> group -> orders-db
    assert [s["name"] for s in shallow["services"]] == ["orders-db"]


async def test_unknown_dependency_is_422(store):
    with pytest.raises(CatalogueError) as err:
        await services.create_service(store, {"name": "x", "depends_on": [{"ci": "nope"}]}, "a")
    assert err.value.status == 422 and "nope" in err.value.message


async def test_service_cycle_is_422(store):
    a = await services.create_service(store, {"name": "a"}, "alice")
    b = await services.create_service(
        store, {"name": "b", "depends_on": [{"service": a["id"]}]}, "alice"
    )
    with pytest.raises(CatalogueError) as err:
        await services.update_service(store, a["id"], {"depends_on": [{"service": b["id"]}]}, "x")
    assert err.value.status == 422 and "cycle" in err.value.message
    with pytest.raises(CatalogueError) as err:
        await services.update_service(store, a["id"], {"depends_on": [{"service": a["id"]}]}, "x")
    assert err.value.status == 422 and "itself" in err.value.message


async def test_import_catalogue_upserts_by_name(store):
    c = await cluster(store)
    doc = {
        "services": [
            {
                "name": "billing",
                "kind": "business",
                "criticality": "medium",
                "depends_on": [
                    {"service": "shop"},
                    {"ci": {"class": "Host", "name": "web9"}},
                ],
            },
            {"name": "shop", "owner": "sales-eu", "depends_on": [{"service": "orders-db"}]},
        ]
    }
    result = await services.import_services(store, doc, "ci-bot")
    assert len(result["created"]) == 1 and result["updated"] == [c["shop"]["id"]]
    shop = await services.get_service(store, c["shop"]["id"])
    assert shop.attributes["owner"] == "sales-eu"
    again = await services.import_services(store, doc, "ci-bot")
    assert again["created"] == [] and again["updated"] == []
    with pytest.raises(CatalogueError) as err:
        await services.import_services(
            store,
            {"services": [{"name": "orders-db", "depends_on": [{"service": "billing"}]}]},
            "x",
        )
    assert err.value.status == 422


# ---------------------------------------------------------------- observed connections
async def test_connections_become_host_to_endpoint_links(store):
    c = await cluster(store)
    assert c["app_result"]["connections"] == {"linked": 2, "unresolved": 1, "ambiguous": 0}
    links = await rels(store, c["app1"], "CONNECTS_TO")
    targets = sorted((v.other.attributes["host"], v.other.attributes["port"]) for v in links)
    assert targets == sorted([(c["db1"], 5432), (c["app1"], 6379)])  # loopback stays home
    assert all(v.rel.attributes["observations"] == 1 for v in links)
    assert {v.rel.attributes["process"] for v in links} == {"java"}
    # ephemeral client ports and the inbound half never became endpoints
    endpoints, _ = await store.list_cis("Endpoint", None, 100, 0)
    assert sorted(e.attributes["port"] for e in endpoints) == [80, 5432, 5432, 6379, 8080]


async def test_server_reporting_after_client_links_at_its_own_report(store):
    conns = (("10.20.0.21", 51544, "10.20.0.11", 5432, "java"),)
    first = await ingest(store, host("app1", 3, "10.20.0.21", [], conns, at=T0))
    assert first["connections"] == {"linked": 0, "unresolved": 1, "ambiguous": 0}
    db1 = await ingest(store, host("db1", 1, "10.20.0.11", [(5432, "postgres")], at=T0))
    assert db1["connections"]["clients_linked"] == 1  # the pending observation, linked now
    again = await ingest(store, host("app1", 3, "10.20.0.21", [], conns, at=T1))
    assert again["connections"] == {"linked": 1, "unresolved": 0, "ambiguous": 0}
    third = await ingest(store, host("app1", 3, "10.20.0.21", [], conns, at=T2))
    (link,) = await rels(store, third["ci_id"], "CONNECTS_TO")
    assert link.rel.attributes["observations"] == 3
    assert (link.rel.first_seen, link.rel.last_seen) == (T0, T2)


async def test_connections_close_only_after_the_window(store):
    await ingest(store, host("db1", 1, "10.20.0.11", [(5432, "postgres")], at=T0))
    conns = (("10.20.0.21", 51544, "10.20.0.11", 5432, "psql"),)
    app = (await ingest(store, host("app1", 3, "10.20.0.21", [], conns, at=T0)))["ci_id"]
    await ingest(store, host("app1", 3, "10.20.0.21", [], (), at=T1))
    assert len(await rels(store, app, "CONNECTS_TO")) == 1  # transient: still open
    await ingest(store, host("app1", 3, "10.20.0.21", [], (), at="2026-11-28T10:00:00.000Z"))
    assert await rels(store, app, "CONNECTS_TO") == []
    closed = await rels(store, app, "CONNECTS_TO", include_ended=True)
    assert closed[0].rel.ended_at == "2026-11-28T10:00:00.000Z"


# ---------------------------------------------------------------- assets
async def test_asset_lifecycle_and_history(store):
    c = await cluster(store)
    a = await assets.create_asset(
        store,
        {
            "asset_tag": "ACME-0001",
            "ci": c["db1"],
            "supplier": "Dell",
            "contract": "C-77",
            "purchase_date": "2025-01-10",
            "cost": 8400.5,
            "warranty_end": "2026-12-20",
            "location": "DC1 R12",
            "owner": "infra",
        },
        "alice",
    )
    assert a["state"] == "planned" and a["ci"]["id"] == c["db1"]
    assert a["supplier"]["name"] == "Dell"
    for state in ("ordered", "received", "in_stock", "deployed", "in_maintenance", "deployed"):
        a = await assets.transition_asset(store, a["id"], {"state": state}, "bob")
    with pytest.raises(CatalogueError) as err:
        await assets.transition_asset(store, a["id"], {"state": "disposed"}, "bob")
    assert err.value.status == 409
    assert "retired" in err.value.message and "in_maintenance" in err.value.message
    assert err.value.extra["allowed"] == ["in_maintenance", "in_stock", "retired"]
    record = await assets.asset_record(store, await assets.get_asset(store, a["id"]), True)
    moves = [(t["from"], t["to"], t["by"]) for t in record["transitions"] if t["from"]]
    assert moves[0] == ("planned", "ordered", "bob") and moves[-1][1] == "deployed"
    assert all(t["at"] for t in record["transitions"])

    unregistered = {x["id"] for x in await assets.unregistered(store)}
    assert c["db1"] not in unregistered and {c["db2"], c["app1"], c["web9"]} <= unregistered
    ending = await assets.warranty_ending(store, 30, today=date(2026, 11, 28))
    assert [x["asset_tag"] for x in ending] == ["ACME-0001"]
    assert await assets.warranty_ending(store, 10, today=date(2026, 11, 28)) == []
    # db1 was last seen at T0 (2026-11-20): stale after 5 days, fine within 30
    assert [x["asset_tag"] for x in await assets.unseen(store, 5)] == ["ACME-0001"]
    assert await assets.unseen(store, 30) == []


async def test_duplicate_asset_tag_is_409(store):
    await assets.create_asset(store, {"asset_tag": "T-1"}, "alice")
    with pytest.raises(CatalogueError) as err:
        await assets.create_asset(store, {"asset_tag": "T-1"}, "alice")
    assert err.value.status == 409


# ---------------------------------------------------------------- changes
async def test_change_review_flow_conflicts_and_verification(store):
    c = await cluster(store)
    window = {"start": "2026-11-20T12:00:00Z", "end": "2026-11-21T12:00:00Z"}
    one = await changes.create_change(
        store, {"title": "patch db1", "cis": [c["db1"]], "window": window}, "alice"
    )
    assert one["state"] == "draft" and one["cis"][0]["id"] == c["db1"]
    with pytest.raises(CatalogueError) as err:
        await changes.transition_change(store, one["id"], {"state": "approved"}, "bob")
    assert err.value.status == 409 and "assessed" in err.value.message
    one = await changes.transition_change(store, one["id"], {"state": "assessed"}, "bob")
    assert {s["name"]: s["state"] for s in one["impact"]["services"]} == {
        "orders-db": "degraded",
        "shop": "degraded",
    }
    two = await changes.create_change(
        store,
        {
            "title": "patch db2",
            "cis": [c["db2"]],
            "window": {"start": "2026-11-21T00:00:00Z", "end": "2026-11-21T06:00:00Z"},
        },
        "carol",
    )
    found = await changes.conflicts(store)
    assert len(found) == 1
    assert {s["name"] for s in found[0]["services"]} == {"orders-db", "shop"}
    assert {x["id"] for x in found[0]["changes"]} == {one["id"], two["id"]}

    for state in ("approved", "implemented"):
        await changes.transition_change(store, one["id"], {"state": state}, "bob")
    # discovery sees db1 change inside the window and web9 change with no change record
    await ingest(
        store, host("db1", 1, "10.20.0.11", [(5432, "postgres"), (9187, "exporter")], at=T1)
    )
    await ingest(store, host("web9", 9, "10.20.0.99", [(443, "nginx")], at=T1))
    verified = await changes.transition_change(store, one["id"], {"state": "verified"}, "bob")
    (seen,) = verified["verification"]["items"]
    assert any(e["field"] == "LISTENS_ON" for e in seen["changes"])
    flagged = await changes.unauthorized(store, "2026-11-21T00:00:00.000Z", None)
    flagged_cis = {e["ci"]["id"] for e in flagged}
    assert c["web9"] in flagged_cis and c["db1"] not in flagged_cis


# ---------------------------------------------------------------- status accounting
async def test_as_of_and_diff(store):
    first = await ingest(store, host("db1", 1, "10.20.0.11", [(5432, "postgres")], at=T0))
    await ingest(store, host("db1-renamed", 1, "10.20.0.11", [(5433, "postgres")], at=T1))
    db1 = await store.get_ci(first["ci_id"])
    before = await status.ci_as_of(store, db1, "2026-11-20T18:00:00.000Z")
    assert before["name"] == "db1" and before["attributes"]["hostname"] == "db1"
    ports = sorted(r["other"]["name"] for r in before["relationships"] if r["type"] == "LISTENS_ON")
    assert ports == ["tcp/5432 (postgres)"]
    assert await status.ci_as_of(store, db1, "2026-11-19T00:00:00.000Z") is None
    diff = await status.ci_diff(store, db1.id, "2026-11-20T18:00:00.000Z", T2)
    assert diff["attributes"]["hostname"] == {"from": "db1", "to": "db1-renamed"}
    assert [r["other"]["name"] for r in diff["relationships_added"]] == ["tcp/5433 (postgres)"]
    assert [r["other"]["name"] for r in diff["relationships_removed"]] == ["tcp/5432 (postgres)"]


async def test_service_diff_between_times(store):
    c = await cluster(store)
    svc = await services.get_service(store, c["orders_db"]["id"])
    t_before = svc.first_seen
    await services.update_service(
        store, svc.id, {"depends_on": [{"ci": c["db1"]}], "owner": "dba-2"}, "alice"
    )
    after = (await store.get_ci(svc.id)).last_seen
    diff = await status.service_diff(store, svc, t_before, after)
    assert c["db2"] in {x["id"] for x in diff["cis_removed"]}
    assert {"from": svc.id, "type": "DEPENDS_ON", "to": c["db1"]} in diff["dependencies_added"]
