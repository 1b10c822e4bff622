"""Scans and their schedules: /api/v1/scans, /api/v1/schedules."""

from __future__ import annotations

import asyncio
import codecs
from collections.abc import AsyncIterator

from aiohttp import web

from cmdb.server.api.auth import require
from cmdb.server.api.declared import SCANS
from cmdb.server.api.errors import ApiError, read_json
from cmdb.server.api.keys import CONTROL_KEY, INGEST_KEY, SETTINGS_KEY
from cmdb.server.api.spec import ApiRoutes
from cmdb.server.scans.credentials import CredentialError, parse_credentials
from cmdb.server.scans.manager import DEFAULT_BUDGET, ScanManager, ScanRequest
from cmdb.server.scans.scheduler import ScheduleError, Scheduler, public_view, validate_schedule
from cmdb.server.scans.targets import TargetError, TargetsTooLarge, expand_targets, split_targets
from cmdb.server.shared_state import ensure_app_state
from cmdb.server.shared_state.aio import AsyncSharedState
from cmdb.server.shared_state.secrets import SecretsError, secret_box

SCANS_KEY: web.AppKey[ScanManager] = web.AppKey("scans")
SCHEDULER_KEY: web.AppKey[Scheduler] = web.AppKey("scheduler")
# the shared state seen from the event loop (the scan manager, scheduler and poller API)
STATE_KEY: web.AppKey[AsyncSharedState] = web.AppKey("shared_state")

# every route below is declared in cmdb.server.api.declared (SCANS): the edge checks
# its role, path, query and body before the handler runs; the OpenAPI document says so
routes = ApiRoutes(declared=SCANS)


def _number(body: dict, name: str, default, kind, low, high):
    value = body.get(name, default)
    try:
        value = kind(value)
    except (TypeError, ValueError) as exc:
        raise ApiError(400, f"'{name}' must be a number", field=f"$.{name}") from exc
    if not low <= value <= high:
        raise ApiError(400, f"'{name}' must be between {low} and {high}", field=f"$.{name}")
    return value


def _charset(value: object) -> str | None:
    """The legacy charset for strings that are not UTF-8 (None: the server's default)."""
    if value is None:
        return None
    if not isinstance(value, str) or not value:
        raise ApiError(400, "'charset' must be a charset name such as cp1252", field="$.charset")
    try:
        codecs.lookup(value)
    except LookupError as exc:
        raise ApiError(
            400, f"'charset' {value!r} is not a known charset", field="$.charset"
        ) from exc
    return value


@routes.post("/api/v1/scans")
async def start_scan(request: web.Request) -> web.Response:
    require(request, "editor")
    body = await read_json(request)
    if not isinstance(body, dict):
        raise ApiError(400, "a scan request must be a JSON object")
    settings = request.app[SETTINGS_KEY]
    try:
        spec = body.get("targets")
        if not isinstance(spec, str | list):
            raise TargetError("'targets' is required: addresses, ranges or CIDR blocks")
        targets = expand_targets(spec, settings.scan_max_addresses)
        credentials = parse_credentials(body.get("credentials"))
    except TargetError as exc:
        raise ApiError(400, f"bad targets: {exc}", field="$.targets") from exc
    except TargetsTooLarge as exc:
        raise ApiError(422, str(exc), field="$.targets") from exc
    except CredentialError as exc:
        raise ApiError(400, str(exc), field="$.credentials") from exc
    scan = await request.app[SCANS_KEY].start(
        ScanRequest(
            targets=targets,
            credentials=credentials,
            port=_number(body, "port", 161, int, 1, 65535),
            timeout=_number(body, "timeout", 1.0, float, 0.05, 60),
            retries=_number(body, "retries", 1, int, 0, 10),
            concurrency=_number(body, "concurrency", settings.scan_concurrency, int, 1, 1024),
            device_budget=_number(body, "device_budget", DEFAULT_BUDGET, float, 1, 3600),
            charset=_charset(body.get("charset")),
            spec=",".join(split_targets(spec)),
        )
    )
    return web.json_response(scan.to_api(), status=202)


@routes.get("/api/v1/scans")
async def list_scans(request: web.Request) -> web.Response:
    require(request, "reader")
    items = [s.to_api() for s in await request.app[SCANS_KEY].list()]
    for item in items:
        item.pop("devices", None)
        item["errors"] = item["errors"][:10]
    return web.json_response({"items": items, "total": len(items)})


@routes.get("/api/v1/scans/{id}")
async def show_scan(request: web.Request) -> web.Response:
    require(request, "reader")
    scan = await request.app[SCANS_KEY].get(request.match_info["id"])
    if scan is None:
        raise ApiError(404, f"no scan with id {request.match_info['id']!r}")
    return web.json_response(scan.to_api())


