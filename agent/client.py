"""Send one report to the server: gzip JSON, bearer token, the answer as data.

This module only speaks HTTP; what the agent does with each answer is decided in
``cmdb.agent.protocol``. Every failure is a value: a network error, a proxy's HTML page or a
cut-off body never raises out of :func:`send_report`.
"""

from __future__ import annotations

import email.utils
import gzip
import http.client
import json
import os
import ssl
import time
import urllib.parse
import urllib.request
from dataclasses import dataclass
from typing import Any

from cmdb.collectors.model import utc_now_iso


@dataclass
class SendResult:
    """The server's answer. ``status`` is the HTTP status (None: no answer at all);
    ``answer`` the body's ``status`` word (applied, duplicate, full_report_required...);
    ``message`` a sentence for the log; ``retry_after`` seconds from the header."""

    status: int | None
    answer: str | None
    message: str
    body: dict[str, Any] | None = None
    retry_after: float | None = None

    @property
    def ok(self) -> bool:
        """The server took the report (any 2xx answer of its own)."""
        return self.status is not None and 200 <= self.status < 300 and self.body is not None

    @property
    def retry(self) -> bool:
        """Not taken now, but the same report may be taken later (cmdb.agent.protocol)."""
        from cmdb.agent.protocol import Verdict, classify  # protocol builds on this module

        return classify(self) is Verdict.RETRY

    @property
    def limit(self) -> int | None:
        """The byte limit a 413 names, when it names one."""
        for holder in (self.body or {}, (self.body or {}).get("error") or {}):
            value = holder.get("limit") if isinstance(holder, dict) else None
            if isinstance(value, int):
                return value
        return None


@dataclass
class TlsOptions:
    """How the agent checks the server and proves itself (docs/deployment-tls.md):
    ``cafile`` the CA bundle (PEM) that signs the server's certificate (a private CA;
    default: the system's trust store), ``certfile``/``keyfile`` the agent's client
    certificate and key for a server that asks for one (mutual TLS)."""

    cafile: str | None = None
    certfile: str | None = None
    keyfile: str | None = None

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None) -> TlsOptions:
        """``CMDB_CAFILE``, ``CMDB_CLIENT_CERT``, ``CMDB_CLIENT_KEY``."""
        env = os.environ if environ is None else environ
        return cls(
            env.get("CMDB_CAFILE") or None,
            env.get("CMDB_CLIENT_CERT") or None,
            env.get("CMDB_CLIENT_KEY") or None,
        )

    def context(self) -> ssl.SSLContext:
        """A client context: the server's certificate and name are always verified."""
        context = ssl.create_default_context(cafile=self.cafile)
        if self.certfile:
            context.load_cert_chain(self.certfile, self.keyfile)
        return context


# what send_report uses when its caller gives no cafile: the environment, or what the
# command line set with configure_tls (``cmdb agent run --cafile --cert --key``)
_TLS: TlsOptions | None = None


def configure_tls(
    cafile: str | None = None, certfile: str | None = None, keyfile: str | None = None
) -> TlsOptions:
    """Set the agent's TLS options for every send (flags win over the environment)."""
    global _TLS
    env = TlsOptions.from_env()
    options = TlsOptions(cafile or env.cafile, certfile or env.certfile, keyfile or env.keyfile)
    # only what the command line said is kept: without options the environment is read at
    # each send, as before (a CLI run in a long-lived process leaves nothing behind)
    _TLS = options if (cafile or certfile or keyfile) else None
    return options


def tls_options() -> TlsOptions:
    return _TLS if _TLS is not None else TlsOptions.from_env()


def encode(report: dict[str, Any]) -> bytes:
    """The request body: compact JSON, gzip."""
    return gzip.compress(json.dumps(report, separators=(",", ":")).encode(), compresslevel=6)


