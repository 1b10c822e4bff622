"""Discovery: SNMP scans with live progress (the scan page polls a fragment while the
scan runs), per-device results including partial sections, and schedules (create, run
now, delete). Reads and starts scans through ``cmdb.server.scans`` (the manager and
scheduler the ``/api/v1/scans`` and ``/api/v1/schedules`` handlers use, with the same
target, cron and credential checks)."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from cmdb.server.api.scans import SCANS_KEY, SCHEDULER_KEY
from cmdb.server.scans.credentials import CredentialError, parse_credentials
from cmdb.server.scans.manager import ScanRequest
from cmdb.server.scans.scheduler import ScheduleError, public_view, validate_schedule
from cmdb.server.scans.targets import TargetError, TargetsTooLarge, expand_targets, split_targets
from cmdb.server.shared_state.secrets import SecretsError
from cmdb.server.ui.render import page
from cmdb.server.ui.views.common import form, require_role, see_other, settings_of

routes = web.RouteTableDef()
RUNNING = ("queued", "running")


def _manager(request: web.Request):
    if SCANS_KEY not in request.app:
        raise web.HTTPNotFound(text="SNMP scans are not enabled on this server.")
    return request.app[SCANS_KEY]


async def _discovery(
    request: web.Request,
    error: str = "",
    values: dict[str, Any] | None = None,
    schedule_values: dict[str, Any] | None = None,
    status: int = 200,
) -> web.Response:
    """The discovery page: the newest 100 scans of every server and every schedule
    (credentials shown by label only, ``public_view``)."""
    scans = [s.to_api() for s in await _manager(request).list()]
    scans.sort(key=lambda s: s.get("created_at") or "", reverse=True)
    schedules = [public_view(s) for s in await request.app[SCHEDULER_KEY].all()]
    schedules.sort(key=lambda s: s["name"])
    return page(
        request,
        "discovery.html",
        {
            "scans": scans[:100],
            "schedules": schedules,
            "error": error,
            "values": values or {},
            "schedule_values": schedule_values or {},
            "message": request.query.get("message", ""),
        },
        status=status,
    )


@routes.get("/ui/discovery")
async def discovery_page(request: web.Request) -> web.Response:
    return await _discovery(request)


@routes.post("/ui/discovery/scans")
async def start_scan(request: web.Request) -> web.Response:
    require_role(request, "editor")
    data = await form(request)
    settings = settings_of(request)
    spec = str(data.get("targets", "")).strip()
    try:
        targets = expand_targets(spec, settings.scan_max_addresses)
        credentials = parse_credentials(
            [{"version": "2c", "community": str(data.get("community", "")) or "public"}]
        )
    except (TargetError, TargetsTooLarge, CredentialError) as exc:
        return await _discovery(request, str(exc), values=data, status=400)
    scan = await _manager(request).start(
        ScanRequest(
            targets=targets,
            credentials=credentials,
            port=161,
            timeout=1.0,
            retries=1,
            concurrency=settings.scan_concurrency,
            spec=",".join(split_targets(spec)),
        )
    )
    raise see_other(f"/ui/discovery/scans/{scan.id}")


async def _scan(request: web.Request) -> dict:
    scan = await _manager(request).get(request.match_info["id"])
    if scan is None:
        raise web.HTTPNotFound(text=f"No scan {request.match_info['id']!r}.")
    return scan.to_api()


@routes.get("/ui/discovery/scans/{id}")
async def scan_page(request: web.Request) -> web.Response:
    return page(request, "scan.html", {"scan": await _scan(request), "running": RUNNING})


@routes.get("/ui/discovery/scans/{id}/progress")
async def scan_progress(request: web.Request) -> web.Response:
    """The progress fragment; it stops polling itself once the scan is over."""
    return page(request, "_scan_progress.html", {"scan": await _scan(request), "running": RUNNING})


@routes.post("/ui/discovery/schedules")
async def create_schedule(request: web.Request) -> web.Response:
    """A new schedule from the form: name, cron, targets, an SNMP v2c community (other
    profiles: the CLI or the API) or a site whose pollers run it. An existing name is
    refused (the API's POST replaces; a form should not overwrite by accident)."""
    require_role(request, "editor")
    data = await form(request)
    scheduler = request.app[SCHEDULER_KEY]
    name = str(data.get("name", "")).strip()
    site = str(data.get("site", "")).strip() or None
    community = str(data.get("community", ""))
    body: dict[str, Any] = {
        "name": name,
        "cron": str(data.get("cron", "")).strip(),
        "targets": str(data.get("targets", "")).strip(),
        "site": site,
        "enabled": True,
    }
    if community or not site:  # a site's pollers may hold their own credentials
        body["credentials"] = [{"version": "2c", "community": community or "public"}]
    kept = {k: v for k, v in data.items() if k not in ("community", "csrf_token")}
    try:
        schedule = validate_schedule(body, settings_of(request).scan_max_addresses)
        if await scheduler.get(schedule["name"]) is not None:
            raise ScheduleError(
                f"a schedule named {schedule['name']!r} exists; delete it first or pick "
                "another name"
            )
        await scheduler.put(schedule)
    except (ScheduleError, TargetError, TargetsTooLarge) as exc:
        return await _discovery(request, str(exc), schedule_values=kept, status=400)
    raise see_other(f"/ui/discovery?message=schedule+{schedule['name']}+created")


@routes.post("/ui/discovery/schedules/{name}/delete")
async def delete_schedule(request: web.Request) -> web.Response:
    require_role(request, "editor")
    name = request.match_info["name"]
    if not await request.app[SCHEDULER_KEY].delete(name):
        raise web.HTTPNotFound(text=f"No schedule named {name!r}.")
    raise see_other(f"/ui/discovery?message=schedule+{name}+deleted")


@routes.post("/ui/discovery/schedules/{name}/run")
async def run_schedule(request: web.Request) -> web.Response:
    """Run a schedule now on this server, with the API's checks: not while its scan runs
    anywhere, not a site's schedule (its pollers run it), not with sealed credentials this
    server cannot open."""
    require_role(request, "editor")
    scheduler = request.app[SCHEDULER_KEY]
    schedule = await scheduler.get(request.match_info["name"])
    if schedule is None:
        raise web.HTTPNotFound(text=f"No schedule named {request.match_info['name']!r}.")
    running = await _manager(request).running_for_schedule(schedule["name"])
    if running is not None:
        raise web.HTTPConflict(
            text=f"Schedule {schedule['name']!r} is already running as scan {running.id}."
        )
    if schedule.get("site"):
        raise web.HTTPConflict(
            text=f"Schedule {schedule['name']!r} is run by the pollers of site "
            f"{schedule['site']!r}, not by this server."
        )
    try:
        state = await scheduler.run_now(schedule)
    except SecretsError as exc:
        raise web.HTTPConflict(text=str(exc)) from exc
    if state is None:
        raise web.HTTPConflict(text=f"Schedule {schedule['name']!r} is already running.")
    raise see_other(f"/ui/discovery/scans/{state.id}")
