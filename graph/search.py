"""One search box over the store: names, host names and FQDNs, IP and MAC addresses,
serial numbers and package names, answered as CIs grouped by class, each with the reason
it matched.

Only store-protocol reads: ``list_cis`` (name contains the text), ``attribute_pairs`` on
the indexed lookup attributes (``cmdb.graph.schema.LOOKUP_ATTRIBUTES``: IP addresses, MACs,
management addresses), ``traverse`` to climb from an address or interface to the host or
device that holds it, and ``get_cis``. Serial numbers are not indexed: they are matched
by reading the CIs of the classes that carry one (hosts, network devices, assets) only
when the text looks like a serial and nothing indexed matched.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass, field

from cmdb.graph.store import CI, Store

# classes shown first, in this order; the rest follow by name
CLASS_ORDER = (
    "Host",
    "NetworkDevice",
    "Service",
    "RedundancyGroup",
    "Software",
    "Endpoint",
    "Interface",
    "IPAddress",
    "Network",
    "Asset",
    "Change",
    "Supplier",
)
SERIAL_CLASSES = ("Host", "NetworkDevice", "Asset")
SERIAL_SCAN_LIMIT = 20_000  # CIs read per class at most when matching a serial
_MAC = re.compile(r"^[0-9A-Fa-f]{2}([:\-.]?[0-9A-Fa-f]{2}){5}$")
_SERIAL = re.compile(r"^(?=.*\d)[A-Za-z0-9\-_/]{4,64}$")


@dataclass
class Hit:
    ci: CI
    why: str


@dataclass
class SearchResult:
    query: str
    kind: str  # "ip", "mac", "text"
    groups: dict[str, list[Hit]] = field(default_factory=dict)
    truncated: bool = False

    @property
    def total(self) -> int:
        return sum(len(v) for v in self.groups.values())


def mac_forms(text: str) -> list[str]:
    """The spellings a MAC may be stored in: lower and upper case, colon-separated."""
    digits = re.sub(r"[^0-9A-Fa-f]", "", text)
    pairs = [digits[i : i + 2] for i in range(0, 12, 2)]
    colon = ":".join(pairs)
    return sorted({colon.lower(), colon.upper()})


def _ip(text: str) -> str | None:
    try:
        return str(ipaddress.ip_address(text))
    except ValueError:
        return None


class _Collector:
    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.hits: dict[str, Hit] = {}
        self.truncated = False

    def add(self, ci: CI | None, why: str) -> None:
        if ci is None or ci.id in self.hits:
            return
        if len(self.hits) >= self.limit:
            self.truncated = True
            return
        self.hits[ci.id] = Hit(ci, why)


async def _holders(store: Store, ids: list[str], collect: _Collector, what: str) -> None:
    """The interfaces and hosts/devices above addresses or interfaces (HAS_IP, then
    HAS_INTERFACE, walked up)."""
    if not ids:
        return
    walk = await store.traverse(ids, "up", 2, ("HAS_IP", "HAS_INTERFACE"), limit=500)
    for ci, _depth in sorted(walk.nodes.values(), key=lambda p: p[1]):
        if ci.cls in ("Host", "NetworkDevice"):
            collect.add(ci, f"holds {what}")
        elif ci.cls == "Interface":
            collect.add(ci, f"has {what}")
        elif ci.cls == "IPAddress":
            collect.add(ci, f"is {what}")


async def search(store: Store, text: str, limit: int = 200) -> SearchResult:
    """CIs matching ``text``: an IP address finds the address, its interface and the host or
    device holding it (and hosts managed at it); a MAC finds interfaces and their hosts;
    other text finds names containing it (host names, FQDNs by their host, packages,
    services ...) and, when it looks like one, serial numbers."""
    query = (text or "").strip()
    collect = _Collector(limit)
    if not query:
        return SearchResult(query, "text")
    ip = _ip(query)
    if ip is not None:
        pairs = await store.attribute_pairs("IPAddress", "address", [ip])
        await _holders(store, [ci_id for _, ci_id in pairs], collect, ip)
        for cls in ("Host", "NetworkDevice"):
            managed = await store.attribute_pairs(cls, "management_ip", [ip])
            found = await store.get_cis([ci_id for _, ci_id in managed])
            for ci in found.values():
                collect.add(ci, f"managed at {ip}")
        kind = "ip"
    elif _MAC.match(query):
        pairs = await store.attribute_pairs("Interface", "mac", mac_forms(query))
        await _holders(store, [ci_id for _, ci_id in pairs], collect, f"MAC {query}")
        kind = "mac"
    else:
        kind = "text"
    if kind == "text" or not collect.hits:
        await _by_name(store, query, collect, limit)
        if not collect.hits and _SERIAL.match(query):
            await _by_serial(store, query, collect)
    return _grouped(query, kind, collect)


async def _by_name(store: Store, query: str, collect: _Collector, limit: int) -> None:
    short = query.split(".", 1)[0] if "." in query and _ip(query) is None else None
    if short:  # an FQDN: its host first
        items, _ = await store.list_cis("Host", short, 50, 0)
        for ci in items:
            if str(ci.attributes.get("fqdn", "")).lower() == query.lower():
                collect.add(ci, "FQDN")
    items, total = await store.list_cis(None, query, limit, 0)
    for ci in items:
        exact = (ci.name or "").lower() == query.lower()
        collect.add(ci, "name" if exact else "name contains")
    if total > len(items):
        collect.truncated = True


async def _by_serial(store: Store, query: str, collect: _Collector) -> None:
    wanted = query.lower()
    for cls in SERIAL_CLASSES:
        items, _ = await store.list_cis(cls, None, SERIAL_SCAN_LIMIT, 0)
        for ci in items:
            serials = [ci.attributes.get("serial")]
            serials += [m.get("serial") for m in ci.attributes.get("members") or [] if m]
            if any(str(s).lower() == wanted for s in serials if s):
                collect.add(ci, "serial")


def _grouped(query: str, kind: str, collect: _Collector) -> SearchResult:
    result = SearchResult(query, kind, truncated=collect.truncated)
    order = {cls: i for i, cls in enumerate(CLASS_ORDER)}
    hits = sorted(
        collect.hits.values(),
        key=lambda h: (
            order.get(h.ci.cls, len(order)),
            h.ci.cls,
            h.why not in ("name", "FQDN", "serial") and not h.why.startswith("holds"),
            (h.ci.name or "").lower(),
        ),
    )
    for hit in hits:
        result.groups.setdefault(hit.ci.cls, []).append(hit)
    return result
