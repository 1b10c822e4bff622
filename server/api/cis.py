"""Configuration items: list, show, relationships, history, dependencies."""

from __future__ import annotations

from aiohttp import web

from cmdb.graph.queries import dependency_walk
from cmdb.graph.schema import CI_STATUSES, CLASSES
from cmdb.server.api.errors import ApiError
from cmdb.server.api.keys import STORE_KEY
from cmdb.server.api.params import CI_PATH
from cmdb.server.api.schemas import (
    CI_AS_OF,
    CI_DETAIL,
    CI_EXAMPLE,
    CI_REF_EXAMPLE,
    HISTORY_EXAMPLE,
    RELATIONSHIP_EXAMPLE,
    array,
    listing,
    nullable,
    obj,
    ref,
)
from cmdb.server.api.spec import (
    MAX_NAME_CHARS,
    ApiRoutes,
    Args,
    Reply,
    Setting,
    choice,
    flag,
    integer,
    page,
    text,
    time_param,
)

routes = ApiRoutes()
READER = ("reader",)

DEPENDENCY_LIMIT = 1000
MAX_DEPENDENCY_LIMIT = 20000

DEPENDENCIES = obj(
    {
        "root": {"type": "string"},
        "direction": {"enum": ["up", "down", "both"]},
        "depth": {"type": "integer"},
        "limit": {"type": "integer"},
        "truncated": {"type": "boolean"},
        "nodes": array(
            obj(
                {
                    "id": {"type": "string"},
                    "class": {"type": "string"},
                    "name": nullable({"type": "string"}),
                    "status": {"type": "string"},
                    "depth": {"type": "integer", "minimum": 0},
                },
                ("id", "class", "name", "status", "depth"),
            ),
            None,
        ),
        "edges": array(
            obj(
                {
                    "id": {"type": "string"},
                    "type": {"type": "string"},
                    "from": {"type": "string"},
                    "to": {"type": "string"},
                },
                ("id", "type", "from", "to"),
            ),
            None,
        ),
    },
    ("root", "direction", "depth", "limit", "truncated", "nodes", "edges"),
)


async def _ci_or_404(request: web.Request, ci_id: str):
    ci = await request.app[STORE_KEY].get_ci(ci_id)
    if ci is None:
        raise ApiError(404, f"no configuration item with id {ci_id!r}")
    return ci


@routes.get(
    "/api/v1/cis",
    summary="List configuration items",
    description="Filtered by class, status and a name search, ordered by class and name.",
    roles=READER,
    query=[
        choice("class", "only CIs of this class", sorted(CLASSES)),
        text("q", "a case-insensitive part of the name", MAX_NAME_CHARS),
        choice("status", "only CIs in this status", CI_STATUSES),
        *page(),
    ],
    responses={
        200: Reply(
            listing(ref("CI"), paged=True),
            "one page of CIs",
            example={"items": [CI_EXAMPLE], "total": 1, "limit": 50, "offset": 0},
        )
    },
    tags=("cis",),
)
async def list_cis(request: web.Request, a: Args) -> web.Response:
    q = a.query
    items, total = await request.app[STORE_KEY].list_cis(
        q["class"], q["q"], q["limit"], q["offset"], q["status"]
    )
    return web.json_response({"items": [ci.to_api() for ci in items], "total": total, **_page(q)})


def _page(q: dict) -> dict:
    return {"limit": q["limit"], "offset": q["offset"]}


@routes.get(
    "/api/v1/cis/{id}",
    summary="One CI with its relationships",
    description="With ``as_of``, the CI as it was then: attributes rolled back through the "
    "history, and the relationships open at that time (404 if it did not exist yet).",
    roles=READER,
    path_params=[CI_PATH],
    query=[
        time_param("as_of", "the CI as it was at this time"),
        flag("include_ended", "also the relationships that have ended"),
    ],
    responses={
        200: Reply(
            {"anyOf": [CI_DETAIL, CI_AS_OF]},
            "the CI and its relationships (as it was at as_of, when given)",
            examples={
                "now": {**CI_EXAMPLE, "relationships": [RELATIONSHIP_EXAMPLE]},
                "as_of": {
                    **{k: CI_EXAMPLE[k] for k in ("id", "class", "name", "status", "first_seen")},
                    "as_of": "2026-11-21T00:00:00.000Z",
                    "attributes": {"hostname": "db1", "os_version": "12"},
                    "relationships": [RELATIONSHIP_EXAMPLE],
                },
            },
        )
    },
    tags=("cis",),
)
async def show_ci(request: web.Request, a: Args) -> web.Response:
    ci = await _ci_or_404(request, a.path["id"])
    if a.query["as_of"]:
        from cmdb.server.catalogue.status import ci_as_of

        state = await ci_as_of(request.app[STORE_KEY], ci, a.query["as_of"])
        if state is None:
            raise ApiError(
                404, f"configuration item {ci.id!r} did not exist yet at {a.query['as_of']}"
            )
        return web.json_response(state)
    rels = await request.app[STORE_KEY].relationships(ci.id, include_ended=a.query["include_ended"])
    return web.json_response({**ci.to_api(), "relationships": [r.to_api() for r in rels]})


@routes.get(
    "/api/v1/cis/{id}/history",
    summary="Attribute and relationship history of a CI",
    description="Newest first. since and until are compared as instants, whatever their "
    "spelling (…T00:00:00Z finds an entry stored at …T00:00:00.000Z).",
    roles=READER,
    path_params=[CI_PATH],
    query=[
        *page(),
        time_param("since", "entries at or after this time"),
        time_param("until", "entries before this time"),
        text(
            "request_id",
            "only what one request caused (its X-Request-Id)",
            128,
            pattern=r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$",
        ),
    ],
    responses={
        200: Reply(
            listing(ref("HistoryEntry")),
            "one page of history entries, newest first",
            example={"items": [HISTORY_EXAMPLE], "total": 1},
        )
    },
    tags=("cis",),
)
async def ci_history(request: web.Request, a: Args) -> web.Response:
    ci = await _ci_or_404(request, a.path["id"])
    q = a.query
    entries, total = await request.app[STORE_KEY].history(
        ci.id, q["limit"], q["offset"], q["since"], q["until"], q["request_id"]
    )
    return web.json_response({"items": [e.to_api() for e in entries], "total": total})


@routes.get(
    "/api/v1/cis/{id}/dependencies",
    summary="Dependency graph of a CI",
    description="By the dependency rules impact follows: up lists what depends on the CI "
    "(what its failure may reach), down what it depends on. The nearest limit CIs (ties by "
    "id); truncated says that more are reachable.",
    roles=READER,
    path_params=[CI_PATH],
    query=[
        choice("direction", "up, down or both", ("up", "down", "both"), "down"),
        integer("depth", "hops to follow", 3, 1, Setting("max_depth")),
        integer("limit", "most CIs in the answer", DEPENDENCY_LIMIT, 1, MAX_DEPENDENCY_LIMIT),
    ],
    responses={
        200: Reply(
            DEPENDENCIES,
            "the nodes (with their depth) and edges reached",
            example={
                "root": CI_REF_EXAMPLE["id"],
                "direction": "up",
                "depth": 3,
                "limit": 1000,
                "truncated": False,
                "nodes": [{**CI_REF_EXAMPLE, "status": "live", "depth": 0}],
                "edges": [],
            },
        )
    },
    tags=("cis",),
)
async def ci_dependencies(request: web.Request, a: Args) -> web.Response:
    ci = await _ci_or_404(request, a.path["id"])
    direction, depth, limit = a.query["direction"], a.query["depth"], a.query["limit"]
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
