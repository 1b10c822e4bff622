"""LLDP/CDP rows read by subtype, local port mapping, grouping on strong keys and port
matching (``cmdb.server.reconcile.neighbours``, pure)."""

from __future__ import annotations

from cmdb.graph.store import CI
from cmdb.server.reconcile.neighbours import (
    LocalPorts,
    chassis_key,
    display_name,
    group_neighbours,
    match_port,
    neighbours,
    short_name,
)


def lldp(local: int, **remote) -> dict:
    row = {
        "local_port_num": local,
        "local_port": None,
        "local_if_index": local,
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


def nic(index: int, name: str, mac: str | None = None, alias: str | None = None) -> dict:
    return {"index": index, "name": name, "descr": name, "alias": alias, "mac": mac}


def test_chassis_id_by_subtype():
    assert chassis_key("macAddress", "02-D1-00-00-00-00") == "02:d1:00:00:00:00"
    assert chassis_key("networkAddress", "10.1.2.3") == "10.1.2.3"
    assert chassis_key("networkAddress", "127.0.0.1") is None  # loopback: no identity
    assert chassis_key("networkAddress", "0.0.0.0") is None
    assert chassis_key("local", "SW1") == "local:sw1"
    assert chassis_key("interfaceName", "SW1") == "interfaceName:sw1"  # not the same text
    assert chassis_key("macAddress", "00:00:00:00:00:00") is None


def test_address_chassis_id_is_address_evidence_and_unusable_addresses_are_dropped():
    (row,) = neighbours(
        {
            "lldp": [
                lldp(
                    1,
                    chassis_id_subtype="networkAddress",
                    chassis_id="10.9.9.9",
                    management_addresses=["127.0.0.1", "169.254.1.1", "10.9.9.10"],
                )
            ]
        }
    )
    assert row.addresses == ("10.9.9.9", "10.9.9.10")
    assert row.chassis == "10.9.9.9" and row.chassis_mac is None


def test_cdp_zero_address_neighbours_are_two_devices():
    rows = neighbours(
        {
            "cdp": [
                {"if_index": 1, "device_id": "edge-a", "address": "0.0.0.0", "port": "Gi0/24"},
                {"if_index": 2, "device_id": "edge-b", "address": "0.0.0.0", "port": "Gi0/24"},
            ]
        }
    )
    assert [r.addresses for r in rows] == [(), ()]
    assert len(group_neighbours(rows)) == 2


def test_a_shared_name_or_address_does_not_make_two_neighbours_one():
    rows = neighbours(
        {
            "lldp": [
                lldp(
                    1,
                    chassis_id="02:00:00:00:00:01",
                    sys_name="switch",
                    management_addresses=["10.0.0.1"],
                ),
                lldp(
                    2,
                    chassis_id="02:00:00:00:00:02",
                    sys_name="switch",
                    management_addresses=["10.0.0.1"],
                ),
                lldp(3, chassis_id="02:00:00:00:00:01", sys_name="other-name"),
            ]
        }
    )
    groups = sorted(len(g) for g in group_neighbours(rows))
    assert groups == [1, 2]  # rows 1 and 3 share the chassis ID


def test_lldp_and_cdp_over_one_cable_with_one_name_are_one_device():
    rows = neighbours(
        {
            "lldp": [lldp(5, chassis_id="02:00:00:00:00:05", sys_name="core.corp.example")],
            "cdp": [{"if_index": 5, "device_id": "CORE", "address": "10.0.0.5", "port": "Te1/1"}],
        }
    )
    assert len(group_neighbours(rows)) == 1


def test_names_compare_shortened():
    assert short_name("SW-North.corp.example") == short_name("sw-north") == "sw-north"
    assert display_name("SW-North.corp.example.") == "SW-North"
    assert display_name("10.1.2.3") == "10.1.2.3"


def test_local_port_by_port_id_subtype_then_bridge_port_then_ifindex():
    interfaces = [
        nic(3, "Vlan3", "02:e3:00:00:00:00"),
        nic(10103, "Gi1/0/3", "02:e3:00:00:01:03"),
        nic(10104, "Gi1/0/4", "02:e3:00:00:01:04"),
        nic(7, "Gi1/0/7"),
    ]
    sections = {
        "lldp_local": {
            "ports": [
                {"port_num": 3, "id_subtype": "macAddress", "id": "02:e3:00:00:01:03"},
                {"port_num": 4, "id_subtype": "local", "id": "x9", "descr": None},
            ]
        },
        "bridge": {"ports": [{"port": 3, "if_index": 10103}, {"port": 4, "if_index": 10104}]},
    }
    mapper = LocalPorts(sections, interfaces)
    assert mapper.number(3) == 10103  # the port MAC, not ifIndex 3 (Vlan3)
    assert mapper.number(4) == 10104  # dot1dBasePortIfIndex
    assert mapper.number(7) == 7  # no bridge port 7: an ifIndex
    assert mapper.number(9) is None  # nothing: unresolved


def test_local_port_ambiguous_id_is_left_unresolved():
    interfaces = [nic(1, "Vlan1", "02:00:00:00:00:00"), nic(2, "Vlan2", "02:00:00:00:00:00")]
    sections = {
        "lldp_local": {
            "ports": [{"port_num": 5, "id_subtype": "macAddress", "id": "02:00:00:00:00:00"}]
        },
        "bridge": {"ports": [{"port": 5, "if_index": 9}]},
    }
    mapper = LocalPorts(sections, [*interfaces, nic(9, "Gi0/9")])
    assert mapper.number(5) is None  # the MAC says Vlan1 or Vlan2, the bridge says Gi0/9
    (row,) = neighbours(
        {**sections, "lldp": [lldp(5, chassis_id="02:aa:00:00:00:01")]},
        [*interfaces, nic(9, "Gi0/9")],
    )
    assert (row.local_if_index, row.local_port) == (None, None)


def _ci(name: str, **attrs) -> CI:
    return CI(id=name, cls="Interface", name=name, attributes={"name": name, **attrs})


def test_far_port_by_subtype():
    ports = [
        _ci("Ethernet1/19", mac="8c:60:4f:19:16:3a", if_index=436281344, alias="uplink"),
        _ci("Ethernet1/2", mac="8c:60:4f:19:16:3b", if_index=19),
        _ci("19", if_index=20),
    ]
    assert match_port(ports, "Eth1/19", "interfaceName", None).name == "Ethernet1/19"
    assert match_port(ports, "8C-60-4F-19-16-3B", "macAddress", None).name == "Ethernet1/2"
    assert match_port(ports, "uplink", "interfaceAlias", None).name == "Ethernet1/19"
    assert match_port(ports, "19", "local", None).name == "Ethernet1/2"  # local: an ifIndex
    assert match_port(ports, "Eth1/3", "interfaceName", None) is None
    assert match_port(ports, "zz", "local", "Ethernet1/19").name == "Ethernet1/19"
