"""LLDP and CDP neighbour rows read by their subtypes (pure: no store).

What each ID means depends on its subtype (IEEE 802.1AB lldpChassisIdSubtype /
lldpPortIdSubtype, Cisco CDP):

* chassis ID ``macAddress``: MAC evidence (the neighbour's LLDP chassis ID, bridge base MAC
  or one of its interface MACs) and a strong grouping key.
* chassis ID ``networkAddress``: address evidence, like a management address; an unusable
  address (``cmdb.server.reconcile.addresses.not_unique_reason``: 0.0.0.0, loopback, link-local,
  multicast, broadcast) is no evidence and no key at all.
* chassis ID ``interfaceName``, ``interfaceAlias``, ``chassisComponent``, ``portComponent``,
  ``local``: opaque text, compared only with the device's own lldpLocChassisId (exact, after
  the subtype): a strong grouping key, never a name.
* CDP device ID: a MAC (some Nexus/UCS send one), ``name(serial)`` (the serial is chassis
  serial evidence) or a host name; it is a strong grouping key as a whole.
* port ID ``macAddress`` matches the far port by MAC, ``interfaceName`` by name (or its
  abbreviation: ``Gi1/0/1`` = ``GigabitEthernet1/0/1``), ``interfaceAlias`` by ifAlias,
  ``local`` by ifIndex when it is a number, else by name; the port description is the last
  label tried.

Neighbours are grouped on strong keys only: chassis ID, chassis serial, CDP device ID, and
(LLDP and CDP over one cable) the same local port with the same short name. A name or an
address that two rows share does not make them one device.

Names compare shortened on both sides: ``sw-north.corp.example`` and ``SW-NORTH`` are one
name (``cmdb.graph.identity.short_hostname``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from cmdb.graph.identity import short_hostname
from cmdb.server.reconcile.addresses import not_unique_reason

_MAC = re.compile(r"^[0-9a-f]{2}([:.-]?[0-9a-f]{2}){5}$", re.I)
_MAC_DOTTED = re.compile(r"^[0-9a-f]{4}\.[0-9a-f]{4}\.[0-9a-f]{4}$", re.I)
_NAME_SERIAL = re.compile(r"^(?P<name>[^()\s]+)\((?P<serial>[A-Za-z0-9]{6,})\)$")
_PORT = re.compile(r"^(?P<prefix>[a-z][a-z -]*?)\s*(?P<rest>\d[\d/.:]*)$")
_NO_MAC = frozenset({"00:00:00:00:00:00", "ff:ff:ff:ff:ff:ff"})
_OPAQUE_CHASSIS = frozenset(
    {"interfaceName", "interfaceAlias", "chassisComponent", "portComponent", "local"}
)


def normalise_mac(text: str | None) -> str | None:
    """``AA-BB-CC-00-11-22``, ``aabb.cc00.1122``, ``aabbcc001122`` -> ``aa:bb:cc:00:11:22``;
    None for anything else and for the all-zero / broadcast MACs."""
    if not text:
        return None
    value = text.strip()
    if not (_MAC.match(value) or _MAC_DOTTED.match(value)):
        return None
    digits = re.sub(r"[^0-9a-f]", "", value.lower())
    if len(digits) != 12:
        return None
    mac = ":".join(digits[i : i + 2] for i in range(0, 12, 2))
    return None if mac in _NO_MAC else mac


def short_name(name: str | None) -> str | None:
    """A device name as compared: lower case, first label (an address is kept whole)."""
    if not name or not name.strip():
        return None
    return short_hostname(name)


def display_name(name: str | None) -> str | None:
    """A device's name as a CI shows it: the first label as written (``SW-North`` from
    ``SW-North.corp.example``); an address is kept whole. Lookups by name ignore case."""
    if not name or not name.strip():
        return None
    text = name.strip().rstrip(".")
    if short_hostname(text) == text.lower():
        return text  # no domain, or an address
    return text.split(".", 1)[0]


def hostname_like(name: str | None) -> bool:
    """Whether a name can name a host: "ProCurve 6120XG Blade Switch" names a model."""
    return bool(name) and " " not in name.strip()


def usable_address(text: str | None) -> str | None:
    """The address as text when it can identify a device, else None."""
    if not text or not_unique_reason(text) is not None:
        return None
    return text.strip()


def chassis_key(subtype: str | None, value: str | None) -> str | None:
    """The ``lldp_chassis_id`` identity value a chassis ID gives, the same for a device's
    own lldpLocChassisId and a neighbour's lldpRemChassisId: a MAC as ``aa:bb:..``, an
    address as itself, other subtypes as ``subtype:text`` (opaque text is only equal to
    text of the same kind). None for what cannot identify anything."""
    if not value or not str(value).strip():
        return None
    text = str(value).strip()
    if subtype == "macAddress" or (subtype is None and normalise_mac(text)):
        return normalise_mac(text)
    if subtype == "networkAddress":
        return usable_address(text)
    if subtype in _OPAQUE_CHASSIS:
        return f"{subtype}:{text.lower()}"
    return normalise_mac(text) or f"{subtype or 'unknown'}:{text.lower()}"


@dataclass
class Neighbour:
    """One LLDP or CDP row, normalised (see the module docstring)."""

    via: str
    local_if_index: int | None
    local_port: str | None
    chassis: str | None = None  # lldp_chassis_id identity value
    chassis_mac: str | None = None
    device_id: str | None = None  # CDP device ID as sent (lower case)
    port_id: str | None = None
    port_subtype: str | None = None
    port_descr: str | None = None
    sys_name: str | None = None
    addresses: tuple[str, ...] = ()  # usable only
    serial: str | None = None
    descr: str | None = None

    @property
    def short(self) -> str | None:
        return short_name(self.sys_name) if hostname_like(self.sys_name) else None

    def strong_keys(self) -> list[tuple[str, str]]:
        """The keys two rows must share to be one device (never a name or an address)."""
        keys: list[tuple[str, str]] = []
        if self.chassis:
            keys.append(("chassis", self.chassis))
        if self.serial:
            keys.append(("serial", self.serial.lower()))
        if self.device_id:
            keys.append(("cdp", self.device_id))
        if self.short and (self.local_if_index is not None or self.local_port):
            # LLDP and CDP over one cable: one local port, one name
            keys.append(("port+name", f"{self.local_if_index}|{self.local_port}|{self.short}"))
        return keys


def _split_name_serial(text: str | None) -> tuple[str | None, str | None]:
    m = _NAME_SERIAL.match((text or "").strip())
    return (m["name"], m["serial"]) if m else (None, None)


def _lldp(row: dict[str, Any], local: tuple[int | None, str | None]) -> Neighbour:
    subtype = row.get("chassis_id_subtype")
    raw = row.get("chassis_id")
    name, serial = _split_name_serial(raw)
    addresses = [a for a in (row.get("management_addresses") or ()) if usable_address(a)]
    chassis = chassis_key(subtype, raw)
    if subtype == "networkAddress" and chassis and chassis not in addresses:
        addresses.insert(0, chassis)  # an address chassis ID is address evidence
    mac = chassis if chassis and normalise_mac(chassis) == chassis else None
    return Neighbour(
        via="lldp",
        local_if_index=local[0],
        local_port=local[1],
        chassis=chassis,
        chassis_mac=mac,
        port_id=row.get("port_id"),
        port_subtype=row.get("port_id_subtype"),
        port_descr=row.get("port_descr"),
        sys_name=(row.get("sys_name") or "").strip() or name,
        addresses=tuple(addresses),
        serial=serial,
        descr=(row.get("sys_descr") or "").strip().strip('"') or None,
    )


def _cdp(row: dict[str, Any]) -> Neighbour:
    device_id = (row.get("device_id") or "").strip() or None
    mac = normalise_mac(device_id)
    name, serial = _split_name_serial(device_id)
    address = row.get("address")
    if row.get("address_type") not in (None, 1):
        address = None  # only type 1 (ip) is an IPv4 address
    return Neighbour(
        via="cdp",
        local_if_index=row.get("if_index"),
        local_port=row.get("local_port"),
        chassis=mac,
        chassis_mac=mac,
        device_id=device_id.lower() if device_id else None,
        port_id=row.get("port"),
        port_subtype="interfaceName",
        sys_name=name or (device_id if not mac else None),
        addresses=(address,) if usable_address(address) else (),
        serial=serial,
        descr=" ".join(filter(None, (row.get("platform"), row.get("version")))) or None,
    )


def neighbours(sections: dict[str, Any], interfaces: list[dict[str, Any]] | None = None) -> list:
    """Every LLDP and CDP row of a report as a ``Neighbour``; the local port of an LLDP
    row is mapped by ``local_port`` (the report's own tables) when the report carries
    them, else as the collector mapped it."""
    ifs = interfaces if interfaces is not None else (sections.get("interfaces") or [])
    mapper = LocalPorts(sections, ifs)
    out: list[Neighbour] = []
    for row in sections.get("lldp") or []:
        out.append(_lldp(row, mapper.resolve(row)))
    for row in sections.get("cdp") or []:
        out.append(_cdp(row))
    return out


# ------------------------------------------------------------------ local LLDP ports
class LocalPorts:
    """lldpRemLocalPortNum -> (ifIndex, interface name) of the scanned device.

    The number is an lldpLocPortNum, which agents fill differently (an ifIndex, a bridge
    port number, a private number). It is mapped, in order:

    1. through lldpLocPortTable: the port's ID read by its subtype (``macAddress``: the
       interface with that MAC; ``interfaceName``: ifName/ifDescr; ``interfaceAlias``:
       ifAlias; ``local``: a number is an ifIndex, text a name), then its description as a
       name; a match must be one interface;
    2. through dot1dBasePortIfIndex (the number as a bridge port);
    3. as an ifIndex.

    A step that finds several interfaces narrows the next ones: their answer counts only
    when it is one of those. Nothing left, or several: unresolved (None), never a guess.
    Without lldp_local and bridge sections the collector's mapping is taken as it is.
    """

    def __init__(self, sections: dict[str, Any], interfaces: list[dict[str, Any]]) -> None:
        local = sections.get("lldp_local") or {}
        bridge = sections.get("bridge") or {}
        self.ports = {p.get("port_num"): p for p in local.get("ports") or []}
        self.bridge = {p.get("port"): p.get("if_index") for p in bridge.get("ports") or []}
        self.own_tables = bool(self.ports or self.bridge)
        self.interfaces = {i["index"]: i for i in interfaces if i.get("index") is not None}

    def _name(self, index: int) -> str | None:
        nic = self.interfaces[index]
        return nic.get("name") or nic.get("descr")

    def _by(self, value: str | None, *fields: str) -> set[int]:
        if not value:
            return set()
        low = str(value).strip().lower()
        return {
            index
            for index, nic in self.interfaces.items()
            if any(str(nic.get(f) or "").strip().lower() == low for f in fields)
        }

    def _by_port_id(self, port: dict[str, Any]) -> set[int]:
        subtype, value = port.get("id_subtype"), port.get("id")
        if subtype == "macAddress":
            mac = normalise_mac(value)
            return {i for i, n in self.interfaces.items() if mac and n.get("mac") == mac}
        if subtype == "interfaceAlias":
            return self._by(value, "alias")
        if subtype == "local" and str(value or "").strip().isdigit():
            index = int(str(value).strip())
            return {index} if index in self.interfaces else set()
        if subtype in ("interfaceName", "local"):
            return self._by(value, "name", "descr")
        return set()

    def number(self, num: int | None) -> int | None:
        """The ifIndex a local port number stands for, or None (see the class docstring)."""
        if num is None:
            return None
        narrowed: set[int] | None = None
        port = self.ports.get(num)
        if port is not None:
            for found in (self._by_port_id(port), self._by(port.get("descr"), "name", "descr")):
                if len(found) == 1 and (narrowed is None or found <= narrowed):
                    return next(iter(found))
                if found:
                    narrowed = found if narrowed is None else (narrowed & found) or narrowed
        for candidate in (self.bridge.get(num), num if num in self.interfaces else None):
            if candidate is None or candidate not in self.interfaces:
                continue
            if narrowed is None or candidate in narrowed:
                return candidate
            return None  # the number points outside what the port's ID allows: unresolved
        return None

    def resolve(self, row: dict[str, Any]) -> tuple[int | None, str | None]:
        """(ifIndex, name) of an LLDP row's local port."""
        if not self.own_tables or "local_port_num" not in row:
            return row.get("local_if_index"), row.get("local_port")
        index = self.number(row.get("local_port_num"))
        return (index, self._name(index)) if index is not None else (None, None)


