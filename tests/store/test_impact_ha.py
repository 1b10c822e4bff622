"""Impact with the most common high-availability pattern, on both stores, from real agent
reports: observed connections are dependencies with redundancy, never a host's dependency
on itself, never replication among the members of one group (issue 13)."""

from __future__ import annotations

import pytest

from cmdb.graph.store import ChangeSet
from cmdb.server.catalogue import assets, services
from cmdb.server.catalogue.impact import impact
from tests.store.test_catalogue import host, ingest

pytestmark = pytest.mark.asyncio


async def ha(store) -> dict[str, str]:
    """pg-prod: group (min 1) of db1, db2; checkout-app on app1 and pg-prod; checkout on
    checkout-app. app1's agent sees connections to PostgreSQL on db1 and db2; db2
    replicates from db1; web9 is unrelated."""
    db1 = (await ingest(store, host("db1", 1, "10.20.0.11", [(5432, "postgres")])))["ci_id"]
    db2 = await ingest(
        store,
        host(
            "db2",
            2,
            "10.20.0.12",
            [(5432, "postgres")],
            [("10.20.0.12", 40000, "10.20.0.11", 5432, "postgres")],  # replication
        ),
    )
    app1 = await ingest(
        store,
        host(
            "app1",
            3,
            "10.20.0.21",
            [(8080, "java")],
            [
                ("10.20.0.21", 51544, "10.20.0.11", 5432, "java"),
                ("10.20.0.21", 51545, "10.20.0.12", 5432, "java"),
            ],
        ),
    )
    assert app1["connections"]["linked"] == 2  # the scenario needs both links
    web9 = (await ingest(store, host("web9", 9, "10.20.0.99", [(80, "nginx")])))["ci_id"]
    pg = await services.create_service(
        store,
        {
            "name": "pg-prod",
            "owner": "dba",
            "criticality": "high",
            "depends_on": [{"group": {"name": "pg", "min": 1, "members": [db1, db2["ci_id"]]}}],
        },
        "alice",
    )
    app_svc = await services.create_service(
        store,
        {
            "name": "checkout-app",
            "owner": "shop-team",
            "criticality": "high",
            "depends_on": [{"ci": app1["ci_id"]}, {"service": pg["id"]}],
        },
        "alice",
    )
    await services.create_service(
        store,
        {
            "name": "checkout",
            "kind": "business",
            "owner": "sales",
            "criticality": "critical",
            "sla": {"availability": 99.9},
            "depends_on": [{"service": app_svc["id"]}],
        },
        "alice",
    )
    return {"db1": db1, "db2": db2["ci_id"], "app1": app1["ci_id"], "web9": web9}


def services_of(result) -> dict[str, str]:
    return {s["name"]: s["state"] for s in result["services"]}


def cis_of(result) -> dict[str, str]:
    return {c["id"]: c["state"] for c in result["cis"]}


async def test_one_database_node_degrades_everything_above(store):
    c = await ha(store)
    result = await impact(store, [c["db1"]])
    assert services_of(result) == {
        "pg-prod": "degraded",
        "checkout-app": "degraded",
        "checkout": "degraded",
    }
    got = cis_of(result)
    assert got[c["app1"]] == "degraded"  # it still reaches PostgreSQL on db2
    assert c["db2"] not in got  # replicating from db1 does not take the survivor down
    checkout = next(s for s in result["services"] if s["name"] == "checkout")
    assert checkout["owner"] == "sales" and checkout["sla"] == {"availability": 99.9}
    (path,) = checkout["paths"]
    steps = path["steps"]
    assert steps[0]["id"] == c["db1"] and steps[0]["name"] == "db1"
    assert steps[-1]["name"] == "checkout"
    assert all({"id", "class", "name", "state"} <= set(s) for s in steps)
    assert path["kind"] in ("declared", "inferred")
    endpoints = [x for x in result["cis"] if x["class"] == "Endpoint"]
    assert endpoints and all(x["host"] == "db1" for x in endpoints)


async def test_both_database_nodes_take_everything_down(store):
    c = await ha(store)
    result = await impact(store, [c["db1"], c["db2"]])
    assert services_of(result) == {"pg-prod": "down", "checkout-app": "down", "checkout": "down"}
    assert cis_of(result)[c["app1"]] == "down"
    checkout = next(s for s in result["services"] if s["name"] == "checkout")
    assert len(checkout["paths"]) == 2  # one from each failed node
    for path in checkout["paths"]:
        assert {s["state"] for s in path["steps"]} == {"down"}  # explained by failures


