"""What remote pollers (role ``poller``) ask the servers: /api/v1/poller/*.

A poller (``cmdb poller run --site NAME``) pulls the schedules of its site, claims a due
firing (the same compare-and-set on ``next_run`` the servers use, so one poller or server
runs it), claims the devices it is about to scan (a claim with expiry in the shared
state: one scanner per device), posts device reports to /api/v1/reports like any
``source: snmp`` reporter, and keeps a scan record up to date, so its run is listed and
cancellable from every server like a server's own scan.

Credentials: a poller registers its X25519 public key on its token (``POST
/api/v1/poller/key``; the first key and site registered on a token stay until an admin
removes them, so a stolen token alone cannot have secrets sent to another key). The answer
to a won firing carries the schedule's credential profiles sealed to that key
(``cmdb.server.poller.keys``), never in clear; schedule listings carry only their labels.
Every call to the shared state runs off the event loop (``STATE_KEY``).
"""

from __future__ import annotations

import json
import logging
import time
import uuid
from datetime import UTC, datetime
from typing import Any, NamedTuple

from aiohttp import web

from cmdb.collectors.model import utc_now_iso
from cmdb.server.api.auth import require
from cmdb.server.api.declared import POLLER
from cmdb.server.api.errors import ApiError, read_json
from cmdb.server.api.scans import SCHEDULER_KEY, STATE_KEY
from cmdb.server.api.spec import ApiRoutes
from cmdb.server.control import Principal
from cmdb.server.poller import keys
from cmdb.server.scans.credentials import CredentialError, describe, to_storage
from cmdb.server.scans.scheduler import SITE_RE, next_run, public_view, stamp
from cmdb.server.shared_state.secrets import SecretsError

log = logging.getLogger("cmdb.poller")

# every route below is declared in cmdb.server.api.declared (POLLER): the edge checks
# its role, path, query and body before the handler runs; the OpenAPI document says so
routes = ApiRoutes(declared=POLLER)
POLLER_LEASE = 120.0  # a poller's scan record is interrupted when not updated this long
MAX_CLAIM = 4096  # targets per claim request
MAX_TTL = 6 * 3600.0
POLLER_KEYS = "poller_key"  # key/value namespace: token key -> its registered public key


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
    secret (credential labels only: the profiles come sealed with a won firing)."""
    require(request, "poller")
    site = request.query.get("site", "")
    if not SITE_RE.match(site):
        raise ApiError(400, "give ?site=NAME (letters, digits, . _ -)", field="site")
    moment = stamp(datetime.now(UTC))
    items = []
    for schedule in await request.app[STATE_KEY].schedule_list():
        if schedule.get("site") != site or not schedule.get("enabled", True):
            continue
        view = public_view(schedule)
        view["due"] = (schedule.get("next_run") or "") <= moment
        items.append(view)
    return web.json_response({"items": items, "total": len(items), "now": moment})


@routes.post("/api/v1/poller/schedules/{name}/claim")
async def claim_firing(request: web.Request) -> web.Response:
    """``{"next_run": the value read, "poller": instance}``: 200 with a scan id when this
    poller won the firing, 409 when another poller or server did. When the schedule has
    credential profiles, the answer carries them in ``sealed_credentials``, sealed to the
    key this token registered for the schedule's site (or says in ``credentials_error``
    why they could not be sent: the poller then scans with the profiles it holds)."""
    body = await _body(request)
    owner = _owner(request, body)
    state = request.app[STATE_KEY]
    name = request.match_info["name"]
    schedule = await state.schedule_get(name)
    if schedule is None or not schedule.get("site"):
        raise ApiError(404, f"no site schedule named {name!r}")
    expected = body.get("next_run")
    if not isinstance(expected, str) or expected > stamp(datetime.now(UTC)):
        raise ApiError(409, "that firing is not due", top={"claimed": False})
    following = next_run(schedule)
    if await state.schedule_claim(name, expected, following) is None:
        raise ApiError(409, "another scanner claimed this firing", top={"claimed": False})
    delivery = await _deliver(request, schedule)
    scan_id = str(uuid.uuid4())
    now = utc_now_iso()
    await state.scan_save(
        {
            "id": scan_id,
            "status": "running",
            "targets": schedule["targets"],
            "port": schedule.get("port", 161),
            "total": 0,
            "counts": {},
            "errors": [],
            "devices": [],
            "credentials": delivery.described,
            "credentials_sent_to": delivery.kid,  # the poller key the profiles went to
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
    await state.schedule_update(name, {"last_run": now, "last_scan_id": scan_id})
    answer: dict[str, Any] = {"claimed": True, "scan_id": scan_id, "next_run": following}
    if delivery.sealed is not None:
        answer["sealed_credentials"] = delivery.sealed
    if delivery.error is not None:
        answer["credentials_error"] = delivery.error
    return web.json_response(answer)


class Delivery(NamedTuple):
    """What a won firing sends of its schedule's credential profiles."""

    sealed: dict[str, str] | None = None  # sealed to the poller's key (keys.seal)
    error: str | None = None  # why none were sent, when the schedule has some
    described: list[dict[str, Any]] = []  # their labels, for the scan record
    kid: str | None = None  # the fingerprint of the key they were sealed to


