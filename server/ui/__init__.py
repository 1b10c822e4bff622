"""The web UI, served by the API server under ``/ui`` (``/`` redirects there).

Server-rendered pages (Jinja2 through aiohttp-jinja2) with vendored JavaScript
(htmx for partial updates, cytoscape + dagre for graphs; ``static/vendor``, refreshed by
``deploy/vendor-js.sh``). People sign in with a user name and password
(``cmdb.server.users``); the API keeps its bearer tokens and accepts no cookie. Every page
reads through the same functions the REST handlers call (the store protocol,
``cmdb.server.catalogue.*``, ``cmdb.server.scans``), so the UI and the API cannot disagree.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from urllib.parse import urlencode

from aiohttp import web
from aiohttp_session import get_session, session_middleware

from cmdb.graph.store import StoreUnavailable
from cmdb.server.api.scans import STATE_KEY
from cmdb.server.catalogue import CatalogueError
from cmdb.server.ui.keys import CSRF_KEY, USER_KEY
from cmdb.server.ui.render import page, setup_templates
from cmdb.server.ui.session import (
    InstallationCookieStorage,
    check_csrf,
    csrf_token,
    secure_cookies,
    session_user_id,
)
from cmdb.server.users import get_user

log = logging.getLogger("cmdb.ui")

PREFIX = "/ui"
STATIC = Path(__file__).parent / "static"
FAVICON = "/favicon.ico"
PUBLIC_PATHS = frozenset({"/ui/login", FAVICON})
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
# scripts only from this server; cytoscape and htmx set element styles, hence the
# inline-style allowance; no frames, no plugins, forms post only here
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; object-src 'none'; frame-ancestors 'none'; base-uri 'none'; "
    "form-action 'self'"
)


def is_ui_path(path: str) -> bool:
    """Paths the UI authenticates with its session cookie instead of a bearer token."""
    return path in ("/", PREFIX, FAVICON) or path.startswith(PREFIX + "/")


def _exempt_from_bearer(app: web.Application) -> None:
    """UI paths are signed in by the session cookie: the API's bearer-token middleware
    (``cmdb.server.api.auth``) passes them on untouched; every other path keeps it as is."""
    for index, middleware in enumerate(app.middlewares):
        if getattr(middleware, "__name__", "") != "authenticate":
            continue

        @web.middleware
        async def bearer_except_ui(request: web.Request, handler, _inner=middleware):
            if is_ui_path(request.path):
                return await handler(request)
            return await _inner(request, handler)

        app.middlewares[index] = bearer_except_ui
        return
    log.warning("no bearer-token middleware found; UI paths need no exemption")


def _error(request: web.Request, status: int, message: str) -> web.Response:
    return page(request, "error.html", {"status": status, "message": message}, status=status)


def _login_redirect(request: web.Request) -> web.HTTPException:
    target = request.path_qs if request.method in SAFE_METHODS else PREFIX + "/search"
    location = f"{PREFIX}/login?{urlencode({'next': target})}"
    if request.headers.get("HX-Request"):
        # htmx follows this header with a full page load instead of swapping a login form in
        return web.HTTPUnauthorized(headers={"HX-Redirect": location})
    return web.HTTPSeeOther(location)


@web.middleware
async def ui_guard(request: web.Request, handler):
    """Signed-in user, CSRF check on every unsafe request, HTML error pages, security
    headers and a ``Server-Timing`` header for every UI page."""
    if not is_ui_path(request.path) or request.path.startswith(PREFIX + "/static/"):
        return await handler(request)
    started = time.perf_counter()
    session = await get_session(request)
    request[CSRF_KEY] = csrf_token(session)
    try:
        if request.method not in SAFE_METHODS and not await check_csrf(request, session):
            response = _error(
                request,
                403,
                "This form was not sent by a page of this server (its CSRF token is missing "
                "or out of date). Reload the page and try again.",
            )
        else:
            if request.path not in PUBLIC_PATHS and request.path != "/":
                ident = session_user_id(session)
                # every page asks: off the event loop, as every shared-state call is
                state = request.app[STATE_KEY]
                user = await state.run(get_user, state.sync, ident[0]) if ident else None
                if user is None or not user.active or user.session_version != ident[1]:
                    if ident:
                        session.invalidate()
                        request[CSRF_KEY] = csrf_token(session)
                    raise _login_redirect(request)
                request[USER_KEY] = user
            response = await handler(request)
    except web.HTTPException as exc:
        if exc.status < 400 or exc.headers.get("HX-Redirect"):
            raise
        response = _error(request, exc.status, exc.text or exc.reason)
    except CatalogueError as exc:
        response = _error(request, exc.status, exc.message)
    except StoreUnavailable:
        response = _error(request, 503, "The graph store is unavailable right now; retry later.")
        response.headers["Retry-After"] = "10"
    headers = response.headers
    headers.setdefault("Content-Security-Policy", CSP)
    headers.setdefault("X-Frame-Options", "DENY")
    headers.setdefault("X-Content-Type-Options", "nosniff")
    headers.setdefault("Referrer-Policy", "same-origin")
    headers["Server-Timing"] = f"app;dur={(time.perf_counter() - started) * 1000:.1f}"
    return response


async def _root(request: web.Request) -> web.Response:
    raise web.HTTPFound(PREFIX + "/search")


async def _favicon(request: web.Request) -> web.Response:
    """The icon browsers ask for on their own (without the session cookie): public, and
    SVG (pages link it too), so it is not a 401 in every server log."""
    return web.Response(
        body=(STATIC / "favicon.svg").read_bytes(),
        content_type="image/svg+xml",
        headers={"Cache-Control": "public, max-age=86400"},
    )


def setup_ui(app: web.Application) -> None:
    """Mount the UI on ``app``: templates, sessions, the guard, routes and static files."""
    from cmdb.server.ui.views import ROUTE_TABLES

    setup_templates(app)
    _exempt_from_bearer(app)
    app.middlewares.append(session_middleware(InstallationCookieStorage(secure_cookies())))
    app.middlewares.append(ui_guard)
    app.router.add_get("/", _root)
    app.router.add_get(FAVICON, _favicon)
    app.router.add_get(PREFIX, _root)
    app.router.add_get(PREFIX + "/", _root)
    for table in ROUTE_TABLES:
        app.router.add_routes(table)
    app.router.add_static(PREFIX + "/static", STATIC, name="ui-static", append_version=True)


__all__ = ["setup_ui", "is_ui_path", "USER_KEY"]
