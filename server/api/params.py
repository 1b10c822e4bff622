"""Query-string parsing with errors that say which parameter is wrong and why."""

from __future__ import annotations

from aiohttp import web

from cmdb.server.api.errors import ApiError

# a store's integers are 64-bit: anything larger is a client error, not an overflow deep down
INT64_MAX = 2**63 - 1


def int_param(
    request: web.Request, name: str, default: int, minimum: int = 0, maximum: int | None = None
) -> int:
    """An integer query parameter within [minimum, maximum] (maximum: the 64-bit limit)."""
    maximum = INT64_MAX if maximum is None else maximum
    raw = request.query.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw) if len(raw) <= 20 else int("x")  # longer than any int64
    except ValueError as exc:
        raise ApiError(400, f"query parameter {name!r} must be an integer, not {raw!r}") from exc
    if value < minimum or value > maximum:
        raise ApiError(
            400, f"query parameter {name!r} must be at least {minimum} and at most {maximum}"
        )
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


def known_params(request: web.Request, *names: str) -> None:
    """A 400 naming the unknown query parameters and the ones this route takes: a filter
    the server ignores would silently answer everything."""
    unknown = sorted(set(request.query) - set(names))
    if unknown:
        raise ApiError(
            400,
            f"unknown query parameter{'s' if len(unknown) > 1 else ''} "
            f"{', '.join(repr(u[:40]) for u in unknown[:5])}; this route takes "
            f"{', '.join(names) or 'none'}",
        )


def time_param(request: web.Request, name: str) -> str | None:
    """An ISO 8601 query parameter as the store's instant (UTC, ms, Z), compared as a time
    whatever its spelling (``…T00:00:00Z`` = ``…T00:00:00.000+00:00``); None if absent."""
    from cmdb.server.catalogue import CatalogueError
    from cmdb.server.catalogue.common import parse_time

    raw = request.query.get(name)
    if raw is None or raw == "":
        return None
    try:
        return parse_time(raw, f"query parameter {name!r}")
    except CatalogueError as exc:
        raise ApiError(400, exc.message) from exc
