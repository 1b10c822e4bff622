"""Sign in, sign out, and the admin page of users."""

from __future__ import annotations

import asyncio
import logging
from urllib.parse import urlsplit

from aiohttp import web
from aiohttp_session import get_session

from cmdb.server.api.auth import THROTTLE_KEY
from cmdb.server.api.keys import CONTROL_KEY, SETTINGS_KEY
from cmdb.server.api.throttle import client_address
from cmdb.server.ui.render import page
from cmdb.server.ui.session import start_session
from cmdb.server.ui.views.common import form, require_role, see_other, user_of
from cmdb.server.users import (
    USER_ROLES,
    UserError,
    active_admins,
    create_user,
    get_user,
    list_users,
    set_active,
    set_password,
    set_role,
    verify_password,
)

log = logging.getLogger("cmdb.ui")
routes = web.RouteTableDef()


def _safe_next(target: str | None) -> str:
    """Only a path on this server (no scheme, no host): an open redirect is a phishing aid."""
    if not target or not target.startswith("/") or target.startswith("//"):
        return "/ui/search"
    parts = urlsplit(target)
    if parts.scheme or parts.netloc:
        return "/ui/search"
    return target


@routes.get("/ui/login")
async def login_form(request: web.Request) -> web.Response:
    return page(request, "login.html", {"next": _safe_next(request.query.get("next")), "error": ""})


@routes.post("/ui/login")
async def login(request: web.Request) -> web.Response:
    """Check the name and password; a wrong pair counts against the client's address in
    the API's failed-authentication throttle (``app[THROTTLE_KEY]``, one per server): past
    ``auth_fail_limit`` failures within ``auth_fail_window`` s the address is answered 429
    with ``Retry-After``, here and on the API, without the password being checked."""
    data = await form(request)
    name, password = str(data.get("name", "")), str(data.get("password", ""))
    target = _safe_next(str(data.get("next", "")))
    control = request.app[CONTROL_KEY]
    throttle = request.app[THROTTLE_KEY]
    address = client_address(request, frozenset(request.app[SETTINGS_KEY].trusted_proxies))
    wait = throttle.retry_after(address)
    if wait is not None:
        # refused before argon2 runs: guessing stops paying, and costs the server nothing
        response = page(
            request,
            "login.html",
            {
                "next": target,
                "error": f"Too many failed sign-ins from your address; try again in {wait} s.",
                "name": name,
            },
            status=429,
        )
        response.headers["Retry-After"] = str(wait)
        return response
    # argon2id takes tens of milliseconds of CPU: off the event loop
    user = await asyncio.get_running_loop().run_in_executor(
        None, verify_password, control, name, password
    )
    if user is None:
        # one line per failure, as sshd writes (what fail2ban and people grep for); the
        # throttle adds one warning when the address tips over
        log.info(
            "failed sign-in for user %r from %s",
            name[:64],
            address,
            extra={"remote": address, "user": name[:64]},
        )
        throttle.failed(address)
        return page(
            request,
            "login.html",
            {"next": target, "error": "Unknown user name or wrong password.", "name": name},
            status=401,
        )
    session = await get_session(request)
    start_session(session, user.id, user.session_version)
    raise see_other(target)


@routes.post("/ui/logout")
async def logout(request: web.Request) -> web.Response:
    session = await get_session(request)
    session.invalidate()
    raise see_other("/ui/login")


# ---------------------------------------------------------------- users (admin)
@routes.get("/ui/admin/users")
async def users_page(request: web.Request) -> web.Response:
    require_role(request, "admin")
    return page(
        request,
        "users.html",
        {
            "users": list_users(request.app[CONTROL_KEY]),
            "roles": USER_ROLES,
            "message": request.query.get("message", ""),
            "error": "",
        },
    )


@routes.post("/ui/admin/users")
async def users_create(request: web.Request) -> web.Response:
    require_role(request, "admin")
    data = await form(request)
    control = request.app[CONTROL_KEY]
    try:
        user = await asyncio.get_running_loop().run_in_executor(
            None,
            create_user,
            control,
            str(data.get("name", "")),
            str(data.get("role", "")),
            str(data.get("password", "")),
        )
    except UserError as exc:
        return page(
            request,
            "users.html",
            {"users": list_users(control), "roles": USER_ROLES, "message": "", "error": str(exc)},
            status=400,
        )
    raise see_other(f"/ui/admin/users?message=created+{user.name}")


@routes.post("/ui/admin/users/{id}")
async def users_update(request: web.Request) -> web.Response:
    me = require_role(request, "admin")
    data = await form(request)
    control = request.app[CONTROL_KEY]
    target = get_user(control, int(request.match_info["id"]))
    if target is None:
        raise web.HTTPNotFound(text="no such user")
    action = data.get("action")
    try:
        if action == "role":
            role = str(data.get("role", ""))
            if target.role == "admin" and role != "admin" and active_admins(control) <= 1:
                raise UserError("the last active admin cannot lose the admin role")
            set_role(control, target.id, role)
        elif action in ("disable", "enable"):
            if action == "disable" and target.id == me.id:
                raise UserError("you cannot disable yourself")
            set_active(control, target.id, action == "enable")
        elif action == "password":
            await asyncio.get_running_loop().run_in_executor(
                None, set_password, control, target.id, str(data.get("password", ""))
            )
        else:
            raise UserError(f"unknown action {action!r}")
    except UserError as exc:
        return page(
            request,
            "users.html",
            {"users": list_users(control), "roles": USER_ROLES, "message": "", "error": str(exc)},
            status=400,
        )
    raise see_other(f"/ui/admin/users?message={action}+{target.name}")


@routes.get("/ui/me")
async def me_page(request: web.Request) -> web.Response:
    raise see_other("/ui/admin/users" if user_of(request).role == "admin" else "/ui/search")
