"""One JSON error shape for every failure: ``{"error": {"status": N, "message": "..."}}``.

Some errors also carry top-level keys a client acts on without parsing the message
(``{"status": "too_large", "limit": N, "which": "wire", "error": {...}}``)."""

from __future__ import annotations

import json
import logging
import re
from typing import Any

from aiohttp import web

from cmdb.graph.store import ServerBusy, StoreUnavailable

log = logging.getLogger("cmdb.api")


class ApiError(Exception):
    """An answer other than success. ``extra`` goes into the ``error`` object, ``top``
    beside it; ``close`` ends the connection after the answer (the body was not read to
    its end, e.g. an oversize upload: nothing more of it is read)."""

    def __init__(
        self,
        status: int,
        message: str,
        headers: dict[str, str] | None = None,
        *,
        top: dict[str, Any] | None = None,
        close: bool = False,
        **extra: Any,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = headers or {}
        self.top = top or {}
        self.close = close
        self.extra = extra


def error_response(
    status: int,
    message: str,
    headers: dict[str, str] | None = None,
    top: dict[str, Any] | None = None,
    **extra: Any,
) -> web.Response:
    body = {**(top or {}), "error": {"status": status, "message": message, **extra}}
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
            response = error_response(exc.status, exc.message, exc.headers, exc.top, **exc.extra)
            if exc.close:
                response.force_close()
            return response
        except ServerBusy as exc:
            return error_response(
                503,
                str(exc),  # it says when to send again (cmdb.server.admission)
                {"Retry-After": str(exc.retry_after)},
                {"status": "busy"},
            )
        except StoreUnavailable as exc:
            log.warning("store unavailable: %s", exc)
            return error_response(
                503,
                "the graph store is unavailable right now; retry later",
                {"Retry-After": "10"},
                {"status": "unavailable"},
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
    """The request body as JSON (any supported Content-Encoding undone, within the
    server's limits: ``cmdb.server.api.body``), or a 400 that says where the JSON broke;
    on a declared route, the body the edge already read and validated."""
    from cmdb.server.api.body import limits_of, read_body  # body builds on ApiError, defined here
    from cmdb.server.api.keys import SETTINGS_KEY
    from cmdb.server.api.spec import ARGS_KEY

    # a declared route's body was read and validated at the edge (cmdb.server.api.spec)
    args = request.get(ARGS_KEY)
    if args is not None and args.body_read:
        return args.body
    return parse_json(await read_body(request, limits_of(request.app[SETTINGS_KEY])))


# request bodies are documents, not puzzles: deeper nesting, longer numbers or text that
# is not Unicode are refused at the edge (each would fail somewhere deep otherwise)
MAX_JSON_DEPTH = 64
MAX_NUMBER_DIGITS = 40
_SURROGATE = re.compile("[\ud800-\udfff]")
_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F]")


def _number(text: str) -> int | float:
    if len(text) > MAX_NUMBER_DIGITS:
        raise ApiError(
            400, f"a number in the body has {len(text)} digits; at most {MAX_NUMBER_DIGITS}"
        )
    return int(text) if text.lstrip("-").isdigit() else float(text)


def _no_constant(name: str) -> Any:
    raise ApiError(400, f"{name} is not a JSON number; send a number or null")


def check_json(value: Any, strings: bool = True) -> None:
    """Raise a 400 for nesting deeper than MAX_JSON_DEPTH or a string that is not Unicode
    (a lone surrogate such as \\udcff); an iterative walk, so no input can exhaust the
    stack. ``strings=False`` skips the string check (``parse_json`` knows there is none to
    find when the text holds no surrogate escape) and walks containers only."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, str):
            if strings and _SURROGATE.search(item):
                raise ApiError(400, "a string in the body holds a lone surrogate: not Unicode text")
            continue
        if not isinstance(item, dict | list):
            continue
        if depth > MAX_JSON_DEPTH:
            raise ApiError(400, f"the body nests deeper than {MAX_JSON_DEPTH} levels")
        if isinstance(item, dict):
            if strings:
                stack.extend((key, depth + 1) for key in item)
            item = item.values()
        for child in item:
            if strings or isinstance(child, dict | list):
                stack.append((child, depth + 1))


def parse_json(raw: bytes) -> Any:
    """``raw`` as JSON, or a 400 that says where the JSON broke (see ``check_json`` for what
    else is refused)."""
    try:
        value = json.loads(raw, parse_int=_number, parse_float=_number, parse_constant=_no_constant)
    except UnicodeDecodeError as exc:
        raise ApiError(400, f"request body is not UTF-8 text: {exc}") from exc
    except json.JSONDecodeError as exc:
        raise ApiError(
            400, f"malformed JSON: {exc.msg} at line {exc.lineno} column {exc.colno}"
        ) from exc
    except RecursionError as exc:
        raise ApiError(400, f"the body nests deeper than {MAX_JSON_DEPTH} levels") from exc
    # UTF-8 text cannot hold a surrogate: only a \\uD800-\\uDFFF escape can make one, so
    # most bodies (every agent report) skip the per-string check
    check_json(value, strings=_SURROGATE_ESCAPE.search(raw) is not None)
    return value
