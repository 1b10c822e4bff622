"""CIs declared by hand: a host, network device or application discovery cannot see.

An engineer records ``legacy01`` (a Host no agent runs on) or ``orders-app`` (a Software
no package database lists) so that declared relationships (``cmdb.server.catalogue.
relationships``) and impact can reach it. Such a CI is written like every catalogue write
(``ManualWriter``: source ``manual``, history entry ``created`` with the caller's token name),
and:

* **no duplicates**: it is identified as discovery identifies (``cmdb.graph.identity.
  identity_values``): a CI that already holds one of its identity values, or a CI of the
  class that is not retired and has its name (hosts and devices: ignoring case, short name
  against FQDN, ``cmdb.graph.identity.same_host_name``; software: ignoring case), is a 409
  listing the candidates: declare relationships to it instead;
* **adopted by discovery**: the first agent report or SNMP scan naming it joins it instead of
  creating a second CI, while its only source is ``manual``
  (``cmdb.server.reconcile.identify.adopt_manual_placeholder``), and it ages from then on;
* **never stale**: the staleness sweep leaves CIs whose only source is ``manual`` alone
  (``cmdb.graph.staleness``);
* **retired by hand** (``retire``): status ``retired`` with history, its open declared
  relationships (RUNS_ON, HOSTED_ON, DEPENDS_ON, MEMBER_OF with source ``manual``) closed
  and the redundancy groups it declared retired. A CI a discovery source reported is
  discovery's: retired when no longer seen (409).

Both stores: everything here goes through the store protocol.
"""

from __future__ import annotations

import ipaddress
import math
import unicodedata
import uuid
from typing import Any

from cmdb.graph.identity import identity_values, same_host_name, short_hostname
from cmdb.graph.lookup import cis_by_short_name
from cmdb.graph.schema import CLASSES, CUSTOM_ATTRIBUTE
from cmdb.graph.store import CI, Rel, Store, StoreConflict
from cmdb.server.catalogue import conflict, invalid, not_found, unprocessable
from cmdb.server.catalogue.common import req_str
from cmdb.server.catalogue.custom import Declarations, check_value
from cmdb.server.catalogue.writes import SOURCE, ManualWriter, is_manual_only
from cmdb.server.reconcile.neighbours import normalise_mac

# what an engineer may declare by hand (Software: an application)
MANUAL_CLASSES = ("Host", "NetworkDevice", "Software")
# classes whose names are host names: compared short name against FQDN
HOST_NAMED = ("Host", "NetworkDevice")
# the declared relationships a retirement closes (records such as REPRESENTS, AFFECTS and
# OWNED_BY stay: an asset's or a change's link to a retired CI is still its history)
CLOSED_ON_RETIRE = ("RUNS_ON", "HOSTED_ON", "DEPENDS_ON", "MEMBER_OF")
INT64 = 2**63 - 1
MAX_CANDIDATES = 20  # a 409 lists at most this many
_RETRIES = 3  # a concurrent writer took a lock key (Neo4j): decide again


def candidate(ci: CI, matched: str) -> dict[str, Any]:
    """A CI as a 409 lists it: id, class, name, status, sources, and what matched."""
    return {
        "id": ci.id,
        "class": ci.cls,
        "name": ci.name,
        "status": ci.status,
        "sources": sorted(ci.sources),
        "matched": matched,
    }


def record(ci: CI) -> dict[str, Any]:
    """The CI as ``GET /api/v1/cis/{id}`` answers it (a new CI has no relationships)."""
    return {**ci.to_api(), "relationships": []}


# ---------------------------------------------------------------- the body
# control and format characters (ESC, NUL, zero-width and bidirectional marks) and line or
# paragraph separators: invisible or harmful in a name people read and type
_HIDDEN = frozenset(("Cc", "Cf", "Cs", "Co", "Zl", "Zp"))


def _visible(text: str, where: str) -> str:
    """``text`` if every character is one a person can see and type; 422 naming the first
    that is not (by its code point: it may not print)."""
    for position, char in enumerate(text):
        if unicodedata.category(char) in _HIDDEN:
            raise unprocessable(
                f"{where} holds U+{ord(char):04X} ({unicodedata.name(char, 'a control character')})"
                f" at position {position}: names and values take visible characters only",
                field=where,
            )
    return text


