"""The versioned report schema shared by the agent, the SNMP scanner and the server.

A report is one source's facts at one time. Its ``sections`` hold what the
collector read *completely*; a section it could not read is absent and has a
note in ``notes`` instead. Reconciliation only closes (end-dates) facts of
sections that are present, so a partial read never wipes real data.

Record types are plain frozen records (one module, psutil-style); unknown
values are ``None``, never ``""`` or ``0``.

This module is on the agent's collection path, which is timed against other agents: it
imports no ``dataclasses`` (that pulls ``inspect``, ~1 MiB, and builds each class with
several ``exec`` calls), no ``uuid`` and no ``typing``. The records behave as
``@dataclass(frozen=True, slots=True)`` classes do: positional or keyword arguments
with defaults, equality and hash by value, a ``Name(field=...)`` repr, no assignment.
"""

from __future__ import annotations

import os
import sys
from datetime import UTC, datetime

TYPE_CHECKING = False
if TYPE_CHECKING:
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


# ---------------------------------------------------------------- records
class FrozenRecordError(AttributeError):
    """Assignment to a record's field (records are immutable, like frozen dataclasses)."""


class Record:
    """Base of the frozen records: ``_fields`` names the fields in order (see ``record``)."""

    __slots__ = ()
    _fields: tuple[str, ...] = ()

    def __setattr__(self, name: str, value: object) -> None:
        raise FrozenRecordError(f"cannot assign to field {name!r}")

    def __delattr__(self, name: str) -> None:
        raise FrozenRecordError(f"cannot delete field {name!r}")

    def _values(self) -> tuple[Any, ...]:
        return tuple(getattr(self, name) for name in self._fields)

    def __eq__(self, other: object) -> bool:
        if other.__class__ is not self.__class__:
            return NotImplemented
        return self._values() == other._values()  # type: ignore[attr-defined]

    def __hash__(self) -> int:
        return hash(self._values())

    def __repr__(self) -> str:
        inner = ", ".join(f"{name}={getattr(self, name)!r}" for name in self._fields)
        return f"{type(self).__qualname__}({inner})"

    def __reduce__(self) -> tuple[Any, ...]:
        # copy, deepcopy and pickle rebuild through __init__ (assignment is refused)
        return type(self), self._values()

    def _asdict(self) -> dict[str, Any]:
        """The fields as a dict, in order (values as they are: nested records stay)."""
        return {name: getattr(self, name) for name in self._fields}


def record(cls: type) -> type:
    """Turn an annotated class into a slotted ``Record`` subclass with an ``__init__``.

    Fields are the class's annotations in order; a class attribute is that field's
    default. One small ``exec`` per class writes the ``__init__`` (fields set with
    ``object.__setattr__``, as frozen dataclasses do), so building an instance costs
    what a dataclass's does."""
    names = tuple(cls.__dict__.get("__annotations__", {}))
    defaults = {name: cls.__dict__[name] for name in names if name in cls.__dict__}
    namespace = {
        key: value
        for key, value in cls.__dict__.items()
        if key not in names and key not in ("__dict__", "__weakref__")
    }
    namespace["__slots__"] = names
    namespace["_fields"] = names
    namespace["__match_args__"] = names
    params = ", ".join(f"{n}=_d_{n}" if n in defaults else n for n in names)
    body = "".join(f"\n    _set(self, {n!r}, {n})" for n in names) or "\n    pass"
    scope: dict[str, Any] = {"_set": object.__setattr__}
    scope.update({f"_d_{n}": value for n, value in defaults.items()})
    exec(f"def __init__(self, {params}):{body}", scope)  # noqa: S102 - our own field names
    init = scope["__init__"]
    init.__qualname__ = f"{cls.__qualname__}.__init__"
    namespace["__init__"] = init
    bases = cls.__bases__ if Record in cls.__mro__ else (Record,)
    return type(cls.__name__, bases, namespace)


# ---------------------------------------------------------------- host records
@record
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


@record
class OSInfo:
    name: str | None
    version: str | None
    id: str | None
    kernel: str | None
    architecture: str | None
    boot_time: str | None  # ISO 8601, UTC


@record
class CPUInfo:
    model: str | None
    sockets: int | None
    cores: int | None
    threads: int | None
    mhz: float | None = None


@record
class MemoryInfo:
    total_bytes: int | None
    swap_bytes: int | None


@record
class Disk:
    name: str
    size_bytes: int | None
    model: str | None = None
    serial: str | None = None
    rotational: bool | None = None


@record
class Filesystem:
    device: str
    mountpoint: str
    fstype: str | None
    size_bytes: int | None
    used_bytes: int | None = None


@record
class Address:
    address: str
    prefixlen: int | None
    family: int  # 4 or 6


@record
class NetInterface:
    name: str
    mac: str | None
    mtu: int | None
    speed_mbps: int | None
    is_up: bool | None
    addresses: tuple[Address, ...] = ()
    kind: str | None = None  # ethernet, loopback, bridge, virtual, ...


@record
class Gateway:
    family: int
    address: str
    interface: str | None
    is_default: bool


@record
class DNSConfig:
    nameservers: tuple[str, ...]
    search: tuple[str, ...] = ()


