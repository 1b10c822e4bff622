"""Bearer tokens and roles. Agents only send their host's reports (``source: agent``);
pollers (remote SNMP scanners) only send ``source: snmp`` reports; readers read; editors
also write the catalogue, assets, changes and scans; admins also manage tokens. No role
but agent and poller may post reports: an admin token is not a way to forge one."""

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
    "admin": frozenset({"reader", "editor", "admin"}),
    "poller": frozenset({"poller"}),
}
# role -> the report sources its tokens may post (POST /api/v1/reports); a role absent
# here posts none. A new report source must be given to a role here to be postable.
REPORT_SOURCES = {
    "agent": frozenset({"agent"}),
    "poller": frozenset({"snmp"}),
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
        raise _forbidden(
            f"a token with the {' or '.join(roles)} role is needed here; "
            f"this one ({principal.name!r}) has the {principal.role} role"
        )
    return principal


def _who_posts_what() -> str:
    return "; ".join(
        f"the {role} role posts {', '.join(f'source: {s}' for s in sorted(sources))} reports"
        for role, sources in sorted(REPORT_SOURCES.items())
    )


def _forbidden(message: str) -> ApiError:
    return ApiError(403, message, top={"status": "forbidden"})


def require_reporter(request: web.Request) -> Principal:
    """The caller, if its role may post reports of some source; else 403 saying which
    role posts what (checked before the body is read)."""
    principal: Principal = request[PRINCIPAL_KEY]
    if principal.role not in REPORT_SOURCES:
        raise _forbidden(
            f"only a token with the agent or poller role may post reports "
            f"({_who_posts_what()}); "
            f"this token ({principal.name!r}) has the {principal.role} role"
        )
    return principal


def require_report_source(principal: Principal, report: object) -> None:
    """403 unless the principal's role may post a report of this ``source`` (a report
    without a string source is left to validation, which names the field)."""
    source = report.get("source") if isinstance(report, dict) else None
    if not isinstance(source, str):
        return
    allowed = REPORT_SOURCES.get(principal.role, frozenset())
    if source not in allowed:
        raise _forbidden(
            f"this token ({principal.name!r}) has the {principal.role} role, which may not "
            f"post source: {source} reports ({_who_posts_what()})"
        )


def _granted(role: str, wanted: Iterable[str]) -> bool:
    return any(w in GRANTS.get(role, frozenset()) for w in wanted)