def _host_name(cls: str, name: str) -> str:
    """A host's or device's name as RFC 1123 writes host names (letters, digits, hyphens;
    underscores too, which Windows and DNS zones use), labels of 1-63 separated by dots,
    253 at most, a trailing dot allowed: what an agent or a scan will report, so a
    placeholder can be adopted."""
    labels = name.rstrip(".").split(".")
    bad = next(
        (
            label
            for label in labels
            if not 0 < len(label) <= 63
            or not all(c.isalnum() or c in "-_" for c in label)
            or label.startswith("-")
            or label.endswith("-")
        ),
        None,
    )
    if bad is not None or len(name) > 253:
        raise unprocessable(
            f"$.name {name!r} is not a host name: labels of letters, digits, hyphens and "
            "underscores (1-63 each, not starting or ending with a hyphen) separated by dots, "
            f"253 characters at most (a {cls} is named as discovery will report it)",
            field="$.name",
        )
    return name


def _value(key: str, value: Any) -> Any:
    """A plain attribute value as stored: a non-empty string (stripped), a 64-bit integer, a
    finite number or a boolean; 422 for anything else (lists and objects are discovery's)."""
    where = f"$.attributes.{key}"
    if isinstance(value, str):
        if not value.strip():
            raise unprocessable(f"{where} is empty: leave it out instead", field=where)
        return _visible(value.strip(), where)
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and abs(value) <= INT64:
        return value
    if isinstance(value, float) and math.isfinite(value):
        return value
    raise unprocessable(
        f"{where} must be a string, a number (64-bit at most) or true/false, not {value!r}",
        field=where,
    )


# attribute kinds as discovery writes them (cmdb.collectors: psutil counts, MACs lower-case
# and colon-separated, addresses as ipaddress writes them), so a declared value compares
# equal to a discovered one; anything not named here is text
WHOLE_NUMBERS = frozenset(
    ("cpu_sockets", "cpu_cores", "cpu_threads", "memory_bytes", "swap_bytes", "process_count")
    + ("sys_uptime",)
)
NUMBERS = frozenset(("clock_skew_seconds",))
TEXT_OR_WHOLE = frozenset(("epoch",))
MACS = frozenset(("primary_mac", "base_mac"))
ADDRESSES = frozenset(("management_ip", "identity_address"))
UUIDS = frozenset(("system_uuid",))
# lists and markers only discovery writes (a host's disks, a stack's members)
DISCOVERED_ONLY = frozenset(
    ("disks", "filesystems", "gateways", "dns_nameservers", "dns_search", "virtual_links")
    + ("members", "placeholder")
)


