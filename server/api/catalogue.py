"""Routes of the service catalogue, asset register, impact, change review and status
accounting (loaded by ``cmdb.server.app._load_extensions``).

Each route's declaration (``cmdb.server.api.spec``) checks the shape of what it takes;
the catalogue (``cmdb.server.catalogue``) checks what only it can: references (422),
names already taken and state machines (409)."""

from __future__ import annotations

import functools
from typing import Any

from aiohttp import web

from cmdb.graph.schema import CI_STATUSES, CLASSES
from cmdb.graph.store import StoreError
from cmdb.server.api.errors import ApiError
from cmdb.server.api.keys import SETTINGS_KEY, STORE_KEY
from cmdb.server.api.params import ASSET_PATH, CHANGE_PATH, CI_PATH, SERVICE_PATH
from cmdb.server.api.schemas import (
    ASSET_EXAMPLE,
    ASSET_INPUT,
    ASSET_PATCH,
    ASSET_STATES,
    CATALOGUE,
    CHANGE_EXAMPLE,
    CHANGE_INPUT,
    CHANGE_PATCH,
    CHANGE_STATES,
    CI_DIFF,
    CI_REF_EXAMPLE,
    CONFLICT,
    CUSTOM_RECORD,
    CUSTOM_VALUES,
    DECLARE_RELATIONSHIP,
    HISTORY_EXAMPLE,
    HOST_ID,
    IMPACT_REQUEST,
    IMPORT_RESULT,
    SERVICE_DIFF,
    SERVICE_EXAMPLE,
    SERVICE_ID,
    SERVICE_INPUT,
    SERVICE_PATCH,
    VERIFICATION,
    listing,
    nullable,
    obj,
    ref,
    transition,
)
from cmdb.server.api.spec import (
    MAX_NAME_CHARS,
    ApiRoutes,
    Args,
    Body,
    Param,
    Reply,
    choice,
    flag,
    integer,
    page,
    text,
    time_param,
)
from cmdb.server.catalogue import (
    CatalogueError,
    assets,
    changes,
    custom,
    relationships,
    services,
    status,
)
from cmdb.server.catalogue.common import resolve_ids
from cmdb.server.catalogue.impact import impact
from cmdb.server.catalogue.refs import Resolver

routes = ApiRoutes()
READER, EDITOR = ("reader",), ("editor",)


def register(app: web.Application) -> None:
    app.router.add_routes(routes)


def mapped(handler):
    """CatalogueError -> ApiError (one JSON error shape); a refused write is a 409."""

    @functools.wraps(handler)
    async def wrapper(request: web.Request, a: Args) -> web.StreamResponse:
        try:
            return await handler(request, a)
        except CatalogueError as exc:
            raise ApiError(exc.status, exc.message, **exc.extra) from exc
        except StoreError as exc:
            raise ApiError(409, f"the store refused the write: {exc}") from exc

    return wrapper


def _listing(items: list[Any], total: int, q: dict[str, Any]) -> web.Response:
    return web.json_response(
        {"items": items, "total": total, "limit": q["limit"], "offset": q["offset"]}
    )


def _items(items: list[Any], **more: Any) -> web.Response:
    return web.json_response({"items": items, "total": len(items), **more})


REFERENCES_422 = "a reference names no CI (or several): the message names it and the candidates"
FROM_TO = [
    time_param("from", "the earlier time, ISO 8601", required=True),
    time_param("to", "the later time, ISO 8601", required=True),
]

# ---------------------------------------------------------------- services
SERVICE_BODY_EXAMPLE = {
    "name": "orders",
    "owner": "team-a",
    "criticality": "critical",
    "sla": {"availability": 99.95, "response_time": 15, "resolution_time": "4h"},
    "depends_on": [
        {"group": {"name": "pg", "min": 1, "members": [HOST_ID, {"class": "Host", "name": "db2"}]}},
        {"service": "payments"},
    ],
}


@routes.get(
    "/api/v1/services",
    summary="List services",
    roles=READER,
    query=[text("q", "a case-insensitive part of the name", MAX_NAME_CHARS), *page()],
    responses={
        200: Reply(
            listing(ref("Service"), paged=True),
            "one page of services (without their dependencies)",
            example={
                "items": [{k: v for k, v in SERVICE_EXAMPLE.items() if k != "depends_on"}],
                "total": 1,
                "limit": 50,
                "offset": 0,
            },
        )
    },
    tags=("services",),
)
@mapped
async def list_services(request: web.Request, a: Args) -> web.Response:
    items, total = await services.list_services(
        request.app[STORE_KEY], a.query["q"], a.query["limit"], a.query["offset"]
    )
    return _listing(items, total, a.query)


