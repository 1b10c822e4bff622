"""Typed records of what SNMP says about a device (psutil-style: all in one module).

Unknown values are ``None``. A section the collector could not read completely
is ``None`` on ``DeviceInventory`` and has a ``Note`` in ``notes``; an empty
tuple means "read completely, and there is nothing".
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from collectors.model import Note, Report, to_jsonable

# Sections of a DeviceInventory, in collection order.
SNMP_SECTIONS = (
    "system",
    "entities",
    "interfaces",
    "ip_addresses",
    "arp",
    "fdb",
    "lldp",
    "cdp",
    "software",
    "storage",
)


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


@dataclass(frozen=True, slots=True)
class CdpNeighbor:
    if_index: int
    local_port: str | None
    device_id: str | None
    address: str | None
    port: str | None
    platform: str | None
    version: str | None = None


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


@dataclass
class DeviceInventory:
    host: str
    port: int
    credential: str  # the profile's label, never its secrets
    system: SystemInfo | None = None
    chassis: PhysicalEntity | None = None  # derived from entities
    entities: tuple[PhysicalEntity, ...] | None = None
    interfaces: tuple[Interface, ...] | None = None
    ip_addresses: tuple[IPAddress, ...] | None = None
    arp: tuple[ArpEntry, ...] | None = None
    fdb: tuple[FdbEntry, ...] | None = None
    lldp: tuple[LldpNeighbor, ...] | None = None
    cdp: tuple[CdpNeighbor, ...] | None = None
    software: tuple[InstalledSoftware, ...] | None = None
    storage: tuple[Storage, ...] | None = None
    notes: list[Note] = field(default_factory=list)
    stats: CollectorStats | None = None

    @property
    def complete_sections(self) -> tuple[str, ...]:
        """Sections read completely (the only ones reconciliation may close)."""
        return tuple(s for s in SNMP_SECTIONS if getattr(self, s) is not None)

    @property
    def vendor(self) -> str | None:
        return self.system.vendor if self.system else None

    @property
    def neighbor_count(self) -> int:
        return len(self.lldp or ()) + len(self.cdp or ())

    def to_report(self, collector: dict[str, Any] | None = None) -> Report:
        """The inventory as a ``collectors.model.Report`` (source ``snmp``)."""
        sections: dict[str, Any] = {
            s: to_jsonable(getattr(self, s)) for s in self.complete_sections
        }
        sections["device"] = {
            "host": self.host,
            "port": self.port,
            "chassis": to_jsonable(self.chassis),
        }
        info = {"name": "collectors.snmp", "credential": self.credential}
        if self.stats:
            info["duration_ms"] = self.stats.duration_ms
            info["requests"] = self.stats.requests
        return Report(
            source="snmp",
            sections=sections,
            notes=list(self.notes),
            collector=info | (collector or {}),
        )