@record
class Package:
    name: str
    version: str
    architecture: str | None
    manager: str  # dpkg, rpm
    vendor: str | None = None
    install_date: str | None = None


@record
class Process:
    pid: int
    name: str | None
    exe: str | None
    user: str | None
    cmdline: str | None = None


@record
class ListeningSocket:
    protocol: str  # tcp, tcp6, udp, udp6
    address: str
    port: int
    pid: int | None
    process: str | None
    exe: str | None = None


@record
class Connection:
    protocol: str
    local_address: str
    local_port: int
    remote_address: str
    remote_port: int
    pid: int | None
    process: str | None
    status: str | None = None


@record
class Note:
    """A section the collector could not read (or read only in part), and why.

    ``partial``: None or True, the section (if present) was read in part and closes
    nothing; False, a remark on a section read completely (an owner it could not see)."""

    section: str
    message: str
    partial: bool | None = None


# ---------------------------------------------------------------- the envelope
def new_report_id() -> str:
    """A random (version 4) UUID as text, the form ``str(uuid.uuid4())`` gives."""
    raw = bytearray(os.urandom(16))
    raw[6] = (raw[6] & 0x0F) | 0x40  # version 4
    raw[8] = (raw[8] & 0x3F) | 0x80  # RFC 4122 variant
    h = raw.hex()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def utc_now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _dataclass_dict(value: Any) -> dict[str, Any] | None:
    """A dataclass instance's fields (SNMP records are dataclasses), else None. Nothing is
    a dataclass unless ``dataclasses`` was imported, so the agent never imports it."""
    dataclasses = sys.modules.get("dataclasses")
    if dataclasses is None or not dataclasses.is_dataclass(value) or isinstance(value, type):
        return None
    return {f.name: getattr(value, f.name) for f in dataclasses.fields(value)}


def to_jsonable(value: Any) -> Any:
    """Records and dataclasses (and tuples of them) to plain JSON values."""
    if isinstance(value, Record):
        return {name: to_jsonable(getattr(value, name)) for name in value._fields}
    if isinstance(value, list | tuple):
        return [to_jsonable(v) for v in value]
    if isinstance(value, dict):
        return {k: to_jsonable(v) for k, v in value.items()}
    fields = _dataclass_dict(value)
    if fields is not None:
        return {k: to_jsonable(v) for k, v in fields.items()}
    return value


def json_default(value: Any) -> Any:
    """``default=`` for ``json.dump(s)``: a record (or dataclass) as a dict of its fields,
    so a report is written without first copying it into plain values (``to_jsonable``);
    the text is the same."""
    if isinstance(value, Record):
        return value._asdict()
    fields = _dataclass_dict(value)
    if fields is not None:
        return fields
    raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")


class Report:
    """One source's facts at one time (see the module's docstring).

    ``sections`` maps a section name to its records; ``collector`` holds name, version
    and duration_ms; ``source`` is agent, snmp, manual or import."""

    __slots__ = (
        "source",
        "sections",
        "notes",
        "report_id",
        "collected_at",
        "collector",
        "schema_version",
    )

    def __init__(
        self,
        source: str,
        sections: dict[str, Any] | None = None,
        notes: list[Note] | None = None,
        report_id: str | None = None,
        collected_at: str | None = None,
        collector: dict[str, Any] | None = None,
        schema_version: int = SCHEMA_VERSION,
    ) -> None:
        self.source = source
        self.sections: dict[str, Any] = {} if sections is None else sections
        self.notes: list[Note] = [] if notes is None else notes
        self.report_id = new_report_id() if report_id is None else report_id
        self.collected_at = utc_now_iso() if collected_at is None else collected_at
        self.collector: dict[str, Any] = {} if collector is None else collector
        self.schema_version = schema_version

    def __repr__(self) -> str:
        inner = ", ".join(f"{name}={getattr(self, name)!r}" for name in self.__slots__)
        return f"Report({inner})"

    def __eq__(self, other: object) -> bool:
        if other.__class__ is not self.__class__:
            return NotImplemented
        return all(getattr(self, n) == getattr(other, n) for n in self.__slots__)

    __hash__ = None  # type: ignore[assignment] - mutable, like a dataclass with eq

    def _envelope(self, sections: Any, notes: Any, collector: Any) -> dict[str, Any]:
        return {
            "schema_version": self.schema_version,
            "report_id": self.report_id,
            "source": self.source,
            "collected_at": self.collected_at,
            "collector": collector,
            "sections": sections,
            "notes": notes,
        }

    def to_json(self) -> dict[str, Any]:
        """The report as plain JSON values (dicts, lists, str, numbers, None)."""
        return self._envelope(
            to_jsonable(self.sections), to_jsonable(self.notes), to_jsonable(self.collector)
        )

    def dumps(self, indent: int | None = None) -> str:
        """The report as JSON text: ``json.dumps(self.to_json(), indent=indent)``, written
        straight from the records (no plain-value copy of the report in between)."""
        import json

        return json.dumps(
            self._envelope(self.sections, self.notes, self.collector),
            indent=indent,
            default=json_default,
        )


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