@routes.post(
    "/api/v1/services",
    summary="Create a service with its dependencies",
    description="Dependencies are CIs, services and redundancy groups (k of n members); "
    "each is an id or a reference such as {class: Host, name: db1}.",
    roles=EDITOR,
    body=Body(SERVICE_INPUT, "the service", example=SERVICE_BODY_EXAMPLE),
    responses={201: Reply(ref("Service"), "the service created", example=SERVICE_EXAMPLE)},
    errors={409: "a service of that name exists", 422: REFERENCES_422},
    tags=("services",),
)
@mapped
async def create_service(request: web.Request, a: Args) -> web.Response:
    record = await services.create_service(request.app[STORE_KEY], a.body, a.principal.name)
    return web.json_response(record, status=201)


IMPORT_EXAMPLE_RESULT = {
    "dry_run": False,
    "created": [SERVICE_ID],
    "updated": [],
    "unchanged": [],
    "summary": {"services_created": 1, "dependencies_added": 1},
    "changes": [
        {
            "service": "orders",
            "action": "create",
            "diff": [{"change": "dependency added", "target": CI_REF_EXAMPLE}],
        }
    ],
    "items": [SERVICE_EXAMPLE],
    "total": 1,
}


@routes.post(
    "/api/v1/services/import",
    summary="Import a catalogue (catalogue as code)",
    description="Every service of the document is upserted by name in one change set; a "
    "service not in the document is left alone. JSON or YAML (Content-Type "
    "application/yaml; no aliases). With dry_run nothing is written and the answer says "
    "what an import would do.",
    roles=EDITOR,
    query=[flag("dry_run", "say what would change, write nothing")],
    body=Body(
        CATALOGUE,
        "the catalogue",
        example={
            "services": [
                {
                    "name": "db",
                    "depends_on": [{"group": {"name": "pg", "min": 1, "members": [HOST_ID]}}],
                },
                {"name": "web", "kind": "business", "depends_on": [{"service": "db"}]},
            ]
        },
        media=("application/json", "application/yaml"),
    ),
    responses={
        201: Reply(IMPORT_RESULT, "services were created", example=IMPORT_EXAMPLE_RESULT),
        200: Reply(
            IMPORT_RESULT,
            "nothing was created (updates only, or a dry run)",
            example={**IMPORT_EXAMPLE_RESULT, "dry_run": True, "created": ["orders"], "items": []},
        ),
    },
    errors={422: REFERENCES_422 + "; or a dependency cycle"},
    tags=("services",),
)
@mapped
async def import_services(request: web.Request, a: Args) -> web.Response:
    dry_run = a.query["dry_run"]
    result = await services.import_services(
        request.app[STORE_KEY], a.body, a.principal.name, dry_run
    )
    return web.json_response(result, status=201 if result["created"] and not dry_run else 200)


@routes.get(
    "/api/v1/services/{id}",
    summary="One service with its dependencies",
    roles=READER,
    path_params=[SERVICE_PATH],
    responses={200: Reply(ref("Service"), "the service", example=SERVICE_EXAMPLE)},
    tags=("services",),
)
@mapped
async def show_service(request: web.Request, a: Args) -> web.Response:
    store = request.app[STORE_KEY]
    ci = await services.get_service(store, a.path["id"])
    return web.json_response(await services.service_record(store, ci))


@routes.patch(
    "/api/v1/services/{id}",
    summary="Change a service",
    description="Only the fields given change; depends_on, when given, replaces the dependencies.",
    roles=EDITOR,
    path_params=[SERVICE_PATH],
    body=Body(
        SERVICE_PATCH, "the fields to change", example={"owner": "team-b", "criticality": "high"}
    ),
    responses={200: Reply(ref("Service"), "the service as it is now", example=SERVICE_EXAMPLE)},
    errors={409: "a service of that name exists", 422: REFERENCES_422 + "; or a dependency cycle"},
    tags=("services",),
)
@mapped
async def update_service(request: web.Request, a: Args) -> web.Response:
    record = await services.update_service(
        request.app[STORE_KEY], a.path["id"], a.body, a.principal.name
    )
    return web.json_response(record)


@routes.delete(
    "/api/v1/services/{id}",
    summary="Delete (retire) a service",
    description="The service is retired with its groups and its own dependencies closed; "
    "refused (409 naming them) while live services or groups depend on it.",
    roles=EDITOR,
    path_params=[SERVICE_PATH],
    responses={
        200: Reply(
            obj(
                {
                    "id": {"type": "string"},
                    "name": nullable({"type": "string"}),
                    "status": {"const": "retired"},
                },
                ("id", "name", "status"),
            ),
            "the service is retired",
            example={"id": SERVICE_ID, "name": "orders", "status": "retired"},
        )
    },
    errors={409: "services or groups depend on it (dependants lists them)"},
    tags=("services",),
)
@mapped
async def delete_service(request: web.Request, a: Args) -> web.Response:
    answer = await services.delete_service(request.app[STORE_KEY], a.path["id"], a.principal.name)
    return web.json_response(answer)


