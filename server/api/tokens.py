"""Token management for admins (the CLI can also create tokens straight in the data dir)."""

from __future__ import annotations

from aiohttp import web

from cmdb.server.api.auth import require
from cmdb.server.api.errors import ApiError, read_json
from cmdb.server.api.keys import CONTROL_KEY
from cmdb.server.control import ROLES

routes = web.RouteTableDef()


@routes.get("/api/v1/tokens")
async def list_tokens(request: web.Request) -> web.Response:
    require(request, "admin")
    items = request.app[CONTROL_KEY].list_tokens()
    return web.json_response({"items": items, "total": len(items)})


@routes.post("/api/v1/tokens")
async def create_token(request: web.Request) -> web.Response:
    require(request, "admin")
    body = await read_json(request)
    role = body.get("role") if isinstance(body, dict) else None
    if role not in ROLES:
        raise ApiError(400, f"'role' must be one of {', '.join(ROLES)}", field="$.role")
    token_id, token = request.app[CONTROL_KEY].create_token(role, body.get("name"))
    return web.json_response({"id": token_id, "role": role, "token": token}, status=201)


@routes.delete("/api/v1/tokens/{id}")
async def revoke_token(request: web.Request) -> web.Response:
    require(request, "admin")
    raw = request.match_info["id"]
    if not raw.isdigit() or len(raw) > 18:  # a store integer: 64 bits at most
        raise ApiError(404, f"no token with id {raw[:40]!r}: token ids are integers")
    token_id = int(raw)
    if not request.app[CONTROL_KEY].revoke_token(token_id):
        raise ApiError(404, f"no active token with id {token_id}")
    return web.json_response({"id": token_id, "revoked": True})
