"""SNMP inventories reconciled into the graph, on both stores: recorded real devices
served by snmpsim, this machine's snmpd over SNMPv3 next to a real agent report,
and crafted reports for what the recordings cannot show (FDB access ports,
placeholder completion by sysName + address, scoped closing)."""

from __future__ import annotations

import copy
import shutil
import socket
import uuid
from datetime import UTC, datetime, timedelta

import pytest

from cmdb.collectors.host import collect_report
from cmdb.collectors.model import Report
from cmdb.collectors.snmp.inventory import collect_device
from cmdb.collectors.snmp.session import Credential, open_session
from cmdb.collectors.snmp.sweep import sweep
from cmdb.server.ingest import Ingestor
from deploy.snmpsim import simulator
from tests.reports import agent_report, nic
from tests.snmp.test_recordings import truth, v3

pytestmark = [
    pytest.mark.snmp,
    pytest.mark.skipif(not shutil.which("snmpbulkwalk"), reason="net-snmp tools missing"),
]

NEXUS, PROCURVE = "127.0.1.2", "127.0.1.4"
SCANNED = ["127.0.1.1", NEXUS, "127.0.1.3", PROCURVE, "127.0.1.5", "127.0.1.6", "127.0.1.7"]


# ------------------------------------------------------------------ helpers
async def scan(hosts: list[str], port: int) -> dict[str, dict]:
    results = await sweep(hosts, [Credential(name="public")], timeout=3, retries=1, port=port)
    assert [r.status for r in results] == ["answered"] * len(hosts)
    return {r.host: r.inventory.to_report().to_json() for r in results}


def again(report: dict, minutes: int = 10) -> dict:
    """The same facts as a later report (a new report id and time)."""
    out = copy.deepcopy(report)
    out["report_id"] = str(uuid.uuid4())
    at = datetime.fromisoformat(report["collected_at"].replace("Z", "+00:00"))
    out["collected_at"] = (at + timedelta(minutes=minutes)).isoformat().replace("+00:00", "Z")
    system = out["sections"].get("system")
    if system and system.get("uptime_ticks") is not None:
        system["uptime_ticks"] += minutes * 60 * 100  # recordings freeze sysUpTime
    return out


async def history_count(store) -> int:
    if store.name == "sqlite":
        rows = await store._run(
            lambda: store.conn.execute("SELECT count(*) FROM history").fetchall()
        )
        return rows[0][0]
    rows = await store._query("MATCH (h:HistoryEntry) RETURN count(h) AS n")
    return rows[0]["n"]


async def all_of(store, cls: str, status: str | None = None):
    items, _ = await store.list_cis(cls, None, 1000, 0, status=status)
    return items


async def device_at(store, address: str):
    found = [
        c
        for c in await all_of(store, "NetworkDevice")
        if c.attributes.get("management_ip") == address
    ]
    assert len(found) == 1, [c.name for c in found]
    return found[0]


async def ports(store, ci_id: str) -> dict[str, object]:
    views = await store.relationships(ci_id)
    return {v.other.name: v.other for v in views if v.rel.type == "HAS_INTERFACE"}


async def links_of(store, iface_id: str, include_ended: bool = False):
    views = await store.relationships(iface_id, include_ended=include_ended)
    return [v for v in views if v.rel.type == "CONNECTED_TO"]


def snmp_report(sections: dict, host: str, at: str = "2026-11-28T10:00:00.000Z") -> dict:
    sections = {**sections, "device": {"host": host, "port": 161, "chassis": None}}
    return Report(source="snmp", sections=sections, collected_at=at).to_json()


def system(name: str, descr: str = "Cisco IOS Software, C2960 Software", oid: int = 9) -> dict:
    return {
        "descr": descr,
        "object_id": f"1.3.6.1.4.1.{oid}.1.1",
        "uptime_ticks": 100,
        "contact": None,
        "name": name,
        "location": None,
        "enterprise": oid,
        "vendor": "ciscoSystems" if oid == 9 else None,
    }


