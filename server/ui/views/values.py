"""Attribute values as people read them on the CI page: byte counts in GiB, lists of
objects (``disks``, ``filesystems``, ``gateways``) one item a line, and a history
change as what was added, removed or changed instead of two cut-off JSON strings.

Shapes come from the stored attributes (``cmdb.server.reconcile.host``): ``memory_bytes``
and ``swap_bytes`` are ints; ``disks`` are ``{name, size_bytes, model, serial,
rotational}``, ``filesystems`` ``{device, mountpoint, fstype, size_bytes}``,
``gateways`` ``{family, address, interface, is_default}``; other lists of objects are
handled the same way, by the first identifying key they have (``IDENTITY_KEYS``).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

UNITS = ("B", "KiB", "MiB", "GiB", "TiB", "PiB")
# what names one item of a list of objects, in this order (a filesystem by its mount
# point, a disk by its name, a gateway by its address)
IDENTITY_KEYS = ("mountpoint", "name", "address", "device", "destination", "id", "key")
SHOWN_ITEMS = 20  # items listed per side of a list change; the rest are counted
FAMILIES = {2: "IPv4", 10: "IPv6"}  # a gateway's address family (Linux AF_INET, AF_INET6)


def is_bytes(key: str) -> bool:
    """Attribute names that hold a byte count (``memory_bytes``, ``size_bytes``...)."""
    return key == "bytes" or key.endswith("_bytes")


def human_bytes(value: int | float) -> str:
    """``25276510208`` → ``23.5 GiB`` (binary units, one decimal above bytes)."""
    size = float(value)
    unit = 0
    while abs(size) >= 1024 and unit < len(UNITS) - 1:
        size /= 1024
        unit += 1
    return f"{int(size)} B" if unit == 0 else f"{size:.1f} {UNITS[unit]}"


def scalar_text(key: str, value: Any) -> str:
    """One value as text: bytes humanised, booleans as yes/no, None as empty."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int | float) and is_bytes(key):
        return human_bytes(value)
    if key == "family" and value in FAMILIES:
        return FAMILIES[value]
    if isinstance(value, str):
        return value
    if isinstance(value, Mapping):
        return item_text(value)
    if isinstance(value, list | tuple):
        return ", ".join(scalar_text(key, v) for v in value)
    return json.dumps(value, default=str)


def label(key: str) -> str:
    """A field's name in a sentence: ``size_bytes`` → ``size`` (the value says GiB)."""
    key = key[: -len("_bytes")] if key.endswith("_bytes") else key
    return key.replace("_", " ")


def _identity(item: Mapping[str, Any]) -> tuple[str, Any] | None:
    for key in IDENTITY_KEYS:
        if item.get(key) not in (None, ""):
            return key, item[key]
    return None


def item_text(item: Mapping[str, Any]) -> str:
    """One object on a line: its identifying value first, then ``key value`` pairs
    (``/ on /dev/sda1 · fstype ext4 · size 465.8 GiB``); empty fields left out."""
    ident = _identity(item)
    parts = [str(ident[1])] if ident else []
    for key, value in item.items():
        if ident and key == ident[0] or value in (None, "", [], {}):
            continue
        parts.append(f"{label(key)} {scalar_text(key, value)}")
    return " · ".join(parts) if parts else "{}"


def is_object_list(value: Any) -> bool:
    return isinstance(value, list) and bool(value) and all(isinstance(v, Mapping) for v in value)


def display(key: str, value: Any) -> dict[str, Any]:
    """An attribute value for the page: ``{"text": one line, "items": [lines] | None}``
    (``items`` for a list of objects, shown one a line)."""
    if is_object_list(value):
        items = [item_text(v) for v in value]
        names = [str(i[1]) for i in map(_identity, value) if i]
        text = ", ".join(names) if names else f"{len(items)} items"
        return {"text": text if len(text) <= 80 else text[:79] + "…", "items": items}
    if isinstance(value, Mapping) and value:
        return {"text": item_text(value), "items": None}
    return {"text": scalar_text(key, value), "items": None}


def _keyed(items: list[Mapping[str, Any]]) -> dict[str, Mapping[str, Any]]:
    out: dict[str, Mapping[str, Any]] = {}
    for item in items:
        ident = _identity(item)
        key = str(ident[1]) if ident else json.dumps(item, sort_keys=True, default=str)
        while key in out:  # two items with one name: keep both
            key += "'"
        out[key] = item
    return out


def change(field: str, old: Any, new: Any) -> dict[str, Any]:
    """A history entry's old → new as a readable change.

    Lists of objects (either side): ``{"kind": "list", "added": [line], "removed": [line],
    "changed": [{"item", "fields": [{"field", "old", "new"}]}], "more": int}``, items
    matched by their identifying key. Anything else: ``{"kind": "value", "old": text,
    "new": text}`` with byte counts humanised (``memory_bytes``)."""
    lists = [is_object_list(v) for v in (old, new)]
    if any(lists) and all(ok or v in (None, []) for ok, v in zip(lists, (old, new), strict=True)):
        return _list_change(old or [], new or [])
    return {"kind": "value", "old": _value_text(field, old), "new": _value_text(field, new)}


def _value_text(field: str, value: Any) -> str:
    if isinstance(value, Mapping) and value:
        return item_text(value)
    return scalar_text(field, value)


def _list_change(old: list, new: list) -> dict[str, Any]:
    before, after = _keyed(old), _keyed(new)
    added = [item_text(after[k]) for k in after if k not in before]
    removed = [item_text(before[k]) for k in before if k not in after]
    changed = []
    for key in after:
        if key not in before or before[key] == after[key]:
            continue
        a, b = before[key], after[key]
        fields = [
            {"field": label(f), "old": scalar_text(f, a.get(f)), "new": scalar_text(f, b.get(f))}
            for f in dict.fromkeys([*a, *b])
            if a.get(f) != b.get(f)
        ]
        changed.append({"item": key, "fields": fields})
    total = len(added) + len(removed) + len(changed)
    return {
        "kind": "list",
        "added": added[:SHOWN_ITEMS],
        "removed": removed[:SHOWN_ITEMS],
        "changed": changed[:SHOWN_ITEMS],
        "more": max(
            0,
            total
            - len(added[:SHOWN_ITEMS])
            - len(removed[:SHOWN_ITEMS])
            - len(changed[:SHOWN_ITEMS]),
        ),
    }
