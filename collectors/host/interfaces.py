"""Network interfaces: every link in this network namespace, with every address.

Names come from /proc/net/dev, which lists exactly the links ``ip -o link``
shows, including down ones and ones without an address. Link attributes come
from /sys/class/net, addresses from getifaddrs (psutil.net_if_addrs).
"""

from __future__ import annotations

import os
import socket

import psutil

from cmdb.collectors.host._common import SectionUnavailable, read_int, read_text
from cmdb.collectors.model import Address, NetInterface

PROC_NET_DEV = "/proc/net/dev"
SYS_CLASS_NET = "/sys/class/net"

IFF_UP = 0x1
_DOWN_STATES = frozenset({"down", "lowerlayerdown", "notpresent"})
# ARPHRD_* link types (linux/if_arp.h) that name their kind by themselves
_ARPHRD_KINDS = {
    772: "loopback",
    768: "tunnel",
    769: "tunnel",
    776: "tunnel",
    778: "tunnel",
    823: "tunnel",
    512: "ppp",
    32: "infiniband",
    280: "can",
}
# uevent DEVTYPE values we pass through (wlan is reported as wireless)
_DEVTYPES = {
    "bridge": "bridge",
    "bond": "bond",
    "team": "bond",
    "vlan": "vlan",
    "wlan": "wireless",
    "vxlan": "vxlan",
    "wireguard": "wireguard",
    "geneve": "tunnel",
    "macsec": "virtual",
}


def parse_proc_net_dev(text: str) -> list[str]:
    """Interface names from /proc/net/dev, in file order."""
    names = []
    for line in text.splitlines()[2:]:
        name, sep, _ = line.partition(":")
        if sep and name.strip():
            names.append(name.strip())
    return names


def prefix_from_netmask(netmask: str | None) -> int | None:
    """Prefix length of a dotted IPv4 or IPv6 netmask; None if absent or not contiguous."""
    if not netmask:
        return None
    value = _address_value(netmask.split("%", 1)[0])
    if value is None:
        return None
    width = 32 if "." in netmask else 128
    prefix = bin(value).count("1")
    if value != ((1 << width) - 1) ^ ((1 << (width - prefix)) - 1):
        return None
    return prefix


def _address_value(text: str) -> int | None:
    """An IPv4 or IPv6 address as an integer (what ``int(ipaddress.ip_address(text))``
    gives, without importing ipaddress), or None when ``text`` is neither."""
    for family in (socket.AF_INET, socket.AF_INET6):
        try:
            return int.from_bytes(socket.inet_pton(family, text), "big")
        except (OSError, ValueError):
            continue
    return None


def interface_kind(sys_dir: str) -> str | None:
    """loopback, ethernet, wireless, bridge, bond, vlan, tun, tunnel, virtual, ..."""
    if not os.path.isdir(sys_dir):
        return None
    arphrd = read_int(os.path.join(sys_dir, "type"))
    if arphrd in _ARPHRD_KINDS:
        return _ARPHRD_KINDS[arphrd]
    uevent = read_text(os.path.join(sys_dir, "uevent")) or ""
    for line in uevent.splitlines():
        if line.startswith("DEVTYPE="):
            devtype = line.split("=", 1)[1]
            return _DEVTYPES.get(devtype, devtype)
    if os.path.isdir(os.path.join(sys_dir, "bridge")):
        return "bridge"
    if os.path.isdir(os.path.join(sys_dir, "bonding")):
        return "bond"
    if os.path.exists(os.path.join(sys_dir, "tun_flags")):
        return "tun"
    if os.path.isdir(os.path.join(sys_dir, "wireless")) or os.path.exists(
        os.path.join(sys_dir, "phy80211")
    ):
        return "wireless"
    if arphrd == 1:
        return "ethernet" if os.path.exists(os.path.join(sys_dir, "device")) else "virtual"
    if arphrd == 65534:
        return "virtual"
    return None


def _mac(sys_dir: str, fallback: str | None) -> str | None:
    mac = read_text(os.path.join(sys_dir, "address")) or fallback
    if not mac or set(mac) <= {"0", ":"}:
        return None
    return mac.lower()


def _is_up(sys_dir: str, stats: object | None) -> bool | None:
    flags = read_text(os.path.join(sys_dir, "flags"))
    operstate = read_text(os.path.join(sys_dir, "operstate"))
    if flags is None or operstate is None:
        return getattr(stats, "isup", None)
    return bool(int(flags, 16) & IFF_UP) and operstate not in _DOWN_STATES


def _addresses(entries: list) -> tuple[Address, ...]:
    seen = set()
    result = []
    for entry in entries:
        if entry.family == socket.AF_INET:
            family = 4
        elif entry.family == socket.AF_INET6:
            family = 6
        else:
            continue
        address = entry.address.split("%", 1)[0]
        if (address, family) in seen:
            continue
        seen.add((address, family))
        result.append(
            Address(address=address, prefixlen=prefix_from_netmask(entry.netmask), family=family)
        )
    return tuple(result)


def collect() -> list[NetInterface]:
    try:
        with open(PROC_NET_DEV, encoding="ascii", errors="replace") as f:
            names = parse_proc_net_dev(f.read())
    except OSError as exc:
        raise SectionUnavailable(f"cannot read {PROC_NET_DEV}: {exc.strerror}") from exc
    addrs = psutil.net_if_addrs()
    stats = psutil.net_if_stats()
    # getifaddrs reports IPv4 aliases under their label (eth0:1): fold them into the link
    by_link: dict[str, list] = {}
    for label, entries in addrs.items():
        link = label if label in names else label.split(":", 1)[0]
        if link not in names:
            names.append(link)
        by_link.setdefault(link, []).extend(entries)

    def order(name: str) -> tuple[int, str]:
        index = read_int(os.path.join(SYS_CLASS_NET, name, "ifindex"))
        return (index if index is not None else 1 << 30, name)

    result = []
    for name in sorted(names, key=order):
        sys_dir = os.path.join(SYS_CLASS_NET, name)
        entries = by_link.get(name, [])
        packet = next((e.address for e in entries if e.family == psutil.AF_LINK), None)
        speed = read_int(os.path.join(sys_dir, "speed"))
        mtu = read_int(os.path.join(sys_dir, "mtu"))
        if mtu is None and name in stats:
            mtu = stats[name].mtu or None
        result.append(
            NetInterface(
                name=name,
                mac=_mac(sys_dir, packet),
                mtu=mtu,
                speed_mbps=speed if speed and speed > 0 else None,
                is_up=_is_up(sys_dir, stats.get(name)),
                addresses=_addresses(entries),
                kind=interface_kind(sys_dir),
            )
        )
    return result