def port(index: int, name: str, mac: str | None = None) -> dict:
    return {
        "index": index,
        "name": name,
        "descr": name,
        "alias": None,
        "type": "ethernetCsmacd",
        "mac": mac,
        "speed_mbps": 1000,
        "mtu": 1500,
        "admin_status": "up",
        "oper_status": "up",
    }


def lldp_row(if_index: int, local: str, **remote) -> dict:
    row = {
        "local_port_num": if_index,
        "local_port": local,
        "local_if_index": if_index,
        "chassis_id_subtype": "macAddress",
        "chassis_id": None,
        "port_id_subtype": "interfaceName",
        "port_id": None,
        "port_descr": None,
        "sys_name": None,
        "sys_descr": None,
        "management_addresses": [],
    }
    row.update(remote)
    return row


def fdb(mac: str, if_index: int) -> dict:
    return {
        "mac": mac,
        "bridge_port": if_index,
        "if_index": if_index,
        "vlan": 1,
        "status": "learned",
        "source": "dot1qTpFdbTable",
    }


# ------------------------------------------------------------------ recorded devices
async def test_recorded_devices_become_one_network_device_each(store, snmpsim_devices):
    reports = await scan(SCANNED, snmpsim_devices.port)
    ingest = Ingestor(store)
    for report in reports.values():
        await ingest.ingest(report)
    for host in SCANNED:
        expected = truth(host, snmpsim_devices.port)
        device = await device_at(store, host)
        got = device.attributes
        assert (got.get("sys_name"), got.get("vendor")) == (expected["name"], expected["vendor"])
        assert (got.get("model"), got.get("serial")) == (expected["model"], expected["serial"])
        assert got["placeholder"] is False and device.sources == ["snmp"]
        assert len(await ports(store, device.id)) == expected["interfaces"]

    # a second scan of the same devices: no new CI, no history, the same links
    cis_before = {c.id for cls in ("NetworkDevice", "Interface") for c in await all_of(store, cls)}
    history_before = await history_count(store)
    second = await scan(SCANNED, snmpsim_devices.port)
    for host, report in second.items():
        # ten minutes later; the recordings freeze sysUpTime, a real device's moves on
        later = again(reports[host], minutes=10)
        report["collected_at"] = later["collected_at"]
        report["sections"]["system"]["uptime_ticks"] = later["sections"]["system"]["uptime_ticks"]
        result = await ingest.ingest(report)
        assert result["created"] is False and result["counts"]["cis_created"] == 0
    cis_after = {c.id for cls in ("NetworkDevice", "Interface") for c in await all_of(store, cls)}
    assert cis_after == cis_before
    assert await history_count(store) == history_before


async def test_lldp_and_cdp_neighbours_link_to_placeholders(store, snmpsim_devices):
    reports = await scan([NEXUS], snmpsim_devices.port)
    await Ingestor(store).ingest(reports[NEXUS])
    nexus = await device_at(store, NEXUS)
    placeholders = [
        c for c in await all_of(store, "NetworkDevice") if c.attributes.get("placeholder")
    ]
    names = {c.name for c in placeholders}
    assert {"H3C-1", "H3C-2", "NWPU-CA-5548-02", "NWPU-UCS-FI-A", "NWPU-UCS-FI-B"} <= names
    # the Nexus' peer (LLDP and CDP over mgmt0, Ethernet1/21 and 1/22) is one placeholder
    peer = next(c for c in placeholders if c.name == "NWPU-CA-5548-02")
    assert peer.attributes["lldp_chassis_id"] == "8c:60:4f:19:1b:c1"
    peer_ports = await ports(store, peer.id)
    assert {"mgmt0", "Eth1/21", "Eth1/22"} <= set(peer_ports)
    mine = await ports(store, nexus.id)
    (link,) = await links_of(store, mine["mgmt0"].id)
    assert link.other.id == peer_ports["mgmt0"].id
    assert link.rel.attributes == {"via": "lldp"} and link.rel.scope == f"snmp:{nexus.id}"
    # CDP alone: the UCS fabric interconnects
    fi = next(c for c in placeholders if c.name == "NWPU-UCS-FI-A")
    (fi_link,) = await links_of(store, mine["Ethernet1/23"].id)
    assert fi_link.other.attributes["parent"] == fi.id
    assert fi_link.rel.attributes["via"] in ("lldp", "cdp")


