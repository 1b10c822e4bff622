"""Small helpers shared by the catalogue modules: validation, times, reference lookups."""

from __future__ import annotations

import re
from datetime import date, datetime
from typing import Any

from cmdb.graph import times
from cmdb.graph.store import CI, Store
from cmdb.server.catalogue import conflict, invalid, unprocessable

# documented limits: names (services, groups, assets, changes) and free text
MAX_NAME_CHARS = 200
MAX_TEXT_CHARS = 10_000
_TEXT_FIELDS = frozenset({"description", "title", "notes", "comment", "reason", "impact"})


def opt_str(body: dict[str, Any], key: str, where: str = "$") -> str | None:
    """A non-empty string field, stripped; names at most MAX_NAME_CHARS characters, free
    text (description, title …) at most MAX_TEXT_CHARS."""
    value = body.get(key)
    if value is None:
        return None
    if not isinstance(value, str) or not value.strip():
        raise invalid(f"{where}.{key} must be a non-empty string", field=f"{where}.{key}")
    limit = MAX_TEXT_CHARS if key in _TEXT_FIELDS else MAX_NAME_CHARS
    if len(value) > limit:
        raise invalid(
            f"{where}.{key} has {len(value)} characters; at most {limit}", field=f"{where}.{key}"
        )
    return value.strip()


def req_str(body: dict[str, Any], key: str, where: str = "$") -> str:
    value = opt_str(body, key, where)
    if value is None:
        raise invalid(f"{where}.{key} is required", field=f"{where}.{key}")
    return value


def opt_date(body: dict[str, Any], key: str, where: str = "$") -> str | None:
    value = body.get(key)
    if value is None:
        return None
    try:
        return date.fromisoformat(str(value)).isoformat()
    except ValueError as exc:
        raise invalid(
            f"{where}.{key} must be a date like 2026-12-31, not {value!r}", field=f"{where}.{key}"
        ) from exc


def parse_time(value: Any, name: str) -> str:
    """ISO 8601 (a date alone means midnight UTC) in the store's form: UTC, ms, ``Z``."""
    if not isinstance(value, str) or not value.strip():
        raise invalid(f"{name} must be an ISO 8601 time such as 2026-11-28T10:00:00Z")
    try:
        return times.normalise(value)
    except ValueError as exc:  # 0001-01-01T00:00:00+14:00 lies before year 1 in UTC
        raise invalid(f"{name} must be an ISO 8601 time in UTC range, not {value!r}") from exc


def to_datetime(value: str) -> datetime:
    """The aware datetime of a stored time (``cmdb.graph.times.from_store``)."""
    return times.from_store(value)


_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}$")


def check_id(value: Any, where: str) -> str:
    if not isinstance(value, str) or not _ID.match(value):
        raise invalid(f"{where} must be a CI id (a string), not {value!r}", field=where)
    return value


async def resolve_ids(store: Store, refs: list[tuple[str, str]]) -> dict[str, CI]:
    """CIs by id for (where, id) pairs; 422 naming the first unknown one."""
    found = await store.get_cis(sorted({ci_id for _, ci_id in refs}))
    for where, ci_id in refs:
        if ci_id not in found:
            raise unprocessable(
                f"{where}: no configuration item with id {ci_id!r} (a string is a CI's id; "
                "name a CI with a reference such as {class: Host, name: db1})",
                field=where,
            )
    return found


async def all_of_class(store: Store, cls: str, page: int = 5000) -> list[CI]:
    out: list[CI] = []
    offset = 0
    while True:
        items, total = await store.list_cis(cls, None, page, offset)
        out.extend(items)
        offset += len(items)
        if not items or offset >= total:
            return out


def ref(ci: CI | None) -> dict[str, Any] | None:
    if ci is None:
        return None
    return {"id": ci.id, "class": ci.cls, "name": ci.name}


def next_state(
    what: str,
    ci: CI,
    body: Any,
    states: tuple[str, ...],
    transitions: dict[str, tuple[str, ...]],
) -> str:
    """The requested state of a lifecycle record, if its state machine allows the move:
    400 for a malformed request, 409 naming the states allowed from here."""
    if not isinstance(body, dict) or not isinstance(body.get("state"), str):
        raise invalid('the body must be {"state": NEW_STATE}', field="$.state")
    new = body["state"]
    if new not in states:
        raise invalid(f"$.state must be one of {', '.join(states)}, not {new!r}", field="$.state")
    current = ci.attributes.get("state")
    allowed = transitions.get(current, ())
    if new not in allowed:
        options = ", ".join(allowed) if allowed else "none (it is final)"
        raise conflict(
            f"{what} {ci.name!r} cannot go from {current} to {new}; allowed from {current}: "
            f"{options}",
            allowed=list(allowed),
            state=current,
        )
    return new
