"""ENTITY-MIB entPhysicalTable: chassis, modules, ports with model and serial."""

from __future__ import annotations

from collectors.snmp.convert import enum, integer, text
from collectors.snmp.mib import Column, Table, read_table
from collectors.snmp.records import PhysicalEntity
from collectors.snmp.session import SnmpSession

PHYSICAL_CLASS = {
    1: "other",
    2: "unknown",
    3: "chassis",
    4: "backplane",
    5: "container",
    6: "powerSupply",
    7: "fan",
    8: "sensor",
    9: "module",
    10: "port",
    11: "stack",
    12: "cpu",
    13: "energyObject",
    14: "battery",
    15: "storageDrive",
}

ENT_PHYSICAL = Table(
    "entPhysicalTable",
    "1.3.6.1.2.1.47.1.1.1.1",
    {
        2: Column("descr", text),
        4: Column("contained_in", integer),
        5: Column("entity_class", enum(PHYSICAL_CLASS)),
        7: Column("name", text),
        8: Column("hardware_rev", text),
        9: Column("firmware_rev", text),
        10: Column("software_rev", text),
        11: Column("serial", text),
        12: Column("manufacturer", text),
        13: Column("model", text),
    },
)
SUBTREES = ENT_PHYSICAL.subtrees()


def transform(rows: dict) -> tuple[PhysicalEntity, ...]:
    return tuple(
        PhysicalEntity(index=index[0], **row) for index, row in rows.items() if len(index) == 1
    )


def chassis(entities: tuple[PhysicalEntity, ...] | None) -> PhysicalEntity | None:
    """The device's chassis: the first chassis-class entity, top-level ones first.

    Stacks list one chassis per member; the first (lowest index) top-level one
    is taken as the device's.
    """
    found = [e for e in entities or () if e.entity_class == "chassis"]
    if not found:
        return None
    top = [e for e in found if not e.contained_in]
    return (top or found)[0]


async def collect(session: SnmpSession) -> tuple[PhysicalEntity, ...]:
    return transform(await read_table(session, ENT_PHYSICAL))
