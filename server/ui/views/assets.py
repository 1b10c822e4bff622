"""The asset register (lifecycle state, filter by state) and its three reports:
unregistered CIs, deployed assets discovery no longer sees, warranties ending. Reads
through ``cmdb.server.catalogue.assets`` like the ``/api/v1/assets`` and report handlers."""

from __future__ import annotations

from aiohttp import web

from cmdb.server.catalogue import CatalogueError, assets
from cmdb.server.ui.render import page
from cmdb.server.ui.views.common import form, int_query, paging, require_role, see_other, store_of

routes = web.RouteTableDef()
REPORTS = ("unregistered", "unseen", "warranty")
# a report's rows per page: the unregistered CIs of a fleet run to thousands, and the
# page renders in time only a page of them (2,400 rows took ~100 ms of rendering)
REPORT_PAGE = 100


@routes.get("/ui/assets")
async def register_page(request: web.Request) -> web.Response:
    state = request.query.get("state") or None
    q = request.query.get("q") or None
    number, size, offset = paging(request)
    items, total = await assets.list_assets(store_of(request), state, q, size, offset)
    return page(
        request,
        "assets.html",
        {
            "items": items,
            "total": total,
            "state": state or "",
            "q": q or "",
            "states": assets.STATES,
            "number": number,
            "size": size,
            "pages": max(1, -(-total // size)),
        },
    )


@routes.get("/ui/assets/reports/{name}")
async def report_page(request: web.Request) -> web.Response:
    name = request.match_info["name"]
    store = store_of(request)
    days = int_query(request, "days", 90 if name == "warranty" else 30, 0, 3650)
    if name == "unregistered":
        items = await assets.unregistered(store)
    elif name == "unseen":
        items = await assets.unseen(store, days)
    elif name == "warranty":
        items = await assets.warranty_ending(store, days)
    else:
        raise web.HTTPNotFound(text=f"No report {name!r}; there are {', '.join(REPORTS)}.")
    number, size, offset = paging(request, REPORT_PAGE)
    return page(
        request,
        "asset_report.html",
        {
            "name": name,
            "items": items[offset : offset + size],
            "days": days,
            "reports": REPORTS,
            "number": number,
            "pages": max(1, -(-len(items) // size)),
            "total": len(items),
        },
    )


@routes.get("/ui/assets/{id}")
async def asset_page(request: web.Request) -> web.Response:
    store = store_of(request)
    ci = await assets.get_asset(store, request.match_info["id"])
    record = await assets.asset_record(store, ci, with_history=True)
    return page(request, "asset.html", {"item": record, "error": ""})


@routes.post("/ui/assets/{id}/transition")
async def transition(request: web.Request) -> web.Response:
    user = require_role(request, "editor")
    data = await form(request)
    asset_id = request.match_info["id"]
    try:
        await assets.transition_asset(
            store_of(request), asset_id, {"state": str(data.get("state", ""))}, user.name
        )
    except CatalogueError as exc:
        store = store_of(request)
        record = await assets.asset_record(
            store, await assets.get_asset(store, asset_id), with_history=True
        )
        return page(request, "asset.html", {"item": record, "error": exc.message}, exc.status)
    raise see_other(f"/ui/assets/{asset_id}")
