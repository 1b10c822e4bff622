"""Pure converters and transforms of the SNMP collectors, on fixtures."""

from __future__ import annotations

import pytest

from cmdb.collectors.snmp import convert, entity, interfaces, lldp
from cmdb.collectors.snmp.records import Interface, PhysicalEntity
from cmdb.collectors.snmp.session import Credential, format_oid, parse_oid
from cmdb.collectors.snmp.vendors import (
    enterprise_name,
    oui_vendor,
    vendor_from_sys_object_id,
)


@pytest.mark.parametrize(
    "raw, expected",
    [
        (b"\x00\x1a\x2b\x3c\x4d\x5e", "00:1a:2b:3c:4d:5e"),
        (b"\xf4\x7f5\x93\xaf\xc0", "f4:7f:35:93:af:c0"),
        (b"\x00" * 6, None),
        (b"\x01\x02\x03", None),
        (b"", None),
        (None, None),
        ("00-1A-2B-3C-4D-5E", "00:1a:2b:3c:4d:5e"),
        ("001a.2b3c.4d5e", "00:1a:2b:3c:4d:5e"),
        (b"00:1a:2b:3c:4d:5e", "00:1a:2b:3c:4d:5e"),
    ],
)
def test_mac(raw, expected):
    assert convert.mac(raw) == expected


def test_mac_from_index():
    assert convert.mac_from_index((10, 0, 26, 43, 60, 77, 94)) == "00:1a:2b:3c:4d:5e"
    assert convert.mac_from_index((1, 2, 3)) is None
    assert convert.mac_from_index((0, 0, 0, 0, 0, 300)) is None


@pytest.mark.parametrize(
    "text, expected",
    [
        ("1.3.6.1.2.1.1.5.0", (1, 3, 6, 1, 2, 1, 1, 5, 0)),
        (".1.3.6.1", (1, 3, 6, 1)),
        ("iso.3.6.1.4.1.9", (1, 3, 6, 1, 4, 1, 9)),
        ([1, 0, 8802], (1, 0, 8802)),
    ],
)
def test_parse_oid(text, expected):
    assert parse_oid(text) == expected
    assert format_oid(expected) == ".".join(map(str, expected))


@pytest.mark.parametrize("bad", ["", "1.3.x", "SNMPv2-MIB::sysName.0", "1..3"])
def test_parse_oid_rejects_names(bad):
    with pytest.raises(ValueError):
        parse_oid(bad)


def test_enterprise_lookup():
    assert convert.enterprise_number("1.3.6.1.4.1.9.1.516") == 9
    assert convert.enterprise_number("1.3.6.1.2.1.1") is None
    assert convert.enterprise_number(None) is None
    assert enterprise_name(9) == "ciscoSystems"
    assert enterprise_name(2636) == "Juniper Networks, Inc."
    assert enterprise_name(30065) == "Arista Networks, Inc."  # "# formerly ..." stripped
    assert enterprise_name(2) == "IBM"  # "(https://...)" stripped
    assert enterprise_name(999_999_999) is None
    assert vendor_from_sys_object_id("1.3.6.1.4.1.25461.2.3.9") == (25461, "PALO ALTO NETWORKS")


def test_oui_lookup():
    assert oui_vendor("00:00:0c:12:34:56") == "Cisco Systems, Inc"
    assert oui_vendor(b"\x00\x1c\x73\x00\x00\x01") == "Arista Networks"
    assert oui_vendor("02:00:00:00:00:01") is None  # locally administered
    assert oui_vendor("not a mac") is None


def test_text_and_hex():
    assert convert.text(b"DUMSYS-90\x00") == "DUMSYS-90"
    assert convert.text(b"  ") is None
    assert convert.hex_or_text(b"Gi1/0/1") == "Gi1/0/1"
    assert convert.hex_or_text(b"\xe8\x39\x35\x1a") == "e8:39:35:1a"


def test_addresses():
    assert convert.ip_from_octets(b"\n\x00\x00\x01") == "10.0.0.1"
    assert convert.ip_from_octets("192.168.1.1") == "192.168.1.1"
    assert convert.ip_from_octets(b"\x20\x01" + b"\x00" * 13 + b"\x01") == "2001::1"
    assert convert.inet_address_from_index((1, 4, 10, 0, 0, 1)) == ("10.0.0.1", ())
    assert convert.inet_address_from_index((1, 4, 10, 0, 0, 1, 7)) == ("10.0.0.1", (7,))
    assert convert.inet_address_from_index((16, 3, 1, 2, 3)) == (None, ())
    assert convert.prefixlen_from_mask("255.255.255.0") == 24
    assert convert.prefixlen_from_pointer("1.3.6.1.2.1.4.32.1.5.2.1.4.10.0.0.0.24") == 24
    assert convert.prefixlen_from_pointer("0.0") is None


