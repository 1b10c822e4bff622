"""Identity keys: the one function that turns a CI's attributes into the values of its
identification rules (``cmdb.graph.schema``), and the normalisation each field needs.

Every writer (reconciliation, the catalogue, topology, benchmarks) builds keys here; no
other module joins key strings by hand. A rule's value is its fields, normalised, joined
with ``|``; a rule with a missing or placeholder field has no value.

Normalisation, field by field:

* ``system_uuid``: SMBIOS 2.6+ firmware stores the first three UUID fields little-endian,
  older firmware (and many hypervisors, as the guest sees them) big-endian, so one machine
  can be reported as ``12345678-9abc-def0-…`` or ``78563412-bc9a-f0de-…``. The key is the
  smaller (as text) of the two byte orders: both spellings give the same key, and a
  placeholder is recognised in either order (DMTF SMBIOS 3.x, 7.2.1 "System UUID").
* ``hostname``: lower case, short name (``Web1.corp.example`` and ``web1`` are one name:
  SNMP's sysName is often the short name, the agent's hostname sometimes the FQDN).
* ``fqdn``: lower case, no trailing dot.
* MACs, machine-id, LLDP chassis ID: lower case.
"""

from __future__ import annotations

import functools
import re
from typing import Any

from cmdb.graph.schema import CIClass

PLACEHOLDERS = frozenset(
    s.lower()
    for s in (
        "To be filled by O.E.M.",
        "Default string",
        "System Serial Number",
        "System Product Name",
        "Chassis Serial Number",
        "Base Board Serial Number",
        "Not Specified",
        "Not Applicable",
        "Not Available",
        "None",
        "N/A",
        "NA",
        "Unknown",
        "Undefined",
        "Invalid",
        "OEM",
        "O.E.M.",
        "0",
        "00000000",
        "0123456789",
        "1234567890",
        "123456789",
        "Serial",
        "XXXXXXXXXX",
        "null",
        "-",
    )
)
_REPEATED = re.compile(r"^(.)\1*$")  # "0000", "FFFF", "xxxx"
_UUID_NOISE = re.compile(r"[-{}\s]")
_SEPARATORS = re.compile(r"[-{}\s:.]")  # UUID, MAC and dotted forms: 00:00:00:00:00:00
_HEX32 = re.compile(r"^[0-9a-f]{32}$")
# UUIDs firmware vendors ship unchanged on every board (both byte orders are checked)
_PLACEHOLDER_UUIDS = frozenset(
    {
        "0123456789abcdef0123456789abcdef",
        "03000200040005000006000700080009",  # AMI's sample UUID, as old firmware stores it
        "12345678123456781234567812345678",
    }
)


def _swap_uuid(hex32: str) -> str:
    """The other SMBIOS byte order: the first three fields (4, 2 and 2 bytes) reversed."""
    a, b, c, rest = hex32[:8], hex32[8:12], hex32[12:16], hex32[16:]
    rev = lambda s: "".join(reversed([s[i : i + 2] for i in range(0, len(s), 2)]))  # noqa: E731
    return rev(a) + rev(b) + rev(c) + rest


def _uuid_forms(text: str) -> tuple[str, str] | None:
    compact = _UUID_NOISE.sub("", text).lower()
    if not _HEX32.match(compact):
        return None
    return compact, _swap_uuid(compact)


def is_placeholder(value: Any) -> bool:
    """True for values that cannot tell one machine from another (vendor placeholders,
    repeated characters, the well-known sample UUIDs in either SMBIOS byte order)."""
    if value is None:
        return True
    text = str(value).strip()
    if not text or text.lower() in PLACEHOLDERS:
        return True
    compact = _SEPARATORS.sub("", text)
    if not compact or _REPEATED.match(compact):
        return True
    forms = _uuid_forms(text)
    if forms is not None:
        return any(f in _PLACEHOLDER_UUIDS for f in forms)
    return compact.lower() in {"0123456789abcdef"}


def canonical_uuid(value: str) -> str:
    """One spelling for both SMBIOS byte orders of a UUID (8-4-4-4-12, lower case); text
    that is not a UUID is returned lower-cased."""
    forms = _uuid_forms(value)
    if forms is None:
        return value.strip().lower()
    h = min(forms)
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def short_hostname(value: str) -> str:
    """``Web1.Corp.Example.`` -> ``web1``; an address-looking name is kept whole."""
    text = value.strip().lower().rstrip(".")
    if re.match(r"^\d+\.\d+\.\d+\.\d+$", text) or ":" in text:
        return text
    return text.split(".", 1)[0]


