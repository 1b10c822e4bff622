"""Typed request keys of the web UI."""

from __future__ import annotations

from typing import TYPE_CHECKING

from aiohttp import web

if TYPE_CHECKING:
    from cmdb.server.users import User

USER_KEY: web.RequestKey[User] = web.RequestKey("ui_user")
CSRF_KEY: web.RequestKey[str] = web.RequestKey("ui_csrf")