def send_report(
    server: str,
    token: str,
    report: dict[str, Any],
    timeout: float = 30.0,
    cafile: str | None = None,
) -> SendResult:
    """POST ``report`` to ``server``; every outcome, a network failure included, is a value.

    http.client rather than urllib: a server that refuses an upload early (413 after
    reading only Content-Length) answers and closes while the body is still going out;
    the answer is read after the broken pipe instead of being lost as a network error.
    """
    # the agent's clock at the moment of sending: the server measures this host's clock
    # skew from it and stamps the report on its own clock (see cmdb.server.ingest)
    body = encode({**report, "sent_at": utc_now_iso()})
    parts = urllib.parse.urlsplit(server.rstrip("/"))
    path = (parts.path or "") + "/api/v1/reports"
    headers = {
        "Content-Type": "application/json",
        "Content-Encoding": "gzip",
        "Authorization": f"Bearer {token}",
        "User-Agent": "cmdb-agent",
    }
    try:
        conn, target = _connection(parts, path, timeout, cafile)
    except (ValueError, OSError) as exc:
        return SendResult(None, None, f"server unreachable: {exc}")
    try:
        try:
            conn.request("POST", target, body=body, headers=headers)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the server may have answered before reading it all: read the answer
        response = conn.getresponse()
        raw = response.read()
        status, retry_after = response.status, response.getheader("Retry-After")
    except (OSError, http.client.HTTPException, ValueError) as exc:
        reason = getattr(exc, "reason", None) or exc
        return SendResult(None, None, f"server unreachable: {type(exc).__name__}: {reason}")
    finally:
        conn.close()
    answer_body = _json_object(raw)
    return SendResult(
        status,
        _answer(answer_body),
        _message(answer_body, status),
        answer_body,
        parse_retry_after(retry_after),
    )


def _connection(
    parts: urllib.parse.SplitResult, path: str, timeout: float, cafile: str | None
) -> tuple[http.client.HTTPConnection, str]:
    """A connection to the server, through the proxy that the environment names for it
    (HTTP_PROXY / HTTPS_PROXY / NO_PROXY, as urllib reads them)."""
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"not an http(s) URL: {urllib.parse.urlunsplit(parts)}")
    host = parts.hostname
    port = parts.port or (443 if parts.scheme == "https" else 80)
    proxy = urllib.request.getproxies().get(parts.scheme)
    if proxy and urllib.request.proxy_bypass(f"{host}:{port}"):
        proxy = None
    connect_host, connect_port = host, port
    if proxy:
        proxied = urllib.parse.urlsplit(proxy if "://" in proxy else f"http://{proxy}")
        connect_host, connect_port = proxied.hostname or host, proxied.port or 8080
    if parts.scheme == "https":
        options = tls_options()
        if cafile:
            options = TlsOptions(cafile, options.certfile, options.keyfile)
        context = options.context()
        conn: http.client.HTTPConnection = http.client.HTTPSConnection(
            connect_host, connect_port, timeout=timeout, context=context
        )
        if proxy:
            conn.set_tunnel(host, port)
        return conn, path
    conn = http.client.HTTPConnection(connect_host, connect_port, timeout=timeout)
    # a plain-HTTP proxy takes the absolute URL
    return conn, (f"http://{host}:{port}{path}" if proxy else path)


def _json_object(raw: bytes) -> dict[str, Any] | None:
    try:
        value = json.loads(raw or b"{}")
    except (ValueError, RecursionError):
        return None
    return value if isinstance(value, dict) else None


def _answer(body: dict[str, Any] | None) -> str | None:
    if not body:
        return None
    for holder in (body, body.get("error")):
        if isinstance(holder, dict):
            for key in ("status", "code"):
                if isinstance(holder.get(key), str):
                    return holder[key]
    return None


def _message(body: dict[str, Any] | None, status: int) -> str:
    if body:
        for holder in (body, body.get("error")):
            if isinstance(holder, dict):
                for key in ("reason", "message"):
                    if isinstance(holder.get(key), str) and holder[key]:
                        return holder[key]
        if isinstance(body.get("status"), str):
            return body["status"]
    try:
        return f"HTTP {status} {http.client.responses.get(status, '')}".strip()
    except Exception:  # noqa: BLE001
        return f"HTTP {status}"


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    """Seconds from a Retry-After header: delta-seconds or an HTTP date (RFC 9110)."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when is None:
        return None
    now = time.time() if now is None else now
    return max(0.0, when.timestamp() - now)
