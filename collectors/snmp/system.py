"""SNMPv2-MIB system group: identity of the device, vendor from sysObjectID."""

from __future__ import annotations

from cmdb.collectors.snmp.convert import integer, oid_text, text
from cmdb.collectors.snmp.mib import Column, Scalars, read_scalars
from cmdb.collectors.snmp.records import SystemInfo
from cmdb.collectors.snmp.session import SnmpSession
from cmdb.collectors.snmp.vendors import vendor_from_sys_object_id

SYSTEM = Scalars(
    "system",
    {
        "1.3.6.1.2.1.1.1.0": Column("descr", text),
        "1.3.6.1.2.1.1.2.0": Column("object_id", oid_text),
        "1.3.6.1.2.1.1.3.0": Column("uptime_ticks", integer),
        "1.3.6.1.2.1.1.4.0": Column("contact", text),
        "1.3.6.1.2.1.1.5.0": Column("name", text),
        "1.3.6.1.2.1.1.6.0": Column("location", text),
    },
)
SUBTREES = SYSTEM.subtrees()


def transform(row: dict) -> SystemInfo:
    pen, vendor = vendor_from_sys_object_id(row["object_id"])
    return SystemInfo(**row, enterprise=pen, vendor=vendor)


async def collect(session: SnmpSession) -> SystemInfo:
    return transform(await read_scalars(session, SYSTEM))
