"""Observed connections whose target had not reported yet, on both stores (issue 13, item
2): the connection is kept pending and linked as soon as the target's own report arrives,
with the same answer as if the client had reported after the target."""

from __future__ import annotations

from datetime import timedelta

import pytest

from cmdb.graph import times
from cmdb.server.catalogue.impact import impact
from tests.store.test_catalogue import T0, T1, T2, host, ingest, rels

pytestmark = pytest.mark.asyncio

LONG_AGO = "2026-11-01T00:00:00.000Z"  # before every report here: no row is that stale
# the answer of a report whose own connections section is empty
NONE_OWN = {"linked": 0, "unresolved": 0, "ambiguous": 0}


def later(at: str, **delta: float) -> str:
    return times.to_store(times.parse_instant(at) + timedelta(**delta))


def to_db(address: str, process: str = "java", port: int = 5432) -> tuple:
    return ("10.20.0.21", 51544, address, port, process)


async def link_view(store, client_id):
    (view,) = await rels(store, client_id, "CONNECTS_TO")
    return view


async def test_target_reporting_after_the_client_links_at_once(store):
    # order 1: the client first, its target afterwards
    app = await ingest(store, host("app1", 3, "10.20.0.21", [], [to_db("10.20.0.11")], at=T0))
    assert app["connections"] == {"linked": 0, "unresolved": 1, "ambiguous": 0}
    assert await rels(store, app["ci_id"], "CONNECTS_TO") == []
    pending = await store.pending_connections(["10.20.0.11"], LONG_AGO)
    assert [(p.client, p.address, p.port, p.process) for p in pending] == [
        (app["ci_id"], "10.20.0.11", 5432, "java")
    ]
    db = await ingest(store, host("db1", 1, "10.20.0.11", [(5432, "postgres")], at=T1))
    assert db["connections"] == {**NONE_OWN, "clients_linked": 1}
    late = await link_view(store, app["ci_id"])  # no new report of app1

    # order 2 (the reference): the target first, then its client
    ref_db = await ingest(store, host("db2", 2, "10.20.0.12", [(5432, "postgres")], at=T0))
    ref_app = await ingest(store, host("app2", 4, "10.20.0.22", [], [to_db("10.20.0.12")], at=T1))
    assert ref_app["connections"] == {"linked": 1, "unresolved": 0, "ambiguous": 0}
    ref = await link_view(store, ref_app["ci_id"])

    for view, target in ((late, db["ci_id"]), (ref, ref_db["ci_id"])):
        assert view.other.cls == "Endpoint" and view.other.attributes["port"] == 5432
        assert view.other.attributes["host"] == target
    assert late.rel.attributes == ref.rel.attributes == {"observations": 1, "process": "java"}
    assert late.rel.sources == ref.rel.sources == ["agent"]
    assert (late.rel.first_seen, late.rel.last_seen) == (ref.rel.first_seen, ref.rel.last_seen)
    assert late.rel.first_seen == T1
    assert late.rel.scope == f"connections:{app['ci_id']}"

    # history: opened by the target's report; the client's report that observed it is named
    entries, _ = await store.history(app["ci_id"], 50, 0)
    (opened,) = [e for e in entries if e.kind == "relationship" and e.field == "CONNECTS_TO"]
    assert opened.new is not None and opened.report_id == db["report_id"]
    assert opened.other_id == late.other.id
    (seen,) = [e for e in entries if e.kind == "observation"]
    assert seen.report_id == db["report_id"] and seen.other_id == late.other.id
    assert seen.new["observed_by"] == app["report_id"] and seen.new["observed_at"] == T0
    assert (seen.new["address"], seen.new["port"]) == ("10.20.0.11", 5432)

    # the client's next report finds the link, as if it had been made by its own report
    again = await ingest(store, host("app1", 3, "10.20.0.21", [], [to_db("10.20.0.11")], at=T2))
    assert again["connections"] == {"linked": 1, "unresolved": 0, "ambiguous": 0}
    view = await link_view(store, app["ci_id"])
    assert view.rel.id == late.rel.id and view.rel.attributes["observations"] == 2
    assert await store.pending_connections(["10.20.0.11"], LONG_AGO) == []


