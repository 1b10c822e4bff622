"""The OpenAPI 3.1 document, built from the route declarations (``cmdb.server.api.spec``)
of the routes the app really has. Nothing here describes a route: a route's parameters,
body, answers and errors are its declaration's, the error answers share one schema."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from cmdb.server.api.schemas import COMPONENTS, ERROR_EXAMPLE
from cmdb.server.api.spec import REGISTRY, Declaration, Param, Reply, resolve

# what each error status means on every route that can answer it; a declaration's
# ``errors`` adds or sharpens these for its route
ERRORS = {
    400: "malformed request: the message names the parameter or field (error.field) and what "
    "it takes; unknown query parameters are named with the ones the route takes",
    401: "missing, unknown or revoked token",
    403: "the token's role does not allow this (status forbidden)",
    404: "no such resource (or a path value that cannot name one)",
    409: "conflicts with the current state",
    413: "the body is over one of the server's limits: status too_large, limit (bytes) and "
    "which (wire: as sent; decompressed: after Content-Encoding is undone)",
    415: "a Content-Encoding other than identity, gzip or deflate",
    422: "well-formed but not acceptable: an unknown reference, a semantic rule",
    429: "too many failed authentications from this address (status throttled; Retry-After)",
    503: "the store is unavailable or busy; retry after Retry-After seconds",
}
UI_PATHS = ("/", "/favicon.ico")


def _is_ui(path: str) -> bool:
    return path in UI_PATHS or path == "/ui" or path.startswith("/ui/")


def app_routes(app: web.Application) -> list[tuple[str, str]]:
    """(METHOD, path template) of every API route the app serves (not the web UI's)."""
    out = []
    for route in app.router.routes():
        if route.method in ("HEAD", "*") or route.resource is None:
            continue
        path = route.resource.canonical
        if not _is_ui(path):
            out.append((route.method, path))
    return out


def _param(param: Param, where: str, settings: Any) -> dict[str, Any]:
    out: dict[str, Any] = {
        "name": param.name,
        "in": where,
        "required": where == "path" or param.required,
        "description": param.description,
        "schema": resolve(param.schema, settings),
    }
    if param.example is not None:
        out["example"] = param.example
    return out


def _media(schema: Any, example: Any, examples: Any, settings: Any) -> dict[str, Any]:
    out: dict[str, Any] = {"schema": resolve(schema, settings)}
    if examples:
        out["examples"] = {name: {"value": value} for name, value in examples.items()}
    elif example is not None:
        out["example"] = example
    return out


def _error(status: int, text: str) -> dict[str, Any]:
    example = {"error": {**ERROR_EXAMPLE["error"], "status": status}}
    if status != 400:
        example["error"] = {"status": status, "message": text.split(":")[0]}
    return {
        "description": text,
        "content": {
            "application/json": {
                "schema": {"$ref": "#/components/schemas/Error"},
                "example": example,
            }
        },
    }


def operation(declaration: Declaration, settings: Any) -> dict[str, Any]:
    """One route's OpenAPI operation object."""
    d = declaration
    secured = d.roles is not None or d.guard is not None
    description = d.description
    if d.roles:
        description = (description + "\n\n" if description else "") + (
            f"Role: {' or '.join(d.roles)} (an admin token may do what an editor may, an "
            "editor what a reader may)."
        )
    op: dict[str, Any] = {
        "summary": d.summary,
        "operationId": d.operation_id or f"{d.method.lower()}_{d.path}",
    }
    if description:
        op["description"] = description
    if d.tags:
        op["tags"] = list(d.tags)
    if d.roles is not None:
        op["x-roles"] = list(d.roles)
    params = [_param(p, "path", settings) for p in d.path_params]
    params += [_param(p, "query", settings) for p in d.query]
    if d.extra_query:
        params.append(
            {
                "name": "filters",
                "in": "query",
                "description": d.extra_query,
                "required": False,
                "style": "form",
                "explode": True,
                "schema": {"type": "object", "additionalProperties": {"type": "string"}},
            }
        )
    if params:
        op["parameters"] = params
    if d.body is not None:
        op["requestBody"] = {
            "required": d.body.required,
            "description": d.body.description,
            "content": {
                media: _media(d.body.schema, d.body.example, d.body.examples, settings)
                for media in d.body.media
            },
        }
    responses: dict[str, Any] = {}
    for status, reply in sorted(d.responses.items()):
        responses[str(status)] = _reply(reply, settings)
    errors = {400: ERRORS[400], 503: ERRORS[503]}
    if secured:
        errors |= {401: ERRORS[401], 403: ERRORS[403], 429: ERRORS[429]}
    if d.path_params:
        errors[404] = ERRORS[404]
    if d.body is not None:
        errors |= {413: ERRORS[413], 415: ERRORS[415]}
    errors |= dict(d.errors)
    for status, text in sorted(errors.items()):
        if str(status) not in responses:
            responses[str(status)] = _error(status, text)
    op["responses"] = responses
    if secured:
        op["security"] = [{"bearer": []}]
    else:
        op["security"] = []
    return op


def _reply(reply: Reply, settings: Any) -> dict[str, Any]:
    return {
        "description": reply.description,
        "content": {reply.media: _media(reply.schema, reply.example, reply.examples, settings)},
    }


def _undeclared(method: str, path: str, handler: Any) -> dict[str, Any]:
    # a route without a declaration still shows, marked, so nothing the app serves is hidden
    # (tests/unit/test_openapi.py fails on it)
    return {
        "summary": (getattr(handler, "__doc__", None) or path).strip().split("\n")[0],
        "operationId": f"{method.lower()}_{getattr(handler, '__name__', 'route')}",
        "x-undeclared": True,
        "responses": {"default": _error(500, "undeclared route")},
    }


def openapi_document(app: web.Application) -> dict[str, Any]:
    """The OpenAPI 3.1 document of ``app``, bounds from its settings."""
    from cmdb.server.api import declared  # noqa: F401 - registers the declarations kept there
    from cmdb.server.api.keys import SETTINGS_KEY

    settings = app[SETTINGS_KEY]
    handlers = {
        (r.method, r.resource.canonical): r.handler
        for r in app.router.routes()
        if r.resource is not None
    }
    paths: dict[str, dict[str, Any]] = {}
    for method, path in app_routes(app):
        declaration = REGISTRY.get((method, path))
        op = (
            operation(declaration, settings)
            if declaration is not None
            else _undeclared(method, path, handlers.get((method, path)))
        )
        paths.setdefault(path, {})[method.lower()] = op
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "cmdb",
            "version": "1.0",
            "description": (
                "Discovery and CMDB server. Every error is "
                '{"error": {"status": N, "message": "...", "field": "..."}}; see docs/api.md.'
            ),
        },
        "paths": dict(sorted(paths.items())),
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
            "schemas": resolve(COMPONENTS, settings),
        },
    }
