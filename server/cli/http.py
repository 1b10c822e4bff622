"""A small JSON client for the CLI: every failure becomes a CliError with the server's message."""

from __future__ import annotations

import json
import os
import urllib.error
import urllib.parse
import urllib.request
from typing import Any


class CliError(RuntimeError):
    def __init__(self, message: str, exit_code: int = 1) -> None:
        super().__init__(message)
        self.exit_code = exit_code


class ApiClient:
    def __init__(self, server: str | None, token: str | None, timeout: float = 60.0) -> None:
        self.server = (server or os.environ.get("CMDB_SERVER") or "").rstrip("/")
        self.token = token or os.environ.get("CMDB_TOKEN")
        if not self.server:
            raise CliError("no server given: use --server URL or set CMDB_SERVER", 2)
        if not self.token:
            raise CliError("no token given: use --token TOKEN or set CMDB_TOKEN", 2)
        self.timeout = timeout

    def request(
        self, method: str, path: str, body: Any = None, query: dict[str, Any] | None = None
    ) -> Any:
        url = self.server + path
        if query:
            clean = {k: v for k, v in query.items() if v is not None}
            if clean:
                url += "?" + urllib.parse.urlencode(clean)
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(
            url,
            data=data,
            method=method,
            headers={"Authorization": f"Bearer {self.token}", "Content-Type": "application/json"},
        )
        try:
            with urllib.request.urlopen(req, timeout=self.timeout) as response:
                return json.loads(response.read() or b"null")
        except urllib.error.HTTPError as exc:
            try:
                message = json.loads(exc.read())["error"]["message"]
            except (ValueError, KeyError, TypeError):
                message = exc.reason
            raise CliError(f"server answered {exc.code}: {message}") from exc
        except (urllib.error.URLError, OSError) as exc:
            raise CliError(f"cannot reach {self.server}: {getattr(exc, 'reason', exc)}") from exc

    def get(self, path: str, **query: Any) -> Any:
        return self.request("GET", path, query=query)

    def post(self, path: str, body: Any) -> Any:
        return self.request("POST", path, body=body)
