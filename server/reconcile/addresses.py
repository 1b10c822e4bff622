"""IP addresses and their networks as desired CIs, shared by every transform."""

from __future__ import annotations

import ipaddress

from server.reconcile.desired import Desired, DesiredCI, DesiredRel

IPInterface = ipaddress.IPv4Interface | ipaddress.IPv6Interface


def net_scope(address: ipaddress.IPv4Address | ipaddress.IPv6Address, root_ref: str) -> str:
    """Loopback and link-local addresses only mean something on their own host."""
    if address.is_loopback or address.is_link_local:
        return f"host:{root_ref}"
    return "global"


def add_address(
    desired: Desired,
    nic_ref: str,
    iface: IPInterface,
    prefixlen: int | None,
    root_ref: str,
    section: str,
    seen: set[str],
) -> None:
    """IPAddress (HAS_IP from the NIC) and, with a prefix, its Network (IN_NETWORK).

    Host-local addresses are scoped to the root CI; the parent id fills their net_scope.
    """
    ip = iface.ip
    scope = net_scope(ip, root_ref)
    local = scope != "global"
    placement = {
        "section": section,
        "scoped": local,
        "parent_ref": root_ref if local else None,
        "parent_attr": "net_scope" if local else None,
        "parent_format": "host:{id}",
    }
    ip_ref = f"ip:{ip}:{scope}"
    if ip_ref not in seen:
        seen.add(ip_ref)
        desired.cis.append(
            DesiredCI(
                ref=ip_ref,
                cls="IPAddress",
                attributes={
                    "address": str(ip),
                    "family": ip.version,
                    "prefixlen": prefixlen,
                    "net_scope": scope,
                },
                name=str(ip),
                **placement,
            )
        )
    desired.rels.append(DesiredRel("HAS_IP", nic_ref, ip_ref, section))
    if prefixlen is None:
        return
    network = iface.network
    net_ref = f"net:{network}:{scope}"
    if net_ref not in seen:
        seen.add(net_ref)
        desired.cis.append(
            DesiredCI(
                ref=net_ref,
                cls="Network",
                attributes={"cidr": str(network), "family": ip.version, "net_scope": scope},
                name=str(network),
                **placement,
            )
        )
        desired.rels.append(DesiredRel("IN_NETWORK", ip_ref, net_ref, section))
