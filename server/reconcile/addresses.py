"""IP addresses and their networks as desired CIs, shared by every transform, and the one
rule that says which addresses can never identify or link anything.

Addresses that are not unique by their kind (``not_unique_reason``) are never global
IPAddress CIs shared between hosts:

* unspecified (``0.0.0.0``, the "this network" block ``0.0.0.0/8``, ``::``): not an
  address at all but its absence (an unbound DHCP client, a CDP neighbour advertising
  none); it is not recorded.
* loopback, link-local: meaningful on their own host (link-local: on one link) only;
  scoped to the host that reports them (``net_scope = host:<id>``).
* multicast, limited broadcast (``255.255.255.255``) and an IPv4 subnet's directed
  broadcast: many receivers by definition. A collector that lists one on an interface
  (SNMP ``ipAddressTable`` has broadcast rows) still states a true fact about that
  interface, so it is kept, but scoped to the host like loopback: one shared CI would
  join every host that lists it.

IPv4-mapped IPv6 forms (``::ffff:127.0.0.1``) are judged as the IPv4 address they carry.
An ordinary address held by several live CIs at once (docker0's ``172.17.0.1``, a VRRP
virtual address, a NAT'd lab range) is not decided here: that takes the store
(``cmdb.server.reconcile.holders``).
"""

from __future__ import annotations

import ipaddress

from cmdb.server.reconcile.desired import Desired, DesiredCI, DesiredRel

IPInterface = ipaddress.IPv4Interface | ipaddress.IPv6Interface
IPAddr = ipaddress.IPv4Address | ipaddress.IPv6Address

_THIS_NETWORK = ipaddress.IPv4Network("0.0.0.0/8")  # RFC 1122: source-only, never a holder
_LIMITED_BROADCAST = ipaddress.IPv4Address("255.255.255.255")


def parse_address(text: str) -> IPAddr | None:
    """An address from collector text (an IPv6 zone ``%eth0`` dropped, an IPv4-mapped IPv6
    address unwrapped to its IPv4 form), or None when it is not an address."""
    try:
        ip = ipaddress.ip_address(text.split("%", 1)[0].strip())
    except ValueError:
        return None
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    return ip


def not_unique_reason(address: str | IPAddr, prefixlen: int | None = None) -> str | None:
    """Why ``address`` can never identify a CI nor link two hosts, or None when it can.

    Answers one of ``"invalid"``, ``"unspecified"``, ``"loopback"``, ``"link-local"``,
    ``"multicast"``, ``"broadcast"`` (pure; the address kinds of RFC 1122, 4291, 3927 and
    919). With ``prefixlen`` an IPv4 address that is its subnet's directed broadcast counts
    as broadcast (not for /31 and /32, which have none, RFC 3021). Private ranges are not
    excluded: inside one organisation they are unique unless several live CIs hold them,
    which only the store can tell.
    """
    ip = parse_address(address) if isinstance(address, str) else address
    if ip is None:
        return "invalid"
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    if ip.is_unspecified or (ip.version == 4 and ip in _THIS_NETWORK):
        return "unspecified"
    if ip.is_loopback:
        return "loopback"
    if ip.is_link_local:
        return "link-local"
    if ip.is_multicast:
        return "multicast"
    if ip.version == 4 and _is_broadcast(ip, prefixlen):
        return "broadcast"
    return None


def no_holder_words(reason: str) -> str:
    """A ``not_unique_reason`` answer as a phrase for a message that refuses the address
    as a name: "a loopback address, which every host has", "a multicast address, which
    many hosts receive"."""
    article = "an" if reason[0] in "aeiou" else "a"
    whose = "many hosts receive" if reason in ("multicast", "broadcast") else "every host has"
    return f"{article} {reason} address, which {whose}"


def _is_broadcast(ip: ipaddress.IPv4Address, prefixlen: int | None) -> bool:
    if ip == _LIMITED_BROADCAST:
        return True
    if prefixlen is None or not 0 < prefixlen <= 30:
        return False
    return ip == ipaddress.IPv4Network(f"{ip}/{prefixlen}", strict=False).broadcast_address


def address_ref(ip: IPAddr, scope: str) -> str:
    """The local reference of an IPAddress in a desired set (the connections hook reads the
    report's own addresses back through it)."""
    return f"ip:{ip}:{scope}"


def net_scope(address: IPAddr, root_ref: str, prefixlen: int | None = None) -> str:
    """``global`` for an address that can identify its holder; every other kind only means
    something on the host that reports it (``host:<root_ref>``)."""
    if not_unique_reason(address, prefixlen) is None:
        return "global"
    return f"host:{root_ref}"


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

    Addresses that are not unique by kind are scoped to the root CI (the parent id fills
    their net_scope); an unspecified address is not an address and adds nothing.
    """
    ip = iface.ip
    if not_unique_reason(ip, prefixlen) == "unspecified":
        return
    scope = net_scope(ip, root_ref, prefixlen)
    local = scope != "global"
    placement = {
        "section": section,
        "scoped": local,
        "parent_ref": root_ref if local else None,
        "parent_attr": "net_scope" if local else None,
        "parent_format": "host:{id}",
    }
    ip_ref = address_ref(ip, scope)
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
