"""JSON Schemas the route declarations share (``cmdb.server.api.spec``): the error shape,
CIs, relationships, history, listings, and the catalogue's records. Each named schema is a
component of the OpenAPI document (``#/components/schemas/NAME``); request schemas are
strict (unknown fields are refused), answer schemas name what a client may rely on.

Limits are the documented ones: names at most ``MAX_NAME_CHARS`` (200) characters, free
text (descriptions, titles) at most ``MAX_TEXT_CHARS`` (10,000), lists at most
``MAX_ITEMS`` (1,000) items unless said otherwise."""

from __future__ import annotations

from typing import Any

from cmdb.collectors.model import REPORT_SCHEMA
from cmdb.graph.schema import CI_STATUSES, CLASSES
from cmdb.server.api.spec import INT64_MAX, MAX_NAME_CHARS, MAX_TEXT_CHARS, Setting

MAX_ITEMS = 1000


def ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def nullable(schema: dict[str, Any]) -> dict[str, Any]:
    """``schema`` or null (a JSON Schema 2020-12 type list, as OpenAPI 3.1 has it)."""
    kind = schema.get("type")
    if isinstance(kind, str):
        out = {**schema, "type": [kind, "null"]}
        if "enum" in out:
            out["enum"] = [*out["enum"], None]
        return out
    return {"anyOf": [schema, {"type": "null"}]}


def obj(
    properties: dict[str, Any], required: tuple[str, ...] = (), strict: bool = False, **more: Any
) -> dict[str, Any]:
    out: dict[str, Any] = {"type": "object", "properties": properties, **more}
    if required:
        out["required"] = list(required)
    if strict:
        out["additionalProperties"] = False
    return out


def array(items: dict[str, Any], max_items: int | None = MAX_ITEMS, **more: Any) -> dict:
    out: dict[str, Any] = {"type": "array", "items": items, **more}
    if max_items is not None:
        out["maxItems"] = max_items
    return out


# ---------------------------------------------------------------- scalars
NAME = {
    "type": "string",
    "minLength": 1,
    "maxLength": MAX_NAME_CHARS,
    "pattern": r"\S",
    "description": f"a name: 1 to {MAX_NAME_CHARS} characters, not only spaces",
}
TEXT = {
    "type": "string",
    "minLength": 1,
    "maxLength": MAX_TEXT_CHARS,
    "pattern": r"\S",
    "description": f"free text: 1 to {MAX_TEXT_CHARS} characters, not only spaces",
}
CI_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}$"
CI_ID = {
    "type": "string",
    "pattern": CI_ID_PATTERN,
    "maxLength": 128,
    "description": "a CI id (letters, digits, _ . : -; at most 128 characters)",
}
TIME = {"type": "string", "format": "date-time", "maxLength": 64}
DATE = {"type": "string", "format": "date", "maxLength": 10}
COUNT = {"type": "integer", "minimum": 0}
PORT = {"type": "integer", "minimum": 1, "maximum": 65535}
CLASS = {"type": "string", "enum": sorted(CLASSES)}
ANY_ID = {"type": "string"}

# ---------------------------------------------------------------- the error shape
ERROR = obj(
    {
        "error": obj(
            {
                "status": {"type": "integer", "minimum": 400, "maximum": 599},
                "message": {"type": "string", "description": "what is wrong and what to do"},
                "field": {
                    "type": "string",
                    "description": "the field or parameter at fault (a JSONPath for bodies)",
                },
            },
            ("status", "message"),
        ),
        # beside the error, for clients that act on it without reading the message
        "status": {
            "type": "string",
            "description": (
                "a word a client acts on: forbidden, too_large, throttled, "
                "full_report_required, rejected, bad_encoding, unsupported_encoding, ..."
            ),
        },
        "limit": {"type": "integer", "description": "413: the limit passed, in bytes"},
        "which": {"enum": ["wire", "decompressed"]},
    },
    ("error",),
    description='every error: {"error": {"status": N, "message": "..."}}',
)
ERROR_EXAMPLE = {
    "error": {
        "status": 400,
        "message": "query parameter 'limit' must be at least 1 and at most 500, not 0",
        "field": "limit",
    }
}

