"""One JSON error shape for every failure: ``{"error": {"status": N, "message": "..."}}``."""

from __future__ import annotations

import json
import logging
from typing import Any

from aiohttp import web

from graph.store import StoreUnavailable

log = logging.getLogger("cmdb.api")


class ApiError(Exception):
    def __init__(
        self, status: int, message: str, headers: dict[str, str] | None = None, **extra: Any
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = headers or {}
        self.extra = extra


def error_response(
    status: int, message: str, headers: dict[str, str] | None = None, **extra: Any
) -> web.Response:
    body = {"error": {"status": status, "message": message, **extra}}
    return web.json_response(body, status=status, headers=headers)


_HTTP_MESSAGES = {
    404: "no such resource: {path}",
    405: "method {method} is not allowed on {path}",
    413: "the request body is larger than the server's limit of {limit} bytes",
}


def setup_errors(app: web.Application, max_body_bytes: int) -> None:
    @web.middleware
    async def errors(request: web.Request, handler):
        try:
            return await handler(request)
        except ApiError as exc:
            return error_response(exc.status, exc.message, exc.headers, **exc.extra)
        except StoreUnavailable as exc:
            log.warning("store unavailable: %s", exc)
            return error_response(
                503,
                "the graph store is unavailable right now; retry later",
                {"Retry-After": "10"},
            )
        except web.HTTPException as exc:
            if exc.status < 400:
                raise
            template = _HTTP_MESSAGES.get(exc.status)
            message = (
                template.format(path=request.path, method=request.method, limit=max_body_bytes)
                if template
                else exc.text or exc.reason
            )
            return error_response(
                exc.status,
                message,
                {k: v for k, v in exc.headers.items() if k in ("Allow", "Retry-After")},
            )
        except Exception:
            log.exception("unhandled error on %s %s", request.method, request.path)
            return error_response(500, "internal server error; the server log has the details")

    app.middlewares.append(errors)


async def read_json(request: web.Request) -> Any:
    """The request body as JSON, or a 400 that says where the JSON broke."""
    raw = await request.read()
    try:
        return json.loads(raw)
    except UnicodeDecodeError as exc:
        raise ApiError(400, f"request body is not UTF-8 text: {exc}") from exc
    except json.JSONDecodeError as exc:
        raise ApiError(
            400, f"malformed JSON: {exc.msg} at line {exc.lineno} column {exc.colno}"
        ) from exc
