"""Typed records of what SNMP says about a device (psutil-style: all in one module).

Unknown values are ``None``. A section the collector could not read at all is
``None`` on ``DeviceInventory`` and has a ``Note`` (``partial=False``) in
``notes``; a section read only in part (a table that failed, or rows up to a
fault) is present and has a ``Note`` with ``partial=True``; an empty tuple
means "read completely, and there is nothing". Field meanings and their MIB
objects: ``cmdb.collectors.model.SNMP_SECTION_SCHEMAS``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from cmdb.collectors.model import Note, Report, to_jsonable
from cmdb.collectors.snmp.mib import TableStatus

# What a DeviceInventory collects, each its own unit of completeness, in order.
UNITS = (
    "system",
    "entities",
    "interfaces",
    "bridge",
    "lldp_local",
    "ip_addresses",
    "arp",
    "fdb",
    "lldp",
    "cdp",
    "software",
    "storage",
)
# Units reported inside the ``device`` section (``device.bridge``, ``device.lldp_local``);
# their notes name them so.
DEVICE_PARTS = {"bridge": "device.bridge", "lldp_local": "device.lldp_local"}
# The report's own sections (besides ``device``), in collection order.
SNMP_SECTIONS = tuple(u for u in UNITS if u not in DEVICE_PARTS)


def note_name(unit: str) -> str:
    """The ``section`` a note about ``unit`` carries."""
    return DEVICE_PARTS.get(unit, unit)


def unit_order(section: str) -> int:
    """Sort key of a note's section in collection order."""
    names = [note_name(u) for u in UNITS]
    return names.index(section) if section in names else len(names)


@dataclass(frozen=True, slots=True)
class SystemInfo:
    descr: str | None
    object_id: str | None  # sysObjectID, dotted
    uptime_ticks: int | None  # hundredths of a second
    contact: str | None
    name: str | None
    location: str | None
    enterprise: int | None = None  # IANA PEN from sysObjectID
    vendor: str | None = None  # IANA organisation of that number


@dataclass(frozen=True, slots=True)
class PhysicalEntity:
    index: int
    entity_class: str | None  # chassis, module, port, powerSupply, ...
    contained_in: int | None
    descr: str | None
    name: str | None
    model: str | None
    serial: str | None
    hardware_rev: str | None = None
    firmware_rev: str | None = None
    software_rev: str | None = None
    manufacturer: str | None = None
    parent_rel_pos: int | None = None  # entPhysicalParentRelPos


@dataclass(frozen=True, slots=True)
class ChassisMember:
    """An ENTITY-MIB chassis(3) or stack(11) row: one member of a stack, or the stack."""

    index: int  # entPhysicalIndex
    entity_class: str  # chassis or stack
    member: int | None  # entPhysicalParentRelPos, else "Switch N" under a stack
    serial: str | None  # entPhysicalSerialNum
    model: str | None  # entPhysicalModelName
    name: str | None  # entPhysicalName
    descr: str | None  # entPhysicalDescr
    manufacturer: str | None = None  # entPhysicalMfgName
    hardware_rev: str | None = None  # entPhysicalHardwareRev
    software_rev: str | None = None  # entPhysicalSoftwareRev
    contained_in: int | None = None  # entPhysicalContainedIn


@dataclass(frozen=True, slots=True)
class BridgePort:
    port: int  # dot1dBasePort
    if_index: int | None  # dot1dBasePortIfIndex


@dataclass(frozen=True, slots=True)
class BridgeInfo:
    """BRIDGE-MIB dot1dBase: the bridge's base MAC and its port -> ifIndex table."""

    base_address: str | None  # dot1dBaseBridgeAddress
    ports: tuple[BridgePort, ...] = ()


@dataclass(frozen=True, slots=True)
class LldpLocalPort:
    port_num: int  # lldpLocPortNum
    id_subtype: str | None  # lldpLocPortIdSubtype label
    id: str | None  # lldpLocPortId, rendered by subtype
    descr: str | None  # lldpLocPortDesc


@dataclass(frozen=True, slots=True)
class LldpLocal:
    """LLDP-MIB local system: how this device names itself to its neighbours."""

    chassis_id_subtype: str | None  # lldpLocChassisIdSubtype label
    chassis_id: str | None  # lldpLocChassisId, rendered by subtype
    sys_name: str | None  # lldpLocSysName
    ports: tuple[LldpLocalPort, ...] = ()


@dataclass(frozen=True, slots=True)
class Interface:
    index: int
    name: str | None  # ifName, else ifDescr
    descr: str | None
    alias: str | None
    type: str | None  # IANAifType label, e.g. ethernetCsmacd
    mac: str | None
    speed_mbps: int | None  # ifHighSpeed, else ifSpeed / 10^6
    mtu: int | None
    admin_status: str | None  # up, down, testing
    oper_status: str | None  # up, down, testing, unknown, dormant, notPresent, lowerLayerDown


@dataclass(frozen=True, slots=True)
class IPAddress:
    address: str
    prefixlen: int | None
    family: int  # 4 or 6
    if_index: int | None
    source: str  # ipAddrTable or ipAddressTable


@dataclass(frozen=True, slots=True)
class ArpEntry:
    ip: str
    mac: str | None
    if_index: int | None
    type: str | None  # dynamic, static, local, other, invalid
    source: str  # ipNetToMediaTable or ipNetToPhysicalTable


