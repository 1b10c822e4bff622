"""Catalogue references: how an engineer names a CI in a catalogue, a change or a declared
relationship, and the exact lookup that turns the name into one CI.

A reference is a CI id (a string) or an object with a ``class`` and what identifies the
CI in words::

    {class: Host, name: db1}                       # exact name (case-insensitive)
    {class: Host, address: 10.20.0.11}            # an address one of its interfaces holds
    {class: Host, serial: SER0001}                 # its serial (manufacturer optional)
    {class: Endpoint, host: db1, port: 5432}       # tcp or udp unless protocol is given
    {class: Interface, name: eth0, host: db2}      # host: a Host or NetworkDevice
    {class: Software, name: perl, version: 5.36.0-7}
    {class: Service, name: orders-db}

An address that never identifies a holder (loopback, link-local, unspecified, multicast,
broadcast: ``cmdb.server.reconcile.addresses.not_unique_reason``) names no CI but an
IPAddress. Every other key must be an attribute of the class and narrows the candidates by
equality
(``version``, ``arch``, ``vendor`` ...). Lookups are exact: identity keys (built by
``cmdb.graph.identity.key_of``), the name index and the indexed attributes, never a substring
search. A reference that fits no CI, or more than one, is a 422 naming what was looked for
and, when ambiguous, every candidate with what tells them apart.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from cmdb.graph.identity import key_of, short_hostname
from cmdb.graph.lookup import (
    cis_by_attribute,
    cis_by_name,
    cis_by_short_name,
    interfaces_with_ip,
)
from cmdb.graph.schema import CLASSES
from cmdb.graph.store import CI, Store
from cmdb.server.catalogue import CatalogueError, invalid, unprocessable
from cmdb.server.catalogue.common import all_of_class, check_id
from cmdb.server.reconcile.addresses import no_holder_words, not_unique_reason, parse_address

# keys that select rather than filter: each has its own lookup below
SELECTORS = ("name", "host", "port", "protocol", "address", "serial", "manufacturer")
MAX_CANDIDATES = 10  # an ambiguous answer lists at most this many
# the classes a reference may narrow by ``host``: an endpoint's host, an interface's host or
# device (its ``parent``)
HOSTED = ("Endpoint", "Interface")
HOST_CLASSES = ("Host", "NetworkDevice")


@dataclass(frozen=True, slots=True)
class RefSpec:
    """A parsed reference: an id, or a class with selectors and attribute filters."""

    id: str | None = None
    cls: str | None = None
    name: str | None = None
    host: Any = None  # an Endpoint's host: a name, id or nested reference
    port: int | None = None
    protocol: str | None = None
    address: str | None = None
    serial: str | None = None
    manufacturer: str | None = None
    filters: dict[str, str] = field(default_factory=dict)

    def describe(self) -> str:
        """The reference in words, for error messages: ``Endpoint on db1 tcp/5432``."""
        if self.id:
            return f"id {self.id!r}"
        parts = [self.cls or "CI"]
        if self.cls == "Endpoint":
            parts.append(f"on {_words(self.host)} {self.protocol or 'tcp'}/{self.port}")
        elif self.host is not None:
            parts.append(f"on {_words(self.host)}")
        if self.name is not None:
            parts.append(f"named {self.name!r}")
        if self.address:
            parts.append(f"with address {self.address}")
        if self.serial:
            parts.append(f"with serial {self.serial!r}")
        parts += [f"{k}={v!r}" for k, v in sorted(self.filters.items())]
        return " ".join(parts)


def _words(host: Any) -> str:
    """A host as written in a reference, for messages: its name, or the nested reference
    in words (``Host with address 10.0.0.1``)."""
    if isinstance(host, dict):
        try:
            return parse_ref(host, "host").describe()
        except CatalogueError:
            return "the host given"
    return str(host)


def parse_ref(value: Any, where: str, default_class: str | None = None) -> RefSpec:
    """A reference as written (``where`` names it in a 400): an id string, or an object
    with ``class`` and selectors. ``default_class`` lets a bare name stand for a CI of that
    class (``{service: orders-db}`` in a catalogue)."""
    if isinstance(value, str):
        text = value.strip()
        if default_class and text:
            return RefSpec(cls=default_class, name=text)
        return RefSpec(id=check_id(text, where))
    if not isinstance(value, dict):
        raise invalid(f"{where} must be a CI id or an object with a class, not {value!r}")
    if "id" in value:
        return RefSpec(id=check_id(value["id"], f"{where}.id"), cls=value.get("class"))
    cls = value.get("class", default_class)
    if cls is None:
        raise invalid(
            f"{where}.class is required: say which class of CI, one of "
            f"{', '.join(sorted(CLASSES))}",
            field=f"{where}.class",
        )
    if cls not in CLASSES:
        raise invalid(
            f"{where}.class must be one of {', '.join(sorted(CLASSES))}, not {cls!r}",
            field=f"{where}.class",
        )
    attrs = set(CLASSES[cls].attributes)
    unknown = sorted(set(value) - {"class", *SELECTORS} - attrs)
    if unknown:
        raise invalid(
            f"{where} names {', '.join(unknown)}, which a {cls} does not have; a reference "
            f"takes class, {', '.join(SELECTORS)} or attributes of {cls}",
            field=f"{where}.{unknown[0]}",
        )
    text = {k: str(v).strip() for k, v in value.items() if k != "class" and v is not None}
    port = None
    if "port" in value:
        try:
            port = int(value["port"])
        except (TypeError, ValueError):
            port = -1
        if not 0 < port < 65536:
            raise invalid(
                f"{where}.port must be a port number (1-65535), not {value['port']!r}",
                field=f"{where}.port",
            )
    spec = RefSpec(
        cls=cls,
        name=text.get("name"),
        host=value.get("host") if isinstance(value.get("host"), dict) else text.get("host"),
        port=port,
        protocol=(text.get("protocol") or "").lower() or None,
        address=text.get("address"),
        serial=text.get("serial"),
        manufacturer=text.get("manufacturer"),
        filters={k: v for k, v in text.items() if k not in SELECTORS},
    )
    if spec.host is not None and cls not in HOSTED:
        raise invalid(
            f"{where}.host: a {cls} is not on a host; host narrows only "
            f"{' and '.join(HOSTED)} references",
            field=f"{where}.host",
        )
    if spec.port is not None and cls != "Endpoint":
        raise invalid(f"{where}.port: only an Endpoint has a port", field=f"{where}.port")
    reason = not_unique_reason(spec.address) if spec.address and cls != "IPAddress" else None
    if reason not in (None, "invalid"):
        raise unprocessable(
            f"{where}.address: {spec.address} is {no_holder_words(reason)}: it names no one "
            f"{cls}; give a global address, a name or an id",
            field=f"{where}.address",
        )
    if cls == "Endpoint":
        if spec.host is None or spec.port is None:
            raise invalid(
                f"{where}: an Endpoint is named by its host and port, e.g. "
                "{class: Endpoint, host: db1, port: 5432}",
                field=where,
            )
    elif not (spec.name or spec.address or spec.serial or spec.filters):
        raise invalid(
            f"{where}: say which {cls}: a name, an address, a serial or an attribute",
            field=where,
        )
    return spec


class Resolver:
    """Resolves references against one store; remembers what it resolved (an import names
    the same hosts many times) and scans a class at most once for serials."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self._done: dict[str, CI] = {}
        self._by_class: dict[str, list[CI]] = {}

    async def resolve(self, value: Any, where: str, default_class: str | None = None) -> CI:
        """The one CI ``value`` names; 400 for a malformed reference, 422 for none or many."""
        spec = value if isinstance(value, RefSpec) else parse_ref(value, where, default_class)
        memo = repr(spec)  # filters and a nested host make the spec unhashable
        if memo in self._done:
            return self._done[memo]
        return await self._choose(spec, await self._candidates(spec, where), where)

    async def _choose(self, spec: RefSpec, candidates: list[CI], where: str) -> CI:
        """The one CI of ``spec``'s ``candidates`` (a live one before a retired one),
        remembered; 422 for none or many."""
        live = [c for c in candidates if c.status != "retired"]
        if len(live) == 1 or (not live and len(candidates) == 1):
            found = (live or candidates)[0]
            self._done[repr(spec)] = found
            return found
        if not candidates:
            hint = (
                " (a string is a CI's id; name a CI with a reference such as "
                "{class: Host, name: db1})"
                if spec.id
                else ""
            )
            raise unprocessable(f"{where}: no {spec.describe()}{hint}", field=where, candidates=[])
        choices = await labels(self.store, (live or candidates)[:MAX_CANDIDATES])
        listed = "; ".join(f"{text(c)} ({c['id']})" for c in choices)
        raise unprocessable(
            f"{where}: {len(live or candidates)} CIs fit {spec.describe()}: {listed}. "
            "Name one by id or add what tells them apart (version, arch, host, address).",
            field=where,
            candidates=choices,
        )

    async def _candidates(self, spec: RefSpec, where: str) -> list[CI]:
        store = self.store
        if spec.id:
            ci = await store.get_ci(spec.id)
            if ci is not None and spec.cls is not None and ci.cls != spec.cls:
                raise unprocessable(
                    f"{where}: {spec.id} is a {ci.cls} ({ci.name}), not a {spec.cls}",
                    field=where,
                )
            return [ci] if ci else []
        cls = spec.cls or ""
        if cls == "Endpoint":
            found = await self._endpoints(spec, where)
        elif spec.address:
            found = await self._by_address(cls, spec.address)
        elif spec.serial:
            found = await self._by_serial(cls, spec.serial, spec.manufacturer)
        elif spec.name is not None:
            found = (await cis_by_name(store, (cls,), [spec.name])).get(spec.name.lower(), [])
            exact = [c for c in found if c.name == spec.name]
            found = exact or found  # "DB1" and "db1" both exist: the exact spelling wins
            if not found and cls in HOST_CLASSES:
                found = await self._by_host_name(cls, spec.name)
        else:
            found = await self._all(cls)
        if spec.name is not None and (spec.address or spec.serial):
            found = [c for c in found if (c.name or "").lower() == spec.name.lower()]
        if spec.host is not None and cls == "Interface":
            holder = await self._host(spec, where)
            found = [c for c in found if c.attributes.get("parent") == holder.id]
        for key, want in spec.filters.items():
            found = [c for c in found if str(c.attributes.get(key, "")) == want]
        return sorted(found, key=lambda c: (c.status == "retired", c.name or "", c.id))

    async def _by_host_name(self, cls: str, name: str) -> list[CI]:
        """A host's or device's other name form: for an FQDN, the CI named by its short
        name whose ``fqdn`` (if it has one) is that FQDN; for a short name, the CIs named by
        an FQDN with that short name (the name search, a page at a time)."""
        store, want = self.store, name.lower().rstrip(".")
        short = short_hostname(want)
        if short != want:
            named = (await cis_by_name(store, (cls,), [short])).get(short, [])
            return [c for c in named if str(c.attributes.get("fqdn") or want).lower() == want]
        ids = sorted(c.id for c in await cis_by_short_name(store, cls, short))
        return list((await store.get_cis(ids)).values()) if ids else []

    async def _host(self, spec: RefSpec, where: str) -> CI:
        """The host or device ``spec.host`` names: an id, a name (a Host's, else a
        NetworkDevice's), an address, or a reference of one of those classes."""
        host_ref, at = spec.host, f"{where}.host"
        if isinstance(host_ref, str):  # its id, else its name or address
            host = await self.store.get_ci(host_ref) or await self._host_named(host_ref, at)
        else:
            host = await self.resolve(host_ref, at)
        if host.cls not in HOST_CLASSES:
            raise unprocessable(
                f"{where}.host names a {host.cls} ({host.name}): the host of an endpoint or "
                "interface is a Host or a NetworkDevice",
                field=f"{where}.host",
            )
        return host

    async def _host_named(self, text: str, where: str) -> CI:
        """The Host with that name or address, else the NetworkDevice (422 for none)."""
        key = "address" if parse_address(text) else "name"
        for cls in HOST_CLASSES[:-1]:
            host_spec = parse_ref({"class": cls, key: text}, where)
            candidates = await self._candidates(host_spec, where)
            if candidates:
                return await self._choose(host_spec, candidates, where)
        last = parse_ref({"class": HOST_CLASSES[-1], key: text}, where)
        candidates = await self._candidates(last, where)
        if not candidates:
            classes = " nor ".join(HOST_CLASSES)
            raise unprocessable(
                f"{where}: no {classes} has the {key} {text!r} (name the host by its id, "
                "its name as `cmdb ci list --class Host` shows it, or an address it holds)",
                field=where,
                candidates=[],
            )
        return await self._choose(last, candidates, where)

    async def _endpoints(self, spec: RefSpec, where: str) -> list[CI]:
        host = await self._host(spec, where)
        found: list[CI] = []
        for protocol in (spec.protocol,) if spec.protocol else ("tcp", "udp"):
            key = key_of("Endpoint", "host_port", host=host.id, protocol=protocol, port=spec.port)
            if key:
                found += (await self.store.find_by_identity("Endpoint", "host_port", [key])).get(
                    key, []
                )
        return found

    async def _by_address(self, cls: str, address: str) -> list[CI]:
        store = self.store
        if cls == "IPAddress":
            return (await cis_by_attribute(store, "IPAddress", "address", [address])).get(
                address, []
            )
        found: dict[str, CI] = {}
        if cls in ("Host", "NetworkDevice"):
            for ci in (await cis_by_attribute(store, cls, "management_ip", [address])).get(
                address, []
            ):
                found[ci.id] = ci
        interfaces = (await interfaces_with_ip(store, [address])).get(address, [])
        if cls == "Interface":
            return interfaces
        parents = await store.get_cis(
            sorted({i.attributes.get("parent") or "" for i in interfaces})
        )
        for ci in parents.values():
            if ci.cls == cls:
                found[ci.id] = ci
        return list(found.values())

    async def _by_serial(self, cls: str, serial: str, manufacturer: str | None) -> list[CI]:
        if manufacturer and cls in ("Host", "NetworkDevice"):
            rule, fld = (
                ("serial_key", "manufacturer") if cls == "Host" else ("chassis_serial", "vendor")
            )
            key = key_of(cls, rule, serial=serial, **{fld: manufacturer})
            if key:
                return (await self.store.find_by_identity(cls, rule, [key])).get(key, [])
        # no manufacturer: serials are not indexed alone, so look through the class once
        want = serial.lower()
        return [
            c for c in await self._all(cls) if str(c.attributes.get("serial", "")).lower() == want
        ]

    async def _all(self, cls: str) -> list[CI]:
        if cls not in self._by_class:
            self._by_class[cls] = await all_of_class(self.store, cls)
        return self._by_class[cls]


