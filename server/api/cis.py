"""Configuration items: list, show, relationships, history, dependencies."""

from __future__ import annotations

from aiohttp import web

from cmdb.graph.queries import dependency_walk
from cmdb.graph.schema import CI_STATUSES, CLASSES
from cmdb.server.api.auth import require
from cmdb.server.api.errors import ApiError
from cmdb.server.api.keys import SETTINGS_KEY, STORE_KEY
from cmdb.server.api.params import choice_param, int_param, known_params, page, time_param

routes = web.RouteTableDef()

DEPENDENCY_LIMIT = 1000
MAX_DEPENDENCY_LIMIT = 20000


async def _ci_or_404(request: web.Request):
    ci_id = request.match_info["id"]
    ci = await request.app[STORE_KEY].get_ci(ci_id)
    if ci is None:
        raise ApiError(404, f"no configuration item with id {ci_id!r}")
    return ci


@routes.get("/api/v1/cis")
async def list_cis(request: web.Request) -> web.Response:
    require(request, "reader")
    known_params(request, "class", "q", "status", "limit", "offset")
    settings = request.app[SETTINGS_KEY]
    cls = request.query.get("class") or None
    if cls is not None and cls not in CLASSES:
        raise ApiError(400, f"unknown class {cls!r}; known classes: {', '.join(sorted(CLASSES))}")
    status = request.query.get("status") or None
    if status is not None and status not in CI_STATUSES:
        raise ApiError(400, f"unknown status {status!r}; known: {', '.join(CI_STATUSES)}")
    limit, offset = page(request, settings.max_page_size)
    items, total = await request.app[STORE_KEY].list_cis(
        cls, request.query.get("q") or None, limit, offset, status
    )
    return web.json_response(
        {"items": [ci.to_api() for ci in items], "total": total, "limit": limit, "offset": offset}
    )


@routes.get("/api/v1/cis/{id}")
async def show_ci(request: web.Request) -> web.Response:
    require(request, "reader")
    known_params(request, "as_of", "include_ended")
    ci = await _ci_or_404(request)
    if request.query.get("as_of"):
        return await _show_as_of(request, ci)
    include_ended = request.query.get("include_ended") in ("1", "true", "yes")
    rels = await request.app[STORE_KEY].relationships(ci.id, include_ended=include_ended)
    return web.json_response({**ci.to_api(), "relationships": [r.to_api() for r in rels]})


async def _show_as_of(request: web.Request, ci) -> web.Response:
    """The CI as it was at ``as_of``: attributes rolled back through the history."""
    from cmdb.server.catalogue import CatalogueError
    from cmdb.server.catalogue.common import parse_time
    from cmdb.server.catalogue.status import ci_as_of

    try:
        at = parse_time(request.query["as_of"], "query parameter 'as_of'")
    except CatalogueError as exc:
        raise ApiError(exc.status, exc.message) from exc
    state = await ci_as_of(request.app[STORE_KEY], ci, at)
    if state is None:
        raise ApiError(404, f"configuration item {ci.id!r} did not exist yet at {at}")
    return web.json_response(state)


@routes.get("/api/v1/cis/{id}/history")
async def ci_history(request: web.Request) -> web.Response:
    require(request, "reader")
    known_params(request, "limit", "offset", "since", "until", "request_id")
    ci = await _ci_or_404(request)
    limit, offset = page(request, request.app[SETTINGS_KEY].max_page_size)
    # compared as instants: "…T00:00:00Z" finds an entry stored at "…T00:00:00.000Z"
    since, until = time_param(request, "since"), time_param(request, "until")
    request_id = request.query.get("request_id") or None  # what one request caused
    entries, total = await request.app[STORE_KEY].history(
        ci.id, limit, offset, since, until, request_id
    )
    return web.json_response({"items": [e.to_api() for e in entries], "total": total})


@routes.get("/api/v1/cis/{id}/dependencies")
async def ci_dependencies(request: web.Request) -> web.Response:
    require(request, "reader")
    known_params(request, "direction", "depth", "limit")
    ci = await _ci_or_404(request)
    settings = request.app[SETTINGS_KEY]
    direction = choice_param(request, "direction", "down", ("up", "down", "both"))
    depth = int_param(request, "depth", 3, 1, settings.max_depth)
    # a dependency answer of thousands of CIs helps nobody: the nearest ``limit`` CIs
    # (ties by id), and ``truncated`` says that more are reachable
    limit = int_param(request, "limit", DEPENDENCY_LIMIT, 1, MAX_DEPENDENCY_LIMIT)
    # the dependency rules (cmdb.graph.dependency), the ones impact follows: ``up`` lists what
    # depends on the CI (what its failure may reach), ``down`` what it depends on
    walk = await dependency_walk(request.app[STORE_KEY], ci.id, direction, depth, limit)
    nodes = sorted(walk.nodes.items(), key=lambda kv: (kv[1][3], kv[1][0], kv[1][1] or "", kv[0]))
    return web.json_response(
        {
            "root": ci.id,
            "direction": direction,
            "depth": depth,
            "limit": limit,
            "truncated": walk.truncated,
            "nodes": [
                {"id": i, "class": cls, "name": name, "status": status, "depth": d}
                for i, (cls, name, status, d) in nodes
            ],
            "edges": [
                {"id": e.id, "type": e.type, "from": e.src, "to": e.dst}
                for e in sorted(walk.edges.values(), key=lambda e: e.id)
            ],
        }
    )