# ---------------------------------------------------------------- CIs
CI_REF = obj(
    {"id": ANY_ID, "class": {"type": "string"}, "name": nullable({"type": "string"})},
    ("id", "class", "name"),
    description="a CI named briefly",
)
CI = obj(
    {
        "id": ANY_ID,
        "class": {"type": "string"},
        "name": nullable({"type": "string"}),
        "status": {"type": "string", "enum": list(CI_STATUSES)},
        "first_seen": nullable(TIME),
        "last_seen": nullable(TIME),
        "sources": array({"type": "string"}, None),
        "attributes": {"type": "object"},
    },
    ("id", "class", "name", "status", "first_seen", "last_seen", "attributes"),
)
RELATIONSHIP = obj(
    {
        "id": ANY_ID,
        "type": {"type": "string"},
        "direction": {"enum": ["in", "out"]},
        "other": ref("CIRef"),
        "first_seen": nullable(TIME),
        "last_seen": nullable(TIME),
        "ended_at": nullable(TIME),
        "sources": array({"type": "string"}, None),
        "attributes": {"type": "object"},
    },
    ("id", "type", "direction", "other"),
)
CI_DETAIL = {
    "allOf": [ref("CI")],
    "type": "object",
    "required": ["relationships"],
    "properties": {"relationships": array(ref("Relationship"), None)},
}
HISTORY_ENTRY = obj(
    {
        "ci_id": ANY_ID,
        "kind": {"enum": ["ci", "attribute", "relationship"]},
        "field": {"type": "string"},
        "old": {},
        "new": {},
        "at": TIME,
        "source": {"type": "string"},
        "report_id": nullable({"type": "string"}),
        "other_id": nullable({"type": "string"}),
        "actor": nullable({"type": "string"}),
        "request_id": nullable({"type": "string"}),
    },
    ("ci_id", "kind", "field", "at", "source"),
)


def listing(item: dict[str, Any], paged: bool = False, **more: dict[str, Any]) -> dict:
    """``{"items": [...], "total": N}`` (and ``limit``, ``offset`` when paged)."""
    props: dict[str, Any] = {"items": array(item, None), "total": COUNT, **more}
    required = ["items", "total"]
    if paged:
        props |= {"limit": COUNT, "offset": COUNT}
        required += ["limit", "offset"]
    return obj(props, tuple(required))


# ---------------------------------------------------------------- references (catalogue)
REFERENCE_OBJECT = {
    "type": "object",
    "properties": {
        "id": CI_ID,
        "class": CLASS,
        "name": NAME,
        "host": {"anyOf": [NAME, {"type": "object"}]},
        "port": {"anyOf": [PORT, {"type": "string", "pattern": "^[0-9]{1,5}$"}]},
        "protocol": {"type": "string", "maxLength": 16},
        "address": {"type": "string", "maxLength": 64},
        "serial": NAME,
        "manufacturer": NAME,
    },
    "minProperties": 1,
    "maxProperties": 16,
    "additionalProperties": {"type": ["string", "integer", "number", "boolean", "null"]},
    "description": "a reference such as {class: Host, name: db1} or {class: Endpoint, host: db1, "
    "port: 5432}",
}
REFERENCE = {
    "anyOf": [CI_ID, REFERENCE_OBJECT],
    "description": "a CI id or a reference such as {class: Host, name: db1}",
}
# in a catalogue import a member may also be a service's name
NAMED_REFERENCE = {
    "anyOf": [NAME, REFERENCE_OBJECT],
    "description": "a CI id, a service name or a reference such as {class: Host, name: db1}",
}

