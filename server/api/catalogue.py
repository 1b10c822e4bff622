"""Routes of the service catalogue, asset register, impact, change review and status
accounting (loaded by ``cmdb.server.app._load_extensions``)."""

from __future__ import annotations

import functools
from typing import Any

import yaml
from aiohttp import web

from cmdb.graph.store import StoreError
from cmdb.server.api.auth import require
from cmdb.server.api.errors import ApiError, read_json
from cmdb.server.api.keys import SETTINGS_KEY, STORE_KEY
from cmdb.server.api.params import int_param, page
from cmdb.server.catalogue import (
    CatalogueError,
    assets,
    changes,
    custom,
    relationships,
    services,
    status,
)
from cmdb.server.catalogue.common import check_id, parse_time, resolve_ids
from cmdb.server.catalogue.impact import impact

routes = web.RouteTableDef()


def register(app: web.Application) -> None:
    app.router.add_routes(routes)


def mapped(handler):
    """CatalogueError -> ApiError (one JSON error shape); a refused write is a 409."""

    @functools.wraps(handler)
    async def wrapper(request: web.Request) -> web.StreamResponse:
        try:
            return await handler(request)
        except CatalogueError as exc:
            raise ApiError(exc.status, exc.message, **exc.extra) from exc
        except StoreError as exc:
            raise ApiError(409, f"the store refused the write: {exc}") from exc

    return wrapper


def _actor(request: web.Request, role: str) -> str:
    return require(request, role).name


def _listing(items: list[Any], total: int, limit: int, offset: int) -> web.Response:
    return web.json_response({"items": items, "total": total, "limit": limit, "offset": offset})


def _flag(request: web.Request, name: str) -> bool:
    return request.query.get(name, "").lower() in ("1", "true", "yes", "full")


def _time_param(request: web.Request, name: str, required: bool = True) -> str | None:
    raw = request.query.get(name)
    if not raw:
        if required:
            raise ApiError(400, f"query parameter {name!r} is required (an ISO 8601 time)")
        return None
    return parse_time(raw, f"query parameter {name!r}")


# ---------------------------------------------------------------- services
@routes.get("/api/v1/services")
@mapped
async def list_services(request: web.Request) -> web.Response:
    require(request, "reader")
    limit, offset = page(request, request.app[SETTINGS_KEY].max_page_size)
    items, total = await services.list_services(
        request.app[STORE_KEY], request.query.get("q") or None, limit, offset
    )
    return _listing(items, total, limit, offset)


@routes.post("/api/v1/services")
@mapped
async def create_service(request: web.Request) -> web.Response:
    actor = _actor(request, "editor")
    record = await services.create_service(request.app[STORE_KEY], await read_json(request), actor)
    return web.json_response(record, status=201)


@routes.post("/api/v1/services/import")
@mapped
async def import_services(request: web.Request) -> web.Response:
    actor = _actor(request, "editor")
    if request.content_type in ("application/json", ""):
        document = await read_json(request)
    else:  # catalogue as code: YAML (application/yaml, text/yaml, ...)
        try:
            document = yaml.safe_load(await request.text())
        except yaml.YAMLError as exc:
            raise ApiError(400, f"malformed YAML: {exc}") from exc
    dry_run = _flag(request, "dry_run")
    result = await services.import_services(request.app[STORE_KEY], document, actor, dry_run)
    return web.json_response(result, status=201 if result["created"] and not dry_run else 200)


@routes.get("/api/v1/services/{id}")
@mapped
async def show_service(request: web.Request) -> web.Response:
    require(request, "reader")
    store = request.app[STORE_KEY]
    ci = await services.get_service(store, request.match_info["id"])
    return web.json_response(await services.service_record(store, ci))


@routes.patch("/api/v1/services/{id}")
@mapped
async def update_service(request: web.Request) -> web.Response:
    actor = _actor(request, "editor")
    record = await services.update_service(
        request.app[STORE_KEY], request.match_info["id"], await read_json(request), actor
    )
    return web.json_response(record)


@routes.delete("/api/v1/services/{id}")
@mapped
async def delete_service(request: web.Request) -> web.Response:
    actor = _actor(request, "editor")
    answer = await services.delete_service(request.app[STORE_KEY], request.match_info["id"], actor)
    return web.json_response(answer)


@routes.get("/api/v1/services/{id}/diff")
@mapped
async def service_diff(request: web.Request) -> web.Response:
    require(request, "reader")
    store = request.app[STORE_KEY]
    ci = await services.get_service(store, request.match_info["id"])
    start, end = _time_param(request, "from"), _time_param(request, "to")
    return web.json_response(await status.service_diff(store, ci, start, end))


