"""Response headers every answer carries, API and UI alike, errors included.

* ``Server: cmdb``: no version banner (aiohttp's default names Python's and its own).
* ``X-Content-Type-Options: nosniff``, ``X-Frame-Options: DENY`` and CSP
  ``frame-ancestors 'none'`` (no framing, old and new browsers), ``Referrer-Policy:
  same-origin``, ``Cross-Origin-Opener-Policy`` / ``-Resource-Policy: same-origin``.
* ``Content-Security-Policy``: HTML pages may load scripts, styles and images from this
  server only (``/static``), no inline script; style attributes are allowed because the
  UI colours legend dots with them. Other answers (JSON) get ``default-src 'none'``.
  A handler that sets its own header (the UI does) keeps it.
* ``Strict-Transport-Security`` when the server speaks TLS (one year).
* ``Cache-Control: no-store`` on API answers that did not say otherwise: they carry
  inventory and, once, token secrets.
* ``X-Request-Id``: the request's id (``cmdb.server.api.requestid``).

Set in ``on_response_prepare``, which runs for every response a route, a middleware or
an HTTP exception produces.
"""

from __future__ import annotations

from aiohttp import web, web_response

from cmdb.server.api.requestid import HEADER as REQUEST_ID_HEADER
from cmdb.server.api.requestid import REQUEST_ID_KEY

SERVER_NAME = "cmdb"
HTML_CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; connect-src 'self'; object-src 'none'; base-uri 'none'; "
    "form-action 'self'; frame-ancestors 'none'"
)
API_CSP = "default-src 'none'; frame-ancestors 'none'"
HSTS = "max-age=31536000"
COMMON = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cross-Origin-Resource-Policy": "same-origin",
}


def security_headers(path: str, content_type: str, tls: bool) -> dict[str, str]:
    """The headers (above) for an answer to ``path`` of ``content_type``."""
    headers = dict(COMMON)
    headers["Content-Security-Policy"] = HTML_CSP if content_type == "text/html" else API_CSP
    if tls:
        headers["Strict-Transport-Security"] = HSTS
    if path.startswith("/api/"):
        headers["Cache-Control"] = "no-store"
    return headers


def setup_security_headers(app: web.Application, tls: bool) -> None:
    """Add the headers to every response of ``app``; ``tls``: the server speaks HTTPS."""
    # answers aiohttp writes before any app is involved (a malformed request line) use
    # this module default: no version there either
    web_response.SERVER_SOFTWARE = SERVER_NAME

    async def on_prepare(request: web.Request, response: web.StreamResponse) -> None:
        headers = response.headers
        headers["Server"] = SERVER_NAME
        for name, value in security_headers(request.path, response.content_type, tls).items():
            headers.setdefault(name, value)
        request_id = request.get(REQUEST_ID_KEY)
        if request_id:
            headers[REQUEST_ID_HEADER] = request_id

    app.on_response_prepare.append(on_prepare)