async def _deliver(request: web.Request, schedule: dict[str, Any]) -> Delivery:
    """The schedule's profiles sealed to the key the calling token registered for the
    schedule's site (never in clear; nothing when the site's pollers hold them)."""
    site, name = schedule["site"], schedule["name"]
    try:
        profiles = request.app[SCHEDULER_KEY].credentials(schedule)
    except (SecretsError, CredentialError) as exc:
        return Delivery(error=f"the server cannot open this schedule's credentials: {exc}")
    if not profiles:
        return Delivery()
    described = [describe(c) for c in profiles]
    registered = await _registered_key(request, require(request, "poller"))
    if registered is None:
        why = (
            "this poller token has no public key registered, so the schedule's credentials "
            "were not sent: run `cmdb poller run` (it registers its key at start)"
        )
        return Delivery(error=why, described=described)
    if registered["site"] != site:
        why = (
            f"this poller token's key is registered for site {registered['site']!r}, not "
            f"{site!r}: credentials go only to a poller of the schedule's site"
        )
        return Delivery(error=why, described=described)
    public = keys.decode_public(registered["public_key"])
    sealed = keys.seal([to_storage(c) for c in profiles], public, keys.context(site, name))
    log.info(
        "schedule %s: %d credential profile(s) sent sealed to poller key %s",
        name,
        len(profiles),
        sealed["kid"],
    )
    return Delivery(sealed, None, described, sealed["kid"])


async def _registered_key(request: web.Request, principal: Principal) -> dict[str, Any] | None:
    raw = await request.app[STATE_KEY].get(POLLER_KEYS, principal.key)
    return json.loads(raw) if raw else None


@routes.post("/api/v1/poller/key")
async def register_key(request: web.Request) -> web.Response:
    """``{"public_key": X25519 base64url, "site": NAME}``: the key (and site) the
    credentials of this token's firings are sealed to. The first registration on a token
    stays: the same key again answers 200, a new one 201, another key or site 409 until
    an admin removes the registration (``DELETE /api/v1/poller/keys/{token_id}``)."""
    body = await _body(request)
    principal = require(request, "poller")
    site = body.get("site")
    if not isinstance(site, str) or not SITE_RE.match(site):
        raise ApiError(400, "'site' must be a site name (letters, digits, . _ -)", field="$.site")
    try:
        public = keys.decode_public(body.get("public_key"))
    except keys.SealError as exc:
        raise ApiError(400, str(exc), field="$.public_key") from exc
    entry = {
        "public_key": keys.encode_public(public),
        "fingerprint": keys.fingerprint(public),
        "site": site,
        "token_id": principal.token_id,
        "token_name": principal.name,
        "registered_at": utc_now_iso(),
    }
    # put_if_absent: of two servers registering for one token at once, one key wins
    raw = json.dumps(entry)
    kept = await request.app[STATE_KEY].put_if_absent(POLLER_KEYS, principal.key, raw)
    stored = json.loads(kept)
    if stored["public_key"] != entry["public_key"] or stored["site"] != site:
        raise ApiError(
            409,
            f"this poller token already has key {stored['fingerprint']} registered for site "
            f"{stored['site']!r}; give each poller its own token, or have an admin remove the "
            f"registration (DELETE /api/v1/poller/keys/{principal.token_id}, or `cmdb poller "
            f"forget-key {principal.token_id}`) if this poller's key was replaced",
            top={"registered": False},
        )
    new = kept == raw
    if new:
        log.info("poller key %s registered for site %s", entry["fingerprint"], site)
    return web.json_response(
        {"registered": True, "fingerprint": stored["fingerprint"], "site": site},
        status=201 if new else 200,
    )


