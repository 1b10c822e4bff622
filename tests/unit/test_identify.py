"""Identification rules as pure functions."""

from __future__ import annotations

import pytest

from cmdb.graph.identity import identity_values, is_placeholder
from cmdb.graph.schema import CLASSES


@pytest.mark.parametrize(
    "value",
    [
        None,
        "",
        "To be filled by O.E.M.",
        "Default string",
        "0",
        "None",
        "Not Specified",
        "00000000-0000-0000-0000-000000000000",
        "FFFFFFFF-FFFF-FFFF-FFFF-FFFFFFFFFFFF",
        "03000200-0400-0500-0006-000700080009",
    ],
)
def test_placeholders_are_recognised(value):
    assert is_placeholder(value)


@pytest.mark.parametrize("value", ["7XK2M33", "4c4c4544-0042-3510-8057-b4c04f4a4d32", "CZJ1234"])
def test_real_values_are_not_placeholders(value):
    assert not is_placeholder(value)


def test_host_identity_uses_every_real_rule_and_normalises_case():
    values = identity_values(
        CLASSES["Host"],
        {
            "system_uuid": "4C4C4544-0042-3510-8057-B4C04F4A4D32",
            "manufacturer": "Dell Inc.",
            "serial": "7XK2M33",
            "machine_id": "abc",
            "fqdn": "Web1.Example.NET.",
            "primary_mac": "52:54:00:AA:BB:CC",
        },
    )
    assert values == {
        # the smaller of the two SMBIOS byte orders (see cmdb.graph.identity)
        "system_uuid": "44454c4c-4200-1035-8057-b4c04f4a4d32",
        "serial_key": "Dell Inc.|7XK2M33",
        "machine_id": "abc",
        "fqdn_mac": "web1.example.net|52:54:00:aa:bb:cc",
    }


def test_placeholder_serial_drops_only_that_rule():
    values = identity_values(
        CLASSES["Host"],
        {"system_uuid": "4c4c4544-0042-3510-8057-b4c04f4a4d32", "serial": "Default string"},
    )
    assert set(values) == {"system_uuid"}


def test_ports_like_111_are_not_placeholders_in_endpoint_identity():
    values = identity_values(CLASSES["Endpoint"], {"host": "h1", "protocol": "tcp", "port": 111})
    assert values == {"host_port": "h1|tcp|111"}


def test_software_without_vendor_or_arch_still_has_identity():
    values = identity_values(
        CLASSES["Software"], {"ecosystem": "deb", "name": "bash", "version": "5.2"}
    )
    assert values == {"software_key": "deb|bash|5.2|"}


@pytest.mark.parametrize(
    "value",
    [
        "00:00:00:00:00:00",
        "FF:FF:FF:FF:FF:FF",
        "0000.0000.0000",
        "00020003-0004-0005-0006-000700080009",  # the AMI sample UUID as newer SMBIOS reads
        "03000200-0400-0500-0006-000700080009",  # ... and as older firmware stores it
    ],
)
def test_placeholder_macs_and_sample_uuids_in_either_form(value):
    assert is_placeholder(value)


def test_one_uuid_in_either_smbios_byte_order_is_one_key():
    from cmdb.graph.identity import canonical_uuid

    a = canonical_uuid("4C4C4544-0042-3510-8057-B4C04F4A4D32")
    b = canonical_uuid("44454c4c-4200-1035-8057-b4c04f4a4d32")
    assert a == b


def test_host_names_compare_short_and_without_case():
    from cmdb.graph.identity import normalise

    assert normalise("hostname", "WEB7.Corp.Example.") == normalise("hostname", "web7") == "web7"
    assert normalise("hostname", "10.0.0.5") == "10.0.0.5"
