"""ENTITY-MIB entPhysicalTable: chassis, modules, ports with model and serial;
the chassis and stack rows as the device's members (a stack's switches)."""

from __future__ import annotations

import re

from cmdb.collectors.snmp.convert import enum, integer, text
from cmdb.collectors.snmp.mib import Column, Table, read_table
from cmdb.collectors.snmp.records import ChassisMember, PhysicalEntity
from cmdb.collectors.snmp.session import SnmpSession

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
        6: Column("parent_rel_pos", integer),
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


_TRAILING_NUMBER = re.compile(r"(\d+)\s*$")


def members(entities: tuple[PhysicalEntity, ...] | None) -> tuple[ChassisMember, ...] | None:
    """Every chassis(3) and stack(11) row, in index order (None when entities were not read).

    ``member`` is the stack member number of a chassis inside a stack entity:
    entPhysicalParentRelPos when the agent fills it, else the trailing number
    of entPhysicalName ("Switch 2"); None for a stand-alone chassis.
    """
    if entities is None:
        return None
    by_index = {e.index: e for e in entities}
    out = []
    for e in entities:
        if e.entity_class not in ("chassis", "stack"):
            continue
        parent = by_index.get(e.contained_in or 0)
        member = None
        if parent is not None and parent.entity_class == "stack":
            if e.parent_rel_pos is not None and e.parent_rel_pos >= 0:
                member = e.parent_rel_pos
            elif e.name and (m := _TRAILING_NUMBER.search(e.name)):
                member = int(m.group(1))
        out.append(
            ChassisMember(
                index=e.index,
                entity_class=e.entity_class,
                member=member,
                serial=e.serial,
                model=e.model,
                name=e.name,
                descr=e.descr,
                manufacturer=e.manufacturer,
                hardware_rev=e.hardware_rev,
                software_rev=e.software_rev,
                contained_in=e.contained_in,
            )
        )
    return tuple(out)


async def collect(session: SnmpSession) -> tuple[PhysicalEntity, ...]:
    return transform(await read_table(session, ENT_PHYSICAL))