async def test_impact_of_a_late_target_reaches_the_client_with_redundancy(store):
    conns = [to_db("10.20.0.11"), ("10.20.0.21", 51545, "10.20.0.12", 5432, "java")]
    app = await ingest(store, host("app1", 3, "10.20.0.21", [(8080, "java")], conns, at=T0))
    assert app["connections"] == {"linked": 0, "unresolved": 2, "ambiguous": 0}
    db1 = await ingest(store, host("db1", 1, "10.20.0.11", [(5432, "postgres")], at=T1))
    db2 = await ingest(store, host("db2", 2, "10.20.0.12", [(5432, "postgres")], at=T1))
    assert db1["connections"] == db2["connections"] == {**NONE_OWN, "clients_linked": 1}
    assert len(await rels(store, app["ci_id"], "CONNECTS_TO")) == 2
    # the two PostgreSQL endpoints app1 reaches form an implicit group that needs one
    one = await impact(store, [db1["ci_id"]])
    assert {c["id"]: c["state"] for c in one["cis"]}[app["ci_id"]] == "degraded"
    both = await impact(store, [db1["ci_id"], db2["ci_id"]])
    assert {c["id"]: c["state"] for c in both["cis"]}[app["ci_id"]] == "down"


async def test_the_clients_next_report_replaces_its_pending_set(store):
    app = await ingest(store, host("app1", 3, "10.20.0.21", [], [to_db("10.20.0.11")], at=T0))
    assert len(await store.pending_connections(["10.20.0.11"], LONG_AGO)) == 1
    # the connection is gone from the next report: nothing is pending any more
    await ingest(store, host("app1", 3, "10.20.0.21", [], [], at=T1))
    assert await store.pending_connections(["10.20.0.11"], LONG_AGO) == []
    db = await ingest(store, host("db1", 1, "10.20.0.11", [(5432, "postgres")], at=T2))
    assert db["connections"] == NONE_OWN
    assert await rels(store, app["ci_id"], "CONNECTS_TO") == []


async def test_a_linked_connection_closes_after_the_window_like_any_other(store):
    app = await ingest(store, host("app1", 3, "10.20.0.21", [], [to_db("10.20.0.11")], at=T0))
    await ingest(store, host("db1", 1, "10.20.0.11", [(5432, "postgres")], at=T1))
    # transient: a report without it keeps the link open within the window ...
    await ingest(store, host("app1", 3, "10.20.0.21", [], [], at=T2))
    assert len(await rels(store, app["ci_id"], "CONNECTS_TO")) == 1
    # ... and closes it when no report of app1 has seen it for the window
    end = later(T1, days=8)
    await ingest(store, host("app1", 3, "10.20.0.21", [], [], at=end))
    assert await rels(store, app["ci_id"], "CONNECTS_TO") == []
    (closed,) = await rels(store, app["ci_id"], "CONNECTS_TO", include_ended=True)
    assert closed.rel.ended_at == end


async def test_a_target_not_listening_there_yet_links_when_it_does(store):
    app = await ingest(store, host("app1", 3, "10.20.0.21", [], [to_db("10.20.0.11")], at=T0))
    # db1 holds the address but PostgreSQL is not up: still pending
    db = await ingest(store, host("db1", 1, "10.20.0.11", [(22, "sshd")], at=T1))
    assert db["connections"] == NONE_OWN
    assert await rels(store, app["ci_id"], "CONNECTS_TO") == []
    assert len(await store.pending_connections(["10.20.0.11"], LONG_AGO)) == 1
    db = await ingest(store, host("db1", 1, "10.20.0.11", [(22, "sshd"), (5432, "pg")], at=T2))
    assert db["connections"] == {**NONE_OWN, "clients_linked": 1}
    assert (await link_view(store, app["ci_id"])).other.attributes["host"] == db["ci_id"]


