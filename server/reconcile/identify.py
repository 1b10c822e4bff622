"""Identification rules: which existing CI a set of facts describes, and why.

Rules are tried strongest first (the order of ``graph.schema``). A candidate
found by a rule is rejected when a rule at least as strong has a value on
both sides and the values differ: two VM clones share /etc/machine-id but not
their DMI system UUID, so they stay two CIs. Placeholder values that firmware
vendors ship ("To be filled by O.E.M.", all-zero UUIDs, ...) are never
identity.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from graph.schema import CLASSES, CIClass
from graph.store import CI, Store

PLACEHOLDERS = frozenset(
    s.lower()
    for s in (
        "To be filled by O.E.M.",
        "To Be Filled By O.E.M.",
        "Default string",
        "Default String",
        "System Serial Number",
        "System Product Name",
        "Chassis Serial Number",
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


def is_placeholder(value: Any) -> bool:
    """True for values that cannot tell one machine from another."""
    if value is None:
        return True
    text = str(value).strip()
    if not text or text.lower() in PLACEHOLDERS:
        return True
    compact = _UUID_NOISE.sub("", text)
    if not compact or _REPEATED.match(compact):
        return True
    return compact.lower() in {"0123456789abcdef", "03000200040005000006000700080009"}


def normalise(field_name: str, value: Any) -> str:
    text = str(value).strip()
    if field_name in ("system_uuid", "machine_id", "primary_mac", "mac", "lldp_chassis_id"):
        return text.lower()
    if field_name == "fqdn":
        return text.lower().rstrip(".")
    return text


# fields that firmware fills with placeholders; other fields are only missing when empty
HARDWARE_ID_FIELDS = frozenset(
    {"system_uuid", "serial", "machine_id", "manufacturer", "primary_mac", "lldp_chassis_id"}
)
# parts of a key that may be legitimately empty (a package without a vendor)
OPTIONAL_KEY_PARTS = {"software_key": frozenset({"vendor", "arch"})}


def _missing(field_name: str, value: Any) -> bool:
    if field_name in HARDWARE_ID_FIELDS:
        return is_placeholder(value)
    return value is None or str(value).strip() == ""


def identity_values(cls: CIClass, attributes: dict[str, Any]) -> dict[str, str]:
    """The value of every identification rule whose fields are all known and real."""
    values: dict[str, str] = {}
    for rule in cls.identity:
        optional = OPTIONAL_KEY_PARTS.get(rule.name, frozenset())
        parts = []
        for fld in rule.fields:
            raw = attributes.get(fld)
            if _missing(fld, raw):
                if fld not in optional:
                    break
                parts.append("")
                continue
            parts.append(normalise(fld, raw))
        else:
            values[rule.name] = "|".join(parts)
    return values


@dataclass
class Identification:
    ci: CI | None
    rule: str | None
    explanation: list[str] = field(default_factory=list)


def _conflicts(cls: CIClass, candidate: CI, wanted: dict[str, str], upto: int) -> str | None:
    for rule in cls.identity[: upto + 1]:
        mine, theirs = wanted.get(rule.name), candidate.identity.get(rule.name)
        if mine is not None and theirs is not None and mine != theirs:
            return f"{rule.name} differs ({theirs!r} stored, {mine!r} reported)"
    return None


async def identify(store: Store, cls_name: str, wanted: dict[str, str]) -> Identification:
    """Find the CI these identity values describe, strongest rule first, with the reasons."""
    cls = CLASSES[cls_name]
    explanation: list[str] = []
    rules = {rule.name for rule in cls.identity}
    candidates = await store.find_by_identities(
        cls_name, {rule: value for rule, value in wanted.items() if rule in rules}
    )
    for index, rule in enumerate(cls.identity):
        value = wanted.get(rule.name)
        if value is None:
            explanation.append(f"{rule.name}: not reported or placeholder")
            continue
        found = candidates.get(rule.name, [])
        if not found:
            explanation.append(f"{rule.name}={value!r}: no CI")
            continue
        accepted = []
        for candidate in found:
            conflict = _conflicts(cls, candidate, wanted, index)
            if conflict:
                explanation.append(f"{rule.name}={value!r}: {candidate.id} rejected, {conflict}")
            else:
                accepted.append(candidate)
        if accepted:
            accepted.sort(key=lambda c: c.last_seen or "", reverse=True)
            chosen = accepted[0]
            explanation.append(f"{rule.name}={value!r}: matched {chosen.id}")
            return Identification(ci=chosen, rule=rule.name, explanation=explanation)
    explanation.append("no rule matched: new CI")
    return Identification(ci=None, rule=None, explanation=explanation)