async def test_inferred_path_says_so(store):
    c = await ha(store)
    result = await impact(store, [c["db1"], c["db2"]])
    app = next(s for s in result["services"] if s["name"] == "checkout-app")
    # checkout-app is down through pg-prod (declared) and through app1 (inferred)
    assert {p["kind"] for p in app["paths"]} <= {"declared", "inferred"}
    kinds = {s.get("kind") for p in app["paths"] for s in p["steps"]}
    assert "declared" in kinds


async def test_unrelated_host_affects_nothing(store):
    c = await ha(store)
    result = await impact(store, [c["web9"]])
    assert result["services"] == []
    assert {x["class"] for x in result["cis"]} <= {"Host", "Interface", "Endpoint"}
    assert c["app1"] not in cis_of(result) and c["db1"] not in cis_of(result)


async def test_summary_answers_services_and_counts_only(store):
    c = await ha(store)
    result = await impact(store, [c["db1"]], summary=True)
    assert "cis" not in result
    assert result["counts"]["services"] == {"down": 0, "degraded": 3}
    assert result["counts"]["cis"]["degraded"] >= 4
    assert services_of(result)["checkout"] == "degraded"


async def test_a_retired_member_is_not_a_working_member(store):
    """db2 written off in the asset register: db1 alone failing takes pg-prod down, and
    db2 is not reported as impacted."""
    c = await ha(store)
    asset = await assets.create_asset(
        store, {"asset_tag": "A-db2", "ci": c["db2"], "state": "deployed"}, "alice"
    )
    await assets.transition_asset(store, asset["id"], {"state": "retired"}, "alice")
    result = await impact(store, [c["db1"]])
    assert services_of(result)["pg-prod"] == "down"
    assert cis_of(result)[c["app1"]] == "down"  # its other PostgreSQL is gone too


async def test_a_retired_ci_is_not_reported(store):
    c = await ha(store)
    cs = ChangeSet(report_id="retire-app1", source="manual", at="2026-11-20T11:00:00.000Z")
    cs.set_status = [(c["app1"], "retired")]
    await store.apply(cs)
    result = await impact(store, [c["db1"], c["db2"]])
    assert c["app1"] not in cis_of(result)
    assert services_of(result)["checkout"] == "down"  # through pg-prod


async def test_loopback_host_one_endpoint_degrades_two_services(store):
    """One host runs two PostgreSQL instances; its own processes connect to both over
    loopback and its own address. Losing one instance degrades the cluster service and
    what depends on it; the host and its other endpoints keep working."""
    h = await ingest(
        store,
        host(
            "pgbox",
            31,
            "10.20.0.31",
            [(5432, "postgres"), (5433, "postgres"), (22, "sshd"), (8080, "java")],
            [
                ("127.0.0.1", 41000, "127.0.0.1", 5432, "java"),
                ("127.0.0.1", 41001, "127.0.0.1", 5433, "java"),
                ("10.20.0.31", 41002, "10.20.0.31", 5433, "java"),
            ],
        ),
    )
    box = h["ci_id"]
    eps = {
        v.other.name.split(" ")[0]: v.other.id
        for v in await store.relationships(box)
        if v.rel.type == "LISTENS_ON"
    }
    self_links = [v for v in await store.relationships(box) if v.rel.type == "CONNECTS_TO"]
    assert self_links, "the agent's loopback connections must be linked for this test"
    cluster = await services.create_service(
        store,
        {
            "name": "pg-cluster",
            "depends_on": [
                {"group": {"name": "pg", "min": 1, "members": [eps["tcp/5432"], eps["tcp/5433"]]}}
            ],
        },
        "alice",
    )
    await services.create_service(
        store, {"name": "reporting", "depends_on": [{"service": cluster["id"]}]}, "alice"
    )
    for name, dep in (("ssh", eps["tcp/22"]), ("app", eps["tcp/8080"]), ("box", box)):
        await services.create_service(store, {"name": name, "depends_on": [{"ci": dep}]}, "a")
    result = await impact(store, [eps["tcp/5432"]])
    assert services_of(result) == {"pg-cluster": "degraded", "reporting": "degraded"}
    assert box not in cis_of(result)