# ------------------------------------------------------------------ grouping
def group_neighbours(rows: list[Neighbour]) -> list[list[Neighbour]]:
    """Rows that share a strong key (``Neighbour.strong_keys``) describe one device."""
    parent = list(range(len(rows)))

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    owner: dict[tuple[str, str], int] = {}
    for i, row in enumerate(rows):
        for key in row.strong_keys():
            if key in owner:
                parent[find(i)] = find(owner[key])
            else:
                owner[key] = i
    groups: dict[int, list[Neighbour]] = {}
    for i, row in enumerate(rows):
        groups.setdefault(find(i), []).append(row)
    return list(groups.values())


# ------------------------------------------------------------------ far ports
def port_parts(text: str) -> tuple[str, str] | None:
    """``GigabitEthernet1/0/1`` -> (``gigabitethernet``, ``1/0/1``)."""
    m = _PORT.match(text.strip().lower())
    return (m["prefix"].replace(" ", "").replace("-", ""), m["rest"]) if m else None


def _one(hits: list[Any]) -> Any | None:
    return hits[0] if len(hits) == 1 else None


def _by_name(ports: list[Any], label: str) -> Any | None:
    low = label.strip().lower()
    hit = _one(
        [
            p
            for p in ports
            if low
            in {
                str(v).lower()
                for v in (p.name, p.attributes.get("description"), p.attributes.get("alias"))
                if v
            }
        ]
    )
    if hit is not None:
        return hit
    parts = port_parts(label)
    if not parts:
        return None
    hits = []
    for p in ports:
        for value in (p.name, p.attributes.get("description")):
            other = port_parts(str(value or ""))
            if (
                other
                and other[1] == parts[1]
                and (other[0].startswith(parts[0]) or parts[0].startswith(other[0]))
            ):
                hits.append(p)
                break
    return _one(hits)


