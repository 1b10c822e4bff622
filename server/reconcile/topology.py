"""Layer-2 topology from one SNMP report, run inside the report's own transaction after its
change set (an ingest POST_STEP): a device's facts and its links commit together.

* LLDP and CDP neighbours become ``Interface -CONNECTED_TO-> Interface``. Rows are read by
  their subtypes and grouped on strong keys only (``cmdb.server.reconcile.neighbours``). A group
  is matched to a known device by, strongest first: chassis ID (an LLDP chassis ID or
  bridge base MAC identity, or the MAC of one of its interfaces), chassis serial (CDP's
  ``name(serial)``), CDP device ID, a usable address (the device's management address or
  an interface address that one live CI holds), and last a short name that names one
  device. A candidate whose own LLDP chassis ID differs from the one the neighbour sent is
  not it. The far port is matched by its port ID's subtype. An unknown neighbour becomes a
  placeholder NetworkDevice (with a placeholder Interface for its port) carrying the
  identity values its own scan will report where the neighbour told them.
* FDB: host NICs learned on access ports (``cmdb.server.reconcile.fdb``).
* Links are undirected: A's LLDP and B's LLDP describe one link, kept once. They carry
  the device's scope (``snmp:<id>``): a later *complete* lldp, cdp or fdb section closes
  the links of that kind it no longer shows; an absent section, or one a collector note
  says was read in part, closes nothing.
* Completion: when a scanned device turns out to be a placeholder (found by identity) or
  matches one by chassis ID / base MAC / address / name, the placeholder's links move onto
  the device's real interfaces, and a placeholder that is a second CI is retired with a
  history entry naming the device it became.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any

from cmdb.collectors.snmp.vendors import enterprise_name
from cmdb.graph import lookup
from cmdb.graph.identity import identity_values, key_of
from cmdb.graph.schema import CLASSES
from cmdb.graph.store import CI, ChangeSet, Rel, Store
from cmdb.server.reconcile import neighbours as nb
from cmdb.server.reconcile.completeness import noted_sections
from cmdb.server.reconcile.fdb import ACCESS_PORT_MAX_MACS, fdb_links
from cmdb.server.reconcile.holders import address_holders, current_holders
from cmdb.server.reconcile.neighbours import (
    Neighbour,
    display_name,
    group_neighbours,
    hostname_like,
    normalise_mac,
    short_name,
)

__all__ = [
    "ACCESS_PORT_MAX_MACS",
    "PLACEHOLDER_KIND",
    "group_neighbours",
    "link_topology",
    "match_port",
    "neighbours",
    "normalise_mac",
]

PLACEHOLDER_KIND = "placeholder"
VIA_SECTIONS = ("lldp", "cdp", "fdb")

# sysDescr / CDP platform keyword -> IANA enterprise number (for a neighbour's vendor)
_VENDOR_WORDS = (
    ("cisco", 9),
    ("juniper", 2636),
    ("arista", 30065),
    ("h3c", 25506),
    ("comware", 25506),
    ("huawei", 2011),
    ("procurve", 11),
    ("palo alto", 25461),
)


def neighbour_vendor(descr: str | None) -> str | None:
    low = (descr or "").lower()
    for word, number in _VENDOR_WORDS:
        if word in low:
            return enterprise_name(number)
    return None


def neighbours(sections: dict[str, Any]) -> list[Neighbour]:
    """Every LLDP and CDP row of a report, read by subtype (``neighbours.neighbours``)."""
    return nb.neighbours(sections)


def match_port(interfaces: list[CI], *labels: str | None) -> CI | None:
    """The interface any of ``labels`` names (a port ID of unknown subtype, then a
    description); see ``neighbours.match_port``."""
    for label in filter(None, labels):
        hit = nb.match_port(interfaces, label, None, None)
        if hit is not None:
            return hit
    return None


def _serial_key(row: Neighbour) -> str | None:
    if not row.serial:
        return None
    return key_of(
        "NetworkDevice", "chassis_serial", vendor=neighbour_vendor(row.descr), serial=row.serial
    )


# ------------------------------------------------------------------ the change set
@dataclass
class _Links:
    cs: ChangeSet
    scope: str
    names: dict[str, str | None] = field(default_factory=dict)
    linked: set[frozenset[str]] = field(default_factory=set)  # CONNECTED_TO created here

    def history(self, ci_id: str, kind: str, fld: str, old: Any, new: Any, other=None) -> None:
        self.cs.record(ci_id, kind, fld, old, new, other)

    def create_ci(self, cls: str, attrs: dict[str, Any], name: str | None) -> CI:
        attrs = {k: v for k, v in attrs.items() if v is not None}
        ci = CI(
            id=str(uuid.uuid4()),
            cls=cls,
            name=name,
            first_seen=self.cs.at,
            last_seen=self.cs.at,
            scope=None,  # no scan owns a placeholder; its own scan completes it
            sources=[self.cs.source],
            attributes=attrs,
            attr_sources=dict.fromkeys(attrs, self.cs.source),
            identity=identity_values(CLASSES[cls], attrs),
        )
        self.cs.create_cis.append(ci)
        self.names[ci.id] = name
        self.history(ci.id, "ci", "created", None, {"class": cls, "name": name})
        return ci

    def create_rel(
        self, rel_type: str, src: str, dst: str, attrs: dict[str, Any], scope: str | None
    ) -> None:
        if rel_type == "CONNECTED_TO":
            self.linked.add(frozenset((src, dst)))
        self.cs.create_rels.append(
            Rel(
                id=str(uuid.uuid4()),
                type=rel_type,
                src=src,
                dst=dst,
                first_seen=self.cs.at,
                last_seen=self.cs.at,
                scope=scope,
                sources=[self.cs.source],
                attributes=attrs,
            )
        )

    def close_rel(self, rel: Rel) -> None:
        self.cs.close_rels.append(rel.id)


async def _interfaces_by_parent(store: Store, parent_ids: list[str]) -> dict[str, list[CI]]:
    found = await lookup.interfaces_of(store, parent_ids)
    return {p: [i for i in cis if i.status != "retired"] for p, cis in found.items()}


async def _open_links(store: Store, pairs: list[tuple[str, str]]) -> dict[frozenset[str], Rel]:
    """Open CONNECTED_TO between each pair, in either direction, whatever its scope."""
    triples = [("CONNECTED_TO", a, b) for a, b in pairs] + [
        ("CONNECTED_TO", b, a) for a, b in pairs
    ]
    found = await store.find_open_rels(triples)
    return {frozenset((rel.src, rel.dst)): rel for rel in found.values()}


async def link_topology(store: Store, report: dict[str, Any], result: Any, at: str) -> None:
    """The POST_STEP: completion of placeholders, then LLDP/CDP/FDB links of this device."""
    sections: dict[str, Any] = report["sections"]
    root = await store.get_ci(result.root_id)
    if root is None:
        return
    scope = f"snmp:{root.id}"
    cs = ChangeSet(report_id=report["report_id"], source="snmp", at=at, record_report=False)
    links = _Links(cs, scope)
    mine = (await _interfaces_by_parent(store, [root.id])).get(root.id, [])
    links.names.update({i.id: i.name for i in mine})
    moved = await _complete_placeholders(store, links, root, mine, sections)

    wanted: dict[frozenset[str], tuple[str, str, str]] = {}
    uplinks = await _neighbour_links(store, links, root, mine, sections, wanted)
    fdb = await fdb_links(store, root, mine, sections, uplinks)
    for port_id, nic_id in fdb.links:
        wanted.setdefault(frozenset((port_id, nic_id)), (port_id, nic_id, "fdb"))
    for rel in fdb.phantoms:
        if rel.id not in cs.close_rels:
            links.close_rel(rel)

    state = await store.load_scope(scope, ("CONNECTED_TO",))
    held = {
        frozenset((r.src, r.dst)): r
        for r in state.rels
        if r.type == "CONNECTED_TO" and r.id not in moved
    }
    missing = [(src, dst) for key, (src, dst, _) in wanted.items() if key not in held]
    elsewhere = await _open_links(store, missing)
    closing = {r.id for r in fdb.phantoms}
    for key, (src, dst, via) in wanted.items():
        rel = held.get(key)
        if rel is not None:
            if rel.attributes.get("via") != via:
                rel.attributes = {**rel.attributes, "via": via}
                rel.last_seen = at
                cs.update_rels.append(rel)
            continue
        other = elsewhere.get(key)
        if (other is not None and other.id not in closing) or key in links.linked:
            continue  # the other end's scan holds this link already (or it moved here)
        links.create_rel("CONNECTED_TO", src, dst, {"via": via}, scope)
    partial = noted_sections(report.get("notes"))
    for key, rel in held.items():
        via = rel.attributes.get("via")
        if key not in wanted and via in sections and via not in partial:
            links.close_rel(rel)  # a complete lldp/cdp/fdb section no longer shows it
    if not cs.is_empty():
        await store.apply(cs)


async def _neighbour_links(
    store: Store,
    links: _Links,
    root: CI,
    mine: list[CI],
    sections: dict[str, Any],
    wanted: dict[frozenset[str], tuple[str, str, str]],
) -> set[int]:
    """LLDP/CDP rows -> links; returns the ifIndexes of the ports that have neighbours."""
    rows = [r for r in neighbours(sections) if _local(mine, r) is not None]
    uplinks = {r.local_if_index for r in rows if r.local_if_index is not None}
    if not rows:
        return uplinks
    groups = group_neighbours(rows)
    devices = await _resolve_devices(store, root, groups)
    interfaces = await _interfaces_by_parent(store, sorted({d.id for d in devices.values()}))
    for index, group in enumerate(groups):
        device = devices.get(index)
        if device is None:
            device = _placeholder(links, group)
            if device is None:
                continue
            interfaces[device.id] = []
        links.names[device.id] = device.name
        ports = interfaces.setdefault(device.id, [])
        links.names.update({i.id: i.name for i in ports})
        for row in group:
            local = _local(mine, row)
            remote = nb.match_port(ports, row.port_id, row.port_subtype, row.port_descr)
            if remote is None:
                remote = _placeholder_port(links, device, row)
                ports.append(remote)
            if local is None or remote.id == local.id:
                continue
            key = frozenset((local.id, remote.id))
            if key not in wanted or (row.via == "lldp" and wanted[key][2] != "lldp"):
                wanted[key] = (local.id, remote.id, row.via)
    return uplinks


def _local(mine: list[CI], row: Neighbour) -> CI | None:
    """The scanned device's interface a row was seen on: by ifIndex, else by name; a row
    whose local port is unresolved has none (no link is guessed)."""
    for i in mine:
        if row.local_if_index is not None and i.attributes.get("if_index") == row.local_if_index:
            return i
    for i in mine:
        if row.local_port and i.name == row.local_port:
            return i
    return None


@dataclass
class _Evidence:
    """What the store knows about a batch of neighbour groups, one read per kind."""

    by_chassis: dict[str, list[CI]] = field(default_factory=dict)
    by_serial: dict[str, list[CI]] = field(default_factory=dict)
    by_device_id: dict[str, list[CI]] = field(default_factory=dict)
    by_address: dict[str, list[CI]] = field(default_factory=dict)
    by_name: dict[str, list[CI]] = field(default_factory=dict)


async def _evidence(store: Store, root: CI, groups: list[list[Neighbour]]) -> _Evidence:
    rows = [r for g in groups for r in g]
    chassis = sorted({r.chassis for r in rows if r.chassis})
    macs = sorted({r.chassis_mac for r in rows if r.chassis_mac})
    serials = sorted({k for r in rows if (k := _serial_key(r))})
    device_ids = sorted({r.device_id for r in rows if r.device_id})
    addresses = sorted({a for r in rows for a in r.addresses})
    names = sorted({n for r in rows if (n := r.short)})
    ev = _Evidence()
    for rule, values, into in (
        ("lldp_chassis_id", chassis, ev.by_chassis),
        ("base_mac", macs, ev.by_chassis),
        ("chassis_serial", serials, ev.by_serial),
        ("cdp_device_id", device_ids, ev.by_device_id),
    ):
        for value, cis in (await store.find_by_identity("NetworkDevice", rule, values)).items():
            into.setdefault(value, []).extend(cis)
    await _via_interfaces(store, await lookup.interfaces_by_mac(store, macs), ev.by_chassis)
    # an address several live CIs hold (VRRP, NAT'd labs) names none of them
    holders = await address_holders(store, addresses)
    shared = {a for a, h in holders.items() if len(current_holders(h)) > 1}
    usable = [a for a in addresses if a not in shared]
    for cls in ("NetworkDevice", "Host"):
        found = await lookup.cis_by_attribute(store, cls, "management_ip", usable)
        for addr, cis in found.items():
            ev.by_address.setdefault(addr, []).extend(cis)
    await _via_interfaces(store, await lookup.interfaces_with_ip(store, usable), ev.by_address)
    for name, cis in (await lookup.cis_by_name(store, ("NetworkDevice", "Host"), names)).items():
        ev.by_name.setdefault(name, []).extend(cis)
    return ev


async def _via_interfaces(
    store: Store, found: dict[str, list[CI]], into: dict[str, list[CI]]
) -> None:
    """Add the parents of interfaces found by a value to ``into[value]``."""
    parents = await store.get_cis(
        sorted({p for cis in found.values() for i in cis if (p := i.attributes.get("parent"))})
    )
    for value, cis in found.items():
        for i in cis:
            parent = parents.get(i.attributes.get("parent"))
            if parent is not None and i.status != "retired":
                into.setdefault(value, []).append(parent)


async def _resolve_devices(store: Store, root: CI, groups: list[list[Neighbour]]) -> dict[int, CI]:
    """Group index -> the known device it is; strongest evidence first, one batch per kind."""
    ev = await _evidence(store, root, groups)

    def live(cands: list[CI], chassis: set[str]) -> list[CI]:
        out: dict[str, CI] = {}
        for c in cands:
            if c.status == "retired" or c.id == root.id:
                continue
            own = c.identity.get("lldp_chassis_id")
            if chassis and own and own not in chassis:
                continue  # it announces another chassis ID: not the neighbour
            out[c.id] = c
        return list(out.values())

    def best(cands: list[CI]) -> CI | None:
        if not cands:
            return None
        return sorted(
            cands, key=lambda c: (bool(c.attributes.get("placeholder")), c.first_seen or "")
        )[0]

    def only(cands: list[CI]) -> CI | None:
        real = [c for c in cands if not c.attributes.get("placeholder")] or cands
        return real[0] if len(real) == 1 else None  # a name several devices share: nobody

    out: dict[int, CI] = {}
    for index, group in enumerate(groups):
        chassis = {r.chassis for r in group if r.chassis}
        tiers = (
            (best, [c for r in group if r.chassis for c in ev.by_chassis.get(r.chassis, [])]),
            (best, [c for r in group if (k := _serial_key(r)) for c in ev.by_serial.get(k, [])]),
            (best, [c for r in group if r.device_id for c in ev.by_device_id.get(r.device_id, [])]),
            (only, [c for r in group for a in r.addresses for c in ev.by_address.get(a, [])]),
            (only, [c for r in group if r.short for c in ev.by_name.get(r.short, [])]),
        )
        for pick, cands in tiers:
            device = pick(live(cands, chassis))
            if device is not None:
                out[index] = device
                break
    return out


def _placeholder(links: _Links, group: list[Neighbour]) -> CI | None:
    """A NetworkDevice for a neighbour no scan has seen, with what the neighbour said."""
    names = [r.sys_name for r in group if r.sys_name]
    name = next((n for n in names if hostname_like(n)), names[0] if names else None)
    macs = [r.chassis for r in group if r.chassis_mac]
    chassis = macs[0] if macs else next((r.chassis for r in group if r.chassis), None)
    address = next((a for r in group for a in r.addresses), None)
    descr = next((r.descr for r in group if r.descr), None)
    serial = next((r.serial for r in group if r.serial), None)
    device_id = next((r.device_id for r in group if r.device_id), None)
    vendor = neighbour_vendor(" ".join(r.descr or "" for r in group))
    attrs = {
        "sys_name": name,
        "sys_descr": descr,
        "management_ip": address,
        "identity_address": address,
        "lldp_chassis_id": chassis,
        "cdp_device_id": device_id,
        "vendor": vendor,
        "serial": serial if vendor else None,
        "placeholder": True,
    }
    if not identity_values(CLASSES["NetworkDevice"], attrs):
        return None
    label = display_name(name) if hostname_like(name) else name
    return links.create_ci("NetworkDevice", attrs, label or chassis or address)


def _placeholder_port(links: _Links, device: CI, row: Neighbour) -> CI:
    mac = normalise_mac(row.port_id) if row.port_subtype in ("macAddress", None) else None
    name = row.port_id or row.port_descr or "unknown port"
    if mac and row.port_descr:
        name = row.port_descr
    port = links.create_ci(
        "Interface",
        {
            "parent": device.id,
            "name": name,
            "description": row.port_descr,
            "mac": mac,
            "kind": PLACEHOLDER_KIND,
        },
        name,
    )
    links.create_rel("HAS_INTERFACE", device.id, port.id, {}, None)
    return port


# ------------------------------------------------------------------ completion
def _own_addresses(root: CI, sections: dict[str, Any]) -> list[str]:
    """The usable addresses of the device's own tables, and the address it was scanned on."""
    found = {nb.usable_address(a.get("address")) for a in sections.get("ip_addresses") or []}
    found.add(root.attributes.get("management_ip"))
    return sorted(a for a in found if a)


