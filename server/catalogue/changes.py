"""Change review: records that name CIs and a window, assessed by impact, checked
against discovery afterwards; and the discovered changes no record covered."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime
from typing import Any

from graph.queries import history_between
from graph.store import CI, Store
from server.catalogue import conflict, invalid, not_found
from server.catalogue.common import (
    all_of_class,
    check_id,
    next_state,
    opt_str,
    parse_time,
    ref,
    resolve_ids,
)
from server.catalogue.impact import impact
from server.catalogue.writes import ManualWriter

STATES = (
    "draft",
    "assessed",
    "approved",
    "implemented",
    "verified",
    "closed",
    "rejected",
    "cancelled",
)
TRANSITIONS: dict[str, tuple[str, ...]] = {
    "draft": ("assessed", "cancelled"),
    "assessed": ("approved", "rejected", "draft", "cancelled"),
    "approved": ("implemented", "cancelled"),
    "implemented": ("verified",),
    "verified": ("closed",),
    "closed": (),
    "rejected": (),
    "cancelled": (),
}
# a change in one of these states covers what discovery sees on its CIs in its window
AUTHORISED = ("approved", "implemented", "verified", "closed")
# changes still planned or under way; overlaps among them are conflicts
OPEN = ("draft", "assessed", "approved", "implemented")
DISCOVERY_SOURCES = ("agent", "snmp")
STORED_CIS = 500  # an assessment keeps the affected services and at most this many CIs


def _window(body: dict[str, Any]) -> tuple[str, str] | None:
    window = body.get("window")
    if window is None and "window_start" not in body:
        return None
    if window is None:
        window = {"start": body.get("window_start"), "end": body.get("window_end")}
    if not isinstance(window, dict):
        raise invalid('$.window must be {"start": TIME, "end": TIME}', field="$.window")
    start = parse_time(window.get("start"), "$.window.start")
    end = parse_time(window.get("end"), "$.window.end")
    if end <= start:
        raise invalid("$.window.end must be after $.window.start", field="$.window.end")
    return start, end


def _cis(body: dict[str, Any]) -> list[str] | None:
    if "cis" not in body:
        return None
    cis = body["cis"]
    if not isinstance(cis, list) or not cis:
        raise invalid("$.cis must be a non-empty list of CI ids", field="$.cis")
    return [check_id(c, f"$.cis[{i}]") for i, c in enumerate(cis)]


async def _affects(store: Store, change_id: str) -> list[tuple[CI, Any]]:
    return [
        (v.other, v.rel)
        for v in await store.relationships(change_id)
        if v.rel.type == "AFFECTS" and v.direction == "out"
    ]


async def change_record(store: Store, ci: CI) -> dict[str, Any]:
    a = ci.attributes
    return {
        "id": ci.id,
        "change_id": a.get("change_id"),
        "title": a.get("title"),
        "state": a.get("state"),
        "window": {"start": a.get("window_start"), "end": a.get("window_end")},
        "requested_by": a.get("requested_by"),
        "cis": [ref(c) for c, _ in sorted(await _affects(store, ci.id), key=lambda p: p[0].id)],
        "impact": a.get("impact"),
        "allowed_transitions": list(TRANSITIONS.get(a.get("state"), ())),
    }


async def get_change(store: Store, change_id: str) -> CI:
    ci = await store.get_ci(change_id)
    if ci is None or ci.cls != "Change":
        raise not_found(f"no change with id {change_id!r}")
    return ci


async def create_change(store: Store, body: Any, actor: str | None) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise invalid("the request body must be a JSON object")
    title = opt_str(body, "title")
    if title is None:
        raise invalid("$.title is required", field="$.title")
    cis = _cis(body)
    if cis is None:
        raise invalid("$.cis is required: the CIs the change touches", field="$.cis")
    window = _window(body)
    if window is None:
        raise invalid('$.window is required: {"start": TIME, "end": TIME}', field="$.window")
    await resolve_ids(store, [(f"$.cis[{i}]", c) for i, c in enumerate(cis)])
    writer = ManualWriter(actor)
    number = opt_str(body, "change_id") or (
        f"CHG-{datetime.now(UTC):%Y%m%d}-{secrets.token_hex(3).upper()}"
    )
    if (await store.find_by_identity("Change", "change_id", [number])).get(number):
        raise conflict(f"a change {number!r} already exists")
    change = writer.create_ci(
        "Change",
        {
            "change_id": number,
            "title": title,
            "state": "draft",
            "window_start": window[0],
            "window_end": window[1],
            "requested_by": opt_str(body, "requested_by") or actor,
        },
    )
    for ci_id in dict.fromkeys(cis):
        writer.add_rel("AFFECTS", change.id, ci_id)
    await store.apply(writer.cs)
    return await change_record(store, await get_change(store, change.id))


async def update_change(store: Store, change_id: str, body: Any, actor: str | None) -> dict:
    """Title, window and CIs can change while the change is a draft."""
    change = await get_change(store, change_id)
    if not isinstance(body, dict):
        raise invalid("the request body must be a JSON object")
    state = change.attributes.get("state")
    if state != "draft":
        raise conflict(
            f"change {change.name!r} is {state}; only a draft can be edited "
            "(move it back to draft from assessed first)",
            state=state,
        )
    writer = ManualWriter(actor)
    attrs: dict[str, Any] = {}
    if "title" in body:
        attrs["title"] = opt_str(body, "title")
    window = _window(body)
    if window:
        attrs["window_start"], attrs["window_end"] = window
    cis = _cis(body)
    if cis is not None:
        targets = await resolve_ids(store, [(f"$.cis[{i}]", c) for i, c in enumerate(cis)])
        current = {c.id: rel for c, rel in await _affects(store, change.id)}
        for ci_id, rel in current.items():
            if ci_id not in targets:
                writer.close_rel(rel)
        for ci_id in dict.fromkeys(cis):
            if ci_id not in current:
                writer.add_rel("AFFECTS", change.id, ci_id)
    writer.update_ci(change, attrs)
    if not writer.cs.is_empty():
        await store.apply(writer.cs)
    return await change_record(store, await get_change(store, change.id))


async def assess(store: Store, change: CI, depth: int) -> dict[str, Any]:
    report = await impact(store, [c.id for c, _ in await _affects(store, change.id)], depth)
    return {
        "services": report["services"],
        "cis": report["cis"][:STORED_CIS],
        "cis_total": len(report["cis"]),
        "depth": depth,
    }


async def transition_change(
    store: Store, change_id: str, body: Any, actor: str | None, depth: int = 10
) -> dict[str, Any]:
    change = await get_change(store, change_id)
    new = next_state("change", change, body, STATES, TRANSITIONS)
    writer = ManualWriter(actor)
    attrs: dict[str, Any] = {"state": new}
    if new == "assessed":
        attrs["impact"] = {**await assess(store, change, depth), "assessed_at": writer.at}
    writer.update_ci(change, attrs)
    await store.apply(writer.cs)
    record = await change_record(store, await get_change(store, change.id))
    if new == "verified":
        record["verification"] = await verification(store, change.id)
    return record


async def list_changes(
    store: Store, state: str | None, limit: int, offset: int
) -> tuple[list[dict[str, Any]], int]:
    if state is not None and state not in STATES:
        raise invalid(f"state must be one of {', '.join(STATES)}, not {state!r}")
    changes = await all_of_class(store, "Change")
    if state:
        changes = [c for c in changes if c.attributes.get("state") == state]
    changes.sort(key=lambda c: (c.attributes.get("window_start") or "", c.name or ""))
    page = changes[offset : offset + limit]
    return [await change_record(store, c) for c in page], len(changes)


async def _services_of(store: Store, change: CI, depth: int) -> dict[str, str | None]:
    stored = change.attributes.get("impact")
    if not stored:
        stored = await assess(store, change, depth)
    return {s["id"]: s.get("name") for s in stored.get("services", [])}


async def conflicts(store: Store, depth: int = 10, only: str | None = None) -> list[dict]:
    """Pairs of open changes whose windows overlap and whose impacts share a service."""
    changes = [c for c in await all_of_class(store, "Change") if c.attributes.get("state") in OPEN]
    services = {c.id: await _services_of(store, c, depth) for c in changes}
    out = []
    for i, a in enumerate(changes):
        for b in changes[i + 1 :]:
            if only and only not in (a.id, b.id):
                continue
            a_start, a_end = a.attributes["window_start"], a.attributes["window_end"]
            b_start, b_end = b.attributes["window_start"], b.attributes["window_end"]
            if not (a_start < b_end and b_start < a_end):
                continue
            shared = sorted(set(services[a.id]) & set(services[b.id]))
            if shared:
                out.append(
                    {
                        "changes": [
                            {"id": c.id, "change_id": c.name, "state": c.attributes["state"]}
                            for c in (a, b)
                        ],
                        "overlap": {"start": max(a_start, b_start), "end": min(a_end, b_end)},
                        "services": [
                            {"id": s, "name": services[a.id][s] or services[b.id][s]}
                            for s in shared
                        ],
                    }
                )
    return out


async def verification(store: Store, change_id: str) -> list[dict[str, Any]]:
    """What discovery saw change on the declared CIs during the window."""
    change = await get_change(store, change_id)
    start, end = change.attributes["window_start"], change.attributes["window_end"]
    out = []
    for ci, _ in await _affects(store, change.id):
        entries, _ = await store.history(ci.id, 10_000, 0, since=start, until=end)
        seen = [e.to_api() for e in reversed(entries) if e.source in DISCOVERY_SOURCES]
        out.append({"ci": ref(ci), "changes": seen})
    return out


async def unauthorized(store: Store, since: str | None, until: str | None) -> list[dict]:
    """Discovered attribute and relationship changes no authorised change covered.

    Covered: an approved/implemented/verified/closed change AFFECTS the CI (or the
    other end of a relationship entry) and its window contains the entry's time.
    What a CI's first report brings with it is discovery, not a change, and is left out.
    """
    entries = await history_between(store, since, until, DISCOVERY_SOURCES)
    created = {(e.ci_id, e.report_id) for e in entries if e.kind == "ci" and e.field == "created"}
    windows: dict[str, list[tuple[str, str, str]]] = {}
    for change in await all_of_class(store, "Change"):
        if change.attributes.get("state") not in AUTHORISED:
            continue
        for ci, _ in await _affects(store, change.id):
            windows.setdefault(ci.id, []).append(
                (change.attributes["window_start"], change.attributes["window_end"], change.name)
            )
    out = []
    for e in entries:
        if e.kind not in ("attribute", "relationship"):
            continue
        if (e.ci_id, e.report_id) in created or (e.other_id, e.report_id) in created:
            continue
        covered = any(
            start <= e.at <= end
            for ci_id in (e.ci_id, e.other_id)
            if ci_id
            for start, end, _ in windows.get(ci_id, ())
        )
        if not covered:
            out.append(e.to_api())
    return out


async def all_changes(store: Store) -> list[CI]:
    return await all_of_class(store, "Change")
