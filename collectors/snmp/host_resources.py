"""HOST-RESOURCES-MIB: installed software and storage areas."""

from __future__ import annotations

from cmdb.collectors.snmp.convert import date_and_time, enum, integer, oid_text, text
from cmdb.collectors.snmp.mib import Column, Table, read_table
from cmdb.collectors.snmp.records import InstalledSoftware, Storage
from cmdb.collectors.snmp.session import SnmpSession

SW_TYPE = {1: "unknown", 2: "operatingSystem", 3: "deviceDriver", 4: "application"}
STORAGE_TYPES = {  # hrStorageTypes.N
    1: "hrStorageOther",
    2: "hrStorageRam",
    3: "hrStorageVirtualMemory",
    4: "hrStorageFixedDisk",
    5: "hrStorageRemovableDisk",
    6: "hrStorageFloppyDisk",
    7: "hrStorageCompactDisc",
    8: "hrStorageRamDisk",
    9: "hrStorageFlashMemory",
    10: "hrStorageNetworkDisk",
}
_STORAGE_TYPE_PREFIX = "1.3.6.1.2.1.25.2.1."

SW_INSTALLED = Table(
    "hrSWInstalledTable",
    "1.3.6.1.2.1.25.6.3.1",
    {2: Column("name", text), 4: Column("type", enum(SW_TYPE)), 5: Column("date", date_and_time)},
)
STORAGE = Table(
    "hrStorageTable",
    "1.3.6.1.2.1.25.2.3.1",
    {
        2: Column("type", oid_text),
        3: Column("descr", text),
        4: Column("unit", integer),
        5: Column("size", integer),
        6: Column("used", integer),
    },
)
SOFTWARE_SUBTREES = SW_INSTALLED.subtrees()
STORAGE_SUBTREES = STORAGE.subtrees()


def storage_type(oid: str | None) -> str | None:
    if oid and oid.startswith(_STORAGE_TYPE_PREFIX):
        tail = oid[len(_STORAGE_TYPE_PREFIX) :]
        if tail.isdigit():
            return STORAGE_TYPES.get(int(tail), oid)
    return oid


def transform_software(rows: dict) -> tuple[InstalledSoftware, ...]:
    return tuple(
        InstalledSoftware(index[0], r["name"], r["type"], r["date"])
        for index, r in rows.items()
        if len(index) == 1
    )


def transform_storage(rows: dict) -> tuple[Storage, ...]:
    out = []
    for index, r in rows.items():
        if len(index) != 1:
            continue
        unit = r["unit"] if r["unit"] and r["unit"] > 0 else None
        size = r["size"] * unit if unit is not None and r["size"] is not None else None
        used = r["used"] * unit if unit is not None and r["used"] is not None else None
        out.append(Storage(index[0], storage_type(r["type"]), r["descr"], size, used))
    return tuple(out)


async def collect_software(session: SnmpSession) -> tuple[InstalledSoftware, ...]:
    return transform_software(await read_table(session, SW_INSTALLED))


async def collect_storage(session: SnmpSession) -> tuple[Storage, ...]:
    return transform_storage(await read_table(session, STORAGE))
