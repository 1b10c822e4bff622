"""The versioned report schema shared by the agent, the SNMP scanner and the server.

A report is one source's facts at one time. Its ``sections`` hold what the
collector read *completely*; a section it could not read is absent and has a
note in ``notes`` instead. Reconciliation only closes (end-dates) facts of
sections that are present, so a partial read never wipes real data.

Record types are plain frozen dataclasses (one module, psutil-style); unknown
values are ``None``, never ``""`` or ``0``.
"""

from __future__ import annotations

import dataclasses
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

SCHEMA_VERSION = 1
SUPPORTED_SCHEMA_VERSIONS = (1,)

HOST_SECTIONS = (
    "system",
    "os",
    "cpu",
    "memory",
    "disks",
    "filesystems",
    "interfaces",
    "gateways",
    "dns",
    "packages",
    "processes",
    "listening",
    "connections",
)


# ---------------------------------------------------------------- host records
@dataclass(frozen=True, slots=True)
class SystemInfo:
    hostname: str | None
    fqdn: str | None
    machine_id: str | None = None
    system_uuid: str | None = None
    manufacturer: str | None = None
    product: str | None = None
    serial: str | None = None
    chassis_type: str | None = None
    bios_vendor: str | None = None
    bios_version: str | None = None
    bios_date: str | None = None
    virtualization: str | None = None


@dataclass(frozen=True, slots=True)
class OSInfo:
    name: str | None
    version: str | None
    id: str | None
    kernel: str | None
    architecture: str | None
    boot_time: str | None  # ISO 8601, UTC


@dataclass(frozen=True, slots=True)
class CPUInfo:
    model: str | None
    sockets: int | None
    cores: int | None
    threads: int | None
    mhz: float | None = None


@dataclass(frozen=True, slots=True)
class MemoryInfo:
    total_bytes: int | None
    swap_bytes: int | None


@dataclass(frozen=True, slots=True)
class Disk:
    name: str
    size_bytes: int | None
    model: str | None = None
    serial: str | None = None
    rotational: bool | None = None


@dataclass(frozen=True, slots=True)
class Filesystem:
    device: str
    mountpoint: str
    fstype: str | None
    size_bytes: int | None
    used_bytes: int | None = None


@dataclass(frozen=True, slots=True)
class Address:
    address: str
    prefixlen: int | None
    family: int  # 4 or 6


@dataclass(frozen=True, slots=True)
class NetInterface:
    name: str
    mac: str | None
    mtu: int | None
    speed_mbps: int | None
    is_up: bool | None
    addresses: tuple[Address, ...] = ()
    kind: str | None = None  # ethernet, loopback, bridge, virtual, ...


@dataclass(frozen=True, slots=True)
class Gateway:
    family: int
    address: str
    interface: str | None
    is_default: bool


@dataclass(frozen=True, slots=True)
class DNSConfig:
    nameservers: tuple[str, ...]
    search: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Package:
    name: str
    version: str
    architecture: str | None
    manager: str  # dpkg, rpm
    vendor: str | None = None
    install_date: str | None = None


@dataclass(frozen=True, slots=True)
class Process:
    pid: int
    name: str | None
    exe: str | None
    user: str | None
    cmdline: str | None = None


@dataclass(frozen=True, slots=True)
class ListeningSocket:
    protocol: str  # tcp, tcp6, udp, udp6
    address: str
    port: int
    pid: int | None
    process: str | None
    exe: str | None = None


@dataclass(frozen=True, slots=True)
class Connection:
    protocol: str
    local_address: str
    local_port: int
    remote_address: str
    remote_port: int
    pid: int | None
    process: str | None
    status: str | None = None


@dataclass(frozen=True, slots=True)
class Note:
    """A section the collector could not read (or read only in part), and why.

    ``partial``: None or True, the section (if present) was read in part and closes
    nothing; False, a remark on a section read completely (an owner it could not see)."""

    section: str
    message: str
    partial: bool | None = None


# ---------------------------------------------------------------- the envelope
def new_report_id() -> str:
    return str(uuid.uuid4())


