"""Change review: the list, a new change, a change's page (declared CIs, assessed impact
drawn as a graph, conflicts, verification) and its state buttons.

Reads and writes through ``cmdb.server.catalogue.changes``, the module the
``/api/v1/changes`` handlers call; a button is shown only when the state machine allows
the move and the user's role may write (editor), and the server checks both again."""

from __future__ import annotations

from aiohttp import web

from cmdb.server.catalogue import CatalogueError, changes
from cmdb.server.ui.render import page
from cmdb.server.ui.views.common import form, paging, require_role, see_other, settings_of, store_of
from cmdb.server.ui.views.impact import impact_graph

routes = web.RouteTableDef()


@routes.get("/ui/changes")
async def list_page(request: web.Request) -> web.Response:
    state = request.query.get("state") or None
    number, size, offset = paging(request)
    items, total = await changes.list_changes(store_of(request), state, size, offset)
    return page(
        request,
        "changes.html",
        {
            "items": items,
            "total": total,
            "state": state,
            "states": changes.STATES,
            "number": number,
            "size": size,
            "pages": max(1, -(-total // size)),
        },
    )


@routes.get("/ui/changes/new")
async def new_form(request: web.Request) -> web.Response:
    require_role(request, "editor")
    return page(
        request,
        "change_new.html",
        {"error": "", "values": {"cis": "\n".join(request.query.getall("ci", []))}},
    )


@routes.post("/ui/changes")
async def create(request: web.Request) -> web.Response:
    user = require_role(request, "editor")
    data = await form(request)
    cis = [c.strip() for c in str(data.get("cis", "")).replace(",", "\n").splitlines()]
    body = {
        "title": str(data.get("title", "")).strip() or None,
        "cis": [c for c in cis if c],
        "window": {"start": data.get("start"), "end": data.get("end")},
    }
    try:
        record = await changes.create_change(store_of(request), body, user.name)
    except CatalogueError as exc:
        return page(request, "change_new.html", {"error": exc.message, "values": data}, 400)
    raise see_other(f"/ui/changes/{record['id']}")


@routes.get("/ui/changes/{id}")
async def change_page(request: web.Request) -> web.Response:
    store = store_of(request)
    ci = await changes.get_change(store, request.match_info["id"])
    record = await changes.change_record(store, ci)
    depth = settings_of(request).max_depth
    conflicts = await changes.conflicts(store, depth, only=ci.id)
    verification = None
    if record["state"] in ("implemented", "verified", "closed"):
        verification = await changes.verification(store, ci.id)
    assessed = record.get("impact") or None
    graph = None
    if assessed:
        paths = {
            s["id"]: [p.get("steps", []) if isinstance(p, dict) else [] for p in s.get("paths", [])]
            for s in assessed.get("services", [])
        }
        graph = impact_graph(
            {"start": [c["id"] for c in record["cis"]], "failed": record["cis"]}, paths
        )
    return page(
        request,
        "change.html",
        {
            "change": record,
            "conflicts": conflicts,
            "verification": verification,
            "assessed": assessed,
            "graph": graph,
            "error": request.query.get("error", ""),
        },
    )


@routes.post("/ui/changes/{id}/transition")
async def transition(request: web.Request) -> web.Response:
    user = require_role(request, "editor")
    data = await form(request)
    settings = settings_of(request)
    change_id = request.match_info["id"]
    try:
        await changes.transition_change(
            store_of(request),
            change_id,
            {"state": str(data.get("state", ""))},
            user.name,
            settings.max_depth,
            allow_self_approval=getattr(settings, "allow_self_approval", False),
        )
    except CatalogueError as exc:
        store = store_of(request)
        ci = await changes.get_change(store, change_id)
        record = await changes.change_record(store, ci)
        return page(
            request,
            "change.html",
            {
                "change": record,
                "conflicts": [],
                "verification": None,
                "assessed": record.get("impact"),
                "graph": None,
                "error": exc.message,
            },
            status=exc.status,
        )
    raise see_other(f"/ui/changes/{change_id}")
