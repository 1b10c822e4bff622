"""Batched lookups the identity index does not answer: CIs by MAC, by management address,
by name, Interfaces by parent, interfaces holding an IP.

Topology needs "which Interface has this MAC" for hundreds of MACs at once. Each function
here is one store read per batch (never one per row) through the store's ``*_pairs``
methods, then one ``get_cis`` for the CIs found. The looked-up attributes are declared in
``cmdb.graph.schema.LOOKUP_ATTRIBUTES``, and both stores index them from that list.
"""

from __future__ import annotations

from cmdb.graph.identity import short_hostname
from cmdb.graph.schema import LOOKUP_ATTRIBUTES
from cmdb.graph.store import CI, Store

_CHUNK = 500
_PAGE = 1000  # CIs a name search reads at a time


def _chunks(values: list[str]) -> list[list[str]]:
    return [values[i : i + _CHUNK] for i in range(0, len(values), _CHUNK)]


async def _by_key(store: Store, pairs: list[tuple[str, str]]) -> dict[str, list[CI]]:
    cis = await store.get_cis(sorted({ci_id for _, ci_id in pairs}))
    out: dict[str, list[CI]] = {}
    for key, ci_id in pairs:
        ci = cis.get(ci_id)
        if ci is not None and ci not in out.setdefault(key, []):
            out[key].append(ci)
    return out


async def cis_by_attribute(
    store: Store, cls: str, attr: str, values: list[str]
) -> dict[str, list[CI]]:
    """CIs of ``cls`` whose attribute ``attr`` equals one of ``values`` (exact), by value."""
    if (cls, attr) not in LOOKUP_ATTRIBUTES:
        raise ValueError(f"{cls}.{attr} is not an indexed lookup attribute")
    pairs: list[tuple[str, str]] = []
    for chunk in _chunks(sorted({v for v in values if v})):
        pairs += await store.attribute_pairs(cls, attr, chunk)
    return await _by_key(store, pairs)


async def interfaces_by_mac(store: Store, macs: list[str]) -> dict[str, list[CI]]:
    """Interface CIs by MAC (lower-case, colon-separated as both collectors write it)."""
    return await cis_by_attribute(store, "Interface", "mac", [m.lower() for m in macs if m])


async def interfaces_of(store: Store, parent_ids: list[str]) -> dict[str, list[CI]]:
    """Interface CIs by the id of the Host or NetworkDevice they belong to."""
    return await cis_by_attribute(store, "Interface", "parent", parent_ids)


async def cis_by_name(
    store: Store, classes: tuple[str, ...], names: list[str]
) -> dict[str, list[CI]]:
    """CIs of ``classes`` whose name equals one of ``names`` ignoring case, by lower-case name."""
    pairs: list[tuple[str, str]] = []
    for chunk in _chunks(sorted({n.lower() for n in names if n})):
        pairs += await store.name_pairs(tuple(classes), chunk)
    return await _by_key(store, pairs)


async def cis_by_short_name(store: Store, cls: str, short: str) -> list[CI]:
    """CIs of ``cls`` whose name's short host name (``cmdb.graph.identity.short_hostname``)
    is ``short``: ``db1``, ``DB1``, ``db1.example.net``. The name search
    (``Store.list_summaries``: summaries, no attributes) a page at a time, since no index
    holds short names."""
    out: list[CI] = []
    offset = 0
    while True:
        items, total = await store.list_summaries(cls, short, _PAGE, offset)
        out += [ci for ci in items if ci.name and short_hostname(ci.name) == short]
        offset += len(items)
        if not items or offset >= total:
            return out


async def interfaces_with_ip(store: Store, addresses: list[str]) -> dict[str, list[CI]]:
    """Interfaces holding one of ``addresses`` (an open HAS_IP to that IPAddress), by address."""
    pairs: list[tuple[str, str]] = []
    for chunk in _chunks(sorted({a for a in addresses if a})):
        pairs += await store.interface_ip_pairs(chunk)
    return await _by_key(store, pairs)