# ---------------------------------------------------------------- names people read
async def labels(store: Store, cis: list[CI]) -> list[dict[str, Any]]:
    """``{id, class, name}`` per CI, plus ``host`` (the host's name) for endpoints and
    interfaces, and ``version`` for software: what a person needs to know which CI it is."""
    parents = await store.get_cis(
        sorted(
            {
                str(c.attributes.get("host") or c.attributes.get("parent"))
                for c in cis
                if c.cls in ("Endpoint", "Interface")
                and (c.attributes.get("host") or c.attributes.get("parent"))
            }
        )
    )
    out = []
    for c in cis:
        item: dict[str, Any] = {"id": c.id, "class": c.cls, "name": c.name}
        if c.cls in ("Endpoint", "Interface"):
            parent = parents.get(str(c.attributes.get("host") or c.attributes.get("parent")))
            item["host"] = parent.name if parent else None
        if c.cls == "Software":
            item["version"] = c.attributes.get("version")
            if c.attributes.get("arch"):
                item["arch"] = c.attributes.get("arch")
        if c.status != "live":
            item["status"] = c.status
        out.append(item)
    return out


async def labels_by_id(store: Store, ids: list[str]) -> dict[str, dict[str, Any]]:
    """``labels`` for CI ids (those the store no longer has are left out)."""
    found = await store.get_cis(sorted({i for i in ids if i}))
    return {item["id"]: item for item in await labels(store, list(found.values()))}


def text(label: dict[str, Any] | None) -> str:
    """One label in words: ``db1``, ``db1 tcp/5432 (postgres)``, ``perl 5.36.0-7 amd64``."""
    if not label:
        return "?"
    name = label.get("name") or label.get("id")
    if label.get("host"):
        name = f"{label['host']} {name}"
    if label.get("version"):
        name = f"{name} {label['version']}" + (f" {label['arch']}" if label.get("arch") else "")
    if label.get("class") not in ("Host", "Endpoint", "Interface", "Software"):
        name = f"{label.get('class')} {name}"
    return name
