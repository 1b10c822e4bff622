"""Change review rules on both stores, from real agent reports: a verdict on what discovery
saw in a change's window (package changes counted, not listed), unauthorized relationship
changes in words, the combined risk of overlapping approved changes, and no self-approval."""

from __future__ import annotations

import json

import pytest

from cmdb.server.catalogue import CatalogueError, changes, services
from tests.reports import ReplayIngestor, agent_report, nic

pytestmark = pytest.mark.asyncio

T0 = "2026-11-20T10:00:00.000Z"
T1 = "2026-11-21T10:00:00.000Z"
WINDOW = {"start": "2026-11-21T08:00:00Z", "end": "2026-11-21T12:00:00Z"}


def packages(n: int, version: str = "1.0") -> list[dict]:
    return [
        {"name": f"lib{i}", "version": version, "architecture": "amd64", "manager": "dpkg"}
        for i in range(n)
    ]


def host(name, n, ip, ports, pkgs, at):
    return agent_report(
        hostname=name,
        system_uuid=f"4c4c4544-0042-3510-8057-b4c04f4a4d{n:02d}",
        machine_id=f"5f2d0c7a9b1e4d3c8a6f0e1d2c3b4a{n:02d}",
        serial=f"SER{n:04d}",
        interfaces=[nic("eth0", f"52:54:00:00:00:{n:02x}", [(ip, 24)])],
        packages=pkgs,
        listening=[
            {"protocol": "tcp", "address": "0.0.0.0", "port": p, "pid": 100 + p, "process": proc}
            for p, proc in ports
        ],
        collected_at=at,
    )


async def ingest(store, report):
    return (await ReplayIngestor(store).ingest(report))["ci_id"]


async def fleet(store):
    """db1, db2 (pg, min 1, behind orders-db and shop) and web9, each with 40 packages."""
    ids = {
        "db1": await ingest(
            store, host("db1", 1, "10.20.0.11", [(5432, "postgres")], packages(40), T0)
        ),
        "db2": await ingest(
            store, host("db2", 2, "10.20.0.12", [(5432, "postgres")], packages(40), T0)
        ),
        "web9": await ingest(
            store, host("web9", 9, "10.20.0.99", [(80, "nginx")], packages(40), T0)
        ),
    }
    orders = await services.create_service(
        store,
        {
            "name": "orders-db",
            "criticality": "high",
            "depends_on": [
                {"group": {"name": "pg", "min": 1, "members": [ids["db1"], ids["db2"]]}}
            ],
        },
        "alice",
    )
    await services.create_service(
        store, {"name": "shop", "depends_on": [{"service": orders["id"]}]}, "alice"
    )
    return ids


async def approved_change(store, title, cis, requester="alice", approver="bob", **extra):
    change = await changes.create_change(
        store, {"title": title, "cis": cis, "window": WINDOW, **extra}, requester
    )
    await changes.transition_change(store, change["id"], {"state": "assessed"}, approver)
    return await changes.transition_change(store, change["id"], {"state": "approved"}, approver)


# ---------------------------------------------------------------- verify
async def test_verify_gives_a_verdict_and_counts_packages(store):
    ids = await fleet(store)
    patch = await approved_change(
        store, "upgrade db1", [ids["db1"]], expected=[{"package": "*"}, {"port": 9187}]
    )
    quiet = await approved_change(store, "tune db2", [ids["db2"]])
    # db1 upgrades 30 packages, drops 10, installs 2 and opens the exporter port
    upgraded = packages(30, "1.1") + [
        {"name": f"new{i}", "version": "2", "architecture": "amd64", "manager": "dpkg"}
        for i in range(2)
    ]
    await ingest(
        store,
        host("db1", 1, "10.20.0.11", [(5432, "postgres"), (9187, "exporter")], upgraded, T1),
    )

    seen = await changes.verification(store, patch["id"])
    assert seen["verdict"] == "expected_changes_seen", seen["text"]
    (item,) = seen["items"]
    assert item["ci"]["name"] == "db1"
    (pkg,) = item["packages"]
    assert (pkg["total"], pkg["upgraded"], pkg["installed"], pkg["removed"]) == (42, 30, 2, 10)
    assert "list" not in pkg and len(pkg["examples"]["upgraded"]) == 5
    assert any("new listening port" in c["text"] and "9187" in c["text"] for c in item["changes"])
    # the answer fits on a screen: no row per package unless asked for
    assert len(json.dumps(seen)) < 6000
    full = await changes.verification(store, patch["id"], packages=True)
    rows = full["items"][0]["packages"][0]["list"]
    assert len(rows) == 42
    assert {"name": "lib3", "arch": "amd64", "change": "upgraded", "old": "1.0", "new": "1.1"} in [
        {k: r[k] for k in ("name", "arch", "change", "old", "new")} for r in rows
    ]

    nothing = await changes.verification(store, quiet["id"])
    assert nothing["verdict"] == "nothing_changed"
    assert nothing["not_reported"] == ["db2"] and "no report" in nothing["text"]


