"""Send one report to the server: gzip JSON, bearer token, clear outcome."""

from __future__ import annotations

import gzip
import json
import ssl
import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import Any


@dataclass
class SendResult:
    ok: bool  # acknowledged (new or duplicate): the spool may forget it
    retry: bool  # the server could not take it now: keep it and retry later
    status: int | None
    message: str
    body: dict[str, Any] | None = None
    retry_after: float | None = None


def send_report(
    server: str,
    token: str,
    report: dict[str, Any],
    timeout: float = 30.0,
    cafile: str | None = None,
) -> SendResult:
    body = gzip.compress(json.dumps(report, separators=(",", ":")).encode())
    request = urllib.request.Request(
        server.rstrip("/") + "/api/v1/reports",
        data=body,
        method="POST",
        headers={
            "Content-Type": "application/json",
            "Content-Encoding": "gzip",
            "Authorization": f"Bearer {token}",
            "User-Agent": "cmdb-agent",
        },
    )
    context = ssl.create_default_context(cafile=cafile) if server.startswith("https") else None
    try:
        with urllib.request.urlopen(request, timeout=timeout, context=context) as response:
            payload = json.loads(response.read() or b"{}")
            return SendResult(True, False, response.status, payload.get("status", "ok"), payload)
    except urllib.error.HTTPError as exc:
        try:
            payload = json.loads(exc.read() or b"{}")
            message = payload.get("error", {}).get("message", exc.reason)
        except ValueError:
            payload, message = None, str(exc.reason)
        retry_after = exc.headers.get("Retry-After")
        transient = exc.code in (408, 429, 500, 502, 503, 504)
        return SendResult(
            False,
            transient,
            exc.code,
            message,
            payload,
            float(retry_after) if retry_after and retry_after.isdigit() else None,
        )
    except (urllib.error.URLError, OSError, TimeoutError) as exc:
        reason = getattr(exc, "reason", exc)
        return SendResult(False, True, None, f"server unreachable: {reason}")
