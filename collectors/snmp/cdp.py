"""CISCO-CDP-MIB cdpCacheTable: neighbours seen on each local interface."""

from __future__ import annotations

from collections.abc import Iterable

from cmdb.collectors.snmp.convert import hex_or_text, integer, ip_from_octets, raw, text
from cmdb.collectors.snmp.mib import Column, Table, read_table
from cmdb.collectors.snmp.records import CdpNeighbor, Interface
from cmdb.collectors.snmp.session import SnmpSession

CACHE = Table(
    "cdpCacheTable",
    "1.3.6.1.4.1.9.9.23.1.2.1.1",
    {
        3: Column("address_type", integer),
        4: Column("address", raw),
        5: Column("version", text),
        6: Column("device_id", hex_or_text),
        7: Column("port", hex_or_text),
        8: Column("platform", text),
    },
)
SUBTREES = CACHE.subtrees()


def transform(rows: dict, interfaces: Iterable[Interface] | None = None) -> tuple[CdpNeighbor, ...]:
    names = {i.index: i.name for i in interfaces or ()}
    out = []
    for index, row in rows.items():
        if len(index) != 2:
            continue
        address = ip_from_octets(row["address"]) if row["address_type"] in (1, None) else None
        out.append(
            CdpNeighbor(
                if_index=index[0],
                local_port=names.get(index[0]),
                device_id=row["device_id"],
                address=address,
                port=row["port"],
                platform=row["platform"],
                version=row["version"],
                address_type=row["address_type"],
            )
        )
    return tuple(out)


async def collect(
    session: SnmpSession, interfaces: Iterable[Interface] | None = None
) -> tuple[CdpNeighbor, ...]:
    return transform(await read_table(session, CACHE), interfaces)