async def test_verify_flags_changes_nobody_expected(store):
    ids = await fleet(store)
    change = await approved_change(
        store, "open exporter", [ids["db1"]], expected=[{"port": 9187}, {"attribute": "kernel"}]
    )
    await ingest(
        store,
        host("db1", 1, "10.20.0.11", [(5432, "postgres"), (9187, "x")], packages(39), T1),
    )
    result = await changes.verification(store, change["id"])
    assert result["verdict"] == "unexpected_changes"
    (removed,) = [u for u in result["unexpected"] if u["kind"] == "packages"]
    assert removed["removed"] == 1 and removed["ci"]["name"] == "db1"
    assert result["missing"] == [{"attribute": "kernel"}]


# ---------------------------------------------------------------- unauthorized
async def test_unauthorized_names_relationship_changes(store):
    ids = await fleet(store)
    await approved_change(store, "db1 work", [ids["db1"]])
    # web9, with no change record: port 80 closed, 443 opened, 5 packages upgraded
    pkgs = packages(5, "9.9") + packages(40)[5:]
    await ingest(store, host("web9", 9, "10.20.0.99", [(443, "nginx")], pkgs, T1))
    await ingest(store, host("db1", 1, "10.20.0.11", [(5433, "pg")], packages(40), T1))
    items = await changes.unauthorized(store, "2026-11-21T00:00:00.000Z", None)
    texts = [i["text"] for i in items]
    assert "web9: new listening port web9 tcp/443 (nginx)" in texts
    assert "web9: closed listening port web9 tcp/80 (nginx)" in texts
    (pkg,) = [i for i in items if i["kind"] == "packages"]
    assert pkg["ci"]["name"] == "web9" and pkg["upgraded"] == 5 and pkg["total"] == 5
    assert all(i["ci"].get("name") for i in items)  # names, never ids alone
    opened = next(i for i in items if "tcp/443" in i["text"])
    assert opened["other"]["host"] == "web9" and opened["new"] == "web9 tcp/443 (nginx)"
    assert not any(i["ci"]["id"] == ids["db1"] for i in items)  # covered by its change


# ---------------------------------------------------------------- approval
async def test_overlapping_changes_that_take_a_group_down_are_flagged(store):
    ids = await fleet(store)
    first = await approved_change(store, "patch db1", [ids["db1"]])
    assert first["approval_warnings"] == [] and first["approved_by"] == "bob"
    second = await approved_change(store, "patch db2", [ids["db2"]], requester="carol")
    (warning,) = second["approval_warnings"]
    assert warning["change"]["id"] == first["id"]
    worse = {w["name"]: w for w in warning["worse_together"]}
    assert worse["orders-db"]["together"] == "down"
    assert worse["orders-db"]["this_change"] == worse["orders-db"]["other_change"] == "degraded"
    assert worse["pg"]["class"] == "RedundancyGroup" and worse["pg"]["together"] == "down"
    assert "orders-db down" in warning["message"]
    # recorded in the change, for the CAB
    stored = await changes.change_record(store, await changes.get_change(store, second["id"]))
    assert stored["approval_warnings"][0]["change"]["id"] == first["id"]
    # a change on an unrelated host overlapping both: nothing combines
    other = await approved_change(store, "web9 work", [ids["web9"]])
    assert other["approval_warnings"] == []


async def test_requester_cannot_approve_their_own_change(store):
    ids = await fleet(store)
    change = await changes.create_change(
        store, {"title": "mine", "cis": [ids["web9"]], "window": WINDOW}, "carol"
    )
    await changes.transition_change(store, change["id"], {"state": "assessed"}, "carol")
    with pytest.raises(CatalogueError) as err:
        await changes.transition_change(store, change["id"], {"state": "approved"}, "carol")
    assert err.value.status == 403 and "carol requested" in err.value.message
    assert (await changes.get_change(store, change["id"])).attributes["state"] == "assessed"
    done = await changes.transition_change(
        store, change["id"], {"state": "approved"}, "carol", allow_self_approval=True
    )
    assert done["state"] == "approved" and done["approved_by"] == "carol"
