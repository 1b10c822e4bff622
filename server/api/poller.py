"""What remote pollers (role ``poller``) ask the servers: /api/v1/poller/*.

A poller (``cmdb poller run --site NAME``) pulls the schedules of its site, claims a due
firing (the same compare-and-set on ``next_run`` the servers use, so one poller or server
runs it), claims the devices it is about to scan (a claim with expiry in the shared
state: one scanner per device), posts device reports to /api/v1/reports like any
``source: snmp`` reporter, and keeps a scan record up to date, so its run is listed and
cancellable from every server like a server's own scan.
"""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime
from typing import Any

from aiohttp import web

from cmdb.collectors.model import utc_now_iso
from cmdb.server.api.auth import require
from cmdb.server.api.errors import ApiError, read_json
from cmdb.server.api.keys import CONTROL_KEY
from cmdb.server.scans.scheduler import SITE_RE, next_run, public_view, stamp

routes = web.RouteTableDef()
POLLER_LEASE = 120.0  # a poller's scan record is interrupted when not updated this long
MAX_CLAIM = 4096  # targets per claim request
MAX_TTL = 6 * 3600.0


def _owner(request: web.Request, body: dict[str, Any]) -> str:
    """The claimer: the token's stable key and the poller instance it names."""
    principal = require(request, "poller")
    instance = str(body.get("poller") or "")[:128]
    return f"poller:{principal.key}:{instance}"


async def _body(request: web.Request) -> dict[str, Any]:
    body = await read_json(request)
    if not isinstance(body, dict):
        raise ApiError(400, "the request must be a JSON object")
    return body


@routes.get("/api/v1/poller/schedules")
async def site_schedules(request: web.Request) -> web.Response:
    """The enabled schedules of ``?site=NAME`` with ``due`` (next run has come); never a
    secret: pollers scan with the credential profiles they hold."""
    require(request, "poller")
    site = request.query.get("site", "")
    if not SITE_RE.match(site):
        raise ApiError(400, "give ?site=NAME (letters, digits, . _ -)", field="site")
    moment = stamp(datetime.now(UTC))
    items = []
    for schedule in request.app[CONTROL_KEY].schedule_list():
        if schedule.get("site") != site or not schedule.get("enabled", True):
            continue
        view = public_view(schedule)
        view["due"] = (schedule.get("next_run") or "") <= moment
        items.append(view)
    return web.json_response({"items": items, "total": len(items), "now": moment})


@routes.post("/api/v1/poller/schedules/{name}/claim")
async def claim_firing(request: web.Request) -> web.Response:
    """``{"next_run": the value read, "poller": instance}``: 200 with a scan id when this
    poller won the firing, 409 when another poller or server did."""
    body = await _body(request)
    owner = _owner(request, body)
    control = request.app[CONTROL_KEY]
    name = request.match_info["name"]
    schedule = control.schedule_get(name)
    if schedule is None or not schedule.get("site"):
        raise ApiError(404, f"no site schedule named {name!r}")
    expected = body.get("next_run")
    if not isinstance(expected, str) or expected > stamp(datetime.now(UTC)):
        raise ApiError(409, "that firing is not due", top={"claimed": False})
    following = next_run(schedule)
    if control.schedule_claim(name, expected, following) is None:
        raise ApiError(409, "another scanner claimed this firing", top={"claimed": False})
    scan_id = str(uuid.uuid4())
    now = utc_now_iso()
    control.scan_save(
        {
            "id": scan_id,
            "status": "running",
            "targets": schedule["targets"],
            "port": schedule.get("port", 161),
            "total": 0,
            "counts": {},
            "errors": [],
            "devices": [],
            "credentials": [],
            "schedule": name,
            "slot": expected,
            "created_at": now,
            "started_at": now,
            "finished_at": None,
            "message": None,
            "owner": owner,
            "heartbeat": time.time(),
            "lease": POLLER_LEASE,
        }
    )
    control.schedule_update(name, {"last_run": now, "last_scan_id": scan_id})
    return web.json_response({"claimed": True, "scan_id": scan_id, "next_run": following})


@routes.post("/api/v1/poller/claims")
async def claim_devices(request: web.Request) -> web.Response:
    """``{"targets": ["host:port", ...], "ttl": seconds, "poller": instance}``: the
    targets this poller may scan now (each claimed until ttl runs out)."""
    body = await _body(request)
    owner = _owner(request, body)
    targets = body.get("targets")
    if not isinstance(targets, list) or not all(isinstance(t, str) for t in targets):
        raise ApiError(400, "'targets' must be a list of host:port strings", field="$.targets")
    if len(targets) > MAX_CLAIM:
        raise ApiError(422, f"at most {MAX_CLAIM} targets per claim", field="$.targets")
    try:
        ttl = min(MAX_TTL, max(1.0, float(body.get("ttl", 600))))
    except (TypeError, ValueError) as exc:
        raise ApiError(400, "'ttl' must be a number of seconds", field="$.ttl") from exc
    granted = request.app[CONTROL_KEY].claim_targets(targets, owner, ttl, time.time())
    return web.json_response({"granted": granted, "ttl": ttl})


@routes.post("/api/v1/poller/release")
async def release_devices(request: web.Request) -> web.Response:
    body = await _body(request)
    owner = _owner(request, body)
    targets = body.get("targets")
    if not isinstance(targets, list):
        raise ApiError(400, "'targets' must be a list", field="$.targets")
    request.app[CONTROL_KEY].release_targets([str(t) for t in targets], owner)
    return web.json_response({"released": len(targets)})


@routes.post("/api/v1/poller/scans/{id}")
async def scan_progress(request: web.Request) -> web.Response:
    """A poller's progress on the scan it claimed (``status``, ``counts``, ``errors``,
    ``devices``, ``message``); answers ``cancel_requested`` (stop when true)."""
    body = await _body(request)
    owner = _owner(request, body)
    control = request.app[CONTROL_KEY]
    record = control.scan_get(request.match_info["id"])
    if record is None or record.get("owner") != owner:
        raise ApiError(404, "no scan of this poller with that id")
    status = body.get("status", "running")
    if status not in ("running", "done", "failed", "cancelled"):
        raise ApiError(400, "'status' must be running, done, failed or cancelled")
    update = {k: body[k] for k in ("counts", "errors", "devices", "message", "total") if k in body}
    record.update(update, status=status, heartbeat=time.time())
    if status != "running":
        record["finished_at"] = utc_now_iso()
    cancel = bool(record.pop("cancel_requested", False))
    control.scan_save(record)
    return web.json_response({"id": record["id"], "cancel_requested": cancel})