# ---------------------------------------------------------------- impact
@routes.post("/api/v1/impact")
@mapped
async def post_impact(request: web.Request) -> web.Response:
    require(request, "reader")
    body = await read_json(request)
    max_depth = request.app[SETTINGS_KEY].max_depth
    if not isinstance(body, dict) or not isinstance(body.get("cis"), list) or not body["cis"]:
        raise ApiError(400, '"cis" must be a non-empty list of CI ids', field="$.cis")
    ids = [check_id(c, f"$.cis[{i}]") for i, c in enumerate(body["cis"])]
    depth = body.get("depth", max_depth)
    if isinstance(depth, bool) or not isinstance(depth, int) or not 1 <= depth <= max_depth:
        raise ApiError(400, f'"depth" must be an integer from 1 to {max_depth}', field="$.depth")
    summary = body.get("summary", False)
    if not isinstance(summary, bool):
        raise ApiError(400, '"summary" must be true or false', field="$.summary")
    store = request.app[STORE_KEY]
    await resolve_ids(store, [(f"$.cis[{i}]", c) for i, c in enumerate(ids)])
    return web.json_response(await impact(store, ids, depth, summary=summary))


# ---------------------------------------------------------------- assets
@routes.get("/api/v1/assets")
@mapped
async def list_assets(request: web.Request) -> web.Response:
    require(request, "reader")
    limit, offset = page(request, request.app[SETTINGS_KEY].max_page_size)
    items, total = await assets.list_assets(
        request.app[STORE_KEY],
        request.query.get("state") or None,
        request.query.get("q") or None,
        limit,
        offset,
    )
    return _listing(items, total, limit, offset)


@routes.post("/api/v1/assets")
@mapped
async def create_asset(request: web.Request) -> web.Response:
    actor = _actor(request, "editor")
    record = await assets.create_asset(request.app[STORE_KEY], await read_json(request), actor)
    return web.json_response(record, status=201)


@routes.get("/api/v1/assets/{id}")
@mapped
async def show_asset(request: web.Request) -> web.Response:
    require(request, "reader")
    store = request.app[STORE_KEY]
    ci = await assets.get_asset(store, request.match_info["id"])
    return web.json_response(await assets.asset_record(store, ci, with_history=True))


@routes.patch("/api/v1/assets/{id}")
@mapped
async def update_asset(request: web.Request) -> web.Response:
    actor = _actor(request, "editor")
    record = await assets.update_asset(
        request.app[STORE_KEY], request.match_info["id"], await read_json(request), actor
    )
    return web.json_response(record)


@routes.post("/api/v1/assets/{id}/transition")
@mapped
async def transition_asset(request: web.Request) -> web.Response:
    actor = _actor(request, "editor")
    record = await assets.transition_asset(
        request.app[STORE_KEY], request.match_info["id"], await read_json(request), actor
    )
    return web.json_response(record)


@routes.get("/api/v1/reports/assets/unregistered")
@mapped
async def report_unregistered(request: web.Request) -> web.Response:
    require(request, "reader")
    items = await assets.unregistered(request.app[STORE_KEY])
    return web.json_response({"items": items, "total": len(items)})


@routes.get("/api/v1/reports/assets/unseen")
@mapped
async def report_unseen(request: web.Request) -> web.Response:
    require(request, "reader")
    days = int_param(request, "days", 30, 0)
    items = await assets.unseen(request.app[STORE_KEY], days)
    return web.json_response({"items": items, "total": len(items), "days": days})


@routes.get("/api/v1/reports/assets/warranty")
@mapped
async def report_warranty(request: web.Request) -> web.Response:
    require(request, "reader")
    days = int_param(request, "days", 90, 0)
    items = await assets.warranty_ending(request.app[STORE_KEY], days)
    return web.json_response({"items": items, "total": len(items), "days": days})


# ---------------------------------------------------------------- changes
@routes.get("/api/v1/changes")
@mapped
async def list_changes(request: web.Request) -> web.Response:
    require(request, "reader")
    limit, offset = page(request, request.app[SETTINGS_KEY].max_page_size)
    items, total = await changes.list_changes(
        request.app[STORE_KEY], request.query.get("state") or None, limit, offset
    )
    return _listing(items, total, limit, offset)


@routes.post("/api/v1/changes")
@mapped
async def create_change(request: web.Request) -> web.Response:
    actor = _actor(request, "editor")
    record = await changes.create_change(request.app[STORE_KEY], await read_json(request), actor)
    return web.json_response(record, status=201)


@routes.get("/api/v1/changes/conflicts")
@mapped
async def change_conflicts(request: web.Request) -> web.Response:
    require(request, "reader")
    items = await changes.conflicts(request.app[STORE_KEY], request.app[SETTINGS_KEY].max_depth)
    return web.json_response({"items": items, "total": len(items)})


@routes.get("/api/v1/changes/{id}")
@mapped
async def show_change(request: web.Request) -> web.Response:
    require(request, "reader")
    store = request.app[STORE_KEY]
    ci = await changes.get_change(store, request.match_info["id"])
    record = await changes.change_record(store, ci)
    record["conflicts"] = await changes.conflicts(
        store, request.app[SETTINGS_KEY].max_depth, only=ci.id
    )
    return web.json_response(record)


