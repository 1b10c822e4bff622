"""The OpenAPI 3.1 document, built from the routes the app really has."""

from __future__ import annotations

import re
from typing import Any

from aiohttp import web

from cmdb.collectors.model import REPORT_SCHEMA

ERROR = {
    "type": "object",
    "required": ["error"],
    "properties": {
        "error": {
            "type": "object",
            "required": ["status", "message"],
            "properties": {"status": {"type": "integer"}, "message": {"type": "string"}},
        },
        # beside the error, for clients that act on it: forbidden, too_large, ...
        "status": {"type": "string"},
        "limit": {"type": "integer"},
        "which": {"enum": ["wire", "decompressed"]},
    },
}
CI = {
    "type": "object",
    "required": ["id", "class", "name", "status", "first_seen", "last_seen", "attributes"],
    "properties": {
        "id": {"type": "string"},
        "class": {"type": "string"},
        "name": {"type": ["string", "null"]},
        "status": {"type": "string"},
        "first_seen": {"type": "string", "format": "date-time"},
        "last_seen": {"type": "string", "format": "date-time"},
        "sources": {"type": "array", "items": {"type": "string"}},
        "attributes": {"type": "object"},
    },
}
SUMMARIES = {
    ("POST", "/api/v1/reports"): "Submit a discovery report (agent role)",
    ("GET", "/api/v1/cis"): "List configuration items (filters: class, q, status; limit/offset)",
    ("GET", "/api/v1/cis/{id}"): "One CI with its relationships",
    ("GET", "/api/v1/cis/{id}/history"): "Attribute and relationship history of a CI",
    ("GET", "/api/v1/cis/{id}/dependencies"): "Dependency graph (direction=up|down, depth=N)",
    ("GET", "/healthz"): "Liveness and store reachability",
    ("POST", "/api/v1/impact"): "What fails with the given CIs: services down or degraded, paths",
    ("POST", "/api/v1/services"): "Create a service with its dependencies (CIs, services, groups)",
    ("POST", "/api/v1/scans"): "Start an SNMP scan of addresses, ranges and CIDR blocks",
}
QUERY = {
    "/api/v1/cis": ["class", "q", "status", "limit", "offset"],
    "/api/v1/cis/{id}": ["as_of", "include_ended"],
    "/api/v1/cis/{id}/history": ["limit", "offset", "since", "until"],
    "/api/v1/cis/{id}/dependencies": ["direction", "depth", "limit"],
    "/api/v1/cis/{id}/diff": ["from", "to"],
    "/api/v1/services/{id}/diff": ["from", "to"],
    "/api/v1/services": ["q", "limit", "offset"],
    "/api/v1/assets": ["state", "limit", "offset"],
    "/api/v1/changes": ["state", "limit", "offset"],
    "/api/v1/reports/unauthorized-changes": ["since", "until"],
    "/api/v1/reports/assets/unseen": ["days"],
    "/api/v1/reports/assets/warranty": ["days"],
}
ERRORS = {
    "400": "malformed request (the message names the field)",
    "401": "missing or unknown token",
    "403": (
        "the token's role does not allow this (top-level status forbidden); reports: "
        "agent tokens post source agent, poller tokens source snmp, no other role posts"
    ),
    "404": "no such resource",
    "409": "conflicts with the current state",
    "413": (
        "body over one of the server's limits: top-level status too_large, limit (bytes) "
        "and which (wire: as sent; decompressed: after Content-Encoding is undone)"
    ),
    "415": "Content-Encoding other than identity, gzip or deflate",
    "422": "well-formed but not acceptable (unknown schema version, unknown reference)",
    "503": "store unavailable; retry after Retry-After seconds",
}


def openapi_document(app: web.Application) -> dict[str, Any]:
    paths: dict[str, dict[str, Any]] = {}
    for route in app.router.routes():
        if route.method in ("HEAD", "*"):
            continue
        info = route.resource.get_info() if route.resource else {}
        path = info.get("path") or info.get("formatter")
        if not path:
            continue
        op: dict[str, Any] = {
            "summary": SUMMARIES.get((route.method, path), route.handler.__doc__ or path),
            "operationId": f"{route.method.lower()}_{route.handler.__name__}",
            "responses": {
                "200": {"description": "OK"},
                **{
                    code: {
                        "description": text,
                        "content": {
                            "application/json": {"schema": {"$ref": "#/components/schemas/Error"}}
                        },
                    }
                    for code, text in ERRORS.items()
                },
            },
        }
        params = [
            {"name": name, "in": "path", "required": True, "schema": {"type": "string"}}
            for name in re.findall(r"{(\w+)}", path)
        ]
        params += [
            {"name": name, "in": "query", "required": False, "schema": {"type": "string"}}
            for name in QUERY.get(path, [])
            if route.method == "GET"
        ]
        if params:
            op["parameters"] = params
        if path not in ("/healthz", "/api/v1/openapi.json"):
            op["security"] = [{"bearer": []}]
        if path == "/api/v1/reports" and route.method == "POST":
            op["requestBody"] = {
                "required": True,
                "content": {
                    "application/json": {"schema": {"$ref": "#/components/schemas/Report"}}
                },
            }
        paths.setdefault(path, {})[route.method.lower()] = op
    return {
        "openapi": "3.1.0",
        "info": {"title": "cmdb", "version": "1.0", "description": "Discovery and CMDB server"},
        "paths": dict(sorted(paths.items())),
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
            "schemas": {"Error": ERROR, "CI": CI, "Report": REPORT_SCHEMA},
        },
    }
