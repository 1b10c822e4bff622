"""Query-string parsing with errors that say which parameter is wrong and why."""

from __future__ import annotations

from aiohttp import web

from server.api.errors import ApiError


def int_param(
    request: web.Request, name: str, default: int, minimum: int = 0, maximum: int | None = None
) -> int:
    raw = request.query.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError as exc:
        raise ApiError(400, f"query parameter {name!r} must be an integer, not {raw!r}") from exc
    if value < minimum or (maximum is not None and value > maximum):
        upper = f" and at most {maximum}" if maximum is not None else ""
        raise ApiError(400, f"query parameter {name!r} must be at least {minimum}{upper}")
    return value


def choice_param(request: web.Request, name: str, default: str, choices: tuple[str, ...]) -> str:
    value = request.query.get(name, default)
    if value not in choices:
        raise ApiError(
            400, f"query parameter {name!r} must be one of {', '.join(choices)}, not {value!r}"
        )
    return value


def page(request: web.Request, max_limit: int) -> tuple[int, int]:
    return (
        int_param(request, "limit", 50, 1, max_limit),
        int_param(request, "offset", 0, 0),
    )