@routes.get(
    "/api/v1/services/{id}/diff",
    summary="What changed in a service's dependency tree between two times",
    roles=READER,
    path_params=[SERVICE_PATH],
    query=FROM_TO,
    responses={
        200: Reply(
            SERVICE_DIFF,
            "CIs and dependencies added or removed, CIs whose attributes changed",
            example={
                "id": SERVICE_ID,
                "name": "orders",
                "from": "2026-11-19T00:00:00.000Z",
                "to": "2026-11-21T00:00:00.000Z",
                "cis_added": [CI_REF_EXAMPLE],
                "cis_removed": [],
                "dependencies_added": [{"from": SERVICE_ID, "type": "DEPENDS_ON", "to": HOST_ID}],
                "dependencies_removed": [],
                "cis_changed": [],
            },
        )
    },
    tags=("status accounting",),
)
@mapped
async def service_diff(request: web.Request, a: Args) -> web.Response:
    store = request.app[STORE_KEY]
    ci = await services.get_service(store, a.path["id"])
    return web.json_response(await status.service_diff(store, ci, a.query["from"], a.query["to"]))


# ---------------------------------------------------------------- impact
IMPACT_EXAMPLE = {
    "start": [HOST_ID],
    "failed": [CI_REF_EXAMPLE],
    "depth": 10,
    "counts": {
        "services": {"degraded": 1},
        "cis": {"down": 1, "degraded": 2},
        "classes": {"Host": 1, "RedundancyGroup": 1, "Service": 1},
    },
    "services": [
        {
            "id": SERVICE_ID,
            "name": "orders",
            "state": "degraded",
            "criticality": "critical",
            "owner": "team-a",
            "sla": {"availability": 99.95},
            "kind": "technical",
            "paths": [
                {
                    "kind": "redundancy",
                    "steps": [
                        {**CI_REF_EXAMPLE, "state": "down"},
                        {
                            "id": "7d8e9f0a-1b2c-4d3e-8f4a-5b6c7d8e9f0a",
                            "class": "RedundancyGroup",
                            "name": "pg",
                            "state": "degraded",
                            "via": "DEPENDS_ON",
                            "kind": "dependency",
                        },
                        {
                            "id": SERVICE_ID,
                            "class": "Service",
                            "name": "orders",
                            "state": "degraded",
                            "via": "DEPENDS_ON",
                            "kind": "dependency",
                        },
                    ],
                }
            ],
        }
    ],
    "cis": [{**CI_REF_EXAMPLE, "state": "down", "depth": 0}],
}


@routes.post(
    "/api/v1/impact",
    summary="What fails with the given CIs",
    description="Services down or degraded (worst first, then by criticality) with the paths "
    "that explain each, and every affected CI; with summary true the list of every CI is "
    "left out (services and counts only).",
    roles=READER,
    body=Body(
        IMPACT_REQUEST,
        "the failed CIs; depth (default: the server's max_depth); summary",
        examples={
            "full": {"cis": [HOST_ID], "depth": 5},
            "summary": {"cis": [HOST_ID], "summary": True},
            "references": {
                "cis": [
                    {"class": "Host", "name": "db1"},
                    {"class": "Endpoint", "host": "db2", "port": 5432},
                ]
            },
        },
    ),
    responses={
        200: Reply(
            ref("Impact"),
            "services and CIs affected",
            examples={
                "full": IMPACT_EXAMPLE,
                "summary": {k: v for k, v in IMPACT_EXAMPLE.items() if k != "cis"},
            },
        )
    },
    errors={422: "a CI id names no CI; " + REFERENCES_422},
    tags=("impact",),
)
@mapped
async def post_impact(request: web.Request, a: Args) -> web.Response:
    refs = a.body["cis"]
    depth = a.body.get("depth", request.app[SETTINGS_KEY].max_depth)
    store = request.app[STORE_KEY]
    # ids in one read; each reference by the catalogue's rules (exact name, host and port...)
    await resolve_ids(store, [(f"$.cis[{i}]", c) for i, c in enumerate(refs) if isinstance(c, str)])
    resolver = Resolver(store)
    ids = [
        c if isinstance(c, str) else (await resolver.resolve(c, f"$.cis[{i}]")).id
        for i, c in enumerate(refs)
    ]
    return web.json_response(await impact(store, ids, depth, summary=a.body.get("summary", False)))