@dataclass(frozen=True, slots=True)
class FdbEntry:
    mac: str
    bridge_port: int | None
    if_index: int | None
    vlan: int | None  # Q-BRIDGE FDB id (usually the VLAN id); None from BRIDGE-MIB
    status: str | None  # learned, self, mgmt, other, invalid
    source: str  # dot1dTpFdbTable or dot1qTpFdbTable


@dataclass(frozen=True, slots=True)
class LldpNeighbor:
    local_port_num: int
    local_port: str | None  # our interface name, via lldpLocPortTable
    local_if_index: int | None
    chassis_id_subtype: str | None  # macAddress, networkAddress, interfaceName, local, ...
    chassis_id: str | None
    port_id_subtype: str | None
    port_id: str | None
    port_descr: str | None
    sys_name: str | None
    sys_descr: str | None
    management_addresses: tuple[str, ...] = ()
    # how local_port_num became local_if_index: lldpLocPortId, dot1dBasePortIfIndex,
    # ifIndex, or None (unresolved: local_port and local_if_index are None)
    local_port_source: str | None = None


@dataclass(frozen=True, slots=True)
class CdpNeighbor:
    if_index: int
    local_port: str | None
    device_id: str | None
    address: str | None
    port: str | None
    platform: str | None
    version: str | None = None
    address_type: int | None = None  # cdpCacheAddressType (1 = ip)


@dataclass(frozen=True, slots=True)
class InstalledSoftware:
    index: int
    name: str | None
    type: str | None  # unknown, operatingSystem, deviceDriver, application
    installed: str | None  # ISO 8601


@dataclass(frozen=True, slots=True)
class Storage:
    index: int
    type: str | None  # hrStorageRam, hrStorageFixedDisk, ... (last name) or OID
    descr: str | None
    size_bytes: int | None
    used_bytes: int | None


@dataclass(frozen=True, slots=True)
class CollectorStats:
    duration_ms: int
    requests: int
    stepdowns: int = 0  # timeouts answered by asking for less (fewer repetitions, GETNEXT)


@dataclass
class DeviceInventory:
    host: str
    port: int
    credential: str  # the profile's label, never its secrets
    system: SystemInfo | None = None
    chassis: PhysicalEntity | None = None  # derived from entities
    members: tuple[ChassisMember, ...] | None = None  # derived from entities
    entities: tuple[PhysicalEntity, ...] | None = None
    interfaces: tuple[Interface, ...] | None = None
    bridge: BridgeInfo | None = None
    lldp_local: LldpLocal | None = None
    ip_addresses: tuple[IPAddress, ...] | None = None
    arp: tuple[ArpEntry, ...] | None = None
    fdb: tuple[FdbEntry, ...] | None = None
    lldp: tuple[LldpNeighbor, ...] | None = None
    cdp: tuple[CdpNeighbor, ...] | None = None
    software: tuple[InstalledSoftware, ...] | None = None
    storage: tuple[Storage, ...] | None = None
    notes: list[Note] = field(default_factory=list)
    tables: list[tuple[str, TableStatus]] = field(default_factory=list)  # (section, table)
    stats: CollectorStats | None = None

    @property
    def delivered_sections(self) -> tuple[str, ...]:
        """Sections in the report: read completely, or in part (with a partial note)."""
        return tuple(s for s in SNMP_SECTIONS if getattr(self, s) is not None)

    @property
    def partial_sections(self) -> tuple[str, ...]:
        """Units delivered in part (note names: ``fdb``, ``device.bridge``, ...)."""
        partial = {n.section for n in self.notes if n.partial}
        return tuple(
            note_name(u) for u in UNITS if getattr(self, u) is not None and note_name(u) in partial
        )

    @property
    def complete_sections(self) -> tuple[str, ...]:
        """Sections read completely (the only ones reconciliation may close)."""
        partial = {n.section for n in self.notes if n.partial}
        return tuple(s for s in self.delivered_sections if s not in partial)

    @property
    def missing_sections(self) -> tuple[str, ...]:
        """Units with a note and no data: not read at all (note names)."""
        noted = {n.section for n in self.notes}
        return tuple(
            note_name(u) for u in UNITS if note_name(u) in noted and getattr(self, u) is None
        )

    @property
    def complete(self) -> bool:
        """Every section read completely: no notes."""
        return not self.notes

    @property
    def vendor(self) -> str | None:
        return self.system.vendor if self.system else None

    @property
    def neighbor_count(self) -> int:
        return len(self.lldp or ()) + len(self.cdp or ())

    def to_report(self, collector: dict[str, Any] | None = None) -> Report:
        """The inventory as a ``cmdb.collectors.model.Report`` (source ``snmp``)."""
        sections: dict[str, Any] = {
            s: to_jsonable(getattr(self, s)) for s in self.delivered_sections
        }
        sections["device"] = {
            "host": self.host,
            "port": self.port,
            "chassis": to_jsonable(self.chassis),
            "members": to_jsonable(self.members),
            "bridge": to_jsonable(self.bridge),
            "lldp_local": to_jsonable(self.lldp_local),
        }
        info: dict[str, Any] = {
            "name": "cmdb.collectors.snmp",
            "credential": self.credential,
            "complete": self.complete,
            "tables": {
                t.table: {
                    "section": section,
                    "status": t.status,
                    "rows": t.rows,
                    "reason": t.reason,
                }
                for section, t in self.tables
            },
        }
        if self.stats:
            info["duration_ms"] = self.stats.duration_ms
            info["requests"] = self.stats.requests
            info["stepdowns"] = self.stats.stepdowns
        return Report(
            source="snmp",
            sections=sections,
            notes=list(self.notes),
            collector=info | (collector or {}),
        )
