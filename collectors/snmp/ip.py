"""IP-MIB: addresses (ipAddrTable, ipAddressTable) and ARP/ND
(ipNetToMediaTable, ipNetToPhysicalTable)."""

from __future__ import annotations

from cmdb.collectors.snmp.convert import (
    enum,
    inet_address_from_index,
    integer,
    ipv4_from_index,
    mac,
    prefixlen_from_mask,
    prefixlen_from_pointer,
    raw,
)
from cmdb.collectors.snmp.mib import Column, Table, read_table
from cmdb.collectors.snmp.records import ArpEntry, IPAddress
from cmdb.collectors.snmp.session import SnmpSession

IP_ADDR = Table(  # deprecated but what most agents still fill; IPv4 only
    "ipAddrTable",
    "1.3.6.1.2.1.4.20.1",
    {2: Column("if_index", integer), 3: Column("mask", raw)},
)
IP_ADDRESS = Table(  # RFC 4293, IPv4 and IPv6
    "ipAddressTable",
    "1.3.6.1.2.1.4.34.1",
    {3: Column("if_index", integer), 5: Column("prefix", prefixlen_from_pointer)},
)
NET_TO_MEDIA_TYPE = {1: "other", 2: "invalid", 3: "dynamic", 4: "static"}
NET_TO_PHYSICAL_TYPE = {1: "other", 2: "invalid", 3: "dynamic", 4: "static", 5: "local"}
NET_TO_MEDIA = Table(
    "ipNetToMediaTable",
    "1.3.6.1.2.1.4.22.1",
    {2: Column("mac", mac), 4: Column("type", enum(NET_TO_MEDIA_TYPE))},
)
NET_TO_PHYSICAL = Table(
    "ipNetToPhysicalTable",
    "1.3.6.1.2.1.4.35.1",
    {4: Column("mac", mac), 6: Column("type", enum(NET_TO_PHYSICAL_TYPE))},
)
ADDRESS_SUBTREES = IP_ADDR.subtrees() + IP_ADDRESS.subtrees()
ARP_SUBTREES = NET_TO_MEDIA.subtrees() + NET_TO_PHYSICAL.subtrees()


def transform_addresses(addr_rows: dict, address_rows: dict) -> tuple[IPAddress, ...]:
    seen: dict[str, IPAddress] = {}
    for index, row in addr_rows.items():
        ip = ipv4_from_index(index)
        if ip is None:
            continue
        seen[ip] = IPAddress(ip, prefixlen_from_mask(row["mask"]), 4, row["if_index"], IP_ADDR.name)
    for index, row in address_rows.items():
        ip, rest = inet_address_from_index(index)
        if ip is None or rest or ip in seen:
            continue
        family = 6 if ":" in ip else 4
        seen[ip] = IPAddress(ip, row["prefix"], family, row["if_index"], IP_ADDRESS.name)
    return tuple(seen.values())


def transform_arp(media_rows: dict, physical_rows: dict) -> tuple[ArpEntry, ...]:
    seen: dict[tuple[int, str], ArpEntry] = {}
    for index, row in media_rows.items():
        ip = ipv4_from_index(index[1:])
        if ip is None:
            continue
        seen[(index[0], ip)] = ArpEntry(ip, row["mac"], index[0], row["type"], NET_TO_MEDIA.name)
    for index, row in physical_rows.items():
        if not index:
            continue
        ip, rest = inet_address_from_index(index[1:])
        if ip is None or rest or (index[0], ip) in seen:
            continue
        seen[(index[0], ip)] = ArpEntry(ip, row["mac"], index[0], row["type"], NET_TO_PHYSICAL.name)
    return tuple(seen.values())


async def collect_addresses(session: SnmpSession) -> tuple[IPAddress, ...]:
    return transform_addresses(
        await read_table(session, IP_ADDR), await read_table(session, IP_ADDRESS)
    )


async def collect_arp(session: SnmpSession) -> tuple[ArpEntry, ...]:
    return transform_arp(
        await read_table(session, NET_TO_MEDIA), await read_table(session, NET_TO_PHYSICAL)
    )


async def collect(session: SnmpSession) -> tuple[tuple[IPAddress, ...], tuple[ArpEntry, ...]]:
    return await collect_addresses(session), await collect_arp(session)