async def test_an_address_nobody_holds_stays_pending_and_harmless(store):
    conns = [to_db("192.0.2.7", port=443), ("127.0.0.1", 40001, "127.0.0.1", 6379, "java")]
    app = await ingest(store, host("app1", 3, "10.20.0.21", [], conns, at=T0))
    # loopback to a port app1 does not listen on: unresolved, but never pending
    assert app["connections"] == {"linked": 0, "unresolved": 2, "ambiguous": 0}
    assert await store.pending_connections(["127.0.0.1"], LONG_AGO) == []
    for n, at in ((1, T1), (2, T1)):
        other = await ingest(store, host(f"db{n}", n, f"10.20.0.1{n}", [(443, "nginx")], at=at))
        assert other["connections"] == NONE_OWN
    (row,) = await store.pending_connections(["192.0.2.7"], LONG_AGO)
    assert (row.client, row.port, row.first_report) == (app["ci_id"], 443, app["report_id"])
    again = await ingest(store, host("app1", 3, "10.20.0.21", [], conns, at=T2))
    assert again["connections"] == {"linked": 0, "unresolved": 2, "ambiguous": 0}
    (row,) = await store.pending_connections(["192.0.2.7"], LONG_AGO)
    # still the first observation, confirmed by the latest report
    assert (row.first_report, row.first_at) == (app["report_id"], T0)
    assert (row.seen_report, row.seen_at) == (again["report_id"], T2)
    assert await rels(store, app["ci_id"], "CONNECTS_TO") == []
    entries, _ = await store.history(app["ci_id"], 100, 0)
    assert not [e for e in entries if e.kind == "observation"]


async def test_a_pending_observation_older_than_the_window_links_nothing(store):
    app = await ingest(store, host("app1", 3, "10.20.0.21", [], [to_db("10.20.0.11")], at=T0))
    late = later(T0, days=8)
    db = await ingest(store, host("db1", 1, "10.20.0.11", [(5432, "postgres")], at=late))
    assert db["connections"] == NONE_OWN
    assert await rels(store, app["ci_id"], "CONNECTS_TO") == []
    # another client's report drops every stale row
    await ingest(store, host("app2", 4, "10.20.0.22", [], [], at=late))
    assert await store.pending_connections(["10.20.0.11"], LONG_AGO) == []


async def test_a_host_never_links_to_itself_through_its_own_pending_row(store):
    # app1 reaches an address nobody holds; later app1 itself takes the address and listens
    # there, in a report without connections: the kernel would deliver it locally, so its
    # own pending row links nothing
    app = await ingest(store, host("app1", 3, "10.20.0.21", [], [to_db("10.20.0.11")], at=T0))
    report = host("app1", 3, "10.20.0.11", [(5432, "pg")], at=T1)
    del report["sections"]["connections"]
    again = await ingest(store, report)
    assert again["ci_id"] == app["ci_id"] and "connections" not in again
    assert await rels(store, app["ci_id"], "CONNECTS_TO") == []


async def test_a_target_report_without_its_interfaces_uses_the_stored_addresses(store):
    app = await ingest(store, host("app1", 3, "10.20.0.21", [], [to_db("10.20.0.11")], at=T0))
    await ingest(store, host("db1", 1, "10.20.0.11", [(22, "sshd")], at=T1))
    # the next report of db1 leaves its interfaces out; the store knows its address
    report = host("db1", 1, "10.20.0.11", [(22, "sshd"), (5432, "postgres")], at=T2)
    del report["sections"]["interfaces"]
    db = await ingest(store, report)
    assert db["connections"] == {**NONE_OWN, "clients_linked": 1}
    assert (await link_view(store, app["ci_id"])).other.attributes["host"] == db["ci_id"]
