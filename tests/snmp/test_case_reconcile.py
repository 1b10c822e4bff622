"""The SNMP failure cases of ``tests/fixtures/cases/snmp`` collected as a scan collects
them (``tests.snmp.cases.scan_case``) and reconciled on both stores, each with the right
answer of the cases' README; order-dependent cases run in every order."""

from __future__ import annotations

import copy
import itertools
import shutil
import uuid
from datetime import UTC, datetime, timedelta

import pytest

from cmdb.server.ingest import Ingestor
from tests.snmp.cases import scan_case

pytestmark = [
    pytest.mark.snmp,
    pytest.mark.skipif(not shutil.which("snmpbulkwalk"), reason="net-snmp tools missing"),
]

_SCANS: dict[str, dict[str, dict]] = {}


async def case(snmp_cases, name: str) -> dict[str, dict]:
    """The case's reports (collected once per session; each use gets fresh copies)."""
    if name not in _SCANS:
        _SCANS[name] = await scan_case(snmp_cases, name)
    return copy.deepcopy(_SCANS[name])


def in_order(reports: dict[str, dict], order: list[str]) -> list[dict]:
    """The reports of ``order``, with fresh ids and times one minute apart."""
    start = datetime.now(UTC) - timedelta(minutes=len(order) + 1)
    out = []
    for minute, device in enumerate(order):
        report = copy.deepcopy(reports[device])
        report["report_id"] = str(uuid.uuid4())
        at = start + timedelta(minutes=minute)
        report["collected_at"] = at.isoformat(timespec="milliseconds").replace("+00:00", "Z")
        out.append(report)
    return out


async def ingest_all(store, reports: list[dict]) -> list[dict]:
    ingest = Ingestor(store)
    return [await ingest.ingest(r) for r in reports]


async def live(store, cls: str):
    items, _ = await store.list_cis(cls, None, 1000, 0)
    return [c for c in items if c.status != "retired"]


async def ports(store, ci_id: str) -> dict[str, object]:
    views = await store.relationships(ci_id)
    return {
        v.other.name: v.other
        for v in views
        if v.rel.type == "HAS_INTERFACE" and v.other.status != "retired"
    }


async def links(store) -> set[tuple[str, str]]:
    """Every open CONNECTED_TO as a sorted pair of ``device/port``."""
    out = set()
    for device in await live(store, "NetworkDevice") + await live(store, "Host"):
        for name, nic in (await ports(store, device.id)).items():
            for view in await store.relationships(nic.id):
                if view.rel.type != "CONNECTED_TO":
                    continue
                far = view.other
                parent = await store.get_ci(far.attributes["parent"])
                out.add(tuple(sorted((f"{device.name}/{name}", f"{parent.name}/{far.name}"))))
    return out


# ------------------------------------------------------------------ identity
async def test_empty_sysname_is_a_device_named_by_its_address(store, snmp_cases):
    reports = await case(snmp_cases, "empty-sysname")
    first, second = in_order(reports, ["dev", "dev"])
    a, b = await ingest_all(store, [first, second])
    assert a["ci_id"] == b["ci_id"]
    (device,) = await live(store, "NetworkDevice")
    address = snmp_cases.addresses("empty-sysname")["dev"]
    assert device.name == address and device.attributes.get("sys_name") is None
    assert set(await ports(store, device.id)) == {"port1", "port2", "vlan1"}


async def test_stack_keeps_every_members_serial_and_model(store, snmp_cases):
    reports = await case(snmp_cases, "stack-serials")
    await ingest_all(store, in_order(reports, ["dev"]))
    (device,) = await live(store, "NetworkDevice")
    assert device.attributes["members"] == [
        {"member": 1, "serial": "STK1000AAA", "model": "ACM-2448"},
        {"member": 2, "serial": "STK2000BBB", "model": "ACM-2448"},
    ]


