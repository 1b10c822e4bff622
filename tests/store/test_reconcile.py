"""Identification and reconciliation rules, each on its own, on both stores."""

from __future__ import annotations

import pytest

from cmdb.server.ingest import Ingestor  # noqa: F401
from tests.reports import ReplayIngestor, agent_report, nic

pytestmark = pytest.mark.asyncio


async def ingest(store, report):
    return await ReplayIngestor(store).ingest(report)


async def hosts(store):
    items, total = await store.list_cis("Host", None, 100, 0)
    return items


async def open_rels(store, ci_id, rel_type):
    return [v for v in await store.relationships(ci_id) if v.rel.type == rel_type]


async def test_same_host_twice_makes_no_duplicate_and_no_history(store):
    first = await ingest(store, agent_report(collected_at="2026-11-28T10:00:00.000Z"))
    _, history_before = await store.history(first["ci_id"], 1, 0)
    second = await ingest(store, agent_report(collected_at="2026-11-28T11:00:00.000Z"))
    assert second["ci_id"] == first["ci_id"]
    assert second["status"] == "unchanged"
    assert second["counts"]["history_entries"] == 0
    assert second["counts"]["cis_created"] == 0
    assert len(await hosts(store)) == 1
    _, history_after = await store.history(first["ci_id"], 1, 0)
    assert history_after == history_before
    host = await store.get_ci(first["ci_id"])
    assert host.last_seen == "2026-11-28T11:00:00.000Z"
    # scoped facts take their last_seen from the source's last full report
    iface = next(v.other for v in await open_rels(store, host.id, "HAS_INTERFACE"))
    assert iface.last_seen == "2026-11-28T11:00:00.000Z"


async def test_resent_report_id_changes_nothing(store):
    report = agent_report()
    first = await ingest(store, report)
    again = await ingest(store, report)
    assert again["status"] == "duplicate"
    assert first["status"] == "applied"
    assert len(await hosts(store)) == 1


async def test_hostname_change_keeps_ci_and_records_rename(store):
    first = await ingest(store, agent_report(hostname="web1"))
    second = await ingest(
        store, agent_report(hostname="web1-new", collected_at="2026-11-28T12:00:00.000Z")
    )
    assert second["ci_id"] == first["ci_id"]
    host = await store.get_ci(first["ci_id"])
    assert host.name == "web1-new"
    entries, _ = await store.history(host.id, 50, 0)
    renames = [e for e in entries if e.field == "hostname"]
    assert len(renames) == 1
    assert (renames[0].old, renames[0].new) == ("web1", "web1-new")
    assert renames[0].report_id == second["report_id"]
    assert len(await hosts(store)) == 1


async def test_replaced_nic_closes_old_interface_relationship(store):
    lo = nic("lo", None, [("127.0.0.1", 8)], kind="loopback")
    old = nic("eno1", "3c:ec:ef:00:00:01", [("10.20.0.5", 24)])
    new = nic("eno2", "3c:ec:ef:00:00:99", [("10.20.0.5", 24)])
    first = await ingest(store, agent_report(interfaces=[lo, old]))
    await ingest(store, agent_report(interfaces=[lo, new], collected_at="2026-11-28T12:00:00.000Z"))
    host_id = first["ci_id"]
    names = sorted(v.other.name for v in await open_rels(store, host_id, "HAS_INTERFACE"))
    assert names == ["eno2", "lo"]
    everything = await store.relationships(host_id, include_ended=True)
    closed = [v for v in everything if v.rel.type == "HAS_INTERFACE" and v.rel.ended_at]
    assert [v.other.name for v in closed] == ["eno1"]
    assert closed[0].rel.ended_at == "2026-11-28T12:00:00.000Z"
    assert closed[0].other.status == "retired"
    entries, _ = await store.history(host_id, 100, 0)
    assert any(
        e.kind == "relationship" and e.field == "HAS_INTERFACE" and e.new is None for e in entries
    )


