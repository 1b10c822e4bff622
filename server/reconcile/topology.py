"""Layer-2 topology from one SNMP report, run after the device's own change set is
committed (an ingest POST_STEP, under the writer lock).

* LLDP and CDP neighbours become ``Interface -CONNECTED_TO-> Interface``. The far
  end is matched to a known device by chassis id (an identity value, or the MAC
  of one of its interfaces), by CDP's ``name(serial)`` chassis serial, by
  management address (the device's own, or an interface address) and last by
  name; its port by name, abbreviation (``Eth1/19`` = ``Ethernet1/19``), MAC or
  ifIndex. An unknown neighbour becomes a placeholder NetworkDevice (with a
  placeholder Interface for its port) whose identity values are the ones its own
  scan will report where the neighbour told them (sysName + address, serial).
* MACs the switch learned on an access port (few MACs, no LLDP/CDP neighbour)
  link the port to the Host interface with that MAC (``via="fdb"``).
* Links are undirected: A's LLDP and B's LLDP describe one link, kept once.
  They carry the device's scope (``snmp:<id>``): a later *complete* lldp, cdp or
  fdb section closes the links of that kind it no longer shows; an absent
  (partial) section closes nothing.
* Completion: when a scanned device turns out to be a placeholder (found by
  identity) or matches one by chassis MAC / address / name, the placeholder's
  links move onto the device's real interfaces, and a placeholder that is a
  second CI is retired with a history entry naming the device it became.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass, field
from typing import Any

from collectors.snmp.vendors import enterprise_name
from graph import lookup
from graph.identity import identity_values, key_of
from graph.schema import CLASSES
from graph.store import CI, ChangeSet, Rel, Store

ACCESS_PORT_MAX_MACS = 3
PLACEHOLDER_KIND = "placeholder"
VIA_SECTIONS = ("lldp", "cdp", "fdb")

_MAC = re.compile(r"^[0-9a-f]{2}([:.-]?[0-9a-f]{2}){5}$", re.I)
_NAME_SERIAL = re.compile(r"^(?P<name>[^()\s]+)\((?P<serial>[A-Za-z0-9]{6,})\)$")
_PORT = re.compile(r"^(?P<prefix>[a-z][a-z -]*?)\s*(?P<rest>\d[\d/.:]*)$")
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


def normalise_mac(text: str | None) -> str | None:
    if not text or not _MAC.match(text.strip()):
        return None
    digits = re.sub(r"[^0-9a-f]", "", text.lower())
    return ":".join(digits[i : i + 2] for i in range(0, 12, 2))


def neighbour_vendor(descr: str | None) -> str | None:
    low = (descr or "").lower()
    for word, number in _VENDOR_WORDS:
        if word in low:
            return enterprise_name(number)
    return None


def _short(name: str | None) -> str | None:
    if not name:
        return None
    return name.split(".", 1)[0].lower() if not _looks_ip(name) else name.lower()


def _looks_ip(text: str) -> bool:
    return bool(re.match(r"^[\d.]+$|:.*:", text))


def _hostname_like(name: str | None) -> bool:
    return bool(name) and " " not in name  # "ProCurve 6120XG Blade Switch" names a model


@dataclass
class Neighbour:
    """One LLDP or CDP row, normalised."""

    via: str
    local_if_index: int | None
    local_port: str | None
    chassis_id: str | None = None
    port_id: str | None = None
    port_descr: str | None = None
    sys_name: str | None = None
    addresses: tuple[str, ...] = ()
    serial: str | None = None
    descr: str | None = None

    def match_keys(self) -> list[tuple[str, str]]:
        keys = []
        if self.chassis_id:
            keys.append(("chassis", self.chassis_id.lower()))
        if self.serial:
            keys.append(("serial", self.serial.lower()))
        keys += [("ip", a) for a in self.addresses]
        if _hostname_like(self.sys_name):
            keys.append(("name", _short(self.sys_name) or ""))
        return keys


def _split_name_serial(text: str | None) -> tuple[str | None, str | None]:
    m = _NAME_SERIAL.match((text or "").strip())
    return (m["name"], m["serial"]) if m else (None, None)


def neighbours(sections: dict[str, Any]) -> list[Neighbour]:
    out: list[Neighbour] = []
    for row in sections.get("lldp") or []:
        chassis = row.get("chassis_id")
        if row.get("chassis_id_subtype") == "macAddress":
            chassis = normalise_mac(chassis) or chassis
        name, serial = _split_name_serial(chassis)
        out.append(
            Neighbour(
                via="lldp",
                local_if_index=row.get("local_if_index"),
                local_port=row.get("local_port"),
                chassis_id=chassis,
                port_id=row.get("port_id"),
                port_descr=row.get("port_descr"),
                sys_name=row.get("sys_name") or name,
                addresses=tuple(row.get("management_addresses") or ()),
                serial=serial,
                descr=(row.get("sys_descr") or "").strip('"') or None,
            )
        )
    for row in sections.get("cdp") or []:
        device_id = (row.get("device_id") or "").strip() or None
        mac = normalise_mac(device_id)
        name, serial = _split_name_serial(device_id)
        out.append(
            Neighbour(
                via="cdp",
                local_if_index=row.get("if_index"),
                local_port=row.get("local_port"),
                chassis_id=mac or (device_id if not name else None),
                port_id=row.get("port"),
                sys_name=name or (device_id if not mac else None),
                addresses=(row["address"],) if row.get("address") else (),
                serial=serial,
                descr=" ".join(filter(None, (row.get("platform"), row.get("version")))) or None,
            )
        )
    return out


def group_neighbours(rows: list[Neighbour]) -> list[list[Neighbour]]:
    """Rows that share a chassis id, serial, address or hostname describe one device."""
    parent = list(range(len(rows)))

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    owner: dict[tuple[str, str], int] = {}
    for i, row in enumerate(rows):
        for key in row.match_keys():
            if key in owner:
                parent[find(i)] = find(owner[key])
            else:
                owner[key] = i
    groups: dict[int, list[Neighbour]] = {}
    for i, row in enumerate(rows):
        groups.setdefault(find(i), []).append(row)
    return list(groups.values())


# ------------------------------------------------------------------ port matching
def _port_parts(text: str) -> tuple[str, str] | None:
    m = _PORT.match(text.strip().lower())
    return (m["prefix"].replace(" ", "").replace("-", ""), m["rest"]) if m else None


def match_port(interfaces: list[CI], *labels: str | None) -> CI | None:
    """The interface a neighbour's port id / description names: exact name, then MAC,
    then an abbreviation of the same number (Eth1/19, Gi1/0/1), then ifIndex."""
    real = [i for i in interfaces if i.attributes.get("kind") != PLACEHOLDER_KIND] or interfaces
    for label in filter(None, labels):
        low = label.strip().lower()
        hits = [
            i
            for i in real
            if low
            in {
                str(v).lower()
                for v in (i.name, i.attributes.get("description"), i.attributes.get("alias"))
                if v
            }
        ]
        if len(hits) == 1:
            return hits[0]
        mac = normalise_mac(label)
        if mac:
            hits = [i for i in real if i.attributes.get("mac") == mac]
            if len(hits) == 1:
                return hits[0]
        parts = _port_parts(label)
        if parts:
            hits = []
            for i in real:
                for value in (i.name, i.attributes.get("description")):
                    other = _port_parts(str(value or ""))
                    if (
                        other
                        and other[1] == parts[1]
                        and (other[0].startswith(parts[0]) or parts[0].startswith(other[0]))
                    ):
                        hits.append(i)
                        break
            if len(hits) == 1:
                return hits[0]
        if low.isdigit():
            hits = [i for i in real if i.attributes.get("if_index") == int(low)]
            if len(hits) == 1:
                return hits[0]
    return None


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
    await _fdb_links(store, root, mine, sections, uplinks, wanted)

    state = await store.load_scope(scope)
    held = {
        frozenset((r.src, r.dst)): r
        for r in state.rels
        if r.type == "CONNECTED_TO" and r.id not in moved
    }
    missing = [(src, dst) for key, (src, dst, _) in wanted.items() if key not in held]
    elsewhere = await _open_links(store, missing)
    for key, (src, dst, via) in wanted.items():
        rel = held.get(key)
        if rel is not None:
            if rel.attributes.get("via") != via:
                rel.attributes = {**rel.attributes, "via": via}
                rel.last_seen = at
                cs.update_rels.append(rel)
            continue
        if key in elsewhere or key in links.linked:
            continue  # the other end's scan holds this link already (or it moved here)
        links.create_rel("CONNECTED_TO", src, dst, {"via": via}, scope)
    for key, rel in held.items():
        if key not in wanted and rel.attributes.get("via") in sections:
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
            remote = match_port(ports, row.port_id, row.port_descr)
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
    for i in mine:
        if row.local_if_index is not None and i.attributes.get("if_index") == row.local_if_index:
            return i
    for i in mine:
        if row.local_port and i.name == row.local_port:
            return i
    return None


async def _resolve_devices(store: Store, root: CI, groups: list[list[Neighbour]]) -> dict[int, CI]:
    """Group index -> the known device it is; strongest evidence first, one batch per kind."""
    chassis = sorted({r.chassis_id.lower() for g in groups for r in g if r.chassis_id})
    macs = sorted({m for c in chassis if (m := normalise_mac(c))})
    serials = sorted(
        {
            key
            for g in groups
            for r in g
            if r.serial
            and (
                key := key_of(
                    "NetworkDevice",
                    "chassis_serial",
                    vendor=neighbour_vendor(r.descr),
                    serial=r.serial,
                )
            )
        }
    )
    addresses = sorted({a for g in groups for r in g for a in r.addresses})
    names = sorted(
        {
            n
            for g in groups
            for r in g
            if _hostname_like(r.sys_name)
            for n in (r.sys_name.lower(), _short(r.sys_name))
        }
    )
    by_chassis = await store.find_by_identity("NetworkDevice", "lldp_chassis_id", chassis)
    by_serial = await store.find_by_identity("NetworkDevice", "chassis_serial", serials)
    if_by_mac = await lookup.interfaces_by_mac(store, macs)
    if_by_ip = await lookup.interfaces_with_ip(store, addresses)
    mgmt: dict[str, list[CI]] = {}
    for cls in ("NetworkDevice", "Host"):
        for addr, cis in (
            await lookup.cis_by_attribute(store, cls, "management_ip", addresses)
        ).items():
            mgmt.setdefault(addr, []).extend(cis)
    by_name = await lookup.cis_by_name(store, ("NetworkDevice", "Host"), names)
    parent_ids = {
        i.attributes.get("parent")
        for cis in (*if_by_mac.values(), *if_by_ip.values())
        for i in cis
        if i.attributes.get("parent")
    }
    parents = await store.get_cis(sorted(parent_ids))

    def via_interfaces(found: list[CI]) -> list[CI]:
        return [p for i in found if (p := parents.get(i.attributes.get("parent")))]

    def usable(cands: list[CI]) -> CI | None:
        live = {c.id: c for c in cands if c.status != "retired" and c.id != root.id}
        if not live:
            return None
        return sorted(
            live.values(),
            key=lambda c: (bool(c.attributes.get("placeholder")), c.first_seen or ""),
        )[0]

    out: dict[int, CI] = {}
    for index, group in enumerate(groups):
        tiers: list[list[CI]] = [[], [], [], []]
        for r in group:
            if r.chassis_id:
                c = r.chassis_id.lower()
                tiers[0] += by_chassis.get(c, []) + via_interfaces(if_by_mac.get(c, []))
            if r.serial and (
                key := key_of(
                    "NetworkDevice",
                    "chassis_serial",
                    vendor=neighbour_vendor(r.descr),
                    serial=r.serial,
                )
            ):
                tiers[1] += by_serial.get(key, [])
            for a in r.addresses:
                tiers[2] += mgmt.get(a, []) + via_interfaces(if_by_ip.get(a, []))
            if _hostname_like(r.sys_name):
                tiers[3] += by_name.get(r.sys_name.lower(), []) + by_name.get(
                    _short(r.sys_name) or "", []
                )
        for tier in tiers:
            device = usable(tier)
            if device is not None:
                out[index] = device
                break
    return out


def _placeholder(links: _Links, group: list[Neighbour]) -> CI | None:
    """A NetworkDevice for a neighbour no scan has seen, with what the neighbour said."""
    names = [r.sys_name for r in group if r.sys_name]
    name = next((n for n in names if _hostname_like(n)), names[0] if names else None)
    macs = [r.chassis_id for r in group if r.chassis_id and normalise_mac(r.chassis_id)]
    chassis = macs[0] if macs else next((r.chassis_id for r in group if r.chassis_id), None)
    address = next((a for r in group for a in r.addresses), None)
    descr = next((r.descr for r in group if r.descr), None)
    serial = next((r.serial for r in group if r.serial), None)
    vendor = neighbour_vendor(" ".join(r.descr or "" for r in group))
    attrs = {
        "sys_name": name,
        "sys_descr": descr,
        "management_ip": address,
        "lldp_chassis_id": chassis.lower() if chassis else None,
        "vendor": vendor,
        "serial": serial if vendor else None,
        "placeholder": True,
    }
    if not identity_values(CLASSES["NetworkDevice"], attrs):
        return None
    return links.create_ci("NetworkDevice", attrs, name or chassis)


def _placeholder_port(links: _Links, device: CI, row: Neighbour) -> CI:
    mac = normalise_mac(row.port_id)
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


async def _fdb_links(
    store: Store,
    root: CI,
    mine: list[CI],
    sections: dict[str, Any],
    uplinks: set[int],
    wanted: dict[frozenset[str], tuple[str, str, str]],
    max_macs: int = ACCESS_PORT_MAX_MACS,
) -> None:
    """Host NICs learned on access ports: few MACs and no LLDP/CDP neighbour."""
    own = {i.attributes.get("mac") for i in mine}
    per_port: dict[int, set[str]] = {}
    for entry in sections.get("fdb") or []:
        if entry.get("status") != "learned" or not entry.get("if_index"):
            continue
        mac = normalise_mac(entry.get("mac"))
        if mac and mac not in own:
            per_port.setdefault(entry["if_index"], set()).add(mac)
    access = {p: m for p, m in per_port.items() if p not in uplinks and len(m) <= max_macs}
    ports = {i.attributes.get("if_index"): i for i in mine if i.attributes.get("if_index")}
    macs = sorted({m for p, ms in access.items() if p in ports for m in ms})
    if not macs:
        return
    found = await lookup.interfaces_by_mac(store, macs)
    parents = await store.get_cis(
        sorted({p for cis in found.values() for i in cis if (p := i.attributes.get("parent"))})
    )
    for port_index, port_macs in access.items():
        port = ports.get(port_index)
        if port is None:
            continue
        for mac in port_macs:
            nics = [
                i
                for i in found.get(mac, [])
                if i.status != "retired"
                and (p := parents.get(i.attributes.get("parent"))) is not None
                and p.cls == "Host"
                and p.status != "retired"
            ]
            if len(nics) == 1:  # two live hosts with one MAC (clones): say nothing
                key = frozenset((port.id, nics[0].id))
                wanted.setdefault(key, (port.id, nics[0].id, "fdb"))


# ------------------------------------------------------------------ completion
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
    addresses = sorted(
        {a["address"] for a in sections.get("ip_addresses") or []}
        | {root.attributes.get("management_ip") or ""}
    )
    candidates: dict[str, CI] = {}
    for found in (
        await store.find_by_identity("NetworkDevice", "lldp_chassis_id", macs),
        await lookup.cis_by_attribute(store, "NetworkDevice", "management_ip", addresses),
        await lookup.cis_by_name(
            store, ("NetworkDevice",), [root.attributes.get("sys_name") or ""]
        ),
    ):
        for cis in found.values():
            for ci in cis:
                if ci.id != root.id and ci.attributes.get("placeholder") and ci.status != "retired":
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
