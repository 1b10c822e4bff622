"""Which network links are container and VM plumbing rather than the host's interfaces.

Every container or VM start makes new host-side links (a veth per container, a tap per
VM NIC) with random names and MACs, and every stop removes them. Made Interface CIs,
they would pile up CIs and history for what is churn. Such a link is not an Interface
CI; the host carries their number (``virtual_links``).

The rule, on facts the agent reports: a link is ephemeral when its name has a prefix
that container runtimes, CNI plugins or hypervisors give their per-container / per-VM
links, its kind is not one of a physical or deliberately configured link, and it has
no address of its own (an IPv6 link-local address is derived from the random MAC and
does not count). A link that carries a real address is kept: the address is a fact of
the host, and the overlay devices below (``flannel.1``, ``cni0``, ``vxlan.calico``)
usually carry one and stay Interface CIs.
"""

from __future__ import annotations

import ipaddress
from typing import Any

# name prefix -> who creates such links (per container, pod, VM or VM NIC)
EPHEMERAL_PREFIXES: dict[str, str] = {
    "veth": "Docker, Podman, containerd/CNI bridge, LXC/LXD, Proxmox CT, kube-router, Weave",
    "cali": "Calico pod links",
    "lxc": "Cilium pod links (lxcbr0, LXC's bridge, has an address)",
    "gke": "GKE pod links",
    "eni": "AWS VPC CNI pod links",
    "azv": "Azure CNI pod links",
    "tap": "QEMU/KVM, OpenStack Nova, Proxmox VM NICs",
    "vnet": "libvirt VM NICs",
    "vif": "Xen VM NICs",
    "fwbr": "Proxmox per-VM firewall bridges",
    "fwpr": "Proxmox per-VM firewall links",
    "fwln": "Proxmox per-VM firewall links",
    "qvo": "OpenStack hybrid OVS plugging, per port",
    "qvb": "OpenStack hybrid OVS plugging, per port",
    "qbr": "OpenStack hybrid OVS plugging, per port",
    "flannel": "flannel overlay (usually addressed, then kept)",
    "cni": "CNI bridge (usually addressed, then kept)",
    "vxlan.calico": "Calico VXLAN (usually addressed, then kept)",
    "tunl": "IPIP tunnel the kernel creates with the module (unaddressed unless used)",
}
# kinds the agent reports for hardware or for links an operator configured on purpose:
# never ephemeral, whatever their name
STABLE_KINDS = frozenset(
    {"ethernet", "wireless", "infiniband", "loopback", "bond", "vlan", "can", "ppp"}
)
# kinds that are container links by themselves, whatever their name
EPHEMERAL_KINDS = frozenset({"veth"})


def has_own_address(nic: dict[str, Any]) -> bool:
    """True when the link carries an address other than an IPv6 link-local one."""
    for addr in nic.get("addresses") or []:
        try:
            ip = ipaddress.ip_address(str(addr.get("address", "")).split("%", 1)[0])
        except ValueError:
            return True  # unparsable: not ours to drop
        if not (ip.version == 6 and ip.is_link_local):
            return True
    return False


def is_ephemeral_link(nic: dict[str, Any]) -> bool:
    """Whether an agent-reported interface (``cmdb.collectors.model.NetInterface`` as JSON)
    is container or VM plumbing that must not become an Interface CI."""
    kind = nic.get("kind")
    if kind in STABLE_KINDS or has_own_address(nic):
        return False
    name = str(nic.get("name") or "")
    return kind in EPHEMERAL_KINDS or name.startswith(tuple(EPHEMERAL_PREFIXES))
