"""The manual side of the CMDB: service catalogue, asset register, change review,
impact analysis, status accounting and observed application dependencies.

Everything here writes through ``store.apply(ChangeSet)`` (one change set per
request, history carrying the caller's token name and source ``manual``) and
reads through the store protocol plus ``cmdb.graph.queries``; nothing here knows HTTP.
"""

from __future__ import annotations


class CatalogueError(ValueError):
    """A request the catalogue refuses; ``status`` is the HTTP status it maps to."""

    def __init__(self, status: int, message: str, **extra) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.extra = extra


def invalid(message: str, **extra) -> CatalogueError:
    return CatalogueError(400, message, **extra)


def unprocessable(message: str, **extra) -> CatalogueError:
    return CatalogueError(422, message, **extra)


def conflict(message: str, **extra) -> CatalogueError:
    return CatalogueError(409, message, **extra)


def not_found(message: str) -> CatalogueError:
    return CatalogueError(404, message)