async def test_scanning_a_placeholder_completes_it(store, snmpsim_devices):
    """ProCurve first: it sees the Nexus by LLDP and CDP (``name(serial)``), so the Nexus
    placeholder carries the chassis serial the Nexus' own scan reports: same CI."""
    reports = await scan([PROCURVE, NEXUS], snmpsim_devices.port)
    ingest = Ingestor(store)
    await ingest.ingest(reports[PROCURVE])
    procurve = await device_at(store, PROCURVE)
    (placeholder,) = [
        c for c in await all_of(store, "NetworkDevice") if c.name == "NWPU-CA-5548-01"
    ]
    assert placeholder.attributes["placeholder"] is True
    result = await ingest.ingest(reports[NEXUS])
    assert result["ci_id"] == placeholder.id and result["created"] is False
    nexus = await store.get_ci(placeholder.id)
    assert nexus.attributes["placeholder"] is False
    assert nexus.attributes["serial"] == "SSI183706KP"
    # one link between ProCurve port 17 and Nexus Ethernet1/19, although both report it
    port17 = (await ports(store, procurve.id))["17"]
    links = await links_of(store, port17.id)
    assert [(v.other.name, v.other.attributes["parent"]) for v in links] == [
        ("Ethernet1/19", nexus.id)
    ]
    nexus_ports = await ports(store, nexus.id)
    assert len(await links_of(store, nexus_ports["Ethernet1/19"].id)) == 1
    # the placeholder ports ("Eth1/19" from LLDP) are retired, their links moved
    assert "Eth1/19" not in {n for n, p in nexus_ports.items() if p.status != "retired"}
    assert len(await all_of(store, "NetworkDevice", status="live")) == len(
        [c for c in await all_of(store, "NetworkDevice") if c.status == "live"]
    )


async def test_scanned_neighbour_absorbs_placeholder_it_matches_by_chassis_mac(
    store, snmpsim_devices
):
    """Nexus first: its LLDP names the ProCurve only by chassis MAC and a model string.
    The ProCurve's scan cannot know that MAC as its own identity, so it is a new CI; the
    placeholder (whose chassis id is one of the ProCurve's interface MACs) is retired into
    it and its link moves onto the real port."""
    reports = await scan([NEXUS, PROCURVE], snmpsim_devices.port)
    ingest = Ingestor(store)
    await ingest.ingest(reports[NEXUS])
    (placeholder,) = [
        c
        for c in await all_of(store, "NetworkDevice")
        if c.attributes.get("lldp_chassis_id") == "ac:16:2d:92:7d:21"
    ]
    await ingest.ingest(reports[PROCURVE])
    procurve = await device_at(store, PROCURVE)
    assert (await store.get_ci(placeholder.id)).status == "retired"
    entries, _ = await store.history(placeholder.id, 50, 0)
    assert any(e.field == "merged_into" and e.other_id == procurve.id for e in entries)
    nexus = await device_at(store, NEXUS)
    eth19 = (await ports(store, nexus.id))["Ethernet1/19"]
    (link,) = await links_of(store, eth19.id)
    assert (link.other.name, link.other.attributes["parent"]) == ("17", procurve.id)
    # a rescan of both changes nothing more
    history = await history_count(store)
    await ingest.ingest(again(reports[NEXUS]))
    await ingest.ingest(again(reports[PROCURVE]))
    assert await history_count(store) == history
    assert len(await links_of(store, eth19.id)) == 1