def same_host_name(a: str, b: str) -> bool:
    """Whether two host (or device) names name one machine, as people write them: equal
    ignoring case and a trailing dot, or, when one of them is a short name, the same short
    name (``db1`` and ``DB1.example.com``). Two different FQDNs (``db1.example.com``,
    ``db1.other.org``) are two machines."""
    x, y = a.strip().lower().rstrip("."), b.strip().lower().rstrip(".")
    if x == y:
        return True
    sx, sy = short_hostname(x), short_hostname(y)
    if sx != x and sy != y:  # both qualified (or both addresses), and they differ
        return False
    return sx == sy


def normalise(field_name: str, value: Any) -> str:
    """A field's value as identity compares it (see the module docstring)."""
    text = str(value).strip()
    if field_name == "system_uuid":
        return canonical_uuid(text)
    if field_name in ("machine_id", "primary_mac", "mac", "lldp_chassis_id"):
        return text.lower()
    if field_name == "hostname":
        return short_hostname(text)
    if field_name == "fqdn":
        return text.lower().rstrip(".")
    return text


# fields that firmware fills with placeholders; other fields are only missing when empty
HARDWARE_ID_FIELDS = frozenset(
    {"system_uuid", "serial", "machine_id", "manufacturer", "primary_mac", "lldp_chassis_id"}
)
# parts of a key that may be legitimately empty (a package without an architecture)
OPTIONAL_KEY_PARTS = {"software_key": frozenset({"arch"})}


def _missing(field_name: str, value: Any) -> bool:
    if field_name in HARDWARE_ID_FIELDS:
        return is_placeholder(value)
    return value is None or str(value).strip() == ""


def identity_values(cls: CIClass, attributes: dict[str, Any]) -> dict[str, str]:
    """The value of every identification rule of ``cls`` whose fields are all known and
    real: rule name -> normalised fields joined with ``|``."""
    values: dict[str, str] = {}
    for rule in cls.identity:
        raws = tuple(attributes.get(fld) for fld in rule.fields)
        try:
            value = _rule_value(rule.name, rule.fields, raws)
        except TypeError:  # an unhashable field value (a list): computed without the cache
            value = _rule_value.__wrapped__(rule.name, rule.fields, raws)
        if value is not None:
            values[rule.name] = value
    return values


@functools.lru_cache(maxsize=65536)
def _rule_value(rule: str, fields: tuple[str, ...], raws: tuple[Any, ...]) -> str | None:
    """One rule's value from its fields' raw values (cached: every host of a fleet reports
    the same packages, whose keys are computed once)."""
    optional = OPTIONAL_KEY_PARTS.get(rule, frozenset())
    parts = []
    for fld, raw in zip(fields, raws, strict=True):
        if _missing(fld, raw):
            if fld not in optional:
                return None
            parts.append("")
            continue
        parts.append(normalise(fld, raw))
    return "|".join(parts)


def key_of(cls_name: str, rule: str, **fields: Any) -> str | None:
    """One rule's value from its fields (``key_of("Endpoint", "host_port", host=…,
    protocol="tcp", port=5432)``), built and normalised as ``identity_values`` builds it;
    None when a field is missing or a placeholder. Lookups use this instead of joining
    key strings by hand, so a lookup and the stored key can never disagree."""
    from cmdb.graph.schema import CLASSES

    cls = CLASSES[cls_name]
    cls.rule(rule)  # KeyError with a sentence for an unknown rule
    return identity_values(cls, fields).get(rule)


def alias_values(cls: CIClass, attributes: dict[str, Any]) -> list[tuple[str, str]]:
    """(rule, value) for every item of the class's identity aliases (``cmdb.graph.schema``):
    each stack member's vendor + serial for ``chassis_serial``. Items lacking a field take
    it from the CI; placeholder values give nothing."""
    found: list[tuple[str, str]] = []
    for rule_name, list_attr in cls.identity_aliases:
        rule = cls.rule(rule_name)
        for item in attributes.get(list_attr) or ():
            if not isinstance(item, dict):
                continue
            fields = {f: item.get(f, attributes.get(f)) for f in rule.fields}
            value = identity_values(_one_rule(cls, rule_name), fields).get(rule_name)
            if value is not None and (rule_name, value) not in found:
                found.append((rule_name, value))
    return found


def _one_rule(cls: CIClass, rule_name: str) -> CIClass:
    from dataclasses import replace

    return replace(cls, identity=(cls.rule(rule_name),))