# ---------------------------------------------------------------- services
KINDS = ("business", "technical")
CRITICALITIES = ("critical", "high", "medium", "low")
SERVICE_STATUSES = ("proposed", "active", "deprecated", "retired")
DURATION = {
    "anyOf": [
        {"type": "integer", "minimum": 1, "maximum": 10_000_000},
        {"type": "string", "pattern": r"^\s*\d{1,9}(\.\d{1,6})?\s*(m|min|h|d)\s*$"},
    ],
    "description": "minutes (an integer) or a duration like 30m, 4h, 2d",
}
SLA = nullable(
    obj(
        {
            "availability": {
                "type": "number",
                "exclusiveMinimum": 0,
                "maximum": 100,
                "description": "percent",
            },
            "response_time": DURATION,
            "resolution_time": DURATION,
        },
        strict=True,
    )
)


def _dependency(member: dict[str, Any]) -> dict[str, Any]:
    group = obj(
        {
            "name": NAME,
            "min": {"type": "integer", "minimum": 1, "maximum": MAX_ITEMS},
            "members": array(member, minItems=1),
        },
        ("name", "members"),
        strict=True,
        description="a redundancy group: up while at least min members are up",
    )
    return {
        "type": "object",
        "properties": {"ci": member, "service": member, "group": group},
        "additionalProperties": False,
        "minProperties": 1,
        "maxProperties": 1,
        "description": '{"ci": REF}, {"service": REF} or {"group": {"name", "min", "members"}}',
    }


def _service_input(required: tuple[str, ...], member: dict[str, Any]) -> dict[str, Any]:
    return obj(
        {
            "id": {"type": "string", "maxLength": 128, "description": "ignored"},
            "name": NAME,
            "kind": nullable({"type": "string", "enum": list(KINDS)}),
            "owner": nullable(NAME),
            "criticality": nullable({"type": "string", "enum": list(CRITICALITIES)}),
            "sla": SLA,
            "description": nullable(TEXT),
            "status": nullable({"type": "string", "enum": list(SERVICE_STATUSES)}),
            "depends_on": nullable(array(_dependency(member))),
        },
        required,
        strict=True,
    )


SERVICE_INPUT = _service_input(("name",), REFERENCE)
SERVICE_PATCH = _service_input((), REFERENCE)
CATALOGUE = obj(
    {"services": array(_service_input(("name",), NAMED_REFERENCE), 5000)},
    ("services",),
    description="catalogue as code: every service of the document is upserted by name",
)
SERVICE = obj(
    {
        "id": ANY_ID,
        "name": nullable({"type": "string"}),
        "kind": nullable({"type": "string"}),
        "owner": nullable({"type": "string"}),
        "criticality": nullable({"type": "string"}),
        "sla": {"type": "object"},
        "description": nullable({"type": "string"}),
        "status": nullable({"type": "string"}),
        "first_seen": nullable(TIME),
        "depends_on": array({"type": "object"}, None),
    },
    ("id", "name", "kind", "criticality", "sla", "status"),
)
IMPORT_RESULT = obj(
    {
        "dry_run": {"type": "boolean"},
        "created": array({"type": "string"}, None),
        "updated": array({"type": "string"}, None),
        "unchanged": array({"type": "string"}, None),
        "summary": {"type": "object", "additionalProperties": COUNT},
        "changes": array({"type": "object"}, None),
        "items": array(ref("Service"), None),
        "total": COUNT,
    },
    ("dry_run", "created", "updated", "unchanged", "summary", "changes", "items", "total"),
)

