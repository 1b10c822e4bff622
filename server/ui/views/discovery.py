"""Discovery: SNMP scans with live progress (the scan page polls a fragment while the
scan runs), per-device results including partial sections, and schedules. Reads and
starts scans through ``cmdb.server.scans`` (the manager and scheduler the
``/api/v1/scans`` handlers use, with the same target and credential checks)."""

from __future__ import annotations

from aiohttp import web

from cmdb.server.api.scans import SCANS_KEY, SCHEDULER_KEY
from cmdb.server.scans.credentials import CredentialError, parse_credentials
from cmdb.server.scans.manager import ScanRequest
from cmdb.server.scans.scheduler import public_view
from cmdb.server.scans.targets import TargetError, TargetsTooLarge, expand_targets, split_targets
from cmdb.server.ui.render import page
from cmdb.server.ui.views.common import form, require_role, see_other, settings_of

routes = web.RouteTableDef()
RUNNING = ("queued", "running")


def _manager(request: web.Request):
    if SCANS_KEY not in request.app:
        raise web.HTTPNotFound(text="SNMP scans are not enabled on this server.")
    return request.app[SCANS_KEY]


@routes.get("/ui/discovery")
async def discovery_page(request: web.Request) -> web.Response:
    scans = [s.to_api() for s in _manager(request).list()]
    scans.sort(key=lambda s: s.get("created_at") or "", reverse=True)
    schedules = [public_view(s) for s in request.app[SCHEDULER_KEY].all()]
    return page(
        request,
        "discovery.html",
        {"scans": scans[:100], "schedules": schedules, "error": "", "values": {}},
    )


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
        scans = [s.to_api() for s in _manager(request).list()]
        schedules = [public_view(s) for s in request.app[SCHEDULER_KEY].all()]
        return page(
            request,
            "discovery.html",
            {"scans": scans[:100], "schedules": schedules, "error": str(exc), "values": data},
            status=400,
        )
    scan = _manager(request).start(
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


def _scan(request: web.Request) -> dict:
    scan = _manager(request).get(request.match_info["id"])
    if scan is None:
        raise web.HTTPNotFound(text=f"No scan {request.match_info['id']!r}.")
    return scan.to_api()


@routes.get("/ui/discovery/scans/{id}")
async def scan_page(request: web.Request) -> web.Response:
    return page(request, "scan.html", {"scan": _scan(request), "running": RUNNING})


@routes.get("/ui/discovery/scans/{id}/progress")
async def scan_progress(request: web.Request) -> web.Response:
    """The progress fragment; it stops polling itself once the scan is over."""
    return page(request, "_scan_progress.html", {"scan": _scan(request), "running": RUNNING})


@routes.post("/ui/discovery/schedules/{name}/run")
async def run_schedule(request: web.Request) -> web.Response:
    require_role(request, "editor")
    scheduler = request.app[SCHEDULER_KEY]
    schedule = scheduler.get(request.match_info["name"])
    if schedule is None:
        raise web.HTTPNotFound(text=f"No schedule named {request.match_info['name']!r}.")
    state = scheduler.run_now(schedule)
    scheduler.put(schedule)
    if state is None:
        raise web.HTTPConflict(text=f"Schedule {schedule['name']!r} is already running.")
    raise see_other(f"/ui/discovery/scans/{state.id}")
