"""JSON calls a poller makes to the servers (any server behind the load balancer)."""

from __future__ import annotations

import json
import ssl
import urllib.error
import urllib.parse
import urllib.request
from typing import Any


class PollerApiError(RuntimeError):
    """A call the server refused or could not answer; ``status`` None: no answer."""

    def __init__(self, status: int | None, message: str, body: dict | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.body = body or {}


class PollerApi:
    """``server``: the base URL; ``token``: a poller token; ``cafile``: the server's CA."""

    def __init__(self, server: str, token: str, cafile: str | None = None, timeout: float = 30):
        self.server = server.rstrip("/")
        self.token = token
        self.timeout = timeout
        self._context = ssl.create_default_context(cafile=cafile) if cafile else None

    def call(self, method: str, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(
            self.server + path,
            data=data,
            method=method,
            headers={
                "Authorization": f"Bearer {self.token}",
                "Content-Type": "application/json",
                "User-Agent": "cmdb-poller",
            },
        )
        try:
            with urllib.request.urlopen(
                request, timeout=self.timeout, context=self._context
            ) as response:
                return json.loads(response.read() or b"{}")
        except urllib.error.HTTPError as exc:
            try:
                answer = json.loads(exc.read() or b"{}")
            except ValueError:
                answer = {}
            message = (answer.get("error") or {}).get("message") if answer else None
            raise PollerApiError(exc.code, message or f"HTTP {exc.code}", answer) from exc
        except (urllib.error.URLError, OSError, ValueError) as exc:
            raise PollerApiError(None, f"server unreachable: {exc}") from exc

    # ------------------------------------------------------------ the poller's calls
    def schedules(self, site: str) -> list[dict[str, Any]]:
        query = urllib.parse.urlencode({"site": site})
        return self.call("GET", f"/api/v1/poller/schedules?{query}")["items"]

    def register_key(self, public_key: str, site: str, poller: str) -> dict[str, Any]:
        """Register this poller's public key (and site) on its token: the key the servers
        seal credential profiles to (409 when the token has another key)."""
        return self.call(
            "POST",
            "/api/v1/poller/key",
            {"public_key": public_key, "site": site, "poller": poller},
        )

    def claim_firing(self, name: str, next_run: str, poller: str) -> dict[str, Any] | None:
        """The claim (scan_id, next_run, and ``sealed_credentials`` or
        ``credentials_error`` when the schedule has profiles) when this poller won the
        firing, else None."""
        try:
            return self.call(
                "POST",
                f"/api/v1/poller/schedules/{urllib.parse.quote(name, safe='')}/claim",
                {"next_run": next_run, "poller": poller},
            )
        except PollerApiError as exc:
            if exc.status == 409:
                return None
            raise

    def claim_devices(self, targets: list[str], ttl: float, poller: str) -> list[str]:
        answer = self.call(
            "POST", "/api/v1/poller/claims", {"targets": targets, "ttl": ttl, "poller": poller}
        )
        return answer["granted"]

    def release_devices(self, targets: list[str], poller: str) -> None:
        self.call("POST", "/api/v1/poller/release", {"targets": targets, "poller": poller})

    def progress(self, scan_id: str, poller: str, **fields: Any) -> bool:
        """Report progress; True when someone asked the scan to stop."""
        answer = self.call("POST", f"/api/v1/poller/scans/{scan_id}", {**fields, "poller": poller})
        return bool(answer.get("cancel_requested"))