# ---------------------------------------------------------------- impact
IMPACT_REQUEST = obj(
    {
        "cis": array(
            REFERENCE,
            minItems=1,
            description="the CIs that fail: ids, or references such as {class: Host, name: "
            "db1} or {class: Endpoint, host: db1, port: 5432}",
        ),
        "depth": {"type": "integer", "minimum": 1, "maximum": Setting("max_depth")},
        "summary": {
            "type": "boolean",
            "description": "true: services and counts only, without the list of every CI",
        },
    },
    ("cis",),
    strict=True,
)
STEP = obj(
    {
        "id": ANY_ID,
        "class": {"type": "string"},
        "name": nullable({"type": "string"}),
        "state": {"type": "string"},
        "via": {"type": "string"},
        "kind": {"type": "string"},
    },
    ("id", "class", "name", "state"),
)
IMPACT = obj(
    {
        "start": array(ANY_ID, None),
        "failed": array(ref("CIRef"), None),
        "depth": COUNT,
        "counts": obj(
            {
                "services": {"type": "object", "additionalProperties": COUNT},
                "cis": {"type": "object", "additionalProperties": COUNT},
                "classes": {"type": "object", "additionalProperties": COUNT},
            },
            ("services", "cis", "classes"),
        ),
        "services": array(
            obj(
                {
                    "id": ANY_ID,
                    "name": nullable({"type": "string"}),
                    "state": {"enum": ["down", "degraded", "up"]},
                    "criticality": nullable({"type": "string"}),
                    "owner": nullable({"type": "string"}),
                    "sla": {"type": "object"},
                    "kind": nullable({"type": "string"}),
                    "paths": array(
                        obj({"kind": {"type": "string"}, "steps": array(STEP, None)}, ("steps",)),
                        None,
                    ),
                },
                ("id", "name", "state", "criticality", "owner", "paths"),
            ),
            None,
        ),
        "cis": {
            **array(
                obj(
                    {**STEP["properties"], "depth": COUNT, "host": {}, "device": {}},
                    ("id", "class", "name", "state", "depth"),
                ),
                None,
            ),
            "description": "every affected CI (left out in summary mode)",
        },
    },
    ("start", "failed", "depth", "counts", "services"),
)

# ---------------------------------------------------------------- assets
ASSET_STATES = (
    "planned",
    "ordered",
    "received",
    "in_stock",
    "deployed",
    "in_maintenance",
    "retired",
    "disposed",
)
INITIAL_ASSET_STATES = ASSET_STATES[:6]
_ASSET_FIELDS: dict[str, Any] = {
    "purchase_date": nullable(DATE),
    "cost": nullable({"type": "number", "minimum": 0, "maximum": 1e15}),
    "currency": nullable(NAME),
    "supplier": nullable(NAME),
    "contract": nullable(NAME),
    "warranty_end": nullable(DATE),
    "location": nullable(NAME),
    "owner": nullable(NAME),
    "model": nullable(NAME),
    "serial": nullable(NAME),
    "ci": nullable({**CI_ID, "description": "the discovered CI this asset is"}),
    "id": {"type": "string", "maxLength": 128, "description": "ignored"},
}
ASSET_INPUT = obj(
    {
        "asset_tag": NAME,
        "state": {"type": "string", "enum": list(INITIAL_ASSET_STATES), "default": "planned"},
        **_ASSET_FIELDS,
    },
    ("asset_tag",),
    strict=True,
)
ASSET_PATCH = obj(
    {
        **_ASSET_FIELDS,
        "state": {
            "not": {},
            "description": "changed with POST /api/v1/assets/{id}/transition, not here",
        },
        "asset_tag": {"not": {}, "description": "the asset tag cannot change"},
    },
    strict=True,
)
ASSET = obj(
    {
        "id": ANY_ID,
        "asset_tag": {"type": "string"},
        "state": {"type": "string", "enum": list(ASSET_STATES)},
        **{k: {} for k in _ASSET_FIELDS if k not in ("ci", "id")},
        "ci": nullable({"type": "object"}),
        "supplier": {},
        "allowed_transitions": array({"type": "string"}, None),
        "transitions": array({"type": "object"}, None),
    },
    ("id", "asset_tag", "state", "ci", "allowed_transitions"),
)


def transition(states: tuple[str, ...]) -> dict[str, Any]:
    return obj({"state": {"type": "string", "enum": list(states)}}, ("state",), strict=True)