@routes.patch("/api/v1/changes/{id}")
@mapped
async def update_change(request: web.Request) -> web.Response:
    actor = _actor(request, "editor")
    record = await changes.update_change(
        request.app[STORE_KEY], request.match_info["id"], await read_json(request), actor
    )
    return web.json_response(record)


@routes.post("/api/v1/changes/{id}/transition")
@mapped
async def transition_change(request: web.Request) -> web.Response:
    actor = _actor(request, "editor")
    record = await changes.transition_change(
        request.app[STORE_KEY],
        request.match_info["id"],
        await read_json(request),
        actor,
        request.app[SETTINGS_KEY].max_depth,
        request.app[SETTINGS_KEY].allow_self_approval,
    )
    return web.json_response(record)


@routes.get("/api/v1/changes/{id}/verification")
@mapped
async def change_verification(request: web.Request) -> web.Response:
    require(request, "reader")
    result = await changes.verification(
        request.app[STORE_KEY], request.match_info["id"], packages=_flag(request, "packages")
    )
    return web.json_response(result)


@routes.get("/api/v1/reports/unauthorized-changes")
@mapped
async def unauthorized_changes(request: web.Request) -> web.Response:
    require(request, "reader")
    since = _time_param(request, "since", required=False)
    until = _time_param(request, "until", required=False)
    items = await changes.unauthorized(
        request.app[STORE_KEY], since, until, packages=_flag(request, "packages")
    )
    return web.json_response({"items": items, "total": len(items)})


# ---------------------------------------------------------------- status accounting
@routes.get("/api/v1/cis/{id}/diff")
@mapped
async def ci_diff(request: web.Request) -> web.Response:
    require(request, "reader")
    start, end = _time_param(request, "from"), _time_param(request, "to")
    result = await status.ci_diff(request.app[STORE_KEY], request.match_info["id"], start, end)
    return web.json_response(result)


# ---------------------------------------------------------------- declared relationships
@routes.post("/api/v1/relationships")
@mapped
async def declare_relationship(request: web.Request) -> web.Response:
    actor = _actor(request, "editor")
    record, created = await relationships.declare(
        request.app[STORE_KEY], await read_json(request), actor
    )
    return web.json_response(record, status=201 if created else 200)


@routes.delete("/api/v1/relationships")
@mapped
async def remove_relationship(request: web.Request) -> web.Response:
    actor = _actor(request, "editor")
    record = await relationships.remove(request.app[STORE_KEY], await read_json(request), actor)
    return web.json_response(record)


@routes.get("/api/v1/relationships")
@mapped
async def list_declared(request: web.Request) -> web.Response:
    require(request, "reader")
    ci_id = request.query.get("ci")
    if not ci_id:
        raise ApiError(400, "query parameter 'ci' is required (a CI id)")
    items = await relationships.declared_of(
        request.app[STORE_KEY],
        check_id(ci_id, "query parameter 'ci'"),
        _flag(request, "include_ended"),
    )
    return web.json_response({"items": items, "total": len(items)})


# ---------------------------------------------------------------- custom attributes
def _declarations(request: web.Request) -> custom.Declarations:
    return custom.parse_declarations(request.app[SETTINGS_KEY].custom_attributes)


@routes.get("/api/v1/custom-attributes")
@mapped
async def custom_declared(request: web.Request) -> web.Response:
    require(request, "reader")
    items = [d.to_api() for per in _declarations(request).values() for d in per.values()]
    return web.json_response({"items": items, "total": len(items)})


@routes.get("/api/v1/custom-attributes/cis")
@mapped
async def custom_find(request: web.Request) -> web.Response:
    """CIs of ``class`` whose custom values equal the other query parameters."""
    require(request, "reader")
    cls = request.query.get("class")
    if not cls:
        raise ApiError(400, "query parameter 'class' is required (custom attributes are per class)")
    decls = _declarations(request)
    reserved = {"class", "status", "limit", "offset"}
    filters = custom.parse_filters(
        decls, cls, {k: v for k, v in request.query.items() if k not in reserved}
    )
    limit, offset = page(request, request.app[SETTINGS_KEY].max_page_size)
    items, total = await custom.find(
        request.app[STORE_KEY], decls, cls, filters, request.query.get("status"), limit, offset
    )
    return _listing(items, total, limit, offset)


@routes.get("/api/v1/cis/{id}/custom")
@mapped
async def custom_show(request: web.Request) -> web.Response:
    require(request, "reader")
    ci = await request.app[STORE_KEY].get_ci(request.match_info["id"])
    if ci is None:
        raise ApiError(404, f"no configuration item with id {request.match_info['id']!r}")
    return web.json_response(custom.record(ci, _declarations(request)))


@routes.patch("/api/v1/cis/{id}/custom")
@mapped
async def custom_set(request: web.Request) -> web.Response:
    actor = _actor(request, "editor")
    record = await custom.set_values(
        request.app[STORE_KEY],
        request.match_info["id"],
        await read_json(request),
        _declarations(request),
        actor,
    )
    return web.json_response(record)
