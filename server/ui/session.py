"""Sign-in sessions and CSRF for the web UI.

Sessions are ``aiohttp-session`` encrypted cookies (Fernet: AES-128-CBC + HMAC-SHA256)
that are Secure, HttpOnly and SameSite=Lax, with two expiries: idle (``IDLE_SECONDS``,
the Fernet timestamp checked on every read and renewed while the user is active) and
absolute (``ABSOLUTE_SECONDS`` from sign-in). The cookie holds the user id, the user's
``session_version`` (``cmdb.server.users``: a password, role or access change ends every
session) and the CSRF token. The encryption key is made once per installation and kept
in ``control.db`` (kv ``ui/session_key``), so every server process and restart reads the
same cookies.

CSRF: a synchronizer token (random, per session) is put into every form as
``csrf_token`` (and into htmx requests as the ``X-CSRF-Token`` header); every unsafe
request under the UI is refused unless it carries the session's token, and unless its
``Origin`` (when the browser sends one) is this server.
"""

from __future__ import annotations

import base64
import hmac
import logging
import os
import secrets
import time
from typing import Any
from urllib.parse import urlsplit

from aiohttp import web
from aiohttp_session import AbstractStorage, Session, get_session
from aiohttp_session.cookie_storage import EncryptedCookieStorage

from cmdb.server.api.keys import CONTROL_KEY
from cmdb.server.control import ControlDB

log = logging.getLogger("cmdb.ui")

COOKIE_NAME = "cmdb_session"
IDLE_SECONDS = 2 * 3600
ABSOLUTE_SECONDS = 12 * 3600
# renew the idle timer at most this often (each renewal re-encrypts the cookie)
RENEW_SECONDS = 300
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "X-CSRF-Token"
KV_NAMESPACE, KV_KEY = "ui", "session_key"
# plain-HTTP deployments on a LAN address (no TLS anywhere) cannot keep a Secure cookie;
# this opt-out is for them, and says so in the log
INSECURE_ENV = "CMDB_UI_INSECURE_COOKIE"


def session_key(control: ControlDB) -> bytes:
    """The installation's 32-byte cookie key, created on first use. Two servers starting
    at once both insert-or-ignore, then both read the one row that won."""
    fresh = base64.urlsafe_b64encode(secrets.token_bytes(32)).decode()
    # the shared state (control.db or Neo4j) keeps the first key written: every server of
    # the installation signs cookies with it
    stored = control.put_if_absent(KV_NAMESPACE, KV_KEY, fresh)
    return base64.urlsafe_b64decode(stored)


class InstallationCookieStorage(AbstractStorage):
    """``EncryptedCookieStorage`` whose key is read from ``control.db`` on the first
    request (the control database is opened after the app is built)."""

    def __init__(self, secure: bool) -> None:
        self._params: dict[str, Any] = {
            "cookie_name": COOKIE_NAME,
            "max_age": IDLE_SECONDS,
            "path": "/",
            "secure": secure,
            "httponly": True,
            "samesite": "Lax",
        }
        super().__init__(**self._params)
        self._inner: EncryptedCookieStorage | None = None

    def _storage(self, request: web.Request) -> EncryptedCookieStorage:
        if self._inner is None:
            key = session_key(request.app[CONTROL_KEY])
            self._inner = EncryptedCookieStorage(key, **self._params)
        return self._inner

    async def load_session(self, request: web.Request) -> Session:
        return await self._storage(request).load_session(request)

    async def save_session(
        self, request: web.Request, response: web.StreamResponse, session: Session
    ) -> None:
        await self._storage(request).save_session(request, response, session)


def secure_cookies() -> bool:
    if os.environ.get(INSECURE_ENV, "") in ("1", "true", "yes"):
        log.warning(
            "%s is set: the UI session cookie is sent without Secure, so it travels in "
            "clear text over plain HTTP; put TLS in front of the server instead",
            INSECURE_ENV,
        )
        return False
    return True


def csrf_token(session: Session) -> str:
    """The session's CSRF token (made on first use)."""
    token = session.get("csrf")
    if not token:
        token = secrets.token_urlsafe(32)
        session["csrf"] = token
    return token


async def check_csrf(request: web.Request, session: Session) -> bool:
    """True when an unsafe request carries this session's token (form field or header)
    and, if the browser sent an Origin, comes from this server."""
    origin = request.headers.get("Origin")
    # "null" (a sandboxed frame, a privacy redirect) is not this server either
    if origin and urlsplit(origin).netloc != request.host:
        return False
    expected = session.get("csrf")
    if not expected:
        return False
    sent = request.headers.get(CSRF_HEADER)
    if sent is None and request.content_type in (
        "application/x-www-form-urlencoded",
        "multipart/form-data",
    ):
        sent = (await request.post()).get(CSRF_FIELD)
    return isinstance(sent, str) and hmac.compare_digest(sent, expected)


def start_session(session: Session, user_id: int, version: int) -> None:
    """A fresh session for a user who just signed in (a new CSRF token: the one given to
    the anonymous sign-in form is not carried over)."""
    session.invalidate()
    session["uid"] = user_id
    session["ver"] = version
    session["since"] = int(time.time())
    session["seen"] = int(time.time())
    csrf_token(session)


def session_user_id(session: Session) -> tuple[int, int] | None:
    """(user id, session version) of a signed-in session that has not expired."""
    uid, ver, since = session.get("uid"), session.get("ver"), session.get("since")
    if not isinstance(uid, int) or not isinstance(ver, int) or not isinstance(since, int):
        return None
    now = int(time.time())
    if now - since > ABSOLUTE_SECONDS:
        return None
    if now - int(session.get("seen", since)) > RENEW_SECONDS:
        session["seen"] = now  # marks the session changed: the cookie (and idle timer) renews
    return uid, ver


__all__ = [
    "CSRF_FIELD",
    "CSRF_HEADER",
    "InstallationCookieStorage",
    "check_csrf",
    "csrf_token",
    "get_session",
    "secure_cookies",
    "session_user_id",
    "start_session",
]
