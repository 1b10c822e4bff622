"""A small JSON client for the CLI: every failure becomes a CliError with the server's message."""

from __future__ import annotations

import json
import os
import ssl
import urllib.error
import urllib.parse
import urllib.request
from typing import Any


class CliError(RuntimeError):
    """A failure to print as ``cmdb: MESSAGE`` with ``exit_code``; ``status`` is the
    server's HTTP status when the server answered with an error."""

    def __init__(self, message: str, exit_code: int = 1, status: int | None = None) -> None:
        super().__init__(message)
        self.exit_code = exit_code
        self.status = status


def cli_ssl_context(cafile: str | None = None) -> ssl.SSLContext:
    """The CLI's TLS context (cmdb.agent.client.TlsOptions): ``cafile`` or ``CMDB_CAFILE``, and
    ``CMDB_CLIENT_CERT``/``CMDB_CLIENT_KEY`` when the server asks for a client certificate."""
    from cmdb.agent.client import TlsOptions

    options = TlsOptions.from_env()
    options.cafile = cafile or options.cafile
    try:
        return options.context()
    except (OSError, ssl.SSLError) as exc:
        where = options.cafile or "the system's CAs"
        raise CliError(f"cannot load the TLS files ({where}): {exc}", 2) from exc


class ApiClient:
    def __init__(
        self,
        server: str | None,
        token: str | None,
        timeout: float = 60.0,
        cafile: str | None = None,
    ) -> None:
        self.server = (server or os.environ.get("CMDB_SERVER") or "").rstrip("/")
        self.token = token or os.environ.get("CMDB_TOKEN")
        if not self.server:
            raise CliError("no server given: use --server URL or set CMDB_SERVER", 2)
        from cmdb.agent.cli import server_url_problem

        problem = server_url_problem(self.server, "--server" if server else "CMDB_SERVER")
        if problem:
            raise CliError(problem, 2)
        if not self.token:
            raise CliError("no token given: use --token TOKEN or set CMDB_TOKEN", 2)
        self.timeout = timeout
        # TLS: --cafile or CMDB_CAFILE for a private CA, CMDB_CLIENT_CERT/KEY for mutual TLS
        self.ssl_context = cli_ssl_context(cafile) if self.server.startswith("https:") else None

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
            with urllib.request.urlopen(
                req, timeout=self.timeout, context=self.ssl_context
            ) as response:
                return json.loads(response.read() or b"null")
        except urllib.error.HTTPError as exc:
            try:
                message = json.loads(exc.read())["error"]["message"]
            except (ValueError, KeyError, TypeError):
                message = exc.reason
            raise CliError(f"server answered {exc.code}: {message}", status=exc.code) from exc
        except (urllib.error.URLError, OSError) as exc:
            raise CliError(f"cannot reach {self.server}: {getattr(exc, 'reason', exc)}") from exc

    def get(self, path: str, **query: Any) -> Any:
        return self.request("GET", path, query=query)

    def post(self, path: str, body: Any) -> Any:
        return self.request("POST", path, body=body)

    def patch(self, path: str, body: Any) -> Any:
        return self.request("PATCH", path, body=body)

    def delete(self, path: str, **query: Any) -> Any:
        return self.request("DELETE", path, query=query)
