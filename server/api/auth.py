"""Bearer tokens and roles. Agents only send reports; readers read; editors also write
the catalogue, assets, changes and scans; admins also manage tokens."""

from __future__ import annotations

from collections.abc import Iterable

from aiohttp import web

from server.api.errors import ApiError
from server.api.keys import CONTROL_KEY, PRINCIPAL_KEY
from server.control import Principal

PUBLIC_PATHS = frozenset({"/healthz", "/api/v1/openapi.json"})
# what each role may do, by the role a route asks for
GRANTS = {
    "agent": frozenset({"agent"}),
    "reader": frozenset({"reader"}),
    "editor": frozenset({"reader", "editor"}),
    "admin": frozenset({"reader", "editor", "admin", "agent"}),
}


def setup_auth(app: web.Application) -> None:
    @web.middleware
    async def authenticate(request: web.Request, handler):
        if request.path in PUBLIC_PATHS or request.method == "OPTIONS":
            return await handler(request)
        header = request.headers.get("Authorization", "")
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise ApiError(
                401,
                "authentication required: send 'Authorization: Bearer TOKEN' "
                "(create one with 'cmdb token create')",
                {"WWW-Authenticate": 'Bearer realm="cmdb"'},
            )
        principal = request.app[CONTROL_KEY].authenticate(token.strip())
        if principal is None:
            raise ApiError(
                401,
                "the token is unknown or revoked",
                {"WWW-Authenticate": 'Bearer realm="cmdb", error="invalid_token"'},
            )
        request[PRINCIPAL_KEY] = principal
        return await handler(request)

    app.middlewares.append(authenticate)


def require(request: web.Request, *roles: str) -> Principal:
    """The caller, if its role grants one of ``roles``; else 403 naming what is needed."""
    principal: Principal = request[PRINCIPAL_KEY]
    if not _granted(principal.role, roles):
        raise ApiError(
            403,
            f"a token with the {' or '.join(roles)} role is needed here; "
            f"this one ({principal.name!r}) has the {principal.role} role",
        )
    return principal


def _granted(role: str, wanted: Iterable[str]) -> bool:
    return any(w in GRANTS.get(role, frozenset()) for w in wanted)