# ---------------------------------------------------------------- changes
CHANGE_STATES = (
    "draft",
    "assessed",
    "approved",
    "implemented",
    "verified",
    "closed",
    "rejected",
    "cancelled",
)
WINDOW = obj({"start": TIME, "end": TIME}, ("start", "end"), strict=True)
EXPECTATION = {
    "type": "object",
    "properties": {
        "attribute": NAME,
        "package": NAME,
        "port": PORT,
        "relationship": NAME,
        "ci": CI_ID,
    },
    "additionalProperties": False,
    "minProperties": 1,
    "maxProperties": 2,
    "description": "one of attribute, package, port, relationship (and optionally ci), e.g. "
    '{"package": "openssl"}',
}


def _change_input(required: tuple[str, ...]) -> dict[str, Any]:
    return obj(
        {
            "title": TEXT,
            "change_id": NAME,
            "requested_by": NAME,
            "cis": array(CI_ID, minItems=1, description="the CIs the change touches"),
            "window": WINDOW,
            "window_start": TIME,
            "window_end": TIME,
            "expected": array(EXPECTATION, description="what discovery should see"),
        },
        required,
        strict=True,
    )


CHANGE_INPUT = _change_input(("title", "cis"))
CHANGE_PATCH = _change_input(())
CHANGE = obj(
    {
        "id": ANY_ID,
        "change_id": {"type": "string"},
        "title": nullable({"type": "string"}),
        "state": {"type": "string", "enum": list(CHANGE_STATES)},
        "window": obj({"start": nullable(TIME), "end": nullable(TIME)}),
        "requested_by": nullable({"type": "string"}),
        "approved_by": nullable({"type": "string"}),
        "cis": array(ref("CIRef"), None),
        "expected": array({"type": "object"}, None),
        "impact": nullable({"type": "object"}),
        "approval_warnings": array({"type": "object"}, None),
        "allowed_transitions": array({"type": "string"}, None),
        "conflicts": array({"type": "object"}, None),
        "verification": {"type": "object"},
    },
    ("id", "change_id", "title", "state", "window", "cis", "allowed_transitions"),
)
CONFLICT = obj(
    {
        "changes": array({"type": "object"}, None),
        "overlap": obj({"start": TIME, "end": TIME}),
        "services": array({"type": "object"}, None),
    },
    ("changes", "overlap", "services"),
)
VERIFICATION = obj(
    {
        "change": {"type": "object"},
        "verdict": {"type": "string"},
        "text": {"type": "string"},
        "expected": array({}, None),
        "missing": array({}, None),
        "unexpected": array({}, None),
        "not_reported": array({}, None),
        "items": array({"type": "object"}, None),
        "total": COUNT,
    },
    ("change", "verdict", "text", "items", "total"),
)

# ---------------------------------------------------------------- status accounting
CI_DIFF = obj(
    {
        "id": ANY_ID,
        "existed": obj({"from": {"type": "boolean"}, "to": {"type": "boolean"}}),
        "attributes": {"type": "object"},
        "relationships_added": array({"type": "object"}, None),
        "relationships_removed": array({"type": "object"}, None),
        "status": {"type": "object"},
    },
    ("existed", "attributes", "relationships_added", "relationships_removed"),
)
SERVICE_DIFF = obj(
    {
        "id": ANY_ID,
        "name": nullable({"type": "string"}),
        "from": TIME,
        "to": TIME,
        "cis_added": array(ref("CIRef"), None),
        "cis_removed": array(ref("CIRef"), None),
        "dependencies_added": array({"type": "object"}, None),
        "dependencies_removed": array({"type": "object"}, None),
        "cis_changed": array({"type": "object"}, None),
    },
    ("id", "from", "to", "cis_added", "cis_removed", "dependencies_added"),
)
CI_AS_OF = obj(
    {
        "id": ANY_ID,
        "class": {"type": "string"},
        "name": nullable({"type": "string"}),
        "status": {"type": "string"},
        "first_seen": nullable(TIME),
        "as_of": TIME,
        "attributes": {"type": "object"},
        "relationships": array({"type": "object"}, None),
    },
    ("id", "class", "as_of", "attributes", "relationships"),
)