@routes.post("/api/v1/scans/{id}/cancel")
async def cancel_scan(request: web.Request) -> web.Response:
    """Stop a scan, whichever server runs it (202: it stops at that server's next
    heartbeat, a few seconds; a finished scan is answered as it is, 200)."""
    require(request, "editor")
    manager = request.app[SCANS_KEY]
    scan_id = request.match_info["id"]
    before = await manager.get(scan_id)
    if before is None:
        raise ApiError(404, f"no scan with id {scan_id!r}")
    if before.status not in ("queued", "running"):
        return web.json_response(before.to_api())
    scan = await manager.cancel(scan_id) or before
    return web.json_response(scan.to_api(), status=202)


@routes.post("/api/v1/schedules")
async def put_schedule(request: web.Request) -> web.Response:
    require(request, "editor")
    body = await read_json(request)
    settings = request.app[SETTINGS_KEY]
    try:
        schedule = validate_schedule(body, settings.scan_max_addresses)
    except (ScheduleError, TargetError) as exc:
        raise ApiError(400, str(exc)) from exc
    except TargetsTooLarge as exc:
        raise ApiError(422, str(exc), field="$.targets") from exc
    try:
        saved = await request.app[SCHEDULER_KEY].put(schedule)
    except ScheduleError as exc:
        raise ApiError(422, str(exc), field="$.credentials") from exc
    return web.json_response(public_view(saved), status=201)


@routes.get("/api/v1/schedules")
async def list_schedules(request: web.Request) -> web.Response:
    require(request, "reader")
    items = [public_view(s) for s in await request.app[SCHEDULER_KEY].all()]
    return web.json_response({"items": items, "total": len(items)})


@routes.get("/api/v1/schedules/{name}")
async def show_schedule(request: web.Request) -> web.Response:
    require(request, "reader")
    schedule = await request.app[SCHEDULER_KEY].get(request.match_info["name"])
    if schedule is None:
        raise ApiError(404, f"no schedule named {request.match_info['name']!r}")
    return web.json_response(public_view(schedule))


@routes.post("/api/v1/schedules/due")
async def run_due_schedules(request: web.Request) -> web.Response:
    """Run the due check now on this server (the scheduler also runs it every
    ``CMDB_SCHEDULE_TICK`` seconds): scans started here for firings this server won."""
    require(request, "editor")
    started = await request.app[SCHEDULER_KEY].tick()
    return web.json_response({"started": started})


@routes.post("/api/v1/schedules/{name}/run")
async def run_schedule(request: web.Request) -> web.Response:
    require(request, "editor")
    scheduler = request.app[SCHEDULER_KEY]
    schedule = await scheduler.get(request.match_info["name"])
    if schedule is None:
        raise ApiError(404, f"no schedule named {request.match_info['name']!r}")
    running = await request.app[SCANS_KEY].running_for_schedule(schedule["name"])
    if running is not None:
        raise ApiError(
            409, f"schedule {schedule['name']!r} is already running as scan {running.id}"
        )
    if schedule.get("site"):
        raise ApiError(
            409, f"schedule {schedule['name']!r} is run by the pollers of site {schedule['site']!r}"
        )
    try:
        state = await scheduler.run_now(schedule)
    except SecretsError as exc:
        raise ApiError(409, str(exc)) from exc
    if state is None:
        raise ApiError(409, f"schedule {schedule['name']!r} is already running")
    return web.json_response(state.to_api(), status=202)


@routes.delete("/api/v1/schedules/{name}")
async def delete_schedule(request: web.Request) -> web.Response:
    require(request, "editor")
    if not await request.app[SCHEDULER_KEY].delete(request.match_info["name"]):
        raise ApiError(404, f"no schedule named {request.match_info['name']!r}")
    return web.json_response({"name": request.match_info["name"], "deleted": True})


def register(app: web.Application) -> None:
    from cmdb.server.api import poller

    app.router.add_routes(routes)
    app.router.add_routes(poller.routes)

    async def scanning(app: web.Application) -> AsyncIterator[None]:
        settings = app[SETTINGS_KEY]
        # with store = neo4j every server shares one state: tokens, users, scans, schedules
        # (a no-op once the app opens the shared state itself)
        opened = ensure_app_state(app, settings, CONTROL_KEY)
        # scans, schedules and pollers reach the shared state only through this: every
        # call in a worker thread, never on the event loop
        state = AsyncSharedState(app[CONTROL_KEY])
        app[STATE_KEY] = state
        manager = ScanManager(state, app[INGEST_KEY])
        await manager.recover()
        scheduler = Scheduler(state, manager, settings, box=secret_box(settings))
        await scheduler.load_config(settings.schedules)
        app[SCANS_KEY] = manager
        app[SCHEDULER_KEY] = scheduler
        tasks = [asyncio.create_task(scheduler.loop()), asyncio.create_task(manager.heartbeat())]
        yield
        for task in tasks:
            task.cancel()
        for task in tasks:
            try:
                await task
            except asyncio.CancelledError:
                pass
        await manager.shutdown()
        state.close()
        if opened is not None:
            opened.close()

    app.cleanup_ctx.append(scanning)
