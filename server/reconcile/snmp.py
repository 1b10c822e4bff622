"""Transform an SNMP inventory report into the CIs it describes (pure).

The root is a NetworkDevice, identified (strongest first, ``cmdb.graph.schema``) by chassis
serial (vendor + serial from ENTITY-MIB), its own LLDP chassis ID (lldpLocChassisId, read
by subtype as neighbours read it), its bridge base MAC (dot1dBaseBridgeAddress), a CDP
device ID (placeholders), and last its identity address: the lowest usable address of its
own address tables, else the address it was scanned on. Every device that answers gets a
CI: one with an empty sysName is named by its address (or base MAC). A stack keeps every
member's serial and model in ``members``. A device whose
agent is a general-purpose OS (net-snmp or Microsoft's agent, a Linux/Windows/BSD
sysDescr) is a server: its root is a Host, so that the agent's report and the
SNMP view of one machine land on one CI. Host identity through SNMP is the
weak ``hostname_mac`` rule: sysName plus the MAC the agent would call primary
(see ``primary_mac``). HOST-RESOURCES-MIB alone does not make a server: Juniper,
Arista and Palo Alto devices answer it too.

Closing is scoped to what was read completely: a section absent from the
report (a table that timed out) closes nothing, and IP addresses only close
when the interfaces they hang on were read too. Layer-2 topology (LLDP, CDP,
FDB) is not here: it needs other devices' CIs and runs after the commit, in
``cmdb.server.reconcile.topology``.
"""

from __future__ import annotations

import ipaddress
import re
from datetime import timedelta
from typing import Any

from cmdb.graph import times
from cmdb.graph.identity import is_placeholder
from cmdb.server.reconcile.addresses import add_address, net_scope, not_unique_reason
from cmdb.server.reconcile.desired import Desired, DesiredCI, DesiredRel
from cmdb.server.reconcile.neighbours import chassis_key, display_name, normalise_mac
from cmdb.server.reconcile.software import (
    add_installed,
    parse_installed_name,
    software_attributes,
)
from cmdb.server.reconcile.topology import link_topology

REL_SECTIONS = {
    "HAS_INTERFACE": "interfaces",
    "HAS_IP": "ip_addresses",
    "IN_NETWORK": "ip_addresses",
    "INSTALLED": "software",
}
CLASS_SECTIONS = {"Interface": "interfaces", "IPAddress": "ip_addresses", "Network": "ip_addresses"}

SERVER_ENTERPRISES = frozenset({8072, 311, 2021})  # net-snmp, Microsoft, UCD-SNMP
_SERVER_DESCR = re.compile(
    r"^(Linux|FreeBSD|OpenBSD|NetBSD|SunOS|Darwin|AIX|HP-UX)\s|Software: Windows|^Windows",
    re.IGNORECASE,
)
_LOOPBACK_TYPES = frozenset({"softwareLoopback"})
_NO_MAC = frozenset({"00:00:00:00:00:00", "ff:ff:ff:ff:ff:ff"})

# (pattern over sysDescr + model, device type), first match wins
_DEVICE_TYPES = (
    (re.compile(r"firewall|palo alto|fortigate|\basa\b|srx|checkpoint", re.I), "firewall"),
    (re.compile(r"\bups\b|powernet|smart-ups|eaton", re.I), "ups"),
    (re.compile(r"printer|laserjet|jetdirect", re.I), "printer"),
    (re.compile(r"wireless|access point|\bAIR-", re.I), "access-point"),
    (re.compile(r"router|\bmx\d+|\bisr\d*|\basr\d*|routing", re.I), "router"),
    (re.compile(r"switch|nexus|catalyst|procurve|arista|\bC\d{4}|E\d{3}|S\d{4}", re.I), "switch"),
)


def is_server(sections: dict[str, Any]) -> bool:
    """Whether the agent answering is a general-purpose OS (its root is then a Host)."""
    system = sections.get("system") or {}
    if system.get("enterprise") in SERVER_ENTERPRISES:
        return True
    return bool(_SERVER_DESCR.search(system.get("descr") or ""))


def device_type(system: dict[str, Any], model: str | None) -> str | None:
    text = " ".join(filter(None, (system.get("descr"), model)))
    for pattern, kind in _DEVICE_TYPES:
        if pattern.search(text):
            return kind
    return None


def up_since(collected_at: str, ticks: int | None) -> str | None:
    """Boot time to the hour: unlike sysUpTime it does not change between two scans, so a
    steady device writes no history; a reboot shows as a new value."""
    if ticks is None:
        return None
    at = times.parse_instant(collected_at)
    boot = (at - timedelta(seconds=ticks / 100)).replace(minute=0, second=0, microsecond=0)
    return times.to_seconds(boot)