# ------------------------------------------------------------------ neighbours
@pytest.mark.parametrize("order", [["north", "south"], ["south", "north"]])
async def test_lldp_without_management_address_and_fqdn_names(store, snmp_cases, order):
    reports = await case(snmp_cases, "lldp-no-mgmt-fqdn")
    await ingest_all(store, in_order(reports, order))
    devices = await live(store, "NetworkDevice")
    assert sorted(d.name for d in devices) == ["sw-north", "sw-south"]
    assert not any(d.attributes.get("placeholder") for d in devices)
    assert await links(store) == {("sw-north/Gi0/4", "sw-south/Gi0/1")}


@pytest.mark.parametrize("order", [["gamma", "delta"], ["delta", "gamma"]])
async def test_lldp_local_port_is_a_bridge_port(store, snmp_cases, order):
    reports = await case(snmp_cases, "lldp-localport-bridgeport")
    await ingest_all(store, in_order(reports, order))
    assert await links(store) == {("sw-delta/Gi0/1", "sw-gamma/Gi1/0/3")}
    assert sorted(d.name for d in await live(store, "NetworkDevice")) == ["sw-delta", "sw-gamma"]


async def test_cdp_neighbours_advertising_zero_address_stay_two(store, snmp_cases):
    reports = await case(snmp_cases, "cdp-zero-address")
    await ingest_all(store, in_order(reports, ["dev"]))
    devices = {d.name: d for d in await live(store, "NetworkDevice")}
    assert set(devices) == {"rt-core", "edge-a", "edge-b"}
    for name in ("edge-a", "edge-b"):
        device = await store.get_ci(devices[name].id)
        assert device.attributes.get("management_ip") is None
        assert "identity_address" not in device.identity
    assert await links(store) == {
        ("edge-a/GigabitEthernet0/24", "rt-core/Gi0/1"),
        ("edge-b/GigabitEthernet0/24", "rt-core/Gi0/2"),
    }
    addresses = {c.attributes["address"] for c in await live(store, "IPAddress")}
    assert "0.0.0.0" not in addresses


# ------------------------------------------------------------------ forwarding tables
@pytest.mark.parametrize("order", list(itertools.permutations(["core", "edge"])))
async def test_fdb_uplink_with_few_macs_is_no_host_link(store, snmp_cases, order):
    reports = await case(snmp_cases, "fdb-uplink-few-macs")
    await ingest_all(store, in_order(reports, ["host", *order]))
    assert await links(store) == {("db-07/eth0", "sw-core/Gi0/7")}


async def test_address_table_stepping_backwards_keeps_the_ipv4_address(store, snmp_cases):
    reports = await case(snmp_cases, "ipaddresstable-backwards")
    await ingest_all(store, in_order(reports, ["dev"]))
    (device,) = await live(store, "NetworkDevice")
    gi0 = (await ports(store, device.id))["Gi0/0"]
    held = [v.other.name for v in await store.relationships(gi0.id) if v.rel.type == "HAS_IP"]
    assert "127.0.4.81" in held  # the recording's ipAddrTable row


async def test_a_device_scanned_on_two_of_its_own_addresses_is_one_ci(store, snmp_cases):
    """No serial, no LLDP, no bridge: its lowest own usable address identifies it, and a
    rename does not split it either."""
    reports = await case(snmp_cases, "empty-sysname")
    first, second, third = in_order(reports, ["dev", "dev", "dev"])
    own = [
        {"address": "10.7.0.1", "prefixlen": 24, "if_index": 3, "family": 4},
        {"address": "10.8.0.1", "prefixlen": 24, "if_index": 3, "family": 4},
    ]
    for report, scanned in ((first, "10.7.0.1"), (second, "10.8.0.1"), (third, "10.8.0.1")):
        report["sections"]["ip_addresses"] = own
        report["sections"]["device"]["host"] = scanned
    third["sections"]["system"]["name"] = "renamed-switch"
    answers = await ingest_all(store, [first, second, third])
    assert len({a["ci_id"] for a in answers}) == 1
    (listed,) = await live(store, "NetworkDevice")
    device = await store.get_ci(listed.id)
    assert device.identity["identity_address"] == "10.7.0.1"
    assert device.name == "renamed-switch"
