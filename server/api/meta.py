"""Health and the OpenAPI document."""

from __future__ import annotations

from aiohttp import web

from cmdb.graph.store import StoreUnavailable
from cmdb.server.api.keys import STORE_KEY
from cmdb.server.api.openapi import openapi_document
from cmdb.server.api.schemas import HEALTH, ref
from cmdb.server.api.spec import ApiRoutes, Reply

routes = ApiRoutes()


@routes.get(
    "/healthz",
    summary="Liveness and store reachability",
    description="Public (no token). 503 with status degraded when the store does not answer.",
    responses={
        200: Reply(
            HEALTH, "the server and its store answer", example={"status": "ok", "store": "sqlite"}
        ),
        503: Reply(
            {"allOf": [ref("Error"), HEALTH]},
            "the store does not answer",
            example={
                "status": "degraded",
                "store": "neo4j",
                "message": "connection refused",
                "error": {
                    "status": 503,
                    "message": "the neo4j store does not answer: connection refused",
                },
            },
        ),
    },
    tags=("meta",),
)
async def healthz(request: web.Request) -> web.Response:
    store = request.app[STORE_KEY]
    try:
        await store.ping()
    except StoreUnavailable as exc:
        message = f"the {store.name} store does not answer: {exc}"
        return web.json_response(
            # the health fields, and the error shape every failure has
            {
                "status": "degraded",
                "store": store.name,
                "message": str(exc),
                "error": {"status": 503, "message": message},
            },
            status=503,
        )
    return web.json_response({"status": "ok", "store": store.name})


@routes.get(
    "/api/v1/openapi.json",
    summary="This API's OpenAPI 3.1 document",
    description="Public (no token); built from the route declarations (cmdb.server.api.spec).",
    responses={
        200: Reply(
            {"type": "object", "required": ["openapi", "info", "paths", "components"]},
            "the OpenAPI document",
            example={
                "openapi": "3.1.0",
                "info": {"title": "cmdb", "version": "1"},
                "paths": {},
                "components": {},
            },
        )
    },
    tags=("meta",),
)
async def openapi(request: web.Request) -> web.Response:
    return web.json_response(openapi_document(request.app))