# ---------------------------------------------------------------- assets
@routes.get(
    "/api/v1/assets",
    summary="List assets",
    roles=READER,
    query=[
        choice("state", "only assets in this state", ASSET_STATES),
        text("q", "a case-insensitive part of the asset tag", MAX_NAME_CHARS),
        *page(),
    ],
    responses={
        200: Reply(
            listing(ref("Asset"), paged=True),
            "one page of assets",
            example={"items": [ASSET_EXAMPLE], "total": 1, "limit": 50, "offset": 0},
        )
    },
    tags=("assets",),
)
@mapped
async def list_assets(request: web.Request, a: Args) -> web.Response:
    q = a.query
    items, total = await assets.list_assets(
        request.app[STORE_KEY], q["state"], q["q"], q["limit"], q["offset"]
    )
    return _listing(items, total, q)


@routes.post(
    "/api/v1/assets",
    summary="Register an asset",
    description="An asset (identity: its tag) represents a discovered CI (ci) and is "
    "supplied by a supplier (created by name when new).",
    roles=EDITOR,
    body=Body(
        ASSET_INPUT,
        "the asset",
        example={
            "asset_tag": "A-1",
            "ci": HOST_ID,
            "supplier": "Dell",
            "warranty_end": "2029-01-15",
        },
    ),
    responses={201: Reply(ref("Asset"), "the asset registered", example=ASSET_EXAMPLE)},
    errors={
        409: "an asset with that tag exists",
        422: "ci names no CI, or one an asset cannot represent",
    },
    tags=("assets",),
)
@mapped
async def create_asset(request: web.Request, a: Args) -> web.Response:
    record = await assets.create_asset(request.app[STORE_KEY], a.body, a.principal.name)
    return web.json_response(record, status=201)


@routes.get(
    "/api/v1/assets/{id}",
    summary="One asset with its transitions",
    roles=READER,
    path_params=[ASSET_PATH],
    responses={200: Reply(ref("Asset"), "the asset", example=ASSET_EXAMPLE)},
    tags=("assets",),
)
@mapped
async def show_asset(request: web.Request, a: Args) -> web.Response:
    store = request.app[STORE_KEY]
    ci = await assets.get_asset(store, a.path["id"])
    return web.json_response(await assets.asset_record(store, ci, with_history=True))


@routes.patch(
    "/api/v1/assets/{id}",
    summary="Change an asset",
    description="Only the fields given change (null clears one); the state changes with "
    "POST /api/v1/assets/{id}/transition.",
    roles=EDITOR,
    path_params=[ASSET_PATH],
    body=Body(
        ASSET_PATCH, "the fields to change", example={"location": "DC2 R3", "owner": "team-b"}
    ),
    responses={200: Reply(ref("Asset"), "the asset as it is now", example=ASSET_EXAMPLE)},
    errors={422: "ci names no CI, or one an asset cannot represent"},
    tags=("assets",),
)
@mapped
async def update_asset(request: web.Request, a: Args) -> web.Response:
    record = await assets.update_asset(
        request.app[STORE_KEY], a.path["id"], a.body, a.principal.name
    )
    return web.json_response(record)


@routes.post(
    "/api/v1/assets/{id}/transition",
    summary="Move an asset along its lifecycle",
    roles=EDITOR,
    path_params=[ASSET_PATH],
    body=Body(transition(ASSET_STATES), "the new state", example={"state": "received"}),
    responses={
        200: Reply(
            ref("Asset"),
            "the asset in its new state",
            example={**ASSET_EXAMPLE, "state": "received"},
        )
    },
    errors={409: "not allowed from the current state (allowed lists the states that are)"},
    tags=("assets",),
)
@mapped
async def transition_asset(request: web.Request, a: Args) -> web.Response:
    record = await assets.transition_asset(
        request.app[STORE_KEY], a.path["id"], a.body, a.principal.name
    )
    return web.json_response(record)


@routes.get(
    "/api/v1/reports/assets/unregistered",
    summary="Discovered hosts and network devices no asset represents",
    roles=READER,
    responses={
        200: Reply(
            listing(ref("CIRef")),
            "CIs without an asset",
            example={
                "items": [
                    {**CI_REF_EXAMPLE, "status": "live", "last_seen": "2026-11-28T10:00:00.000Z"}
                ],
                "total": 1,
            },
        )
    },
    tags=("assets",),
)
@mapped
async def report_unregistered(request: web.Request, a: Args) -> web.Response:
    return _items(await assets.unregistered(request.app[STORE_KEY]))


