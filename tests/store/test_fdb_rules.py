"""Layer-2 links from forwarding tables, on both stores (``cmdb.server.reconcile.fdb``): the
bonded-host case replayed through its reports, the rename case's link, and crafted
switch reports for the uplink and edge-only rules."""

from __future__ import annotations

import itertools

import pytest

from cmdb.server.catalogue.impact import impact
from cmdb.server.ingest import Ingestor
from tests.cases import load_case, replay
from tests.reports import agent_report, nic, switch_scan

pytestmark = pytest.mark.asyncio


# ------------------------------------------------------------------ helpers
async def all_of(store, cls: str):
    items, _ = await store.list_cis(cls, None, 1000, 0)
    return [c for c in items if c.status != "retired"]


async def ports(store, ci_id: str) -> dict[str, object]:
    views = await store.relationships(ci_id)
    return {v.other.name: v.other for v in views if v.rel.type == "HAS_INTERFACE"}


async def links_of(store, iface_id: str):
    return [v for v in await store.relationships(iface_id) if v.rel.type == "CONNECTED_TO"]


async def all_links(store) -> set[tuple[str, str, str]]:
    """Every open CONNECTED_TO as (switch port name, host or device name + port, via)."""
    out = set()
    for device in [*await all_of(store, "NetworkDevice")]:
        for name, port in (await ports(store, device.id)).items():
            for view in await links_of(store, port.id):
                far = view.other
                parent = await store.get_ci(far.attributes["parent"])
                out.add(
                    (
                        f"{device.name}/{name}",
                        f"{parent.name}/{far.name}",
                        view.rel.attributes["via"],
                    )
                )
    return out


def port(index: int, name: str, mac: str | None = None) -> dict:
    return {
        "index": index,
        "name": name,
        "descr": name,
        "alias": None,
        "type": "ethernetCsmacd" if not name.startswith("Vl") else "propVirtual",
        "mac": mac,
        "speed_mbps": 1000,
        "mtu": 1500,
        "admin_status": "up",
        "oper_status": "up",
    }


def fdb(mac: str, if_index: int) -> dict:
    return {
        "mac": mac,
        "bridge_port": if_index,
        "if_index": if_index,
        "vlan": 1,
        "status": "learned",
        "source": "dot1qTpFdbTable",
    }


def switch(name: str, host: str, interfaces: list[dict], learned: list[dict], minute: int) -> dict:
    return switch_scan(name, host, f"2026-11-28T10:{minute:02d}:00.000Z", interfaces, learned)


# ------------------------------------------------------------------ the recorded cases
async def test_bonded_bridged_and_vlan_hosts_each_get_their_switch_link(store):
    """host/bond-fdb: one MAC on several interfaces of one host resolves to that host; the
    link goes to its physical NIC (the bond where two slaves carry the MAC)."""
    reports = load_case("bond-fdb")
    await replay(Ingestor(store), reports)
    assert await all_links(store) == {
        ("acc-sw-9/Gi1/0/1", "stor-node-4/bond0", "fdb"),
        ("acc-sw-9/Gi1/0/2", "stor-node-5/eno1", "fdb"),
        ("acc-sw-9/Gi1/0/3", "hv-node-6/eno1", "fdb"),
        ("acc-sw-9/Gi1/0/4", "app-node-7/eno1", "fdb"),
    }
    (sw,) = await all_of(store, "NetworkDevice")
    result = await impact(store, [sw.id])
    down = {c["name"] for c in result["cis"] if c["class"] == "Host" and c["state"] == "down"}
    assert down == {"stor-node-4", "stor-node-5", "hv-node-6", "app-node-7"}


async def test_renamed_host_keeps_its_switch_link(store):
    await replay(Ingestor(store), load_case("rename-snmp-lag"))
    (host,) = await all_of(store, "Host")
    links = [
        v for nic in (await ports(store, host.id)).values() for v in await links_of(store, nic.id)
    ]
    assert len(links) == 1 and links[0].rel.attributes == {"via": "fdb"}


# ------------------------------------------------------------------ crafted rules
HOST_MAC = "52:54:00:aa:00:07"
CORE_VLAN_MAC, EDGE_VLAN_MAC = "02:a1:00:00:00:ff", "02:a2:00:00:00:ff"


def core_report(minute: int) -> dict:
    return switch(
        "core-1",
        "10.0.0.1",
        [
            port(7, "Gi0/7", "02:a1:00:00:00:07"),
            port(24, "Gi0/24", "02:a1:00:00:00:18"),
            port(100, "Vl1", CORE_VLAN_MAC),
        ],
        [fdb(HOST_MAC, 7), fdb(EDGE_VLAN_MAC, 24)],
        minute,
    )


def edge_report(minute: int) -> dict:
    """The edge's uplink learned only two MACs, the host's and the core's."""
    return switch(
        "edge-1",
        "10.0.0.2",
        [
            port(1, "Gi0/1", "02:a2:00:00:00:01"),
            port(2, "Gi0/2", "02:a2:00:00:00:02"),
            port(100, "Vl1", EDGE_VLAN_MAC),
        ],
        [fdb(HOST_MAC, 1), fdb(CORE_VLAN_MAC, 1)],
        minute,
    )


@pytest.mark.parametrize("order", list(itertools.permutations(["core", "edge"])))
async def test_host_is_linked_only_at_the_edge_port_whatever_the_scan_order(store, order):
    ingest = Ingestor(store)
    await ingest.ingest(
        agent_report(hostname="db7", interfaces=[nic("eth0", HOST_MAC, [("10.0.0.7", 24)])])
    )
    made = {"core": core_report, "edge": edge_report}
    for minute, which in enumerate(order, 1):
        await ingest.ingest(made[which](minute))
    assert await all_links(store) == {("core-1/Gi0/7", "db7/eth0", "fdb")}
    # a rescan of both changes nothing
    for minute, which in enumerate(order, 10):
        await ingest.ingest(made[which](minute))
    assert await all_links(store) == {("core-1/Gi0/7", "db7/eth0", "fdb")}


async def test_a_port_that_learned_a_network_devices_mac_is_an_uplink(store):
    ingest = Ingestor(store)
    await ingest.ingest(
        agent_report(hostname="db7", interfaces=[nic("eth0", HOST_MAC, [("10.0.0.7", 24)])])
    )
    await ingest.ingest(core_report(1))
    # the edge's port 2 learned a host MAC and the core's port MAC (not its VLAN MAC)
    edge = edge_report(2)
    edge["sections"]["fdb"] = [fdb(HOST_MAC, 2), fdb("02:a1:00:00:00:18", 2)]
    await ingest.ingest(edge)
    links = await all_links(store)
    assert not any(a.startswith("edge-1/") for a, _, _ in links)


async def test_clones_sharing_a_mac_get_no_link(store):
    ingest = Ingestor(store)
    await ingest.ingest(
        agent_report(hostname="a", interfaces=[nic("eth0", HOST_MAC, [("10.0.0.7", 24)])])
    )
    await ingest.ingest(
        agent_report(
            hostname="b",
            system_uuid="4c4c4544-0000-0000-0000-00000000000b",
            machine_id="0000000000000000000000000000000b",
            serial="B",
            interfaces=[nic("eth0", HOST_MAC, [("10.0.0.8", 24)])],
        )
    )
    await ingest.ingest(core_report(1))
    assert await all_links(store) == set()