# ---------------------------------------------------------------- declared relationships
DECLARABLE = ("RUNS_ON", "HOSTED_ON", "DEPENDS_ON")
_REL_GROUP = obj(
    {
        "name": NAME,
        "min": {"type": "integer", "minimum": 1, "maximum": MAX_ITEMS},
        "members": array(REFERENCE, minItems=2),
    },
    ("name",),
    strict=True,
)
DECLARE_RELATIONSHIP = obj(
    {
        "type": {"type": "string", "enum": list(DECLARABLE)},
        "from": REFERENCE,
        "to": REFERENCE,
        "group": _REL_GROUP,
    },
    ("type", "from"),
    strict=True,
)
DECLARED = obj(
    {
        "id": ANY_ID,
        "type": {"type": "string"},
        "from": nullable({"type": "object"}),
        "to": nullable({"type": "object"}),
        "sources": array({"type": "string"}, None),
        "first_seen": nullable(TIME),
        "ended_at": nullable(TIME),
        "group": {"type": "object"},
    },
    ("id", "type", "from", "to"),
)

# ---------------------------------------------------------------- custom attributes
CUSTOM_DECLARATION = obj(
    {
        "class": {"type": "string"},
        "name": {"type": "string"},
        "type": {"enum": ["string", "integer", "number", "boolean", "date"]},
        "allowed": nullable({"type": "array"}),
        "description": nullable({"type": "string"}),
    },
    ("class", "name", "type"),
)
CUSTOM_VALUES = {
    "type": "object",
    "minProperties": 1,
    "maxProperties": 100,
    "propertyNames": {"maxLength": 100},
    "additionalProperties": {
        "anyOf": [
            {"type": "string", "maxLength": MAX_TEXT_CHARS},
            {"type": "integer", "minimum": -INT64_MAX - 1, "maximum": INT64_MAX},
            {"type": "number", "minimum": -1e300, "maximum": 1e300},
            {"type": "boolean"},
            {"type": "null"},
        ],
        "description": "a value of the attribute's declared type (null removes it)",
    },
    "description": 'custom values by name, e.g. {"tier": "gold", "rack_units": null}',
}
CUSTOM_RECORD = obj(
    {
        "id": ANY_ID,
        "class": {"type": "string"},
        "name": nullable({"type": "string"}),
        "custom": {"type": "object"},
        "declared": array(ref("CustomAttribute"), None),
    },
    ("id", "class", "custom", "declared"),
)

# ---------------------------------------------------------------- reports, tokens, health
REPORT_RESULT = obj(
    {
        "status": {"enum": ["applied", "unchanged", "superseded", "duplicate"]},
        "report_id": {"type": "string"},
        "ci_id": {"type": "string"},
        "created": {"type": "boolean"},
        "identification": array({"type": "string"}, None),
        "counts": {"type": "object", "additionalProperties": COUNT},
        "connections": {"type": "object"},
    },
    ("status", "report_id"),
)
TOKEN = obj(
    {
        "id": {"type": "integer"},
        "name": {"type": "string"},
        "role": {"type": "string"},
        "created_at": {"type": "string"},
        "revoked_at": nullable({"type": "string"}),
    },
    ("id", "name", "role", "created_at", "revoked_at"),
)
HEALTH = obj(
    {
        "status": {"enum": ["ok", "degraded"]},
        "store": {"type": "string"},
        "message": {"type": "string"},
    },
    ("status", "store"),
)

COMPONENTS: dict[str, Any] = {
    "Error": ERROR,
    "CI": CI,
    "CIRef": CI_REF,
    "Relationship": RELATIONSHIP,
    "HistoryEntry": HISTORY_ENTRY,
    "Report": REPORT_SCHEMA,
    "ReportResult": REPORT_RESULT,
    "Reference": REFERENCE,
    "Service": SERVICE,
    "ServiceInput": SERVICE_INPUT,
    "Impact": IMPACT,
    "Asset": ASSET,
    "Change": CHANGE,
    "DeclaredRelationship": DECLARED,
    "CustomAttribute": CUSTOM_DECLARATION,
    "Token": TOKEN,
}