# ------------------------------------------------------------------ crafted reports
async def test_placeholder_found_by_sysname_and_management_address(store):
    ingest = Ingestor(store)
    access = snmp_report(
        {
            "system": system("access-1"),
            "interfaces": [port(1, "Gi0/1", "00:11:22:00:00:01"), port(2, "Gi0/2")],
            "lldp": [
                lldp_row(
                    2,
                    "Gi0/2",
                    chassis_id="00:aa:bb:00:00:01",
                    port_id="Te1/1/1",
                    sys_name="core-1",
                    management_addresses=["10.9.9.9"],
                )
            ],
        },
        host="10.0.0.2",
    )
    await ingest.ingest(access)
    (core,) = [c for c in await all_of(store, "NetworkDevice") if c.name == "core-1"]
    assert core.attributes["placeholder"] is True
    core_report = snmp_report(
        {
            "system": system("core-1"),
            "interfaces": [port(10, "TenGigabitEthernet1/1/1", "00:aa:bb:00:00:10")],
        },
        host="10.9.9.9",
        at="2026-11-28T10:05:00.000Z",
    )
    result = await ingest.ingest(core_report)
    assert result["ci_id"] == core.id
    assert (await store.get_ci(core.id)).attributes["placeholder"] is False
    real = (await ports(store, core.id))["TenGigabitEthernet1/1/1"]
    (link,) = await links_of(store, real.id)
    assert link.other.name == "Gi0/2"
    assert len(await all_of(store, "NetworkDevice")) == 2


async def test_complete_lldp_closes_a_vanished_link_and_partial_closes_nothing(store):
    ingest = Ingestor(store)
    neighbour = lldp_row(
        1, "Gi0/1", chassis_id="00:aa:bb:00:00:02", port_id="Gi0/48", sys_name="dist-1"
    )
    base = {"system": system("edge-1"), "interfaces": [port(1, "Gi0/1")], "lldp": [neighbour]}
    first = snmp_report(base, host="10.0.0.3")
    await ingest.ingest(first)
    edge = await device_at(store, "10.0.0.3")
    gi01 = (await ports(store, edge.id))["Gi0/1"]
    assert len(await links_of(store, gi01.id)) == 1

    partial = again(first)
    del partial["sections"]["lldp"]  # the LLDP walk timed out
    await ingest.ingest(partial)
    assert len(await links_of(store, gi01.id)) == 1

    gone = again(partial)
    gone["sections"]["lldp"] = []  # read completely: nobody there any more
    await ingest.ingest(gone)
    assert await links_of(store, gi01.id) == []
    ended = await links_of(store, gi01.id, include_ended=True)
    assert len(ended) == 1 and ended[0].rel.ended_at is not None


