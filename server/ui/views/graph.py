"""The dependency graph of a CI: a page that draws it, and the JSON it draws."""

from __future__ import annotations

from aiohttp import web

from cmdb.server.ui.graphdata import build
from cmdb.server.ui.render import page
from cmdb.server.ui.views.common import int_query, settings_of, store_of

routes = web.RouteTableDef()

GRAPH_LIMIT = 5000  # CIs walked at most (the nearest); groups keep the drawing small
DIRECTIONS = ("down", "up", "both")


def _params(request: web.Request) -> tuple[str, int]:
    direction = request.query.get("direction", "down")
    if direction not in DIRECTIONS:
        raise web.HTTPBadRequest(text=f"direction must be one of {', '.join(DIRECTIONS)}")
    depth = int_query(request, "depth", 2, 1, settings_of(request).max_depth)
    return direction, depth


async def _ci(request: web.Request):
    ci = await store_of(request).get_ci(request.match_info["id"])
    if ci is None:
        raise web.HTTPNotFound(text=f"No configuration item with id {request.match_info['id']}.")
    return ci


@routes.get("/ui/cis/{id}/graph")
async def graph_page(request: web.Request) -> web.Response:
    ci = await _ci(request)
    direction, depth = _params(request)
    return page(
        request,
        "graph.html",
        {"ci": ci, "direction": direction, "depth": depth, "directions": DIRECTIONS},
    )


@routes.get("/ui/cis/{id}/graph.json")
async def graph_json(request: web.Request) -> web.Response:
    ci = await _ci(request)
    direction, depth = _params(request)
    walk = await store_of(request).traverse([ci.id], direction, depth, limit=GRAPH_LIMIT)
    return web.json_response(build(walk, ci.id), headers={"Cache-Control": "no-store"})
