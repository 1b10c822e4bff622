"""Token management for admins (the CLI can also create tokens straight in the data dir)."""

from __future__ import annotations

from aiohttp import web

from cmdb.server.api.errors import ApiError
from cmdb.server.api.params import TOKEN_PATH
from cmdb.server.api.scans import STATE_KEY  # the shared state, off the event loop
from cmdb.server.api.schemas import NAME, listing, obj, ref
from cmdb.server.api.spec import ApiRoutes, Args, Body, Reply
from cmdb.server.control import ROLES

routes = ApiRoutes()
ADMIN = ("admin",)
TOKEN_EXAMPLE = {
    "id": 3,
    "name": "agent-db1",
    "role": "agent",
    "created_at": "2026-11-20T10:00:00.000Z",
    "revoked_at": None,
}


@routes.get(
    "/api/v1/tokens",
    summary="List tokens (admin)",
    description="Every token with its role; the secret itself is never shown again.",
    roles=ADMIN,
    responses={
        200: Reply(
            listing(ref("Token")), "every token", example={"items": [TOKEN_EXAMPLE], "total": 1}
        )
    },
    tags=("tokens",),
)
async def list_tokens(request: web.Request, a: Args) -> web.Response:
    items = await request.app[STATE_KEY].list_tokens()
    return web.json_response({"items": items, "total": len(items)})


@routes.post(
    "/api/v1/tokens",
    summary="Create a token (admin)",
    description="The answer holds the token: the only time it is shown.",
    roles=ADMIN,
    body=Body(
        obj(
            {"role": {"type": "string", "enum": list(ROLES)}, "name": NAME},
            ("role",),
            strict=True,
        ),
        "the role and a name for the token (default: ROLE-token)",
        example={"role": "agent", "name": "agent-db1"},
    ),
    responses={
        201: Reply(
            obj(
                {
                    "id": {"type": "integer"},
                    "role": {"type": "string"},
                    "token": {"type": "string"},
                },
                ("id", "role", "token"),
            ),
            "the new token",
            example={
                "id": 4,
                "role": "agent",
                "token": "cmdb_0123456789abcdefghijklmnopqrstuvwxyzABCDE",
            },
        )
    },
    tags=("tokens",),
)
async def create_token(request: web.Request, a: Args) -> web.Response:
    role = a.body["role"]
    token_id, token = await request.app[STATE_KEY].create_token(role, a.body.get("name"))
    return web.json_response({"id": token_id, "role": role, "token": token}, status=201)


@routes.delete(
    "/api/v1/tokens/{id}",
    summary="Revoke a token (admin)",
    roles=ADMIN,
    path_params=[TOKEN_PATH],
    responses={
        200: Reply(
            obj({"id": {"type": "integer"}, "revoked": {"const": True}}, ("id", "revoked")),
            "the token is revoked",
            example={"id": 3, "revoked": True},
        )
    },
    tags=("tokens",),
)
async def revoke_token(request: web.Request, a: Args) -> web.Response:
    token_id = a.path["id"]
    if not await request.app[STATE_KEY].revoke_token(token_id):
        raise ApiError(404, f"no active token with id {token_id}")
    return web.json_response({"id": token_id, "revoked": True})
