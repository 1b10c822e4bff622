"""Health and the OpenAPI document."""

from __future__ import annotations

from aiohttp import web

from cmdb.graph.store import StoreUnavailable
from cmdb.server.api.keys import STORE_KEY
from cmdb.server.api.openapi import openapi_document

routes = web.RouteTableDef()


@routes.get("/healthz")
async def healthz(request: web.Request) -> web.Response:
    store = request.app[STORE_KEY]
    try:
        await store.ping()
    except StoreUnavailable as exc:
        return web.json_response(
            {"status": "degraded", "store": store.name, "message": str(exc)}, status=503
        )
    return web.json_response({"status": "ok", "store": store.name})


@routes.get("/api/v1/openapi.json")
async def openapi(request: web.Request) -> web.Response:
    return web.json_response(openapi_document(request.app))