# ---------------------------------------------------------------- examples
HOST_ID = "6f1c2a9e-3b4d-4e5f-8a7b-1c2d3e4f5a6b"
CI_REF_EXAMPLE = {"id": HOST_ID, "class": "Host", "name": "db1"}
CI_EXAMPLE = {
    **CI_REF_EXAMPLE,
    "status": "live",
    "first_seen": "2026-11-20T10:00:00.000Z",
    "last_seen": "2026-11-28T10:00:00.000Z",
    "sources": ["agent"],
    "attributes": {"hostname": "db1", "os_name": "Debian GNU/Linux", "os_version": "13"},
}
RELATIONSHIP_EXAMPLE = {
    "id": "0b6e8f5a-1d2c-4b3a-9e8f-7a6b5c4d3e2f",
    "type": "HAS_INTERFACE",
    "direction": "out",
    "other": {"id": "9a8b7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d", "class": "Interface", "name": "eth0"},
    "first_seen": "2026-11-20T10:00:00.000Z",
    "last_seen": "2026-11-28T10:00:00.000Z",
    "ended_at": None,
    "sources": ["agent"],
    "attributes": {},
}
HISTORY_EXAMPLE = {
    "request_id": "c0ffee00c0ffee00c0ffee00c0ffee00",
    "ci_id": HOST_ID,
    "kind": "attribute",
    "field": "os_version",
    "old": "12",
    "new": "13",
    "at": "2026-11-28T10:00:00.000Z",
    "source": "agent",
    "report_id": "r-2026-11-28-db1",
    "other_id": None,
    "actor": "agent-db1",
}
SERVICE_ID = "3c4d5e6f-7a8b-4c9d-8e0f-1a2b3c4d5e6f"
SERVICE_EXAMPLE = {
    "id": SERVICE_ID,
    "name": "orders",
    "kind": "technical",
    "owner": "team-a",
    "criticality": "critical",
    "sla": {"availability": 99.95, "response_time": "15m", "resolution_time": "4h"},
    "description": None,
    "status": "active",
    "first_seen": "2026-11-20T10:00:00.000Z",
    "depends_on": [
        {
            "group": {
                "id": "7d8e9f0a-1b2c-4d3e-8f4a-5b6c7d8e9f0a",
                "name": "pg",
                "min": 1,
                "members": [
                    CI_REF_EXAMPLE,
                    {"id": HOST_ID[:-1] + "c", "class": "Host", "name": "db2"},
                ],
            }
        }
    ],
}
ASSET_EXAMPLE = {
    "id": "1a2b3c4d-5e6f-4a7b-8c9d-0e1f2a3b4c5d",
    "asset_tag": "A-1",
    "state": "ordered",
    "purchase_date": "2026-01-15",
    "cost": 4200,
    "currency": "EUR",
    "supplier": "Dell",
    "contract": None,
    "warranty_end": "2029-01-15",
    "location": "DC1 R12",
    "owner": "team-a",
    "model": "R650",
    "serial": "S1",
    "ci": {**CI_REF_EXAMPLE, "last_seen": "2026-11-28T10:00:00.000Z"},
    "allowed_transitions": ["received", "retired"],
}
CHANGE_EXAMPLE = {
    "id": "2b3c4d5e-6f7a-4b8c-9d0e-1f2a3b4c5d6e",
    "change_id": "CHG-20261120-A1B2C3",
    "title": "PostgreSQL minor upgrade on db1",
    "state": "draft",
    "window": {"start": "2026-11-20T00:00:00.000Z", "end": "2026-11-20T23:00:00.000Z"},
    "requested_by": "editor-token",
    "approved_by": None,
    "cis": [CI_REF_EXAMPLE],
    "expected": [{"package": "postgresql-*"}],
    "impact": None,
    "approval_warnings": [],
    "allowed_transitions": ["assessed", "cancelled"],
}