@routes.get(
    "/api/v1/reports/assets/unseen",
    summary="Deployed assets no discovery has seen for days",
    roles=READER,
    query=[integer("days", "days without being seen", 30, 0, 36_500)],
    responses={
        200: Reply(
            listing(
                {"type": "object", "required": ["id", "asset_tag", "reason"]},
                days={"type": "integer"},
            ),
            "assets not seen",
            example={
                "items": [
                    {
                        "id": ASSET_EXAMPLE["id"],
                        "asset_tag": "A-1",
                        "state": "deployed",
                        "ci": CI_REF_EXAMPLE,
                        "last_seen": "2026-10-01T10:00:00.000Z",
                        "reason": "not seen since 2026-10-29T10:00:00.000Z",
                    }
                ],
                "total": 1,
                "days": 30,
            },
        )
    },
    tags=("assets",),
)
@mapped
async def report_unseen(request: web.Request, a: Args) -> web.Response:
    days = a.query["days"]
    return _items(await assets.unseen(request.app[STORE_KEY], days), days=days)


@routes.get(
    "/api/v1/reports/assets/warranty",
    summary="Assets whose warranty ends within days",
    roles=READER,
    query=[integer("days", "days from today", 90, 0, 36_500)],
    responses={
        200: Reply(
            listing(
                {"type": "object", "required": ["id", "asset_tag", "warranty_end", "days_left"]},
                days={"type": "integer"},
            ),
            "assets whose warranty ends soon, soonest first",
            example={
                "items": [
                    {
                        "id": ASSET_EXAMPLE["id"],
                        "asset_tag": "A-1",
                        "state": "deployed",
                        "warranty_end": "2026-12-31",
                        "days_left": 33,
                    }
                ],
                "total": 1,
                "days": 90,
            },
        )
    },
    tags=("assets",),
)
@mapped
async def report_warranty(request: web.Request, a: Args) -> web.Response:
    days = a.query["days"]
    return _items(await assets.warranty_ending(request.app[STORE_KEY], days), days=days)


# ---------------------------------------------------------------- changes
@routes.get(
    "/api/v1/changes",
    summary="List change records",
    description="Ordered by window start.",
    roles=READER,
    query=[choice("state", "only changes in this state", CHANGE_STATES), *page()],
    responses={
        200: Reply(
            listing(ref("Change"), paged=True),
            "one page of changes",
            example={"items": [CHANGE_EXAMPLE], "total": 1, "limit": 50, "offset": 0},
        )
    },
    tags=("changes",),
)
@mapped
async def list_changes(request: web.Request, a: Args) -> web.Response:
    q = a.query
    items, total = await changes.list_changes(
        request.app[STORE_KEY], q["state"], q["limit"], q["offset"]
    )
    return _listing(items, total, q)


@routes.post(
    "/api/v1/changes",
    summary="Record a change",
    description="A draft naming the CIs it touches and its window; expected says what "
    "discovery should see (verified afterwards).",
    roles=EDITOR,
    body=Body(
        CHANGE_INPUT,
        "title, CIs and window (change_id: default CHG-date-random)",
        example={
            "title": "PostgreSQL minor upgrade on db1",
            "cis": [HOST_ID],
            "window": {"start": "2026-11-20T00:00:00Z", "end": "2026-11-20T23:00:00Z"},
            "expected": [{"package": "postgresql-*"}],
        },
    ),
    responses={201: Reply(ref("Change"), "the change, a draft", example=CHANGE_EXAMPLE)},
    errors={409: "a change with that change_id exists", 422: "a CI id names no CI"},
    tags=("changes",),
)
@mapped
async def create_change(request: web.Request, a: Args) -> web.Response:
    record = await changes.create_change(request.app[STORE_KEY], a.body, a.principal.name)
    return web.json_response(record, status=201)


@routes.get(
    "/api/v1/changes/conflicts",
    summary="Open changes whose windows overlap and whose impacts share a service",
    roles=READER,
    responses={
        200: Reply(
            listing(CONFLICT),
            "pairs of conflicting changes",
            example={
                "items": [
                    {
                        "changes": [
                            {"id": CHANGE_EXAMPLE["id"], "change_id": "CHG-1", "state": "approved"},
                            {"id": SERVICE_ID, "change_id": "CHG-2", "state": "draft"},
                        ],
                        "overlap": {
                            "start": "2026-11-20T00:00:00.000Z",
                            "end": "2026-11-20T06:00:00.000Z",
                        },
                        "services": [{"id": SERVICE_ID, "name": "orders"}],
                    }
                ],
                "total": 1,
            },
        )
    },
    tags=("changes",),
)
@mapped
async def change_conflicts(request: web.Request, a: Args) -> web.Response:
    items = await changes.conflicts(request.app[STORE_KEY], request.app[SETTINGS_KEY].max_depth)
    return _items(items)