def interface_names(interfaces: list[dict[str, Any]]) -> dict[int, str]:
    """ifIndex -> a name unique on the device (ifName, else ifDescr, else the index)."""
    names: dict[int, str] = {}
    taken: set[str] = set()
    for nic in sorted(interfaces, key=lambda i: i["index"]):
        name = nic.get("name") or nic.get("descr") or f"ifIndex {nic['index']}"
        if name in taken:
            name = f"{name} ({nic['index']})"
        taken.add(name)
        names[nic["index"]] = name
    return names


def _mac(value: str | None) -> str | None:
    mac = (value or "").lower() or None
    return None if mac in _NO_MAC else mac


def _address(entry: dict[str, Any]) -> ipaddress.IPv4Interface | ipaddress.IPv6Interface | None:
    try:
        text = entry["address"].split("%", 1)[0]
        prefix = entry.get("prefixlen")
        iface = ipaddress.ip_interface(f"{text}/{prefix}" if prefix is not None else text)
    except (ValueError, KeyError):
        return None
    net = iface.network
    if iface.version == 4 and net.prefixlen < 31 and iface.ip == net.broadcast_address:
        return None  # ipAddressTable lists the broadcast address too; it is no host's
    return iface


def primary_mac(sections: dict[str, Any]) -> str | None:
    """The MAC the host agent would call primary (its default-route NIC), guessed from SNMP:
    the NIC holding the scanned address, else the only NIC with a global IPv4 address,
    else (the agent's own fallback) the first non-loopback NIC by name with a MAC."""
    interfaces = [
        i for i in sections.get("interfaces") or [] if i.get("type") not in _LOOPBACK_TYPES
    ]
    by_index = {i["index"]: i for i in interfaces if _mac(i.get("mac"))}
    host = (sections.get("device") or {}).get("host")
    global_v4: set[int] = set()
    for entry in sections.get("ip_addresses") or []:
        iface = _address(entry)
        if iface is None or entry.get("if_index") not in by_index:
            continue
        if host and str(iface.ip) == host:
            return _mac(by_index[entry["if_index"]]["mac"])
        if iface.version == 4 and net_scope(iface.ip, "") == "global":
            global_v4.add(entry["if_index"])
    if len(global_v4) == 1:
        return _mac(by_index[global_v4.pop()]["mac"])
    names = interface_names(list(by_index.values()))
    for index in sorted(by_index, key=lambda i: names[i]):
        return _mac(by_index[index]["mac"])
    return None


def own_addresses(sections: dict[str, Any]) -> list[str]:
    """The device's own addresses that can identify it (``not_unique_reason`` is None),
    lowest first (IPv4 before IPv6), from its address tables."""
    found: set[ipaddress.IPv4Address | ipaddress.IPv6Address] = set()
    for entry in sections.get("ip_addresses") or []:
        iface = _address(entry)
        if iface is not None and not_unique_reason(iface.ip, entry.get("prefixlen")) is None:
            found.add(iface.ip)
    return [str(ip) for ip in sorted(found, key=lambda ip: (ip.version, int(ip)))]


def identity_address(sections: dict[str, Any]) -> str | None:
    """The address that identifies a device when nothing stronger does: the lowest of its
    own usable addresses (the same whichever of them it was scanned on), else the address
    it was scanned on (the weakest key there is)."""
    own = own_addresses(sections)
    return own[0] if own else (sections.get("device") or {}).get("host")


def stack_members(sections: dict[str, Any]) -> list[dict[str, Any]] | None:
    """Every chassis (or stack member) with a serial: ``[{"member", "serial", "model"}]``,
    by member number; from ``device.members`` (ENTITY-MIB chassis rows), else from the
    chassis rows of ``entities``. None when entities were not read."""
    device = sections.get("device") or {}
    rows = device.get("members")
    if rows is None:
        entities = sections.get("entities")
        if entities is None:
            return None
        rows = [e for e in entities if e.get("entity_class") == "chassis"]
    out = []
    for position, row in enumerate(sorted(rows, key=lambda r: r.get("index") or 0), 1):
        if row.get("entity_class") not in (None, "chassis") or is_placeholder(row.get("serial")):
            continue
        member = row.get("member") or row.get("parent_rel_pos")
        out.append(
            {
                "member": member if isinstance(member, int) and member > 0 else position,
                "serial": str(row["serial"]).strip(),
                "model": row.get("model") or None,
            }
        )
    return sorted(out, key=lambda m: (m["member"], m["serial"]))


