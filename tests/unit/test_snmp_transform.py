"""The SNMP transform and the pure parts of topology, on reports recorded from the
snmpsim recordings (tests/fixtures/snmp) and from this machine's snmpd."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest

from cmdb.graph.identity import identity_values
from cmdb.graph.schema import CLASSES
from cmdb.graph.store import CI
from cmdb.server.reconcile import snmp
from cmdb.server.reconcile.topology import group_neighbours, match_port, neighbours

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "snmp"


def recorded(name: str) -> dict:
    return json.loads((FIXTURES / f"{name}.json").read_text())


def of_class(desired, cls: str):
    return [c for c in desired.cis if c.cls == cls]


def test_switch_root_is_a_network_device_with_chassis_identity():
    report = recorded("cisco-n5000")
    desired = snmp.transform(report)
    root = desired.root
    assert root.cls == "NetworkDevice"
    attrs = root.attributes
    assert attrs["sys_name"] == "DUMSYS-68"
    assert attrs["vendor"] == "ciscoSystems"
    assert (attrs["model"], attrs["serial"]) == ("N5K-C5548UP", "SSI183706KP")
    assert attrs["management_ip"] == "127.0.1.2"
    assert attrs["device_type"] == "switch"
    assert attrs["placeholder"] is False
    assert identity_values(CLASSES["NetworkDevice"], attrs) == {
        "chassis_serial": "ciscoSystems|SSI183706KP",
        "identity_address": "10.40.1.1",
    }
    interfaces = of_class(desired, "Interface")
    assert len(interfaces) == len(report["sections"]["interfaces"]) == 61
    mgmt0 = next(i for i in interfaces if i.name == "mgmt0")
    assert mgmt0.attributes["mac"] == "8c:60:4f:19:16:21"
    assert mgmt0.attributes["if_index"] == 83886080
    assert desired.complete_sections >= {"interfaces", "ip_addresses", "lldp", "cdp"}
    assert "device" not in desired.complete_sections
    assert not of_class(desired, "Software")


def test_uptime_is_a_boot_time_that_does_not_move_between_scans():
    report = recorded("cisco-n5000")
    later = copy.deepcopy(report)
    ticks = later["sections"]["system"]["uptime_ticks"]
    later["sections"]["system"]["uptime_ticks"] = ticks + 90 * 100
    later["collected_at"] = report["collected_at"].replace("T18:28:", "T18:29:")
    a = snmp.transform(report).root.attributes["sys_uptime"]
    b = snmp.transform(later).root.attributes["sys_uptime"]
    assert a == b and a.endswith(":00:00Z")


def test_router_without_entity_chassis_falls_back_to_sysname_and_address():
    desired = snmp.transform(recorded("juniper-mx960"))
    attrs = desired.root.attributes
    assert attrs["serial"] is None and attrs["device_type"] == "router"
    assert identity_values(CLASSES["NetworkDevice"], attrs) == {"identity_address": "127.0.1.6"}
    # Juniper answers hrSWInstalledTable, yet it is not a server
    assert desired.root.cls == "NetworkDevice"
    assert not of_class(desired, "Software")


def test_firewall_with_host_resources_storage_is_still_a_network_device():
    desired = snmp.transform(recorded("paloalto-pa5000"))
    assert desired.root.cls == "NetworkDevice"
    assert desired.root.attributes["device_type"] == "firewall"


def test_net_snmp_linux_is_a_host_with_software_and_guessed_primary_mac():
    report = recorded("netsnmp-linux")
    desired = snmp.transform(report)
    root = desired.root
    assert root.cls == "Host"
    assert root.attributes["hostname"] == "cmdb-snmpd-v3"
    assert root.attributes["management_ip"] == "127.0.0.20"
    # the scanned address is on lo, so the only NIC with a global IPv4 address wins
    assert root.attributes["primary_mac"] == "02:fc:00:00:00:01"
    assert set(identity_values(CLASSES["Host"], root.attributes)) == {"hostname_mac"}
    software = of_class(desired, "Software")
    assert len(software) == 25
    adduser = next(s for s in software if s.name == "adduser")
    assert (adduser.attributes["version"], adduser.attributes["arch"]) == ("3.134", "all")
    installed = [r for r in desired.rels if r.type == "INSTALLED"]
    assert installed[0].attributes["install_date"].endswith("Z")
    addresses = {c.attributes["address"]: c for c in of_class(desired, "IPAddress")}
    assert "192.0.2.255" not in addresses  # ipAddressTable's broadcast entry is no address
    assert addresses["127.0.0.1"].attributes["net_scope"] == "host:device"
    assert addresses["127.0.0.1"].scoped  # managed by this device, not shared
    assert addresses["192.0.2.2"].attributes["net_scope"] == "global"


def test_missing_sections_close_nothing_of_theirs():
    report = recorded("cisco-n5000")
    del report["sections"]["interfaces"]
    del report["sections"]["lldp"]
    desired = snmp.transform(report)
    assert "interfaces" not in desired.complete_sections
    assert "ip_addresses" not in desired.complete_sections  # they hang on interfaces
    assert "lldp" not in desired.complete_sections
    assert not of_class(desired, "Interface") and not of_class(desired, "IPAddress")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("adduser_3.134_all", ("adduser", "3.134", "all")),
        ("bash-5.1.8-9.el9.x86_64", ("bash", "5.1.8-9.el9", "x86_64")),
        ("Mozilla Firefox 118.0.1", ("Mozilla Firefox", "118.0.1", None)),
        ("Some Tool", ("Some Tool", None, None)),
    ],
)
def test_package_names(text, expected):
    assert snmp.parse_package(text) == expected


def test_neighbour_rows_about_one_device_group_together():
    rows = neighbours(recorded("hpe-procurve")["sections"])
    assert {r.via for r in rows} == {"lldp", "cdp"}
    groups = group_neighbours(rows)
    nexus = [g for g in groups if any(r.serial == "SSI183706KP" for r in g)]
    assert len(nexus) == 1
    # LLDP by MAC, LLDP by local chassis id, CDP by MAC and by name(serial): one device
    assert len(nexus[0]) == 4
    assert {r.local_port for r in nexus[0]} == {"17"}
    assert len(groups) == 4  # the Nexus and three blade NICs


def _ci(name: str, **attrs) -> CI:
    return CI(id=name, cls="Interface", name=name, attributes={"name": name, **attrs})


def test_port_matching_by_name_abbreviation_mac_and_index():
    ports = [
        _ci("Ethernet1/19", mac="8c:60:4f:19:16:3a", if_index=436281344),
        _ci("Ethernet1/2", mac="8c:60:4f:19:16:3b"),
        _ci("GigabitEthernet1/0/1", if_index=10101),
        _ci("17", if_index=17),
    ]
    assert match_port(ports, "Eth1/19").name == "Ethernet1/19"
    assert match_port(ports, "ethernet1/19").name == "Ethernet1/19"
    assert match_port(ports, None, "Gi1/0/1").name == "GigabitEthernet1/0/1"
    assert match_port(ports, "8C-60-4F-19-16-3B").name == "Ethernet1/2"
    assert match_port(ports, "17").name == "17"
    assert match_port(ports, "Eth1/3") is None