def _by_mac(ports: list[Any], label: str) -> Any | None:
    mac = normalise_mac(label)
    return _one([p for p in ports if mac and p.attributes.get("mac") == mac])


def _by_index(ports: list[Any], label: str) -> Any | None:
    text = label.strip()
    if not text.isdigit():
        return None
    return _one([p for p in ports if p.attributes.get("if_index") == int(text)])


def match_port(ports: list[Any], port_id: str | None, subtype: str | None, descr: str | None):
    """The far interface (a CI with ``name`` and ``attributes``) a neighbour's port ID
    names, read by its subtype, then by its description; None when nothing or several fit.
    Placeholder ports count only when no real port is known."""
    real = [p for p in ports if p.attributes.get("kind") != "placeholder"] or ports
    tries: list[tuple[Any, str]] = []
    if port_id:
        if subtype == "macAddress":
            tries = [(_by_mac, port_id)]
        elif subtype == "interfaceAlias":
            tries = [(_by_name, port_id)]
        elif subtype == "local":
            tries = [(_by_index, port_id), (_by_name, port_id)]
        elif subtype in ("interfaceName", None):
            tries = [(_by_name, port_id), (_by_mac, port_id), (_by_index, port_id)]
        else:  # networkAddress, agentCircuitId, portComponent: text at best
            tries = [(_by_name, port_id)]
    if descr:
        tries.append((_by_name, descr))
    for how, label in tries:
        hit = how(real, label)
        if hit is not None:
            return hit
    return None
