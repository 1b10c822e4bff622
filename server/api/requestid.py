"""Request ids: every request gets one, answered in ``X-Request-Id``, logged on every line
the request causes (``cmdb.server.logs``) and readable by the code the request runs through
:func:`current_request_id` (a contextvar), so writes can record it in history.

A sane incoming ``X-Request-Id`` (1 to 128 characters of letters, digits and ``-._:``,
what proxies and tracing libraries send: UUIDs, hex trace ids) is kept, so one id follows
a request through a load balancer into these logs; anything else is replaced by a new
UUID (hex), never echoed. Each aiohttp request runs in its own task, which is where the
contextvar is set, so ids never leak between requests; work a request starts in a new
task (a scan) inherits the id of the request that started it.
"""

from __future__ import annotations

import re
import uuid
from contextvars import ContextVar

from aiohttp import web

try:  # the lowest layer holds the variable, so graph's ChangeSet can default to it
    from cmdb.graph.store import REQUEST_ID as _REQUEST_ID  # type: ignore[attr-defined]
except ImportError:  # until cmdb.graph.store declares it
    _REQUEST_ID = ContextVar("cmdb_request_id", default=None)

REQUEST_ID: ContextVar[str | None] = _REQUEST_ID
HEADER = "X-Request-Id"
REQUEST_ID_KEY: web.RequestKey[str] = web.RequestKey("request_id")
_SANE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,127}")


def current_request_id() -> str | None:
    """The id of the request this code runs for, or None (a timer, the staleness sweep)."""
    return REQUEST_ID.get()


def pick_request_id(incoming: str | None) -> str:
    """``incoming`` when it is sane (see the module), else a new id."""
    if incoming and _SANE.fullmatch(incoming):
        return incoming
    return uuid.uuid4().hex


@web.middleware
async def request_id_middleware(request: web.Request, handler):
    """Outermost: the id is set before anything else runs and answered on every response
    (the header is added in ``cmdb.server.api.security``'s response hook, errors included)."""
    request_id = pick_request_id(request.headers.get(HEADER))
    request[REQUEST_ID_KEY] = request_id
    token = REQUEST_ID.set(request_id)
    try:
        return await handler(request)
    finally:
        REQUEST_ID.reset(token)
