"""The one declarative schema: every CI class and relationship type, declared once.

Both backends derive their DDL (tables and indexes on SQLite, constraints and
indexes on Neo4j) from these declarations. Adding a CI class or a relationship
type is one entry here. The schema checks itself at import time.
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass

RESERVED_PROPERTIES = frozenset(
    {
        "id",
        "class",
        "name",
        "status",
        "first_seen",
        "last_seen",
        "ended_at",
        "scope",
        "sources",
        "attributes",
        "attr_sources",
    }
)

# who opened and who closed a relationship, stored on it: relationships are end-dated,
# never deleted, so these make a relationship its own history (see cmdb.graph.store)
REL_PROVENANCE = (
    "opened_by",
    "opened_source",
    "opened_actor",
    "opened_request",
    "closed_by",
    "closed_source",
    "closed_actor",
    "closed_request",
)

# CI status values: live (seen within the staleness window), stale, retired, planned (manual)
CI_STATUSES = ("live", "stale", "retired", "planned")


@dataclass(frozen=True, slots=True)
class IdentityRule:
    """One identification rule: the attribute values that together name a CI.

    ``unique`` rules name at most one CI (a constraint in the store); weak rules
    (such as /etc/machine-id, which VM clones share) are only indexed.
    """

    name: str
    fields: tuple[str, ...]
    unique: bool = False


@dataclass(frozen=True, slots=True)
class CIClass:
    label: str
    identity: tuple[IdentityRule, ...]  # strongest first
    attributes: tuple[str, ...]
    name_attr: str
    description: str = ""
    # rule -> a list attribute whose items each carry that rule's fields (missing fields
    # taken from the CI itself): every item's value identifies the CI too (any stack
    # member's serial names the stack)
    identity_aliases: tuple[tuple[str, str], ...] = ()

    def rule(self, name: str) -> IdentityRule:
        for rule in self.identity:
            if rule.name == name:
                return rule
        raise KeyError(f"{self.label} has no identity rule {name!r}")


@dataclass(frozen=True, slots=True)
class RelType:
    name: str
    starts: tuple[str, ...]
    ends: tuple[str, ...]
    description: str = ""
    attributes: tuple[str, ...] = ()


def _rule(name: str, *fields: str, unique: bool = False) -> IdentityRule:
    return IdentityRule(name=name, fields=fields or (name,), unique=unique)


# what the agent's system section (SMBIOS, /sys/class/dmi/id) tells of the machine
HOST_SYSTEM_HARDWARE = (
    "manufacturer",
    "product",
    "serial",
    "chassis_type",
    "bios_vendor",
    "bios_version",
    "bios_date",
    "virtualization",
)
HOST_HARDWARE = (
    *HOST_SYSTEM_HARDWARE,
    "cpu_model",
    "cpu_sockets",
    "cpu_cores",
    "cpu_threads",
    "memory_bytes",
    "swap_bytes",
    "disks",
)

CI_CLASSES: tuple[CIClass, ...] = (
    CIClass(
        label="Host",
        identity=(
            _rule("system_uuid", unique=True),
            # not unique: cloud guests report their compute node's serial, cheap boards a shared one
            _rule("serial_key", "manufacturer", "serial"),
            _rule("machine_id"),
            _rule("fqdn_mac", "fqdn", "primary_mac"),
            # weakest: what SNMP (sysName + ifPhysAddress) and the agent both know
            _rule("hostname_mac", "hostname", "primary_mac"),
        ),
        attributes=(
            "hostname",
            "fqdn",
            "system_uuid",
            "machine_id",
            "primary_mac",
            *HOST_HARDWARE,
            "os_name",
            "os_version",
            "os_id",
            "kernel",
            "architecture",
            "boot_time",
            "filesystems",
            "gateways",
            "dns_nameservers",
            "dns_search",
            "process_count",
            # container and VM links (veth, tap, cali, ...): counted, never Interface CIs
            "virtual_links",
            "management_ip",
            "sys_descr",
            # the agent's clock minus the server's, whole minutes; 0 within tolerance
            "clock_skew_seconds",
        ),
        name_attr="hostname",
        description="A server, VM or workstation",
    ),
    CIClass(
        label="NetworkDevice",
        # cmdb.server.reconcile.snmp fills these; a neighbour's placeholder fills the ones the
        # neighbour told (cmdb.server.reconcile.topology)
        identity=(
            _rule("chassis_serial", "vendor", "serial", unique=True),
            # lldpLocChassisId by subtype (cmdb.server.reconcile.neighbours.chassis_key)
            _rule("lldp_chassis_id", unique=True),
            _rule("base_mac", unique=True),  # dot1dBaseBridgeAddress
            _rule("cdp_device_id", unique=True),  # what CDP neighbours call it
            # weakest: the lowest usable own address, else the scanned one; no name in it,
            # so a rename or a scan on another of its addresses stays one CI
            _rule("identity_address"),
        ),
        attributes=(
            "sys_name",
            "sys_descr",
            "sys_object_id",
            "sys_location",
            "sys_contact",
            "sys_uptime",
            "vendor",
            "model",
            "serial",
            # every chassis / stack member with a serial: [{"member", "serial", "model"}]
            "members",
            "software_version",
            "management_ip",
            "identity_address",
            "lldp_chassis_id",
            "base_mac",
            "cdp_device_id",
            "device_type",
            "placeholder",
            # core / distribution / access, declared by an engineer: where impact finds the
            # core of a layer-2 network (else from gateways and routers)
            "tier",
        ),
        name_attr="sys_name",
        description="A switch, router, firewall, UPS or other SNMP-managed device",
        identity_aliases=(("chassis_serial", "members"),),
    ),
    CIClass(
        label="Interface",
        identity=(_rule("parent_name", "parent", "name", unique=True),),
        attributes=(
            "parent",
            "name",
            "alias",
            "description",
            "if_index",
            "if_type",
            "kind",
            "mac",
            "speed_mbps",
            "mtu",
            "admin_status",
            "oper_status",
            "is_up",
        ),
        name_attr="name",
    ),
    CIClass(
        label="IPAddress",
        identity=(_rule("address_scope", "address", "net_scope", unique=True),),
        attributes=("address", "net_scope", "family", "prefixlen"),
        name_attr="address",
    ),
    CIClass(
        label="Network",
        identity=(_rule("cidr_scope", "cidr", "net_scope", unique=True),),
        attributes=("cidr", "net_scope", "family"),
        name_attr="cidr",
    ),
    CIClass(
        label="Software",
        # one CI per package build, whoever reports it (cmdb.server.reconcile.software): the
        # vendor is what a source says about it, not part of what it is
        identity=(_rule("software_key", "ecosystem", "name", "version", "arch", unique=True),),
        attributes=("ecosystem", "name", "version", "arch", "epoch", "vendor", "manager"),
        name_attr="name",
    ),
    CIClass(
        label="Endpoint",
        identity=(_rule("host_port", "host", "protocol", "port", unique=True),),
        attributes=("host", "protocol", "port", "addresses", "process", "exe"),
        name_attr="port",
    ),
    CIClass(
        label="Service",
        identity=(_rule("name", unique=True),),
        attributes=(
            "name",
            "kind",
            "owner",
            "criticality",
            "sla",
            "description",
            "service_status",
        ),
        name_attr="name",
        description="A business or technical service from the catalogue",
    ),
    CIClass(
        label="RedundancyGroup",
        identity=(_rule("group_key", "service", "name", unique=True),),
        attributes=("service", "name", "min"),
        name_attr="name",
        description="k of n members must be up for what depends on the group",
    ),
    CIClass(
        label="Asset",
        identity=(_rule("asset_tag", unique=True),),
        attributes=(
            "asset_tag",
            "state",
            "purchase_date",
            "cost",
            "currency",
            "supplier",
            "contract",
            "warranty_end",
            "location",
            "owner",
            "model",
            "serial",
        ),
        name_attr="asset_tag",
    ),
    CIClass(
        label="Supplier",
        identity=(_rule("name", unique=True),),
        attributes=("name", "contact", "contract"),
        name_attr="name",
    ),
    CIClass(
        label="Change",
        identity=(_rule("change_id", unique=True),),
        attributes=(
            "change_id",
            "title",
            "state",
            "window_start",
            "window_end",
            "requested_by",
            "impact",
            # what discovery should see ([{attribute|package|port|relationship: ...}]) and
            # who approved it with which warnings (cmdb.server.catalogue.changes)
            "expected",
            "approved_by",
            "approval_warnings",
        ),
        name_attr="change_id",
    ),
)

_ALL = tuple(c.label for c in CI_CLASSES)
_NETWORKED = ("Host", "NetworkDevice")
# records about CIs, not CIs that work: nothing runs on or depends on them
_RECORDS = ("Asset", "Supplier", "Change")
_OPERATIONAL = tuple(c for c in _ALL if c not in _RECORDS)

REL_TYPES: tuple[RelType, ...] = (
    RelType("HAS_INTERFACE", _NETWORKED, ("Interface",)),
    RelType("HAS_IP", ("Interface",), ("IPAddress",)),
    RelType("IN_NETWORK", ("IPAddress",), ("Network",)),
    RelType("CONNECTED_TO", ("Interface",), ("Interface",), "layer-2 link", ("via",)),
    RelType("INSTALLED", _NETWORKED, ("Software",), attributes=("install_date",)),
    RelType("LISTENS_ON", ("Host",), ("Endpoint",)),
    RelType(
        "CONNECTS_TO",
        ("Endpoint", "Host"),
        ("Endpoint",),
        "observed client connection",
        ("observations", "process"),
    ),
    RelType("RUNS_ON", ("Software", "Service", "Endpoint"), _NETWORKED),
    RelType("HOSTED_ON", ("Host",), ("Host",), "VM on hypervisor"),
    RelType("MEMBER_OF", _ALL, ("RedundancyGroup",)),
    # declared by the catalogue or by hand (cmdb.server.catalogue.relationships) between any two
    # working CIs: an application on a host discovery cannot see, a host on a group of peers
    RelType("DEPENDS_ON", _OPERATIONAL, _ALL),
    RelType("REPRESENTS", ("Asset",), _ALL),
    RelType("SUPPLIED_BY", ("Asset",), ("Supplier",)),
    RelType("AFFECTS", ("Change",), _ALL),
    RelType("OWNED_BY", _ALL, ("Service", "Supplier")),
)

# Which relationships are dependencies, and what a failure does along them, is one table:
# cmdb.graph.dependency.RULES (impact, the dependencies API, the service diff and the stores'
# impact queries all read it).

# attributes looked up by value in batches (topology: which Interface has this MAC), each
# indexed on both stores; identity values are indexed anyway
LOOKUP_ATTRIBUTES = (
    ("Interface", "mac"),
    ("Interface", "parent"),
    ("NetworkDevice", "management_ip"),
    ("Host", "management_ip"),
    ("IPAddress", "address"),
)

# curated attributes an installation declares per class in its config (cmdb.server.config
# ``[custom_attributes]``): one attribute document per CI, validated by cmdb.server.catalogue.custom
CUSTOM_ATTRIBUTE = "custom"
CI_CLASSES = tuple(
    dataclasses.replace(c, attributes=(*c.attributes, CUSTOM_ATTRIBUTE))
    if c.label in _OPERATIONAL and c.label != "RedundancyGroup"
    else c
    for c in CI_CLASSES
)

CLASSES: dict[str, CIClass] = {c.label: c for c in CI_CLASSES}
RELS: dict[str, RelType] = {r.name: r for r in REL_TYPES}

_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")


class SchemaError(ValueError):
    pass


def validate_schema() -> None:
    """Fail with a full sentence on anything a backend could not derive DDL from."""
    seen: set[str] = set()
    for cls in CI_CLASSES:
        if not _NAME.match(cls.label):
            raise SchemaError(f"CI class label {cls.label!r} is not a valid identifier.")
        if cls.label in seen:
            raise SchemaError(f"CI class {cls.label} is declared twice.")
        seen.add(cls.label)
        if not cls.identity:
            raise SchemaError(f"CI class {cls.label} declares no identity rule.")
        for attr in cls.attributes:
            if attr in RESERVED_PROPERTIES and attr != "name":
                raise SchemaError(
                    f"CI class {cls.label} declares attribute {attr!r}, a reserved property name."
                )
            if not _NAME.match(attr):
                raise SchemaError(f"CI class {cls.label}: attribute {attr!r} is not an identifier.")
        for rule_name, list_attr in cls.identity_aliases:
            if rule_name not in {r.name for r in cls.identity} or list_attr not in cls.attributes:
                raise SchemaError(
                    f"CI class {cls.label} declares identity aliases of {rule_name!r} from "
                    f"{list_attr!r}: both must be its own rule and attribute."
                )
        if cls.name_attr not in cls.attributes:
            raise SchemaError(
                f"CI class {cls.label} takes its name from {cls.name_attr!r}, "
                f"which is not one of its attributes."
            )
        for rule in cls.identity:
            for fld in rule.fields:
                if fld not in cls.attributes:
                    raise SchemaError(
                        f"Identity rule {rule.name!r} of {cls.label} uses {fld!r}, "
                        f"which is not one of its attributes."
                    )
    for label, attr in LOOKUP_ATTRIBUTES:
        if label not in CLASSES or attr not in CLASSES[label].attributes:
            raise SchemaError(f"Lookup attribute {label}.{attr} is not a declared attribute.")
    for rel in REL_TYPES:
        if not _NAME.match(rel.name):
            raise SchemaError(f"Relationship type {rel.name!r} is not a valid identifier.")
        for end in (*rel.starts, *rel.ends):
            if end not in CLASSES:
                raise SchemaError(
                    f"Relationship {rel.name} names {end!r} as an end, "
                    "but no CI class has that label."
                )


validate_schema()