@routes.get(
    "/api/v1/changes/{id}",
    summary="One change with its conflicts",
    roles=READER,
    path_params=[CHANGE_PATH],
    responses={
        200: Reply(ref("Change"), "the change", example={**CHANGE_EXAMPLE, "conflicts": []})
    },
    tags=("changes",),
)
@mapped
async def show_change(request: web.Request, a: Args) -> web.Response:
    store = request.app[STORE_KEY]
    ci = await changes.get_change(store, a.path["id"])
    record = await changes.change_record(store, ci)
    record["conflicts"] = await changes.conflicts(
        store, request.app[SETTINGS_KEY].max_depth, only=ci.id
    )
    return web.json_response(record)


@routes.patch(
    "/api/v1/changes/{id}",
    summary="Change a draft change record",
    description="Title, window, CIs and expectations can change while the change is a draft.",
    roles=EDITOR,
    path_params=[CHANGE_PATH],
    body=Body(CHANGE_PATCH, "the fields to change", example={"title": "PostgreSQL 17.2 on db1"}),
    responses={200: Reply(ref("Change"), "the change as it is now", example=CHANGE_EXAMPLE)},
    errors={409: "the change is not a draft", 422: "a CI id names no CI"},
    tags=("changes",),
)
@mapped
async def update_change(request: web.Request, a: Args) -> web.Response:
    record = await changes.update_change(
        request.app[STORE_KEY], a.path["id"], a.body, a.principal.name
    )
    return web.json_response(record)


@routes.post(
    "/api/v1/changes/{id}/transition",
    summary="Move a change along its lifecycle",
    description="assessed stores the impact; approved is refused (403) to the requester "
    "unless allow_self_approval, and records combined risks with overlapping approved "
    "changes as approval_warnings; verified adds the verification.",
    roles=EDITOR,
    path_params=[CHANGE_PATH],
    body=Body(transition(CHANGE_STATES), "the new state", example={"state": "assessed"}),
    responses={
        200: Reply(
            ref("Change"),
            "the change in its new state",
            example={
                **CHANGE_EXAMPLE,
                "state": "assessed",
                "allowed_transitions": ["approved", "rejected", "draft", "cancelled"],
            },
        )
    },
    errors={
        403: "the requester may not approve its own change",
        409: "not allowed from the current state (allowed lists the states that are)",
    },
    tags=("changes",),
)
@mapped
async def transition_change(request: web.Request, a: Args) -> web.Response:
    settings = request.app[SETTINGS_KEY]
    record = await changes.transition_change(
        request.app[STORE_KEY],
        a.path["id"],
        a.body,
        a.principal.name,
        settings.max_depth,
        settings.allow_self_approval,
    )
    return web.json_response(record)


@routes.get(
    "/api/v1/changes/{id}/verification",
    summary="What discovery saw on a change's CIs in its window",
    roles=READER,
    path_params=[CHANGE_PATH],
    query=[flag("packages", "list package changes one by one (default: folded per host)")],
    responses={
        200: Reply(
            VERIFICATION,
            "the verdict, expected changes seen and missing, unexpected ones",
            example={
                "change": {
                    "id": CHANGE_EXAMPLE["id"],
                    "change_id": CHANGE_EXAMPLE["change_id"],
                    "title": CHANGE_EXAMPLE["title"],
                    "window": CHANGE_EXAMPLE["window"],
                },
                "verdict": "expected_changes_seen",
                "text": "expected changes seen",
                "expected": [{"package": "postgresql-*"}],
                "missing": [],
                "unexpected": [],
                "not_reported": [],
                "items": [],
                "total": 0,
            },
        )
    },
    tags=("changes",),
)
@mapped
async def change_verification(request: web.Request, a: Args) -> web.Response:
    result = await changes.verification(
        request.app[STORE_KEY], a.path["id"], packages=a.query["packages"]
    )
    return web.json_response(result)


@routes.get(
    "/api/v1/reports/unauthorized-changes",
    summary="Discovered changes no authorised change record covers",
    roles=READER,
    query=[
        time_param("since", "changes at or after this time"),
        time_param("until", "changes before this time"),
        flag("packages", "list package changes one by one (default: folded per host)"),
    ],
    responses={
        200: Reply(
            listing({"type": "object", "required": ["at", "ci"]}),
            "discovered changes without a change record",
            example={
                "items": [
                    {
                        "at": HISTORY_EXAMPLE["at"],
                        "source": "agent",
                        "report_id": HISTORY_EXAMPLE["report_id"],
                        "ci": CI_REF_EXAMPLE,
                        "kind": "attribute",
                        "field": "os_version",
                        "old": "12",
                        "new": "13",
                    }
                ],
                "total": 1,
            },
        )
    },
    tags=("changes",),
)
@mapped
async def unauthorized_changes(request: web.Request, a: Args) -> web.Response:
    q = a.query
    items = await changes.unauthorized(
        request.app[STORE_KEY], q["since"], q["until"], packages=q["packages"]
    )
    return _items(items)