def _root(report: dict[str, Any], sections: dict[str, Any]) -> DesiredCI:
    system = sections.get("system") or {}
    device = sections.get("device") or {}
    chassis = device.get("chassis") or {}
    common = {"management_ip": device.get("host"), "sys_descr": system.get("descr")}
    if is_server(sections):
        attrs = {"hostname": system.get("name"), **common}
        if sections.get("interfaces") is not None:
            attrs["primary_mac"] = primary_mac(sections)
        return DesiredCI("device", "Host", attrs, name=attrs["hostname"], section=None)
    local = sections.get("lldp_local") or {}
    bridge = sections.get("bridge") or {}
    members = stack_members(sections)
    attrs = {
        "sys_name": (system.get("name") or "").strip() or None,
        "sys_object_id": system.get("object_id"),
        "sys_location": system.get("location"),
        "sys_contact": system.get("contact"),
        "sys_uptime": up_since(report["collected_at"], system.get("uptime_ticks")),
        "vendor": system.get("vendor"),
        "model": chassis.get("model"),
        "serial": chassis.get("serial"),
        "members": members or None,
        "software_version": chassis.get("software_rev"),
        "device_type": device_type(system, chassis.get("model")),
        "placeholder": False,  # completes a placeholder a neighbour's scan created
        "lldp_chassis_id": chassis_key(local.get("chassis_id_subtype"), local.get("chassis_id")),
        "base_mac": normalise_mac(bridge.get("base_address")),
        "identity_address": identity_address(sections),
        **common,
    }
    name = display_name(attrs["sys_name"]) or device.get("host") or attrs["base_mac"]
    return DesiredCI("device", "NetworkDevice", attrs, name=name, section=None)


def transform(report: dict[str, Any]) -> Desired:
    sections: dict[str, Any] = report["sections"]
    complete = {s for s in sections if s != "device"}
    if "interfaces" not in sections:
        complete.discard("ip_addresses")  # addresses hang on interfaces: closing needs both
    desired = Desired(
        source=report["source"],
        root=_root(report, sections),
        complete_sections=frozenset(complete),
        rel_sections=REL_SECTIONS,
        class_sections=CLASS_SECTIONS,
    )
    names = _interfaces(desired, sections.get("interfaces"))
    _ip_addresses(desired, sections.get("ip_addresses"), names)
    if desired.root.cls == "Host":
        _software(desired, sections.get("software"), (sections.get("system") or {}).get("descr"))
    return desired


def _interfaces(desired: Desired, interfaces: list[dict[str, Any]] | None) -> dict[int, str]:
    if interfaces is None:
        return {}
    names = interface_names(interfaces)
    for nic in interfaces:
        name = names[nic["index"]]
        ref = f"if:{nic['index']}"
        desired.cis.append(
            DesiredCI(
                ref=ref,
                cls="Interface",
                attributes={
                    "name": name,
                    "if_index": nic["index"],
                    "if_type": nic.get("type"),
                    "alias": nic.get("alias"),
                    "description": nic.get("descr"),
                    "mac": _mac(nic.get("mac")),
                    "speed_mbps": nic.get("speed_mbps"),
                    "mtu": nic.get("mtu"),
                    "admin_status": nic.get("admin_status"),
                    "oper_status": nic.get("oper_status"),
                },
                name=name,
                section="interfaces",
                parent_ref="device",
                parent_attr="parent",
            )
        )
        desired.rels.append(DesiredRel("HAS_INTERFACE", "device", ref, "interfaces"))
    return names


def _ip_addresses(
    desired: Desired, entries: list[dict[str, Any]] | None, names: dict[int, str]
) -> None:
    if entries is None:
        return
    seen: set[str] = set()
    for entry in entries:
        if entry.get("if_index") not in names:
            continue  # an address on no known interface has nothing to hang on
        iface = _address(entry)
        if iface is None:
            continue
        add_address(
            desired,
            f"if:{entry['if_index']}",
            iface,
            entry.get("prefixlen"),
            "device",
            "ip_addresses",
            seen,
        )


def parse_package(text: str, sys_descr: str | None = None) -> tuple[str, str | None, str | None]:
    """hrSWInstalledName -> (name, version, arch) as written; the rules and the ecosystem
    are ``cmdb.server.reconcile.software.parse_installed_name``'s."""
    view = parse_installed_name(text, sys_descr)
    return view.name, view.version, view.arch


def _install_date(value: str | None) -> str | None:
    if not value:
        return None
    try:
        return times.to_seconds(times.parse_instant(value))
    except ValueError:
        return None


def _software(
    desired: Desired, software: list[dict[str, Any]] | None, sys_descr: str | None = None
) -> None:
    if software is None:
        return
    seen: set[str] = set()
    for row in software:
        if not row.get("name"):
            continue
        # the same identity as the agent's view of the package (cmdb.server.reconcile.software)
        view = parse_installed_name(row["name"], sys_descr)
        attrs = software_attributes(view.ecosystem, view.name, view.version, view.arch)
        if attrs is not None:  # a Software CI needs a version to be told apart
            installed = _install_date(row.get("installed"))
            add_installed(desired, seen, attrs, "device", "software", installed)


POST_STEPS = [link_topology]