async def _complete_placeholders(
    store: Store, links: _Links, root: CI, mine: list[CI], sections: dict[str, Any]
) -> set[str]:
    """Move placeholder ports' links onto the device's real ports; retire placeholder CIs
    that describe this device. Returns the ids of the links closed here."""
    if root.cls != "NetworkDevice":
        return set()
    real = [i for i in mine if i.attributes.get("kind") != PLACEHOLDER_KIND]
    stray = [i for i in mine if i.attributes.get("kind") == PLACEHOLDER_KIND]
    macs = sorted({m for i in real if (m := i.attributes.get("mac"))})
    own_chassis = root.identity.get("lldp_chassis_id")
    chassis = sorted({*macs, *filter(None, (own_chassis, root.identity.get("base_mac")))})
    name = short_name(root.attributes.get("sys_name"))
    candidates: dict[str, CI] = {}
    for found in (
        await store.find_by_identity("NetworkDevice", "lldp_chassis_id", chassis),
        await lookup.cis_by_attribute(
            store, "NetworkDevice", "management_ip", _own_addresses(root, sections)
        ),
        await lookup.cis_by_name(store, ("NetworkDevice",), [name] if name else []),
    ):
        for cis in found.values():
            for ci in cis:
                theirs = ci.identity.get("lldp_chassis_id")
                if (
                    ci.id != root.id
                    and ci.attributes.get("placeholder")
                    and ci.status != "retired"
                    and not (own_chassis and theirs and theirs not in (own_chassis, *chassis))
                ):
                    candidates[ci.id] = ci
    if candidates:
        others = await _interfaces_by_parent(store, sorted(candidates))
        for ports in others.values():
            stray += ports
    moved: set[str] = set()
    for port in stray:
        labels = (port.name, port.attributes.get("description"), port.attributes.get("mac"))
        target = match_port(real, *labels)
        if target is None:
            if port.attributes.get("parent") == root.id:
                continue  # no real port by that name yet: keep the placeholder port
            row = Neighbour("lldp", None, None, port_id=port.name, port_descr=labels[1])
            target = _placeholder_port(links, root, row)
            real.append(target)
        for view in await store.relationships(port.id):
            rel = view.rel
            if rel.type == "HAS_INTERFACE":
                links.close_rel(rel)
                continue
            if rel.type != "CONNECTED_TO":
                continue
            links.close_rel(rel)
            moved.add(rel.id)
            other = rel.dst if rel.src == port.id else rel.src
            key = frozenset((target.id, other))
            if other == target.id or key in links.linked:
                continue
            if await _open_links(store, [(target.id, other)]):
                continue
            links.names[target.id] = target.name
            links.names[other] = view.other.name if view.other.id == other else None
            links.create_rel("CONNECTED_TO", target.id, other, dict(rel.attributes), rel.scope)
        links.cs.set_status.append((port.id, "retired"))
        links.history(port.id, "ci", "status", port.status, "retired")
    for ci in candidates.values():
        links.cs.set_status.append((ci.id, "retired"))
        links.history(ci.id, "ci", "merged_into", None, {"id": root.id, "name": root.name}, root.id)
    return moved
