"""Configuration items: list, show, relationships, history, dependencies; and the CIs
declared by hand (``POST`` and ``DELETE``, ``cmdb.server.catalogue.manual_cis``)."""

from __future__ import annotations

from aiohttp import web

from cmdb.graph.queries import dependency_walk
from cmdb.graph.schema import CI_STATUSES, CLASSES
from cmdb.server.api.catalogue import mapped  # the one CatalogueError -> ApiError mapping
from cmdb.server.api.errors import ApiError
from cmdb.server.api.keys import SETTINGS_KEY, STORE_KEY
from cmdb.server.api.params import CI_PATH
from cmdb.server.api.schemas import (
    CI_AS_OF,
    CI_DETAIL,
    CI_EXAMPLE,
    CI_REF_EXAMPLE,
    HISTORY_EXAMPLE,
    HOST_ID,
    NAME,
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
    Body,
    Reply,
    Setting,
    choice,
    flag,
    integer,
    page,
    text,
    time_param,
)
from cmdb.server.catalogue import custom, manual_cis

routes = ApiRoutes()
READER, EDITOR = ("reader",), ("editor",)

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


# ---------------------------------------------------------------- CIs declared by hand
MANUAL_CLASSES = manual_cis.MANUAL_CLASSES
DECLARE_CI = obj(
    {
        "class": {
            "type": "string",
            "enum": list(MANUAL_CLASSES),
            "description": "Host, NetworkDevice, or Software (an application)",
        },
        "name": {
            **NAME,
            "description": "the CI's name: a Host's hostname, a NetworkDevice's sys_name, "
            "a Software's name",
        },
        "attributes": {
            "type": "object",
            "description": "attributes the class declares (422 naming any other and the ones "
            "it takes); custom: the custom attributes the server config declares",
        },
    },
    ("class", "name"),
    strict=True,
)
CLOSED_RELATIONSHIP = obj(
    {
        "id": {"type": "string"},
        "type": {"type": "string"},
        "from": ref("CIRef"),
        "to": ref("CIRef"),
    },
    ("id", "type", "from", "to"),
)
RETIRED_CI = {
    "allOf": [ref("CI")],
    "type": "object",
    "required": ["closed_relationships", "already_retired"],
    "properties": {
        "closed_relationships": array(CLOSED_RELATIONSHIP, None),
        "already_retired": {
            "type": "boolean",
            "description": "true when the CI was retired before this request (nothing changed)",
        },
    },
}
MANUAL_EXAMPLE = {
    "id": HOST_ID,
    "class": "Host",
    "name": "legacy01",
    "status": "live",
    "first_seen": "2026-11-28T10:00:00.000Z",
    "last_seen": "2026-11-28T10:00:00.000Z",
    "sources": ["manual"],
    "attributes": {"hostname": "legacy01", "os_name": "AIX"},
}


@routes.post(
    "/api/v1/cis",
    summary="Declare a CI discovery cannot see",
    description="A Host, NetworkDevice or Software (an application) recorded by hand, source "
    "manual, with a history entry naming the token. Identified as discovery identifies: a CI "
    "holding one of its identity values, or one of the class with its name (hosts and devices "
    "short name against FQDN), is a 409 listing the candidates. The first agent report or "
    "SNMP scan naming it adopts it (same id); until then the staleness sweep leaves it live.",
    roles=EDITOR,
    body=Body(
        DECLARE_CI,
        "the CI: class, name and attributes",
        examples={
            "host": {"class": "Host", "name": "legacy01", "attributes": {"os_name": "AIX"}},
            "application": {
                "class": "Software",
                "name": "orders-app",
                "attributes": {"version": "4.2", "vendor": "Example Corp"},
            },
        },
    ),
    responses={
        201: Reply(
            CI_DETAIL,
            "the CI declared, as GET /api/v1/cis/{id} shows it",
            example={**MANUAL_EXAMPLE, "relationships": []},
        )
    },
    errors={
        409: "the CI exists already: error.candidates lists them (id, class, name, status, "
        "sources, matched); declare relationships to one of them instead",
        422: "an attribute the class does not declare (error.unknown, error.allowed), or a "
        "value it cannot hold",
    },
    tags=("cis",),
)
@mapped
async def declare_ci(request: web.Request, a: Args) -> web.Response:
    decls = custom.parse_declarations(request.app[SETTINGS_KEY].custom_attributes)
    record = await manual_cis.create(request.app[STORE_KEY], a.body, decls, a.principal.name)
    return web.json_response(record, status=201)


@routes.delete(
    "/api/v1/cis/{id}",
    summary="Retire a CI declared by hand",
    description="Status retired (history names the token); its open declared relationships "
    "(RUNS_ON, HOSTED_ON, DEPENDS_ON, MEMBER_OF) are closed and the redundancy groups it "
    "declared retired. A CI that discovery reported is discovery's: it is retired when no "
    "longer seen (409). Retiring a retired CI changes nothing.",
    roles=EDITOR,
    path_params=[CI_PATH],
    responses={
        200: Reply(
            RETIRED_CI,
            "the CI as it is now, with the relationships this closed",
            example={
                **MANUAL_EXAMPLE,
                "status": "retired",
                "already_retired": False,
                "closed_relationships": [
                    {
                        "id": "0b6e8f5a-1d2c-4b3a-9e8f-7a6b5c4d3e2f",
                        "type": "RUNS_ON",
                        "from": {
                            "id": "9a8b7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d",
                            "class": "Software",
                            "name": "orders-app",
                        },
                        "to": {"id": HOST_ID, "class": "Host", "name": "legacy01"},
                    }
                ],
            },
        )
    },
    errors={
        404: "no CI with that id",
        409: "discovery reported the CI (it is retired when no longer seen), or its class is "
        "not declared by hand",
    },
    tags=("cis",),
)
@mapped
async def retire_ci(request: web.Request, a: Args) -> web.Response:
    answer = await manual_cis.retire(request.app[STORE_KEY], a.path["id"], a.principal.name)
    return web.json_response(answer)