async def test_relationship_history_comes_from_the_relationships(store):
    """Opening and closing a relationship are history events on both ends, with the report
    that did it; a CI's history pages through them with its own entries, newest first."""
    from cmdb.graph.queries import history_between

    lo = nic("lo", None, [("127.0.0.1", 8)], kind="loopback")
    old = nic("eno1", "3c:ec:ef:00:00:01", [("10.20.0.5", 24)])
    new = nic("eno2", "3c:ec:ef:00:00:99", [("10.20.0.5", 24)])
    first = await ingest(store, agent_report(interfaces=[lo, old], packages=[]))
    later = "2026-11-28T12:00:00.000Z"
    second = await ingest(
        store, agent_report(interfaces=[lo, new], packages=[], collected_at=later)
    )
    assert second["counts"]["history_entries"] >= 2  # an interface closed, one opened
    host_id = first["ci_id"]
    entries, total = await store.history(host_id, 500, 0)
    assert total == len(entries)
    events = [(e.at, e.field, e.old, e.new) for e in entries if e.kind == "relationship"]
    eno1 = next(
        v.other.id for v in await store.relationships(host_id, True) if v.other.name == "eno1"
    )
    eno2 = next(v.other.id for v in await store.relationships(host_id) if v.other.name == "eno2")
    assert (later, "HAS_INTERFACE", {"id": eno1, "name": "eno1"}, None) in events
    assert (later, "HAS_INTERFACE", None, {"id": eno2, "name": "eno2"}) in events
    closing = next(e for e in entries if e.old == {"id": eno1, "name": "eno1"})
    assert (closing.source, closing.report_id) == ("agent", second["report_id"])
    assert [e.at for e in entries] == sorted((e.at for e in entries), reverse=True)
    # the other end sees the same event, from its side: the host, pointing at it
    iface_entries, _ = await store.history(eno1, 50, 0)
    assert any(
        e.old == {"id": host_id, "name": "web1", "direction": "in"} and e.ci_id == eno1
        for e in iface_entries
    )
    # pages of the merged sequence neither repeat nor skip an entry
    paged = []
    for offset in range(0, total, 3):
        page, _ = await store.history(host_id, 3, offset)
        paged += page
    assert [e.to_api() for e in paged] == [e.to_api() for e in entries]
    # and history across all CIs holds them, oldest first
    window = await history_between(store, later, None, ("agent",), 1000)
    assert [e.at for e in window] == sorted(e.at for e in window)
    assert any(e.old == {"id": eno1, "name": "eno1"} for e in window)
    assert all(e.at >= later for e in window)


async def test_vm_clones_sharing_machine_id_stay_two_cis(store):
    shared = "0f0e0d0c0b0a09080706050403020100"
    a = await ingest(
        store,
        agent_report(
            hostname="clone-a",
            machine_id=shared,
            system_uuid="564d8f3a-1111-4e2b-9c1d-aaaaaaaaaaaa",
            serial="VMware-56 4d 8f 3a 11 11",
        ),
    )
    b = await ingest(
        store,
        agent_report(
            hostname="clone-b",
            machine_id=shared,
            system_uuid="564d8f3a-2222-4e2b-9c1d-bbbbbbbbbbbb",
            serial="VMware-56 4d 8f 3a 22 22",
        ),
    )
    assert a["ci_id"] != b["ci_id"]
    assert any("rejected" in line for line in b["identification"])
    assert sorted(h.name for h in await hosts(store)) == ["clone-a", "clone-b"]


async def test_one_read_finds_candidates_of_every_rule(store):
    """Identification reads every rule's candidates at once; each rule answers for itself."""
    shared = "0f0e0d0c0b0a09080706050403020100"
    a = await ingest(store, agent_report(hostname="one", machine_id=shared, serial="SER-A"))
    b = await ingest(
        store,
        agent_report(
            hostname="two",
            machine_id=shared,
            system_uuid="564d8f3a-2222-4e2b-9c1d-bbbbbbbbbbbb",
            serial="SER-B",
        ),
    )
    serial_b = (await store.get_ci(b["ci_id"])).identity["serial_key"]
    found = await store.find_by_identities(
        "Host",
        {"machine_id": shared, "serial_key": serial_b, "system_uuid": "not-there"},
    )
    assert sorted(ci.id for ci in found["machine_id"]) == sorted([a["ci_id"], b["ci_id"]])
    assert [ci.id for ci in found["serial_key"]] == [b["ci_id"]]
    assert "system_uuid" not in found
    assert found["serial_key"][0].identity["machine_id"] == shared
    assert await store.find_by_identities("Host", {}) == {}


@pytest.mark.parametrize(
    "placeholder", ["To be filled by O.E.M.", "Default string", "0", "Not Specified"]
)
async def test_placeholder_serial_is_never_identity(store, placeholder):
    a = await ingest(
        store,
        agent_report(
            hostname="box-a",
            system_uuid="00000000-0000-0000-0000-000000000000",
            serial=placeholder,
            manufacturer="To be filled by O.E.M.",
            machine_id="aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa1",
        ),
    )
    b = await ingest(
        store,
        agent_report(
            hostname="box-b",
            system_uuid="FFFFFFFF-FFFF-FFFF-FFFF-FFFFFFFFFFFF",
            serial=placeholder,
            manufacturer="To be filled by O.E.M.",
            machine_id="bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb2",
            interfaces=[nic("eth0", "52:54:00:00:00:02", [("10.20.0.6", 24)])],
        ),
    )
    assert a["ci_id"] != b["ci_id"]
    host = await store.get_ci(a["ci_id"])
    assert "system_uuid" not in host.identity
    assert "serial_key" not in host.identity
    assert host.identity["machine_id"] == "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa1"


async def test_partial_report_closes_nothing(store):
    first = await ingest(store, agent_report(packages=30))
    # the packages section could not be read this time: it is absent, with a note
    second = await ingest(
        store, agent_report(drop=("packages",), collected_at="2026-11-28T12:00:00.000Z")
    )
    assert second["counts"]["relationships_closed"] == 0
    assert len(await open_rels(store, first["ci_id"], "INSTALLED")) == 30
    # a complete section that lost one package closes exactly that one
    third = await ingest(store, agent_report(packages=29, collected_at="2026-11-28T13:00:00.000Z"))
    assert third["counts"]["relationships_closed"] == 1
    assert len(await open_rels(store, first["ci_id"], "INSTALLED")) == 29


