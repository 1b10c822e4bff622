"""Jinja2 environment, the context every page gets, and small formatting filters."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import aiohttp_jinja2
import jinja2
from aiohttp import web
from markupsafe import Markup

from cmdb.server.api.auth import GRANTS
from cmdb.server.ui.keys import CSRF_KEY, USER_KEY

TEMPLATES = Path(__file__).parent / "templates"

# navigation: (path, label); shown to every signed-in user, in this order
NAV = (
    ("/ui/search", "Search"),
    ("/ui/cis", "CIs"),
    ("/ui/services", "Services"),
    ("/ui/impact", "Impact"),
    ("/ui/changes", "Changes"),
    ("/ui/assets", "Assets"),
    ("/ui/discovery", "Discovery"),
)

CLASS_COLOURS = {
    "Service": "#7c3aed",
    "RedundancyGroup": "#a855f7",
    "Host": "#2563eb",
    "NetworkDevice": "#0891b2",
    "Interface": "#64748b",
    "IPAddress": "#94a3b8",
    "Network": "#0d9488",
    "Software": "#65a30d",
    "Endpoint": "#ca8a04",
    "Asset": "#db2777",
    "Supplier": "#9f1239",
    "Change": "#ea580c",
}


def can(request: web.Request, role: str) -> bool:
    """Whether the signed-in user's role grants ``role`` (``cmdb.server.api.auth.GRANTS``)."""
    user = request.get(USER_KEY)
    return user is not None and role in GRANTS.get(user.role, frozenset())


def _qs(request: web.Request, **changes: Any) -> str:
    """The current query string with some parameters changed (None removes one)."""
    params = [(k, v) for k, v in request.query.items() if k not in changes]
    for key, value in changes.items():
        if value is None:
            continue
        if isinstance(value, list | tuple):
            params.extend((key, str(v)) for v in value)
        else:
            params.append((key, str(value)))
    return "?" + urlencode(params) if params else "?"


def _short(value: Any, width: int = 80) -> str:
    if value is None:
        return ""
    text = value if isinstance(value, str) else json.dumps(value, default=str)
    return text if len(text) <= width else text[: width - 1] + "…"


def _when(value: str | None) -> str:
    """ISO time as 'YYYY-MM-DD HH:MM:SS' (UTC, as stored)."""
    if not value:
        return ""
    return value.replace("T", " ").replace("Z", "")[:19]


def _tojson_attr(value: Any) -> Markup:
    return Markup(json.dumps(value, default=str).replace("<", "\\u003c"))


def context(request: web.Request) -> dict[str, Any]:
    """What every template sees: the user, the CSRF token, navigation and helpers (read
    when the page renders, after ``cmdb.server.ui.ui_guard`` has set the user and token)."""
    user = request.get(USER_KEY)
    return {
        "user": user,
        "csrf": request.get(CSRF_KEY, ""),
        "nav": NAV,
        "path": request.path,
        "can_edit": can(request, "editor"),
        "is_admin": can(request, "admin"),
        "qs": lambda **kw: _qs(request, **kw),
        "colours": CLASS_COLOURS,
        "asset": lambda name: str(
            request.app.router["ui-static"].url_for(filename=name)  # ?v=hash: cache-safe
        ),
    }


def setup_templates(app: web.Application) -> None:
    env = aiohttp_jinja2.setup(
        app,
        loader=jinja2.FileSystemLoader(str(TEMPLATES)),
        autoescape=jinja2.select_autoescape(("html", "xml"), default=True),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["short"] = _short
    env.filters["when"] = _when
    env.filters["jsonattr"] = _tojson_attr
    env.globals["class_colour"] = lambda cls: CLASS_COLOURS.get(cls, "#475569")


def page(request: web.Request, template: str, ctx: dict[str, Any], status: int = 200):
    """A rendered page (HTML, not cached: pages show live data behind a sign-in)."""
    response = aiohttp_jinja2.render_template(
        template, request, {**context(request), **ctx}, status=status
    )
    response.headers["Cache-Control"] = "no-store"
    return response