@routes.get("/api/v1/poller/keys")
async def list_keys(request: web.Request) -> web.Response:
    """The registered poller keys (admin): token id and name, site, fingerprint, time."""
    require(request, "admin")
    items = [json.loads(v) for _, v in await request.app[STATE_KEY].items(POLLER_KEYS)]
    for item in items:
        item.pop("public_key", None)
    items.sort(key=lambda i: (i["site"], i["token_id"]))
    return web.json_response({"items": items, "total": len(items)})


@routes.delete("/api/v1/poller/keys/{token_id}")
async def forget_key(request: web.Request) -> web.Response:
    """Remove the key registered on a poller token (admin): its next start registers anew."""
    require(request, "admin")
    try:
        token_id = int(request.match_info["token_id"])
    except ValueError as exc:
        raise ApiError(400, "the token id must be a number (see cmdb token list)") from exc
    state = request.app[STATE_KEY]
    removed = [
        k for k, v in await state.items(POLLER_KEYS) if json.loads(v).get("token_id") == token_id
    ]
    for key in removed:  # one per token: a token has one stable key
        await state.delete(POLLER_KEYS, key)
    if not removed:
        raise ApiError(404, f"no poller key is registered on token {token_id}")
    log.info("poller key of token %s removed", token_id)
    return web.json_response({"token_id": token_id, "removed": True})


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
    granted = await request.app[STATE_KEY].claim_targets(targets, owner, ttl, time.time())
    return web.json_response({"granted": granted, "ttl": ttl})


@routes.post("/api/v1/poller/release")
async def release_devices(request: web.Request) -> web.Response:
    body = await _body(request)
    owner = _owner(request, body)
    targets = body.get("targets")
    if not isinstance(targets, list):
        raise ApiError(400, "'targets' must be a list", field="$.targets")
    await request.app[STATE_KEY].release_targets([str(t) for t in targets], owner)
    return web.json_response({"released": len(targets)})


@routes.post("/api/v1/poller/scans/{id}")
async def scan_progress(request: web.Request) -> web.Response:
    """A poller's progress on the scan it claimed (``status``, ``counts``, ``errors``,
    ``devices``, ``message``); answers ``cancel_requested`` (stop when true)."""
    body = await _body(request)
    owner = _owner(request, body)
    status = body.get("status", "running")
    if status not in ("running", "done", "failed", "cancelled"):
        raise ApiError(400, "'status' must be running, done, failed or cancelled")
    update = {k: body[k] for k in ("counts", "errors", "devices", "message", "total") if k in body}
    update.update(status=status, heartbeat=time.time())
    if status != "running":
        update["finished_at"] = utc_now_iso()
    # one compare-and-set in the shared store: a heartbeat that left the poller before its
    # final status but arrives after it leaves the finished scan as it is
    record = await request.app[STATE_KEY].scan_progress(request.match_info["id"], owner, update)
    if record is None:
        raise ApiError(404, "no scan of this poller with that id")
    cancel = bool(record.get("cancel_requested"))
    return web.json_response({"id": record["id"], "cancel_requested": cancel})