def _typed(key: str, value: Any) -> Any:
    """``value`` (already a plain value, ``_value``) as attribute ``key`` holds it: a whole
    number of at least 0, a number, a MAC (``aa:bb:cc:dd:ee:ff``, from any of the usual
    spellings), an IP address, a UUID or text; 422 saying what the attribute takes."""
    where = f"$.attributes.{key}"

    def refuse(takes: str) -> Exception:
        return unprocessable(f"{where} takes {takes}, not {value!r}", field=where)

    if key in DISCOVERED_ONLY:
        raise unprocessable(
            f"{where} is written by discovery only (a list or a marker it keeps); leave it "
            "out of a declaration",
            field=where,
        )
    if key in WHOLE_NUMBERS or (key in TEXT_OR_WHOLE and not isinstance(value, str)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise refuse("a whole number of at least 0 (JSON number, or KEY:=8 in the CLI)")
        return value
    if key in NUMBERS:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise refuse("a number")
        return value
    if not isinstance(value, str):
        raise refuse('text (a JSON string, e.g. "4.2")')
    if key in MACS:
        mac = normalise_mac(value)  # as reconciliation compares MACs
        if mac is None:
            raise refuse("a MAC address such as 52:54:00:12:34:56")
        return mac
    if key in ADDRESSES:
        try:
            return str(ipaddress.ip_address(value))
        except ValueError:
            raise refuse("an IPv4 or IPv6 address") from None
    if key in UUIDS:
        try:
            uuid.UUID(value)
        except ValueError:
            raise refuse("a UUID such as 4c4c4544-0042-3510-8057-b4c04f4a4d31") from None
    return value


def _custom(cls: str, raw: Any, decls: Declarations) -> dict[str, Any] | None:
    """``attributes.custom`` checked against the server's declarations (400 naming the
    attribute and what it takes, as ``PATCH /api/v1/cis/{id}/custom`` answers)."""
    where = f"$.attributes.{CUSTOM_ATTRIBUTE}"
    if raw is None:
        return None
    if not isinstance(raw, dict):
        raise invalid(f'{where} must be an object such as {{"tier": "gold"}}', field=where)
    declared = decls.get(cls, {})
    out: dict[str, Any] = {}
    for name, value in raw.items():
        if name not in declared:
            known = sorted(declared)
            takes = f"it takes {', '.join(known)}" if known else "none are declared for it"
            raise invalid(
                f"{where}.{name}: {name!r} is not a custom attribute of {cls}; {takes} "
                "([custom_attributes] in the server config)",
                field=f"{where}.{name}",
            )
        if value is not None:
            out[name] = check_value(declared[name], value, f"{where}.{name}")
    return out or None


def parse(body: Any, decls: Declarations) -> tuple[str, str, dict[str, Any]]:
    """(class, name, attributes) of ``{"class", "name", "attributes"}``: 400 for a malformed
    body, 422 for attributes the class does not declare (naming them and the ones it takes)
    or a name attribute that contradicts ``name``."""
    if not isinstance(body, dict):
        raise invalid('the body must be {"class": ..., "name": ..., "attributes": {...}}')
    unknown = sorted(set(body) - {"class", "name", "attributes"})
    if unknown:
        raise invalid(
            f"unknown fields {', '.join(unknown)}; the body takes class, name and attributes",
            field=f"$.{unknown[0]}",
        )
    cls = body.get("class")
    if cls not in MANUAL_CLASSES:
        raise invalid(
            f"$.class must be one of {', '.join(MANUAL_CLASSES)} (Software for an "
            f"application), not {cls!r}",
            field="$.class",
        )
    name = _visible(req_str(body, "name"), "$.name")
    if cls in HOST_NAMED:
        name = _host_name(cls, name)
    raw = body.get("attributes") or {}
    if not isinstance(raw, dict):
        raise invalid("$.attributes must be an object of attribute values", field="$.attributes")
    spec = CLASSES[cls]
    unknown = sorted(set(raw) - set(spec.attributes))
    if unknown:
        raise unprocessable(
            f"$.attributes: {cls} has no attribute {', '.join(repr(u) for u in unknown)}; "
            f"it takes {', '.join(sorted(spec.attributes))}",
            field=f"$.attributes.{unknown[0]}",
            unknown=unknown,
            allowed=sorted(spec.attributes),
        )
    attrs: dict[str, Any] = {}
    for key, value in raw.items():
        if key == CUSTOM_ATTRIBUTE:
            attrs[key] = _custom(cls, value, decls)
        elif value is not None:
            attrs[key] = _typed(key, _value(key, value))
    given = attrs.get(spec.name_attr)
    if given is not None and str(given) != name:
        raise unprocessable(
            f"$.attributes.{spec.name_attr} is {given!r} but $.name is {name!r}: a {cls}'s "
            f"name is its {spec.name_attr}; give it once, as name",
            field=f"$.attributes.{spec.name_attr}",
        )
    fqdn = attrs.get("fqdn")
    if cls in HOST_NAMED and isinstance(fqdn, str) and not same_host_name(fqdn, name):
        raise unprocessable(
            f"$.attributes.fqdn {fqdn!r} names another host than $.name {name!r}: give the "
            "host's own FQDN, or name the host by it",
            field="$.attributes.fqdn",
        )
    attrs[spec.name_attr] = name
    return cls, name, {k: v for k, v in attrs.items() if v is not None}


# ---------------------------------------------------------------- duplicates
async def _named(store: Store, cls: str, name: str) -> list[CI]:
    """Not-retired CIs of ``cls`` with this name: hosts and devices by
    ``same_host_name`` (read through the name filter on the short name, page by page),
    software ignoring case (the name index)."""
    if cls not in HOST_NAMED:
        pairs = await store.name_pairs((cls,), [name.lower()])
        found = await store.get_cis(sorted({ci_id for _, ci_id in pairs}))
        return [ci for ci in found.values() if ci.status != "retired"]
    return [
        ci
        for ci in await cis_by_short_name(store, cls, short_hostname(name))
        if ci.status != "retired" and same_host_name(ci.name or "", name)
    ]


async def duplicates(
    store: Store, cls: str, name: str, identity: dict[str, str]
) -> list[dict[str, Any]]:
    """The CIs a new ``cls`` CI named ``name`` with ``identity`` would duplicate, as
    ``candidate`` records (by status, name, id): holders of one of its identity values
    (not retired; retired too for a unique rule, which the store keeps unique), and the
    CIs ``_named`` finds. Two reads plus the name scan."""
    spec = CLASSES[cls]
    unique = {rule.name for rule in spec.identity if rule.unique}
    found: dict[str, tuple[CI, str]] = {}
    holders = await store.find_by_identities(cls, identity) if identity else {}
    for rule, cis in sorted(holders.items()):
        for ci in cis:
            if ci.status != "retired" or rule in unique:
                found.setdefault(ci.id, (ci, f"identity {rule}={identity[rule]}"))
    for ci in await _named(store, cls, name):
        found.setdefault(ci.id, (ci, "name"))
    order = {"live": 0, "planned": 1, "stale": 2, "retired": 3}

    def rank(pair: tuple[CI, str]) -> tuple[int, str, str]:
        return (order.get(pair[0].status, 9), pair[0].name or "", pair[0].id)

    ranked = sorted(found.values(), key=rank)
    return [candidate(ci, matched) for ci, matched in ranked]


def _refusal(cls: str, name: str, found: list[dict[str, Any]]) -> Exception:
    shown = found[:MAX_CANDIDATES]

    def words(c: dict[str, Any]) -> str:
        return (
            f"{c['name']!r} (id {c['id']}, {c['status']}, sources "
            f"{', '.join(c['sources']) or 'none'}; matched by {c['matched']})"
        )

    if len(found) == 1:
        message = (
            f"{cls} {name!r} exists already: {words(found[0])}: declare relationships to it "
            "instead (POST /api/v1/relationships, cmdb relationship add)"
        )
    else:
        more = f" and {len(found) - len(shown)} more" if len(found) > len(shown) else ""
        message = (
            f"{cls} {name!r} exists already as {len(found)} CIs: "
            f"{'; '.join(words(c) for c in shown)}{more}: declare relationships to one of "
            "them instead (POST /api/v1/relationships, cmdb relationship add)"
        )
    return conflict(message, candidates=shown, total=len(found))


def identity_lock_keys(cls: str, identity: dict[str, str]) -> list[str]:
    """The store locks (``Store.transaction``) of a CI's identity values,
    ``class|rule|value``: a report's root and a declaration of one CI take the same."""
    return [f"{cls}|{rule}|{value}" for rule, value in identity.items()]


def name_lock_key(cls: str, name: str) -> str:
    """The store lock of a CI's name (``class|name|short name``): a report naming a host
    and a declaration of that name take the same, so they are decided one after the other."""
    short = short_hostname(name) if cls in HOST_NAMED else name.strip().lower()
    return f"{cls}|name|{short}"


def lock_keys(cls: str, name: str, identity: dict[str, str]) -> list[str]:
    """The store locks of a declaration: its identity values and its name."""
    return [*identity_lock_keys(cls, identity), name_lock_key(cls, name)]


# ---------------------------------------------------------------- create
async def create(store: Store, body: Any, decls: Declarations, actor: str | None) -> dict:
    """Declare a CI discovery cannot see: ``{"class": Host|NetworkDevice|Software, "name":
    ..., "attributes": {...}}``. The name is the class's name attribute (Host
    ``hostname``, NetworkDevice ``sys_name``, Software ``name``). Returns the CI as
    ``GET /api/v1/cis/{id}`` shows it. 400 malformed, 422 attributes the class does not
    take, 409 listing the CIs it would duplicate. Identification and the write are one
    store transaction (locked on its identity values and name)."""
    cls, name, attrs = parse(body, decls)
    identity = identity_values(CLASSES[cls], attrs)
    for attempt in range(_RETRIES):
        try:
            async with store.transaction(lock_keys(cls, name, identity)) as tx:
                found = await duplicates(tx, cls, name, identity)
                if found:
                    raise _refusal(cls, name, found)
                writer = ManualWriter(actor)
                ci = writer.create_ci(cls, attrs)
                await tx.apply(writer.cs)
            break
        except StoreConflict:
            if attempt == _RETRIES - 1:
                raise
    created = await store.get_ci(ci.id)
    return record(created or ci)


# ---------------------------------------------------------------- retire
def _rel_words(ci: CI, rel: Rel, other: CI | None) -> dict[str, Any]:
    ends = {ci.id: ci}
    if other is not None:
        ends[other.id] = other

    def end(ci_id: str) -> dict[str, Any]:
        c = ends.get(ci_id)
        return {"id": ci_id, "class": c.cls if c else None, "name": c.name if c else None}

    return {"id": rel.id, "type": rel.type, "from": end(rel.src), "to": end(rel.dst)}


async def retire(store: Store, ci_id: str, actor: str | None) -> dict[str, Any]:
    """Retire a CI declared by hand: status ``retired`` (history, actor), its open declared
    relationships closed (their provenance records who and when), the redundancy groups it
    declared retired with their members' links. Returns the CI as it is now with
    ``closed_relationships`` [{id, type, from, to}] and ``already_retired``. Retiring a
    retired CI changes nothing (``already_retired`` true).
    404 for an unknown id; 409 for a CI discovery reported (it is retired when no longer
    seen) or one of a class that is not declared here. The decision and the write are one
    store transaction, locked as a declaration of the same CI is (``lock_keys``), so a
    report adopting the CI meanwhile is either seen (409) or comes after."""
    ci = await store.get_ci(ci_id)
    if ci is None:
        raise not_found(f"no configuration item with id {ci_id!r}")
    for attempt in range(_RETRIES):
        try:
            async with store.transaction(lock_keys(ci.cls, ci.name or "", ci.identity)) as tx:
                return await _retire_in(tx, ci_id, actor)
        except StoreConflict:
            if attempt == _RETRIES - 1:
                raise
    raise AssertionError("unreachable")


async def _retire_in(store: Store, ci_id: str, actor: str | None) -> dict[str, Any]:
    ci = await store.get_ci(ci_id)
    if ci is None:  # gone meanwhile (CIs are never deleted: cannot happen)
        raise not_found(f"no configuration item with id {ci_id!r}")
    if ci.cls not in MANUAL_CLASSES:
        raise conflict(
            f"{ci.cls} {ci.name!r} is not a CI declared by hand (DELETE /api/v1/cis/{{id}} "
            f"retires {', '.join(MANUAL_CLASSES)}); a service is retired with DELETE "
            "/api/v1/services/{id}, an asset with its transition to retired",
            sources=sorted(ci.sources),
        )
    if not is_manual_only(ci):
        discovered = sorted(set(ci.sources) - {SOURCE})
        raise conflict(
            f"discovery owns this CI: {ci.cls} {ci.name!r} was reported by "
            f"{', '.join(discovered)}, and it is retired when no longer seen (the staleness "
            "sweep); end the relationships declared on it with DELETE /api/v1/relationships",
            sources=sorted(ci.sources),
        )
    if ci.status == "retired":
        return {**ci.to_api(), "closed_relationships": [], "already_retired": True}
    views = await store.relationships(ci.id)
    writer = ManualWriter(actor)
    closed: list[dict[str, Any]] = []
    groups: list[CI] = []
    for view in views:
        rel = view.rel
        if rel.type not in CLOSED_ON_RETIRE or SOURCE not in rel.sources:
            continue
        writer.close_rel(rel)
        closed.append(_rel_words(ci, rel, view.other))
        other = view.other
        if (
            view.direction == "out"
            and other.cls == "RedundancyGroup"
            and other.attributes.get("service") == ci.id
        ):
            groups.append(other)  # a group this CI declared (relationships.declare) ends too
    if groups:
        # the groups' member links, one walk for all of them
        walk = await store.traverse([g.id for g in groups], "down", 1, ("DEPENDS_ON",))
        owned = {g.id: g for g in groups}
        for rel in walk.edges:
            if rel.src in owned and rel.type == "DEPENDS_ON":
                writer.close_rel(rel)
                member = walk.nodes.get(rel.dst)
                closed.append(_rel_words(owned[rel.src], rel, member[0] if member else None))
        for group in groups:
            writer.update_ci(group, {}, status="retired")
    writer.update_ci(ci, {}, status="retired")
    await store.apply(writer.cs)
    now = await store.get_ci(ci.id) or ci  # as it is now: status and times of the retirement
    return {**now.to_api(), "closed_relationships": closed, "already_retired": False}
