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
    """A section the collector could not read (or read only in part), and why."""

    section: str
    message: str


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
                "local_port": _PORT,
                "remote_address": {"type": "string"},
                "remote_port": _PORT,
                "pid": _I,
                "process": _S,
                "status": _S,
            },
            ("protocol", "local_address", "local_port", "remote_address", "remote_port"),
        )
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
        "notes": _list(_obj({"section": _STR, "message": {"type": "string"}}, ("section",))),
        # sections the agent left out because they equal the last acknowledged report's
        "unchanged_sections": _list({"type": "string"}),
    },
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