def test_date_and_time():
    assert convert.date_and_time(bytes([7, 226, 5, 17, 13, 30, 15, 0])) == "2018-05-17T13:30:15"
    tz = bytes([7, 226, 5, 17, 13, 30, 15, 0, ord("+"), 2, 0])
    assert convert.date_and_time(tz) == "2018-05-17T13:30:15+02:00"
    assert convert.date_and_time(bytes(8)) is None
    assert convert.date_and_time(b"junk") is None


def test_speed_prefers_high_speed():
    assert interfaces.speed_mbps(10000, 4294967295) == 10000
    assert interfaces.speed_mbps(None, 100_000_000) == 100
    assert interfaces.speed_mbps(0, 4294967295) is None
    assert interfaces.speed_mbps(None, 0) is None


def test_enum_unknown_values():
    conv = convert.enum({1: "up"})
    assert conv(1) == "up" and conv(9) == "other(9)" and conv(None) is None


def _ent(index, cls, parent, model=None):
    return PhysicalEntity(index, cls, parent, None, None, model, None)


def test_chassis_prefers_top_level():
    ents = (_ent(1, "stack", 0), _ent(2, "chassis", 1, "member"), _ent(3, "chassis", 0, "top"))
    assert entity.chassis(ents).model == "top"
    assert entity.chassis((_ent(2, "chassis", 1, "m"),)).model == "m"
    assert entity.chassis(()) is None and entity.chassis(None) is None


def _if(index, name, descr=None):
    return Interface(index, name, descr or name, None, None, None, None, None, None, None)


def test_lldp_transform_maps_local_ports():
    loc = {(5,): {"id_subtype": "interfaceName", "id": "Gi0/5", "descr": None}}
    rem = {
        (0, 5, 1): {
            "chassis_id_subtype": "macAddress",
            "chassis_id_raw": b"\x00\x1c\x73\x01\x02\x03",
            "port_id_subtype": "networkAddress",
            "port_id_raw": b"\x01\x0a\x00\x00\x02",
            "port_descr": None,
            "sys_name": "core-1",
            "sys_descr": None,
        },
        (0, 7, 2): {
            "chassis_id_subtype": "local",
            "chassis_id_raw": b"abc",
            "port_id_subtype": "interfaceName",
            "port_id_raw": b"xe-0/0/1",
            "port_descr": None,
            "sys_name": None,
            "sys_descr": None,
        },
    }
    man = {(0, 5, 1, 1, 4, 10, 0, 0, 9): {"if_subtype": 2}}
    ifs = [_if(10105, "Gi0/5"), _if(7, "ge-7")]
    a, b = lldp.transform(loc, rem, man, ifs)
    assert (a.local_port, a.local_if_index) == ("Gi0/5", 10105)
    assert a.chassis_id == "00:1c:73:01:02:03" and a.port_id == "10.0.0.2"
    assert a.management_addresses == ("10.0.0.9",)
    assert (b.local_port, b.local_if_index, b.port_id) == ("ge-7", 7, "xe-0/0/1")


def test_credential_validation_and_secrets():
    c = Credential(
        "3", user="u", auth_protocol="SHA-512", auth_password="a" * 8,
        priv_protocol="AES-256", priv_password="p" * 8,
    )  # fmt: skip
    assert c.security_level == "authPriv"
    assert "aaaaaaaa" not in repr(c) and "pppppppp" not in repr(c)
    assert Credential("3", user="u").security_level == "noAuthNoPriv"
    with pytest.raises(ValueError, match="priv password"):
        Credential("3", user="u", auth_password="x" * 8, level="authPriv")
    with pytest.raises(ValueError, match="auth protocol"):
        Credential("3", user="u", auth_protocol="SHA-1024", auth_password="x" * 8)
    with pytest.raises(ValueError, match="version"):
        Credential("4")
    with pytest.raises(ValueError, match="community"):
        Credential("2c", community="")