# ---------------------------------------------------------------- status accounting
@routes.get(
    "/api/v1/cis/{id}/diff",
    summary="What changed on a CI between two times",
    roles=READER,
    path_params=[CI_PATH],
    query=FROM_TO,
    responses={
        200: Reply(
            CI_DIFF,
            "attributes (from, to), relationships added and removed, the history between",
            example={
                "id": HOST_ID,
                "class": "Host",
                "name": "db1",
                "from": "2026-11-19T00:00:00.000Z",
                "to": "2026-11-29T00:00:00.000Z",
                "existed": {"from": False, "to": True},
                "attributes": {"os_version": {"from": None, "to": "13"}},
                "relationships_added": [],
                "relationships_removed": [],
                "history": [HISTORY_EXAMPLE],
            },
        )
    },
    tags=("status accounting",),
)
@mapped
async def ci_diff(request: web.Request, a: Args) -> web.Response:
    result = await status.ci_diff(
        request.app[STORE_KEY], a.path["id"], a.query["from"], a.query["to"]
    )
    return web.json_response(result)


# ---------------------------------------------------------------- declared relationships
DECLARED_EXAMPLE = {
    "id": "5e6f7a8b-9c0d-4e1f-8a2b-3c4d5e6f7a8b",
    "type": "RUNS_ON",
    "from": {"id": SERVICE_ID, "class": "Software", "name": "orders-app"},
    "to": CI_REF_EXAMPLE,
    "sources": ["manual"],
    "first_seen": "2026-11-28T10:00:00.000Z",
    "ended_at": None,
}


@routes.post(
    "/api/v1/relationships",
    summary="Declare a relationship discovery cannot see",
    description="{type, from, to} or {type: DEPENDS_ON, from, group: {name, min, members}}; "
    "ends are ids or references. Declaring what is already open changes nothing (200).",
    roles=EDITOR,
    body=Body(
        DECLARE_RELATIONSHIP,
        "the relationship",
        examples={
            "to": {
                "type": "RUNS_ON",
                "from": {"class": "Software", "name": "orders-app"},
                "to": HOST_ID,
            },
            "group": {
                "type": "DEPENDS_ON",
                "from": {"class": "Host", "name": "app1"},
                "group": {
                    "name": "pg",
                    "min": 1,
                    "members": [HOST_ID, {"class": "Host", "name": "db2"}],
                },
            },
        },
    ),
    responses={
        201: Reply(ref("DeclaredRelationship"), "declared", example=DECLARED_EXAMPLE),
        200: Reply(
            ref("DeclaredRelationship"), "it was declared already", example=DECLARED_EXAMPLE
        ),
    },
    errors={422: REFERENCES_422 + "; or ends the relationship type does not allow"},
    tags=("relationships",),
)
@mapped
async def declare_relationship(request: web.Request, a: Args) -> web.Response:
    record, created = await relationships.declare(request.app[STORE_KEY], a.body, a.principal.name)
    return web.json_response(record, status=201 if created else 200)


@routes.delete(
    "/api/v1/relationships",
    summary="End a declared relationship",
    description="End-dated, never deleted. A discovered relationship is discovery's to close "
    "(409).",
    roles=EDITOR,
    body=Body(
        DECLARE_RELATIONSHIP,
        "{type, from, to} or {type, from, group: {name}}",
        example={
            "type": "RUNS_ON",
            "from": {"class": "Software", "name": "orders-app"},
            "to": HOST_ID,
        },
    ),
    responses={
        200: Reply(
            ref("DeclaredRelationship"),
            "the relationship, ended",
            example={**DECLARED_EXAMPLE, "ended_at": "2026-11-29T10:00:00.000Z"},
        )
    },
    errors={
        404: "no such open relationship",
        409: "the relationship was discovered, not declared",
        422: REFERENCES_422,
    },
    tags=("relationships",),
)
@mapped
async def remove_relationship(request: web.Request, a: Args) -> web.Response:
    record = await relationships.remove(request.app[STORE_KEY], a.body, a.principal.name)
    return web.json_response(record)


