"""Bearer tokens and roles. Agents only send their host's reports (``source: agent``);
pollers (remote SNMP scanners) only send ``source: snmp`` reports; readers read; editors
also write the catalogue, assets, changes and scans; admins also manage tokens. No role
but agent and poller may post reports: an admin token is not a way to forge one."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable

from aiohttp import web

from cmdb.server.api.errors import ApiError
from cmdb.server.api.keys import CONTROL_KEY, PRINCIPAL_KEY, SETTINGS_KEY
from cmdb.server.api.throttle import AuthThrottle, client_address
from cmdb.server.control import Principal

# /metrics decides its own access (cmdb.server.metrics: open, loopback or a reader token)
PUBLIC_PATHS = frozenset({"/healthz", "/api/v1/openapi.json", "/metrics"})
THROTTLE_KEY: web.AppKey[AuthThrottle] = web.AppKey("auth_throttle")
# roles that must come with a verified client certificate under tls_client_auth = agents
CERTIFIED_ROLES = frozenset({"agent", "poller"})
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
    settings = app[SETTINGS_KEY]
    throttle = AuthThrottle(settings.auth_fail_limit, settings.auth_fail_window)
    app[THROTTLE_KEY] = throttle
    proxies = frozenset(settings.trusted_proxies)
    certified_only = client_auth_mode(settings) == "agents"

    @web.middleware
    async def authenticate(request: web.Request, handler):
        if request.path in PUBLIC_PATHS or request.method == "OPTIONS":
            return await handler(request)
        # in a worker thread: with Neo4j the token lookup is a network call (cached for a
        # few seconds), and a store outage must not stall every request on the event loop
        principal = await asyncio.to_thread(authenticate_request, request, throttle, proxies)
        if certified_only and principal.role in CERTIFIED_ROLES and not _peer_cert(request):
            raise _forbidden(
                f"this server takes {principal.role} tokens only with a client certificate "
                "it trusts (tls_client_auth = agents): give the agent --cert and --key"
            )
        request[PRINCIPAL_KEY] = principal
        return await handler(request)

    app.middlewares.append(authenticate)


def authenticate_request(
    request: web.Request, throttle: AuthThrottle, proxies: frozenset[str] = frozenset()
) -> Principal:
    """The principal of the request's bearer token; 401 without one or for an unknown
    one (counted against the client's address), 429 while that address is throttled."""
    address = client_address(request, proxies)
    wait = throttle.retry_after(address)
    if wait is not None:
        raise ApiError(
            429,
            f"too many failed authentications from {address}; retry after {wait} s",
            {"Retry-After": str(wait)},
            top={"status": "throttled"},
        )
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
        throttle.failed(address)
        raise ApiError(
            401,
            "the token is unknown or revoked",
            {"WWW-Authenticate": 'Bearer realm="cmdb", error="invalid_token"'},
        )
    return principal


def client_auth_mode(settings) -> str:
    """none, optional, agents or required (``Settings.tls_client_auth``; unset: agents
    when a client CA is configured, else none)."""
    if settings.tls_client_auth:
        return settings.tls_client_auth
    return "agents" if settings.tls_client_ca else "none"


def _peer_cert(request: web.Request) -> dict | None:
    # a certificate is only reported once the TLS layer verified it against tls_client_ca
    transport = request.transport
    return transport.get_extra_info("peercert") if transport is not None else None


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
