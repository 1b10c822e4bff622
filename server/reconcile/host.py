"""Transform an agent report into the CIs and relationships it describes (pure)."""

from __future__ import annotations

import ipaddress
from typing import Any

from cmdb.graph.schema import HOST_SYSTEM_HARDWARE
from cmdb.server.reconcile.addresses import add_address
from cmdb.server.reconcile.desired import Desired, DesiredCI, DesiredRel
from cmdb.server.reconcile.links import is_ephemeral_link
from cmdb.server.reconcile.software import add_installed, software_attributes

REL_SECTIONS = {
    "HAS_INTERFACE": "interfaces",
    "HAS_IP": "interfaces",
    "IN_NETWORK": "interfaces",
    "INSTALLED": "packages",
    "LISTENS_ON": "listening",
}
CLASS_SECTIONS = {
    "Interface": "interfaces",
    "IPAddress": "interfaces",
    "Network": "interfaces",
    "Endpoint": "listening",
}


def _host_attributes(sections: dict[str, Any]) -> dict[str, Any]:
    attrs: dict[str, Any] = {}
    system = sections.get("system")
    if system is not None:
        for key in ("hostname", "fqdn", "machine_id", "system_uuid", *HOST_SYSTEM_HARDWARE):
            attrs[key] = system.get(key)
    os_info = sections.get("os")
    if os_info is not None:
        attrs.update(
            os_name=os_info.get("name"),
            os_version=os_info.get("version"),
            os_id=os_info.get("id"),
            kernel=os_info.get("kernel"),
            architecture=os_info.get("architecture"),
            boot_time=os_info.get("boot_time"),
        )
    cpu = sections.get("cpu")
    if cpu is not None:
        attrs.update(
            cpu_model=cpu.get("model"),
            cpu_sockets=cpu.get("sockets"),
            cpu_cores=cpu.get("cores"),
            cpu_threads=cpu.get("threads"),
        )
    memory = sections.get("memory")
    if memory is not None:
        attrs.update(memory_bytes=memory.get("total_bytes"), swap_bytes=memory.get("swap_bytes"))
    if sections.get("disks") is not None:
        attrs["disks"] = sorted(sections["disks"], key=lambda d: d["name"])
    if sections.get("filesystems") is not None:
        attrs["filesystems"] = sorted(
            (_configuration(f) for f in sections["filesystems"]), key=lambda f: f["mountpoint"]
        )
    if sections.get("gateways") is not None:
        attrs["gateways"] = sorted(sections["gateways"], key=lambda g: (g["family"], g["address"]))
    dns = sections.get("dns")
    if dns is not None:
        attrs["dns_nameservers"] = list(dns.get("nameservers") or [])
        attrs["dns_search"] = list(dns.get("search") or [])
    if sections.get("interfaces") is not None:
        links = [nic for nic in sections["interfaces"] if not is_ephemeral_link(nic)]
        attrs["primary_mac"] = primary_mac(links, sections.get("gateways") or [])
        # container and VM links are counted, not CIs (cmdb.server.reconcile.links)
        attrs["virtual_links"] = len(sections["interfaces"]) - len(links)
    return attrs


# values that change from one collection to the next without anything being configured:
# a CMDB records configuration, not metrics (a history entry per run would drown the
# changes people look for, and no report would ever be "unchanged")
VOLATILE_FIELDS = frozenset({"used_bytes", "free_bytes", "available_bytes"})
# sections that feed no CI attribute or the comparison with the store: observed
# connections are resolved again on every report, processes only name connections' ends
VOLATILE_SECTIONS = frozenset({"processes", "connections"})


def _configuration(item: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in item.items() if k not in VOLATILE_FIELDS}


def change_view(sections: dict[str, Any]) -> dict[str, Any]:
    """What of a host report can change the CMDB: its sections without the volatile ones
    and fields (``VOLATILE_SECTIONS``, ``VOLATILE_FIELDS``). Digests of this view decide
    whether a report repeats the last one (``cmdb.server.reconcile.engine``)."""
    view: dict[str, Any] = {}
    for name, value in sections.items():
        if name in VOLATILE_SECTIONS:
            continue
        if name == "filesystems" and isinstance(value, list):
            value = [_configuration(f) if isinstance(f, dict) else f for f in value]
        view[name] = value
    return view


def primary_mac(interfaces: list[dict[str, Any]], gateways: list[dict[str, Any]]) -> str | None:
    """The MAC of the default route's interface, else of the first physical-looking NIC.

    ``interfaces`` comes without container and VM links: their MACs are random per start,
    and an identity built on one would change with every container restart."""
    by_name = {i["name"]: i for i in interfaces}
    for gateway in sorted(gateways, key=lambda g: g["family"]):
        nic = by_name.get(gateway.get("interface") or "")
        if gateway.get("is_default") and nic and nic.get("mac"):
            return nic["mac"].lower()
    for nic in sorted(interfaces, key=lambda i: i["name"]):
        mac = (nic.get("mac") or "").lower()
        if nic.get("kind") != "loopback" and mac and mac != "00:00:00:00:00:00":
            return mac
    return None


