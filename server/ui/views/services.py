"""The service catalogue as a tree (business -> technical -> CIs and k-of-n groups) and a
service's page; reads through ``cmdb.server.catalogue.services`` like ``/api/v1/services``."""

from __future__ import annotations

from aiohttp import web

from cmdb.server.catalogue import services
from cmdb.server.ui.render import page
from cmdb.server.ui.views.common import paging, store_of

routes = web.RouteTableDef()


@routes.get("/ui/services")
async def tree_page(request: web.Request) -> web.Response:
    number, size, offset = paging(request)
    q = request.query.get("q") or None
    items, total = await services.list_services(store_of(request), q, size, offset)
    kind = request.query.get("kind") or None
    if kind:
        items = [s for s in items if s.get("kind") == kind]
    return page(
        request,
        "services.html",
        {
            "items": items,
            "total": total,
            "q": q or "",
            "kind": kind or "",
            "number": number,
            "size": size,
            "pages": max(1, -(-total // size)),
        },
    )


@routes.get("/ui/services/{id}/children")
async def children(request: web.Request) -> web.Response:
    """One level of the tree (loaded by htmx when a service is opened)."""
    store = store_of(request)
    record = await services.service_record(
        store, await services.get_service(store, request.match_info["id"])
    )
    return page(request, "_service_children.html", {"service": record})


@routes.get("/ui/services/{id}")
async def service_page(request: web.Request) -> web.Response:
    store = store_of(request)
    record = await services.service_record(
        store, await services.get_service(store, request.match_info["id"])
    )
    return page(request, "service.html", {"service": record})