def utc_now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def to_jsonable(value: Any) -> Any:
    """Dataclasses (and tuples of them) to plain JSON values."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: to_jsonable(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, list | tuple):
        return [to_jsonable(v) for v in value]
    if isinstance(value, dict):
        return {k: to_jsonable(v) for k, v in value.items()}
    return value


@dataclass
class Report:
    source: str  # agent, snmp, manual, import
    sections: dict[str, Any] = field(default_factory=dict)
    notes: list[Note] = field(default_factory=list)
    report_id: str = field(default_factory=new_report_id)
    collected_at: str = field(default_factory=utc_now_iso)
    collector: dict[str, Any] = field(default_factory=dict)  # name, version, duration_ms
    schema_version: int = SCHEMA_VERSION

    def to_json(self) -> dict[str, Any]:
        return {
            "schema_version": self.schema_version,
            "report_id": self.report_id,
            "source": self.source,
            "collected_at": self.collected_at,
            "collector": to_jsonable(self.collector),
            "sections": to_jsonable(self.sections),
            "notes": to_jsonable(self.notes),
        }


# ---------------------------------------------------------------- JSON schema
def _obj(props: dict[str, Any], required: tuple[str, ...] = ()) -> dict[str, Any]:
    return {"type": "object", "properties": props, "required": list(required)}


_S = {"type": ["string", "null"]}
_I = {"type": ["integer", "null"]}
_N = {"type": ["number", "null"]}
_B = {"type": ["boolean", "null"]}
_STR = {"type": "string", "minLength": 1}
_PORT = {"type": "integer", "minimum": 0, "maximum": 65535}
_PORT_OR_NULL = {"type": ["integer", "null"], "minimum": 0, "maximum": 65535}


def _list(item: dict[str, Any]) -> dict[str, Any]:
    return {"type": "array", "items": item}


_ADDRESS = _obj(
    {"address": _STR, "prefixlen": _I, "family": {"enum": [4, 6]}}, ("address", "family")
)

HOST_SECTION_SCHEMAS: dict[str, dict[str, Any]] = {
    "system": _obj(
        {
            "hostname": _S,
            "fqdn": _S,
            "machine_id": _S,
            "system_uuid": _S,
            "manufacturer": _S,
            "product": _S,
            "serial": _S,
            "chassis_type": _S,
            "bios_vendor": _S,
            "bios_version": _S,
            "bios_date": _S,
            "virtualization": _S,
        }
    ),
    "os": _obj(
        {
            "name": _S,
            "version": _S,
            "id": _S,
            "kernel": _S,
            "architecture": _S,
            "boot_time": _S,
        }
    ),
    "cpu": _obj({"model": _S, "sockets": _I, "cores": _I, "threads": _I, "mhz": _N}),
    "memory": _obj({"total_bytes": _I, "swap_bytes": _I}),
    "disks": _list(
        _obj(
            {"name": _STR, "size_bytes": _I, "model": _S, "serial": _S, "rotational": _B},
            ("name",),
        )
    ),
    "filesystems": _list(
        _obj(
            {
                "device": _STR,
                "mountpoint": _STR,
                "fstype": _S,
                "size_bytes": _I,
                "used_bytes": _I,
            },
            ("device", "mountpoint"),
        )
    ),
    "interfaces": _list(
        _obj(
            {
                "name": _STR,
                "mac": _S,
                "mtu": _I,
                "speed_mbps": _I,
                "is_up": _B,
                "kind": _S,
                "addresses": _list(_ADDRESS),
            },
            ("name",),
        )
    ),
    "gateways": _list(
        _obj(
            {
                "family": {"enum": [4, 6]},
                "address": _STR,
                "interface": _S,
                "is_default": {"type": "boolean"},
            },
            ("family", "address"),
        )
    ),
    "dns": _obj({"nameservers": _list({"type": "string"}), "search": _list({"type": "string"})}),
    "packages": _list(
        _obj(
            {
                "name": _STR,
                "version": _STR,
                "architecture": _S,
                "manager": _STR,
                "vendor": _S,
                "install_date": _S,
            },
            ("name", "version", "manager"),
        )
    ),
    "processes": _list(
        _obj(
            {"pid": {"type": "integer"}, "name": _S, "exe": _S, "user": _S, "cmdline": _S},
            ("pid",),
        )
    ),
    "listening": _list(
        _obj(
            {
                "protocol": {"enum": ["tcp", "tcp6", "udp", "udp6"]},
                "address": {"type": "string"},
                "port": _PORT,
                "pid": _I,
                "process": _S,
                "exe": _S,
            },
            ("protocol", "address", "port"),
        )
    ),
    "connections": _list(
        _obj(
            {
                "protocol": {"enum": ["tcp", "tcp6", "udp", "udp6"]},
                "local_address": {"type": "string"},
                # the ephemeral side of an aggregated row is null (cmdb.agent.runner.prepare)
                "local_port": _PORT_OR_NULL,
                "remote_address": {"type": "string"},
                "remote_port": _PORT_OR_NULL,
                "pid": _I,
                "process": _S,
                "status": _S,
                # how many connections the row stands for (absent: one)
                "count": {"type": "integer", "minimum": 1},
            },
            ("protocol", "local_address", "local_port", "remote_address", "remote_port"),
        )
    ),
}


# ---------------------------------------------------------------- SNMP sections
# What ``cmdb.collectors.snmp`` reads (records in collectors/snmp/records.py). Every
# field is optional (``null`` = the device did not say); the descriptions name
# the MIB object each comes from. Only the keys a record cannot lack are required.
def _d(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {**schema, "description": description}


_ENTITY_FIELDS: dict[str, Any] = {
    "index": _d({"type": "integer"}, "entPhysicalIndex"),
    "entity_class": _d(_S, "entPhysicalClass label: chassis, stack, module, port, ..."),
    "contained_in": _d(_I, "entPhysicalContainedIn (0/null: top level)"),
    "parent_rel_pos": _d(_I, "entPhysicalParentRelPos (stack member number for a chassis)"),
    "descr": _d(_S, "entPhysicalDescr"),
    "name": _d(_S, "entPhysicalName"),
    "model": _d(_S, "entPhysicalModelName"),
    "serial": _d(_S, "entPhysicalSerialNum"),
    "hardware_rev": _d(_S, "entPhysicalHardwareRev"),
    "firmware_rev": _d(_S, "entPhysicalFirmwareRev"),
    "software_rev": _d(_S, "entPhysicalSoftwareRev"),
    "manufacturer": _d(_S, "entPhysicalMfgName"),
}
_MEMBER = _obj(
    {
        **{k: v for k, v in _ENTITY_FIELDS.items() if k not in ("parent_rel_pos",)},
        "member": _d(
            _I,
            "stack member number: entPhysicalParentRelPos, else the number in an "
            "entPhysicalName like 'Switch 2' of a chassis inside a stack(11) entity",
        ),
    },
    ("index",),
)

_BRIDGE = _d(
    _obj(
        {
            "base_address": _d(_S, "dot1dBaseBridgeAddress (the bridge's base MAC)"),
            "ports": _list(
                _obj(
                    {
                        "port": _d({"type": "integer"}, "dot1dBasePort"),
                        "if_index": _d(_I, "dot1dBasePortIfIndex"),
                    },
                    ("port",),
                )
            ),
        }
    ),
    "BRIDGE-MIB dot1dBase: base MAC and bridge port -> ifIndex "
    "(null address and no ports on a device that is not a bridge)",
)
_LLDP_LOCAL = _d(
    _obj(
        {
            "chassis_id_subtype": _d(_S, "lldpLocChassisIdSubtype label"),
            "chassis_id": _d(
                _S, "lldpLocChassisId rendered by subtype (MAC aa:bb:.., IP, text or hex)"
            ),
            "sys_name": _d(_S, "lldpLocSysName"),
            "ports": _list(
                _obj(
                    {
                        "port_num": _d({"type": "integer"}, "lldpLocPortNum"),
                        "id_subtype": _d(_S, "lldpLocPortIdSubtype label"),
                        "id": _d(_S, "lldpLocPortId rendered by subtype"),
                        "descr": _d(_S, "lldpLocPortDesc"),
                    },
                    ("port_num",),
                )
            ),
        }
    ),
    "LLDP-MIB local system: lldpLocChassisId and lldpLocPortTable",
)

SNMP_SECTION_SCHEMAS: dict[str, dict[str, Any]] = {
    "system": _d(
        _obj(
            {
                "descr": _d(_S, "sysDescr"),
                "object_id": _d(_S, "sysObjectID, dotted"),
                "uptime_ticks": _d(_I, "sysUpTime, hundredths of a second"),
                "contact": _d(_S, "sysContact"),
                "name": _d(_S, "sysName"),
                "location": _d(_S, "sysLocation"),
                "enterprise": _d(_I, "IANA enterprise number from sysObjectID"),
                "vendor": _d(_S, "IANA organisation of that number"),
            }
        ),
        "SNMPv2-MIB system group",
    ),
    "device": _d(
        _obj(
            {
                "host": _d(_S, "the address scanned"),
                "port": _d(_I, "the UDP port scanned"),
                "chassis": _d(
                    {"type": ["object", "null"], "properties": _ENTITY_FIELDS},
                    "the first top-level ENTITY-MIB chassis(3) row",
                ),
                "members": _d(
                    {"type": ["array", "null"], "items": _MEMBER},
                    "every ENTITY-MIB chassis(3) and stack(11) row (stack members each with "
                    "serial, model and member number); null when entities were not read",
                ),
                "bridge": _d(
                    {**_BRIDGE, "type": ["object", "null"]},
                    f"{_BRIDGE['description']}; null when not read (see notes: device.bridge)",
                ),
                "lldp_local": _d(
                    {**_LLDP_LOCAL, "type": ["object", "null"]},
                    f"{_LLDP_LOCAL['description']}; null when not read "
                    "(see notes: device.lldp_local)",
                ),
            }
        ),
        "the scanned device itself (always present)",
    ),
    "entities": _d(_list(_obj(_ENTITY_FIELDS, ("index",))), "ENTITY-MIB entPhysicalTable"),
    "interfaces": _d(
        _list(
            _obj(
                {
                    "index": _d({"type": "integer"}, "ifIndex"),
                    "name": _d(_S, "ifName, else ifDescr"),
                    "descr": _d(_S, "ifDescr"),
                    "alias": _d(_S, "ifAlias"),
                    "type": _d(_S, "ifType label"),
                    "mac": _d(_S, "ifPhysAddress"),
                    "speed_mbps": _d(_I, "ifHighSpeed, else ifSpeed / 10^6"),
                    "mtu": _d(_I, "ifMtu"),
                    "admin_status": _d(_S, "ifAdminStatus"),
                    "oper_status": _d(_S, "ifOperStatus"),
                },
                ("index",),
            )
        ),
        "IF-MIB ifTable + ifXTable",
    ),
    "ip_addresses": _d(
        _list(
            _obj(
                {
                    "address": _STR,
                    "prefixlen": _I,
                    "family": {"enum": [4, 6, None]},
                    "if_index": _I,
                    "source": _d(_S, "ipAddrTable or ipAddressTable"),
                },
                ("address",),
            )
        ),
        "IP-MIB ipAddrTable (IPv4) and ipAddressTable, each its own unit of completeness",
    ),
    "arp": _d(
        _list(
            _obj(
                {"ip": _STR, "mac": _S, "if_index": _I, "type": _S, "source": _S},
                ("ip",),
            )
        ),
        "IP-MIB ipNetToMediaTable and ipNetToPhysicalTable",
    ),
    "fdb": _d(
        _list(
            _obj(
                {
                    "mac": _STR,
                    "bridge_port": _d(_I, "dot1dTpFdbPort / dot1qTpFdbPort"),
                    "if_index": _d(_I, "through dot1dBasePortIfIndex"),
                    "vlan": _d(_I, "Q-BRIDGE FDB id"),
                    "status": _S,
                    "source": _S,
                },
                ("mac",),
            )
        ),
        "BRIDGE-MIB dot1dTpFdbTable and Q-BRIDGE-MIB dot1qTpFdbTable",
    ),
    "lldp": _d(
        _list(
            _obj(
                {
                    "local_port_num": _d({"type": "integer"}, "lldpRemLocalPortNum, raw"),
                    "local_port": _d(_S, "our interface name (see local_port_source)"),
                    "local_if_index": _d(_I, "our ifIndex (see local_port_source)"),
                    "local_port_source": _d(
                        {
                            "enum": [
                                "lldpLocPortId",
                                "lldpLocPortDesc",
                                "dot1dBasePortIfIndex",
                                "ifIndex",
                                None,
                            ]
                        },
                        "how lldpRemLocalPortNum was mapped to our interface: the port's "
                        "lldpLocPortId by its subtype, its lldpLocPortDesc, the bridge port "
                        "table, or the number as an ifIndex (only on devices without a bridge "
                        "port table); null: unresolved (local_port, local_if_index null)",
                    ),
                    "chassis_id_subtype": _d(_S, "lldpRemChassisIdSubtype label"),
                    "chassis_id": _d(_S, "lldpRemChassisId rendered by subtype"),
                    "port_id_subtype": _d(_S, "lldpRemPortIdSubtype label"),
                    "port_id": _d(_S, "lldpRemPortId rendered by subtype"),
                    "port_descr": _d(_S, "lldpRemPortDesc"),
                    "sys_name": _d(_S, "lldpRemSysName"),
                    "sys_descr": _d(_S, "lldpRemSysDesc"),
                    "management_addresses": _d(
                        _list({"type": "string"}), "lldpRemManAddrTable addresses"
                    ),
                },
                ("local_port_num",),
            )
        ),
        "LLDP-MIB lldpRemTable + lldpRemManAddrTable",
    ),
    "cdp": _d(
        _list(
            _obj(
                {
                    "if_index": _d({"type": "integer"}, "cdpCacheIfIndex"),
                    "local_port": _S,
                    "device_id": _d(_S, "cdpCacheDeviceId"),
                    "address_type": _d(_I, "cdpCacheAddressType (1 = ip)"),
                    "address": _d(_S, "cdpCacheAddress, decoded for address type 1 only"),
                    "port": _d(_S, "cdpCacheDevicePort"),
                    "platform": _d(_S, "cdpCachePlatform"),
                    "version": _d(_S, "cdpCacheVersion"),
                },
                ("if_index",),
            )
        ),
        "CISCO-CDP-MIB cdpCacheTable",
    ),
    "software": _d(
        _list(_obj({"index": {"type": "integer"}, "name": _S, "type": _S, "installed": _S}, ())),
        "HOST-RESOURCES-MIB hrSWInstalledTable",
    ),
    "storage": _d(
        _list(
            _obj(
                {
                    "index": {"type": "integer"},
                    "type": _S,
                    "descr": _S,
                    "size_bytes": _I,
                    "used_bytes": _I,
                },
                (),
            )
        ),
        "HOST-RESOURCES-MIB hrStorageTable",
    ),
}

REPORT_SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "type": "object",
    "required": ["schema_version", "report_id", "source", "collected_at", "sections"],
    "properties": {
        "schema_version": {"type": "integer"},
        "report_id": {"type": "string", "minLength": 8, "maxLength": 64},
        "source": {"enum": ["agent", "snmp", "manual", "import"]},
        "collected_at": {"type": "string", "format": "date-time"},
        "collector": {"type": "object"},
        "sections": {"type": "object"},
        "notes": _list(
            _obj(
                {"section": _STR, "message": {"type": "string"}, "partial": _B},
                ("section",),
            )
        ),
        # sections the agent left out because they equal the last acknowledged report's
        "unchanged_sections": _list({"type": "string"}),
        # the agent's own report counter: grows with every report, survives restarts and
        # clock jumps; the server orders an agent's reports by it, not by collected_at
        "sequence": {"type": "integer", "minimum": 0},
        # a delta builds on the last report this server applied for the agent
        "mode": {"enum": ["full", "delta"]},
        "base_report_id": {"type": "string", "minLength": 1, "maxLength": 64},
        # the agent install that counts ``sequence`` (a wiped state directory starts anew)
        "agent_instance": {"type": "string", "minLength": 1, "maxLength": 64},
        # the agent's clock when it sent the report: the server measures the skew from it
        "sent_at": {"type": "string", "format": "date-time"},
    },
    # an SNMP report's sections are checked field by field (unknown sections pass)
    "if": {"properties": {"source": {"const": "snmp"}}, "required": ["source"]},
    "then": {"properties": {"sections": {"type": "object", "properties": SNMP_SECTION_SCHEMAS}}},
}

AGENT_REPORT_SCHEMA: dict[str, Any] = {
    **REPORT_SCHEMA,
    "properties": {
        **REPORT_SCHEMA["properties"],
        "sections": {
            "type": "object",
            "properties": HOST_SECTION_SCHEMAS,
            "additionalProperties": False,
        },
    },
}
