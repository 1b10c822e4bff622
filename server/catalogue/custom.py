"""Custom attributes: curated facts an installation declares per CI class in its config.

``cmdb.toml``::

    [custom_attributes.Host.tier]
    type = "string"                       # string | integer | number | boolean | date
    allowed = ["gold", "silver", "bronze"]
    description = "support tier"

    [custom_attributes.Host.rack_units]
    type = "integer"

A CI keeps its custom values in one attribute document (``cmdb.graph.schema.CUSTOM_ATTRIBUTE``,
source ``manual``), so every change is a history entry (old and new document) and
as-of reads roll it back like any attribute. Values are checked against the declaration
(400 with a sentence naming the attribute and what it takes); discovery never writes them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

from cmdb.graph.schema import CLASSES, CUSTOM_ATTRIBUTE
from cmdb.graph.store import CI, Store
from cmdb.server.catalogue import invalid, not_found
from cmdb.server.catalogue.common import all_of_class
from cmdb.server.catalogue.writes import ManualWriter

TYPES = ("string", "integer", "number", "boolean", "date")


@dataclass(frozen=True, slots=True)
class CustomAttribute:
    cls: str
    name: str
    type: str
    allowed: tuple[Any, ...] | None = None
    description: str | None = None

    def to_api(self) -> dict[str, Any]:
        return {
            "class": self.cls,
            "name": self.name,
            "type": self.type,
            "allowed": list(self.allowed) if self.allowed is not None else None,
            "description": self.description,
        }


Declarations = dict[str, dict[str, CustomAttribute]]  # class -> name -> declaration


def _typed(decl_type: str, value: Any) -> Any:
    """``value`` as ``decl_type``, or ValueError with what was wrong."""
    if decl_type == "string":
        if not isinstance(value, str) or not value.strip():
            raise ValueError("a non-empty string")
        return value.strip()
    if decl_type == "integer":
        if isinstance(value, bool) or not isinstance(value, int):
            raise ValueError("an integer")
        return value
    if decl_type == "number":
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ValueError("a number")
        return value
    if decl_type == "boolean":
        if not isinstance(value, bool):
            raise ValueError("true or false")
        return value
    try:
        return date.fromisoformat(str(value)).isoformat()
    except ValueError as exc:
        raise ValueError("a date like 2026-12-31") from exc


def parse_declarations(raw: Any) -> Declarations:
    """The ``[custom_attributes]`` config section, checked: ValueError with a sentence for
    an unknown class, a name the class already has, an unknown type or allowed values of
    another type."""
    if not raw:
        return {}
    if not isinstance(raw, dict):
        raise ValueError("[custom_attributes] must be a table of classes")
    out: Declarations = {}
    for cls, attrs in raw.items():
        if cls not in CLASSES or CUSTOM_ATTRIBUTE not in CLASSES[cls].attributes:
            takes = sorted(c for c in CLASSES if CUSTOM_ATTRIBUTE in CLASSES[c].attributes)
            raise ValueError(
                f"[custom_attributes.{cls}]: {cls!r} is not a class that takes custom "
                f"attributes ({', '.join(takes)})"
            )
        if not isinstance(attrs, dict):
            raise ValueError(f"[custom_attributes.{cls}] must be a table of attributes")
        for name, decl in attrs.items():
            where = f"[custom_attributes.{cls}.{name}]"
            if not name.isidentifier() or name in CLASSES[cls].attributes:
                raise ValueError(f"{where}: {name!r} is not a free attribute name for {cls}")
            if not isinstance(decl, dict):
                raise ValueError(f"{where} must be a table with type (and allowed)")
            unknown = sorted(set(decl) - {"type", "allowed", "description"})
            if unknown:
                raise ValueError(f"{where}: unknown keys {', '.join(unknown)}")
            decl_type = decl.get("type", "string")
            if decl_type not in TYPES:
                raise ValueError(f"{where}: type must be one of {', '.join(TYPES)}")
            allowed = decl.get("allowed")
            if allowed is not None:
                if not isinstance(allowed, list) or not allowed:
                    raise ValueError(f"{where}: allowed must be a non-empty list")
                try:
                    allowed = tuple(_typed(decl_type, v) for v in allowed)
                except ValueError as exc:
                    raise ValueError(f"{where}: every allowed value must be {exc}") from exc
            out.setdefault(cls, {})[name] = CustomAttribute(
                cls, name, decl_type, allowed, decl.get("description")
            )
    return out


def _declared(decls: Declarations, cls: str) -> dict[str, CustomAttribute]:
    return decls.get(cls, {})


def check_value(decl: CustomAttribute, value: Any, where: str) -> Any:
    """A value for ``decl`` as stored; 400 saying what the attribute takes."""
    try:
        typed = _typed(decl.type, value)
    except ValueError as exc:
        raise invalid(
            f"{where}: {decl.cls}.{decl.name} must be {exc}, not {value!r}", field=where
        ) from exc
    if decl.allowed is not None and typed not in decl.allowed:
        raise invalid(
            f"{where}: {decl.cls}.{decl.name} must be one of "
            f"{', '.join(str(a) for a in decl.allowed)}, not {value!r}",
            field=where,
        )
    return typed


def _unknown(decls: Declarations, cls: str, name: str, where: str):
    known = sorted(_declared(decls, cls))
    takes = f"it takes {', '.join(known)}" if known else "none are declared for it"
    return invalid(
        f"{where}: {name!r} is not a custom attribute of {cls}; {takes} "
        "([custom_attributes] in the server config)",
        field=where,
    )


def record(ci: CI, decls: Declarations) -> dict[str, Any]:
    return {
        "id": ci.id,
        "class": ci.cls,
        "name": ci.name,
        "custom": dict(ci.attributes.get(CUSTOM_ATTRIBUTE) or {}),
        "declared": [d.to_api() for d in _declared(decls, ci.cls).values()],
    }


async def set_values(
    store: Store, ci_id: str, body: Any, decls: Declarations, actor: str | None
) -> dict[str, Any]:
    """Set custom values of one CI (``{"tier": "gold", "rack_units": null}``; null removes
    a value). One history entry per request with the old and new documents."""
    ci = await store.get_ci(ci_id)
    if ci is None:
        raise not_found(f"no configuration item with id {ci_id!r}")
    if not isinstance(body, dict) or not body:
        raise invalid('the body must be an object of custom values, e.g. {"tier": "gold"}')
    declared = _declared(decls, ci.cls)
    current = dict(ci.attributes.get(CUSTOM_ATTRIBUTE) or {})
    for name, value in body.items():
        if name not in declared:
            raise _unknown(decls, ci.cls, name, f"$.{name}")
        if value is None:
            current.pop(name, None)
        else:
            current[name] = check_value(declared[name], value, f"$.{name}")
    writer = ManualWriter(actor)
    if writer.update_ci(ci, {CUSTOM_ATTRIBUTE: current or None}):
        await store.apply(writer.cs)
    return record(ci, decls)


def parse_filters(decls: Declarations, cls: str, raw: dict[str, str]) -> dict[str, Any]:
    """Query-string filters (``tier=gold``, ``rack_units=2``) typed by their declaration."""
    out: dict[str, Any] = {}
    for name, text in raw.items():
        decl = _declared(decls, cls).get(name)
        if decl is None:
            raise _unknown(decls, cls, name, f"query parameter {name!r}")
        value: Any = text
        if decl.type in ("integer", "number"):
            try:
                value = int(text) if decl.type == "integer" else float(text)
            except ValueError:
                value = text
        elif decl.type == "boolean":
            value = {"true": True, "false": False}.get(text.lower(), text)
        out[name] = check_value(decl, value, f"query parameter {name!r}")
    return out


async def find(
    store: Store,
    decls: Declarations,
    cls: str,
    filters: dict[str, Any],
    status: str | None,
    limit: int,
    offset: int,
) -> tuple[list[dict[str, Any]], int]:
    """CIs of ``cls`` whose custom values equal every filter, by name. The values live in
    the attribute document, which neither store indexes, so this reads the class once; a
    class is bounded (hosts, services), and filters need a class."""
    if cls not in CLASSES:
        raise invalid(f"class must be one of {', '.join(sorted(CLASSES))}, not {cls!r}")
    hits = [
        ci
        for ci in await all_of_class(store, cls)
        if (status is None or ci.status == status)
        and all((ci.attributes.get(CUSTOM_ATTRIBUTE) or {}).get(k) == v for k, v in filters.items())
    ]
    hits.sort(key=lambda c: (c.name or "", c.id))
    page = hits[offset : offset + limit]
    return [{**c.to_api(), "custom": c.attributes.get(CUSTOM_ATTRIBUTE) or {}} for c in page], len(
        hits
    )
