"""Helpers the UI views share: the signed-in user, forms, role checks, paging."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from cmdb.server.api.keys import SETTINGS_KEY, STORE_KEY
from cmdb.server.ui.keys import USER_KEY
from cmdb.server.ui.render import can
from cmdb.server.users import User

PAGE_SIZES = (25, 50, 100, 200)


def store_of(request: web.Request):
    return request.app[STORE_KEY]


def settings_of(request: web.Request):
    return request.app[SETTINGS_KEY]


def user_of(request: web.Request) -> User:
    return request[USER_KEY]


def require_role(request: web.Request, role: str) -> User:
    """The signed-in user if their role grants ``role`` (the API's grants), else 403."""
    if not can(request, role):
        raise web.HTTPForbidden(
            text=f"This needs the {role} role; you ({user_of(request).name}) have the "
            f"{user_of(request).role} role."
        )
    return user_of(request)


async def form(request: web.Request) -> dict[str, Any]:
    """The posted form, single values as strings and repeated fields as lists."""
    data = await request.post()
    out: dict[str, Any] = {}
    for key in data:
        values = [v for v in data.getall(key) if isinstance(v, str)]
        out[key] = values if len(values) > 1 else (values[0] if values else "")
    return out


def int_query(request: web.Request, name: str, default: int, low: int, high: int) -> int:
    try:
        value = int(request.query.get(name, default))
    except ValueError:
        return default
    return max(low, min(high, value))


def paging(request: web.Request, default: int = 50) -> tuple[int, int, int]:
    """(page number from 1, page size, offset)."""
    size = int_query(request, "size", default, 1, 1000)
    number = int_query(request, "page", 1, 1, 1_000_000)
    return number, size, (number - 1) * size


def see_other(location: str) -> web.HTTPSeeOther:
    return web.HTTPSeeOther(location)