async def test_fdb_links_host_nics_on_access_ports_only(store):
    ingest = Ingestor(store)
    web = agent_report(
        hostname="web7",
        interfaces=[nic("eth0", "52:54:00:00:07:01", [("10.20.0.7", 24)])],
    )
    db = agent_report(
        hostname="db3",
        system_uuid="4c4c4544-0000-0000-0000-000000000003",
        machine_id="11112222333344445555666677778888",
        serial="DB3SERIAL",
        interfaces=[nic("eth0", "52:54:00:00:03:01", [("10.20.0.3", 24)])],
    )
    web_id = (await ingest.ingest(web))["ci_id"]
    db_id = (await ingest.ingest(db))["ci_id"]
    crowd = [f"02:00:00:00:00:{i:02x}" for i in range(5)]
    switch = snmp_report(
        {
            "system": system("acc-sw-1"),
            "interfaces": [port(1, "Gi0/1"), port(2, "Gi0/2"), port(3, "Gi0/3")],
            "fdb": [fdb("52:54:00:00:07:01", 1), fdb("02:00:00:00:00:aa", 1)]
            + [fdb(m, 2) for m in [*crowd, "52:54:00:00:03:01"]]  # 6 MACs: an uplink
            + [fdb("52:54:00:00:03:01", 3)],  # 1 MAC, but LLDP says a switch is there
            "lldp": [lldp_row(3, "Gi0/3", chassis_id="00:aa:bb:00:00:03", port_id="Gi1/0/1")],
        },
        host="10.0.0.4",
    )
    await ingest.ingest(switch)
    sw = await device_at(store, "10.0.0.4")
    sw_ports = await ports(store, sw.id)
    (link,) = await links_of(store, sw_ports["Gi0/1"].id)
    assert link.other.attributes["parent"] == web_id and link.rel.attributes == {"via": "fdb"}
    assert await links_of(store, sw_ports["Gi0/2"].id) == []
    db_eth0 = (await ports(store, db_id))["eth0"]
    assert await links_of(store, db_eth0.id) == []

    # the host moved away: a complete FDB without its MAC closes the link
    moved = again(switch)
    moved["sections"]["fdb"] = [fdb("02:00:00:00:00:aa", 1)]
    await ingest.ingest(moved)
    assert await links_of(store, sw_ports["Gi0/1"].id) == []


# ------------------------------------------------------------------ this machine
@pytest.fixture(scope="module")
def snmpd_hostname(tmp_path_factory):
    """A second snmpd on this machine whose sysName is left at its real hostname, as an
    administrator would (the shared one is renamed for the collector tests)."""
    agent = simulator.V3Agent(host="127.0.0.21", sys_name=socket.gethostname())
    try:
        running = simulator.start_snmpd(agent, cache_root=tmp_path_factory.mktemp("snmpd"))
    except Exception as exc:  # noqa: BLE001 - no snmpd here: skip like the shared fixture
        pytest.skip(f"snmpd could not start: {exc}")
    yield agent
    running.stop()


async def scan_v3(agent) -> dict:
    session = await open_session(agent.host, v3(agent), agent.port, timeout=3)
    inventory = await collect_device(session)
    assert inventory.notes == []
    return inventory.to_report().to_json()


async def test_snmpd_of_this_machine_is_a_host_with_its_software(store, snmpd_v3):
    report = await scan_v3(snmpd_v3)
    result = await Ingestor(store).ingest(report)
    host = await store.get_ci(result["ci_id"])
    assert host.cls == "Host" and host.name == snmpd_v3.sys_name
    installed = [v for v in await store.relationships(host.id) if v.rel.type == "INSTALLED"]
    assert len(installed) == len(report["sections"]["software"]) > 100
    assert await all_of(store, "NetworkDevice") == []


@pytest.mark.parametrize("order", ["agent-first", "snmp-first"])
async def test_agent_and_snmp_view_of_this_machine_are_one_host(store, snmpd_hostname, order):
    agent = collect_report().to_json()
    agent["collected_at"] = (datetime.now(UTC) - timedelta(minutes=5)).isoformat()
    snmp = await scan_v3(snmpd_hostname)
    ingest = Ingestor(store)
    first, second = (agent, snmp) if order == "agent-first" else (snmp, agent)
    a = await ingest.ingest(first)
    b = await ingest.ingest(second)
    assert a["ci_id"] == b["ci_id"]
    (host,) = await all_of(store, "Host")
    assert sorted(host.sources) == ["agent", "snmp"]
    assert host.attributes["management_ip"] == snmpd_hostname.host
    # interfaces by name are shared too: one eth0, not an agent one and an SNMP one
    names = [
        v.other.name for v in await store.relationships(host.id) if v.rel.type == "HAS_INTERFACE"
    ]
    assert len(names) == len(set(names))
    again_snmp = await scan_v3(snmpd_hostname)
    assert (await ingest.ingest(again_snmp))["ci_id"] == host.id
    assert len(await all_of(store, "Host")) == 1