def transform(report: dict[str, Any]) -> Desired:
    sections: dict[str, Any] = report["sections"]
    host_attrs = _host_attributes(sections)
    root = DesiredCI(
        ref="host",
        cls="Host",
        attributes=host_attrs,
        name=host_attrs.get("hostname") or host_attrs.get("fqdn"),
        section=None,
    )
    desired = Desired(
        source=report["source"],
        root=root,
        complete_sections=frozenset(sections),
        rel_sections=REL_SECTIONS,
        class_sections=CLASS_SECTIONS,
    )

    def expand(desired: Desired) -> None:
        # built only when the report is compared with the store: an unchanged report
        # (the steady state) never needs its 800 packages as CIs
        _interfaces(desired, sections.get("interfaces"))
        _packages(desired, sections.get("packages"))
        _listening(desired, sections.get("listening"))

    desired.expander = expand
    return desired


def _interfaces(desired: Desired, interfaces: list[dict[str, Any]] | None) -> None:
    """Interface CIs (with their addresses) for the host's links, except container and VM
    links (``cmdb.server.reconcile.links``): those churn, and the host only counts them."""
    if interfaces is None:
        return
    seen: set[str] = set()
    for nic in interfaces:
        if is_ephemeral_link(nic):
            continue
        ref = f"if:{nic['name']}"
        desired.cis.append(
            DesiredCI(
                ref=ref,
                cls="Interface",
                attributes={
                    "name": nic["name"],
                    "mac": (nic.get("mac") or None) and nic["mac"].lower(),
                    "mtu": nic.get("mtu"),
                    "speed_mbps": nic.get("speed_mbps"),
                    "is_up": nic.get("is_up"),
                    "kind": nic.get("kind"),
                },
                name=nic["name"],
                section="interfaces",
                parent_ref="host",
                parent_attr="parent",
            )
        )
        desired.rels.append(DesiredRel("HAS_INTERFACE", "host", ref, "interfaces"))
        for addr in nic.get("addresses") or []:
            _address(desired, ref, addr, seen)


def _address(desired: Desired, nic_ref: str, addr: dict[str, Any], seen: set[str]) -> None:
    try:
        text = addr["address"].split("%", 1)[0]
        prefix = addr.get("prefixlen")
        iface = ipaddress.ip_interface(f"{text}/{prefix}" if prefix is not None else text)
    except ValueError:
        return  # validated upstream; an unparsable address is not a CI
    add_address(desired, nic_ref, iface, prefix, "host", "interfaces", seen)


def _packages(desired: Desired, packages: list[dict[str, Any]] | None) -> None:
    if packages is None:
        return
    seen: set[str] = set()
    for pkg in packages:
        # identity as the SNMP view of the same package gets it (cmdb.server.reconcile.software)
        attrs = software_attributes(
            pkg.get("manager"),
            pkg.get("name"),
            pkg.get("version"),
            pkg.get("architecture"),
            pkg.get("vendor"),
        )
        if attrs is not None:
            add_installed(
                desired,
                seen,
                attrs,
                "host",
                "packages",
                pkg.get("install_date"),
                {"manager": pkg.get("manager")},
            )


def endpoint_protocol(protocol: str) -> str:
    return "udp" if protocol.startswith("udp") else "tcp"


def _listening(desired: Desired, sockets: list[dict[str, Any]] | None) -> None:
    if sockets is None:
        return
    grouped: dict[tuple[str, int], list[dict[str, Any]]] = {}
    for sock in sockets:
        grouped.setdefault((endpoint_protocol(sock["protocol"]), sock["port"]), []).append(sock)
    for (protocol, port), socks in sorted(grouped.items()):
        ref = f"ep:{protocol}/{port}"
        process = next((s.get("process") for s in socks if s.get("process")), None)
        exe = next((s.get("exe") for s in socks if s.get("exe")), None)
        desired.cis.append(
            DesiredCI(
                ref=ref,
                cls="Endpoint",
                attributes={
                    "protocol": protocol,
                    "port": port,
                    "addresses": sorted({s["address"] for s in socks}),
                    "process": process,
                    "exe": exe,
                },
                name=f"{protocol}/{port}" + (f" ({process})" if process else ""),
                section="listening",
                parent_ref="host",
                parent_attr="host",
            )
        )
        desired.rels.append(DesiredRel("LISTENS_ON", "host", ref, "listening"))