async def test_a_report_the_agent_counted_earlier_is_not_applied(store):
    """Order is the agent's sequence (per agent install), not its clock."""
    newer = agent_report(hostname="new-name", collected_at="2026-11-28T12:00:00.000Z")
    older = agent_report(hostname="old-name", collected_at="2026-11-28T12:30:00.000Z")
    newer.update(sequence=5, agent_instance="install-1")
    older.update(sequence=3, agent_instance="install-1")
    await ingest(store, newer)
    late = await ingest(store, older)
    assert late["status"] == "superseded"
    (host,) = await hosts(store)
    assert host.name == "new-name"
    # a reinstalled agent counts from scratch: its reports apply
    fresh = agent_report(hostname="fresh-name", collected_at="2026-11-28T13:00:00.000Z")
    fresh.update(sequence=1, agent_instance="install-2")
    assert (await ingest(store, fresh))["status"] == "applied"


async def test_an_earlier_clock_does_not_make_a_report_late(store):
    """Without a sequence the server's arrival order decides: a clock that went back is
    applied (and stamped no earlier than the report before it)."""
    await ingest(store, agent_report(hostname="new-name", collected_at="2026-11-28T12:00:00.000Z"))
    late = await ingest(
        store, agent_report(hostname="old-name", collected_at="2026-11-28T09:00:00.000Z")
    )
    assert late["status"] == "applied"
    (host,) = await hosts(store)
    assert host.name == "old-name"
    assert host.last_seen == "2026-11-28T12:00:00.000Z"


async def test_software_is_shared_between_hosts(store):
    a = await ingest(store, agent_report(hostname="a", packages=5))
    b = await ingest(
        store,
        agent_report(
            hostname="b",
            system_uuid="4c4c4544-0042-3510-8057-000000000002",
            serial="OTHER2",
            machine_id="22222222222222222222222222222222",
            packages=5,
        ),
    )
    assert a["ci_id"] != b["ci_id"]
    _, total = await store.list_cis("Software", None, 1, 0)
    assert total == 5
    sw = next(v.other for v in await open_rels(store, b["ci_id"], "INSTALLED"))
    installers = [v for v in await store.relationships(sw.id) if v.rel.type == "INSTALLED"]
    assert len(installers) == 2


async def test_loopback_addresses_stay_on_their_host(store):
    a = await ingest(store, agent_report(hostname="a"))
    b = await ingest(
        store,
        agent_report(
            hostname="b",
            system_uuid="4c4c4544-0042-3510-8057-000000000003",
            serial="OTHER3",
            machine_id="33333333333333333333333333333333",
        ),
    )
    loopbacks, _ = await store.list_cis("IPAddress", "127.0.0.1", 10, 0)
    assert len(loopbacks) == 2
    assert {ci.attributes["net_scope"] for ci in loopbacks} == {
        f"host:{a['ci_id']}",
        f"host:{b['ci_id']}",
    }


async def test_endpoint_merges_ipv4_and_ipv6_listeners(store):
    result = await ingest(store, agent_report())
    (endpoint,) = [v.other for v in await open_rels(store, result["ci_id"], "LISTENS_ON")]
    assert endpoint.attributes["port"] == 22
    assert endpoint.attributes["addresses"] == ["0.0.0.0", "::"]
    assert endpoint.attributes["process"] == "sshd"


async def test_dependencies_are_depth_bounded_and_cycle_safe(store):
    result = await ingest(store, agent_report(packages=3))
    host_id = result["ci_id"]
    walk = await store.traverse([host_id], "down", 1)
    depths = {d for _, d in walk.nodes.values()}
    assert depths == {0, 1}
    deep = await store.traverse([host_id], "down", 6)
    classes = {ci.cls for ci, _ in deep.nodes.values()}
    assert {"Host", "Interface", "IPAddress", "Network", "Software", "Endpoint"} <= classes
    # walking both ways from a leaf comes back to the host without looping forever
    sw = next(v.other for v in await open_rels(store, host_id, "INSTALLED"))
    both = await store.traverse([sw.id], "both", 8)
    assert host_id in both.nodes
    assert both.nodes[host_id][1] == 1


async def test_scope_can_be_read_for_some_relationship_types(store):
    first = await ingest(store, agent_report())
    scope = f"agent:{first['ci_id']}"
    everything = await store.load_scope(scope)
    interfaces = await store.load_scope(scope, ("HAS_INTERFACE",))
    assert {r.type for r in everything.rels} > {"HAS_INTERFACE"}
    assert {r.type for r in interfaces.rels} == {"HAS_INTERFACE"}
    assert sorted(r.id for r in interfaces.rels) == sorted(
        r.id for r in everything.rels if r.type == "HAS_INTERFACE"
    )
    assert sorted(c.id for c in interfaces.cis) == sorted(c.id for c in everything.cis)
    # shared CIs are those the chosen relationships point at
    assert not {c.cls for c in interfaces.linked} & {"Software"}
    assert (await store.load_scope(scope, ("NOT_A_TYPE",))).rels == []