@routes.get(
    "/api/v1/relationships",
    summary="The declared relationships of a CI",
    roles=READER,
    query=[
        Param("ci", CI_PATH.schema, "a CI id", required=True, example=HOST_ID),
        flag("include_ended", "also the ones that have ended"),
    ],
    responses={
        200: Reply(
            listing(ref("DeclaredRelationship")),
            "declared relationships touching the CI, either direction",
            example={"items": [DECLARED_EXAMPLE], "total": 1},
        )
    },
    errors={404: "no CI with that id"},
    tags=("relationships",),
)
@mapped
async def list_declared(request: web.Request, a: Args) -> web.Response:
    items = await relationships.declared_of(
        request.app[STORE_KEY], a.query["ci"], a.query["include_ended"]
    )
    return _items(items)


# ---------------------------------------------------------------- custom attributes
def _declarations(request: web.Request) -> custom.Declarations:
    return custom.parse_declarations(request.app[SETTINGS_KEY].custom_attributes)


CUSTOM_DECLARATION_EXAMPLE = {
    "class": "Host",
    "name": "tier",
    "type": "string",
    "allowed": ["gold", "silver", "bronze"],
    "description": "support tier",
}
CUSTOM_RECORD_EXAMPLE = {
    **CI_REF_EXAMPLE,
    "custom": {"tier": "gold"},
    "declared": [CUSTOM_DECLARATION_EXAMPLE],
}


@routes.get(
    "/api/v1/custom-attributes",
    summary="The custom attributes this server declares",
    description="Declared per class in the server config ([custom_attributes]).",
    roles=READER,
    responses={
        200: Reply(
            listing(ref("CustomAttribute")),
            "every declared custom attribute",
            example={"items": [CUSTOM_DECLARATION_EXAMPLE], "total": 1},
        )
    },
    tags=("custom attributes",),
)
@mapped
async def custom_declared(request: web.Request, a: Args) -> web.Response:
    items = [d.to_api() for per in _declarations(request).values() for d in per.values()]
    return _items(items)


@routes.get(
    "/api/v1/custom-attributes/cis",
    summary="CIs of a class by their custom values",
    roles=READER,
    query=[
        Param(
            "class",
            {"type": "string", "enum": sorted(CLASSES)},
            "the class",
            required=True,
            example="Host",
        ),
        choice("status", "only CIs in this status", CI_STATUSES),
        *page(),
    ],
    extra_query="custom attribute filters, NAME=VALUE (tier=gold, rack_units=2), typed by "
    "the attribute's declaration; an undeclared name is a 400 naming the declared ones",
    responses={
        200: Reply(
            listing({"type": "object", "required": ["id", "class", "custom"]}, paged=True),
            "one page of matching CIs, with their custom values",
            example={
                "items": [{**CI_REF_EXAMPLE, "status": "live", "custom": {"tier": "gold"}}],
                "total": 1,
                "limit": 50,
                "offset": 0,
            },
        )
    },
    tags=("custom attributes",),
)
@mapped
async def custom_find(request: web.Request, a: Args) -> web.Response:
    decls = _declarations(request)
    cls = a.query["class"]
    filters = custom.parse_filters(decls, cls, a.extra)
    q = a.query
    items, total = await custom.find(
        request.app[STORE_KEY], decls, cls, filters, q["status"], q["limit"], q["offset"]
    )
    return _listing(items, total, q)


@routes.get(
    "/api/v1/cis/{id}/custom",
    summary="A CI's custom values and the attributes declared for its class",
    roles=READER,
    path_params=[CI_PATH],
    responses={200: Reply(CUSTOM_RECORD, "the custom values", example=CUSTOM_RECORD_EXAMPLE)},
    tags=("custom attributes",),
)
@mapped
async def custom_show(request: web.Request, a: Args) -> web.Response:
    ci = await request.app[STORE_KEY].get_ci(a.path["id"])
    if ci is None:
        raise ApiError(404, f"no configuration item with id {a.path['id']!r}")
    return web.json_response(custom.record(ci, _declarations(request)))


@routes.patch(
    "/api/v1/cis/{id}/custom",
    summary="Set custom values of a CI",
    description="Each value is checked against its declaration (type, allowed values); "
    "null removes a value. One history entry per request.",
    roles=EDITOR,
    path_params=[CI_PATH],
    body=Body(CUSTOM_VALUES, "the values to set", example={"tier": "gold", "rack_units": None}),
    responses={200: Reply(CUSTOM_RECORD, "the custom values now", example=CUSTOM_RECORD_EXAMPLE)},
    tags=("custom attributes",),
)
@mapped
async def custom_set(request: web.Request, a: Args) -> web.Response:
    record = await custom.set_values(
        request.app[STORE_KEY], a.path["id"], a.body, _declarations(request), a.principal.name
    )
    return web.json_response(record)
