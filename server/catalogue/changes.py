"""Change review: records that name CIs and a window, assessed by impact, checked
against discovery afterwards; and the discovered changes no record covered."""

from __future__ import annotations

import json
import re
import secrets
from datetime import UTC, datetime
from fnmatch import fnmatchcase
from typing import Any

from cmdb.graph.queries import history_between
from cmdb.graph.store import CI, HistoryEntry, Store
from cmdb.server.catalogue import CatalogueError, conflict, invalid, not_found
from cmdb.server.catalogue.common import (
    all_of_class,
    check_id,
    next_state,
    opt_str,
    parse_time,
    ref,
    resolve_ids,
)
from cmdb.server.catalogue.impact import impact
from cmdb.server.catalogue.refs import labels, text
from cmdb.server.catalogue.review import describe, entry_labels, fold_packages, is_package
from cmdb.server.catalogue.writes import ManualWriter

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
# approved changes whose windows overlap a change being approved: their combined impact
# is checked against each alone
IN_FLIGHT = ("approved", "implemented")
EXPECT_KEYS = ("attribute", "package", "port", "relationship")


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


def _expected(body: dict[str, Any]) -> list[dict[str, Any]] | None:
    """What discovery should see: ``[{"attribute": "kernel"}, {"package": "openssl"},
    {"port": 5433}, {"relationship": "CONNECTS_TO"}]``, each optionally with ``"ci": ID``;
    attribute and package names may be patterns (``lib*``, ``*`` for any package)."""
    if "expected" not in body:
        return None
    items = body["expected"]
    if not isinstance(items, list):
        raise invalid("$.expected must be a list", field="$.expected")
    out = []
    for i, item in enumerate(items):
        where = f"$.expected[{i}]"
        keys = set(item) - {"ci"} if isinstance(item, dict) else set()
        if len(keys) != 1 or next(iter(keys)) not in EXPECT_KEYS:
            raise invalid(
                f"{where} must name one of {', '.join(EXPECT_KEYS)} (and optionally ci), "
                'e.g. {"package": "openssl"}',
                field=where,
            )
        key = next(iter(keys))
        value = item[key]
        if key == "port":
            if isinstance(value, bool) or not isinstance(value, int) or not 0 < value < 65536:
                raise invalid(f"{where}.port must be a port number", field=where)
        elif not isinstance(value, str) or not value.strip():
            raise invalid(f"{where}.{key} must be a non-empty string", field=where)
        entry = {key: value.strip() if isinstance(value, str) else value}
        if "ci" in item:
            entry["ci"] = check_id(item["ci"], f"{where}.ci")
        out.append(entry)
    return out


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
        "approved_by": a.get("approved_by"),
        "cis": [ref(c) for c, _ in sorted(await _affects(store, ci.id), key=lambda p: p[0].id)],
        "expected": a.get("expected") or [],
        "impact": a.get("impact"),
        "approval_warnings": a.get("approval_warnings") or [],
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
            "expected": _expected(body),
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
    expected = _expected(body)
    if expected is not None:
        attrs["expected"] = expected or None
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
    store: Store,
    change_id: str,
    body: Any,
    actor: str | None,
    depth: int = 10,
    allow_self_approval: bool = False,
) -> dict[str, Any]:
    """Move a change along its lifecycle. ``assessed`` stores its impact; ``approved`` is
    refused (403) to the requester unless ``allow_self_approval``, and records who approved
    and the combined risks with overlapping approved changes (``combined_risks``) as
    warnings: the approval goes through, the warning stays in the change for the CAB."""
    change = await get_change(store, change_id)
    new = next_state("change", change, body, STATES, TRANSITIONS)
    writer = ManualWriter(actor)
    attrs: dict[str, Any] = {"state": new}
    if new == "assessed":
        attrs["impact"] = {**await assess(store, change, depth), "assessed_at": writer.at}
    if new == "approved":
        requester = change.attributes.get("requested_by")
        if requester and actor == requester and not allow_self_approval:
            raise CatalogueError(
                403,
                f"{actor} requested change {change.name!r} and cannot approve it; another "
                "approver must (allow_self_approval = true in the server config allows it)",
            )
        attrs["approved_by"] = actor
        attrs["approval_warnings"] = await combined_risks(store, change, depth) or None
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


def _overlaps(a: CI, b: CI) -> tuple[str, str] | None:
    a_start, a_end = a.attributes["window_start"], a.attributes["window_end"]
    b_start, b_end = b.attributes["window_start"], b.attributes["window_end"]
    if a_start < b_end and b_start < a_end:
        return max(a_start, b_start), min(a_end, b_end)
    return None


def _states(report: dict[str, Any]) -> dict[str, tuple[str, str | None, str]]:
    """id -> (state, name, class) of the services and redundancy groups of an impact answer."""
    out = {s["id"]: (s["state"], s.get("name"), "Service") for s in report["services"]}
    for c in report["cis"]:
        if c.get("class") == "RedundancyGroup":
            out[c["id"]] = (c["state"], c.get("name"), "RedundancyGroup")
    return out


async def combined_risks(store: Store, change: CI, depth: int) -> list[dict[str, Any]]:
    """For each approved (or implemented) change whose window overlaps this one's: the
    services and redundancy groups that both together leave worse off than either alone
    (db1 in one change, db2 in another, pg with min 1: each alone degrades it, together it
    is down). Computed with the impact of the union of both changes' CIs."""
    mine = [c.id for c, _ in await _affects(store, change.id)]
    alone = _states(await impact(store, mine, depth))
    out = []
    for other in await all_of_class(store, "Change"):
        if other.id == change.id or other.attributes.get("state") not in IN_FLIGHT:
            continue
        overlap = _overlaps(change, other)
        if overlap is None:
            continue
        theirs = [c.id for c, _ in await _affects(store, other.id)]
        other_alone = _states(await impact(store, theirs, depth))
        if not set(alone) & set(other_alone):
            continue  # no service or group in common: nothing can combine
        together = _states(await impact(store, sorted({*mine, *theirs}), depth))
        worse = []
        for ci_id, (state, name, cls) in together.items():
            before = max(
                (
                    RANK.get(alone.get(ci_id, ("",))[0], 0),
                    RANK.get(other_alone.get(ci_id, ("",))[0], 0),
                )
            )
            if RANK.get(state, 0) > before:
                worse.append(
                    {
                        "id": ci_id,
                        "class": cls,
                        "name": name,
                        "this_change": (alone.get(ci_id) or (None,))[0],
                        "other_change": (other_alone.get(ci_id) or (None,))[0],
                        "together": state,
                    }
                )
        if worse:
            worse.sort(key=lambda w: (w["class"] != "Service", w["name"] or ""))
            names = ", ".join(f"{w['name']} {w['together']}" for w in worse[:5])
            out.append(
                {
                    "change": {
                        "id": other.id,
                        "change_id": other.name,
                        "title": other.attributes.get("title"),
                        "state": other.attributes.get("state"),
                    },
                    "overlap": {"start": overlap[0], "end": overlap[1]},
                    "worse_together": worse,
                    "message": (
                        f"together with {other.name} ({overlap[0]} to {overlap[1]}): {names}"
                    ),
                }
            )
    return out


RANK = {"down": 2, "degraded": 1}
_PORT = re.compile(r"/(\d+)")


def _matches(pattern: dict[str, Any], entry: HistoryEntry, names: dict[str, dict]) -> bool:
    if "ci" in pattern and pattern["ci"] not in (entry.ci_id, entry.other_id):
        return False
    other = names.get(entry.other_id or "") or {}
    if "attribute" in pattern:
        return entry.kind == "attribute" and fnmatchcase(entry.field, pattern["attribute"])
    if "package" in pattern:  # "openssl", "lib*", "*" (any package change)
        return is_package(entry) and fnmatchcase(str(other.get("name")), pattern["package"])
    if "port" in pattern:  # an endpoint's name is "tcp/5432 (postgres)"
        port = _PORT.search(str(other.get("name") or ""))
        return entry.field == "LISTENS_ON" and bool(port) and int(port[1]) == pattern["port"]
    return entry.kind == "relationship" and entry.field == pattern["relationship"]


VERDICTS = {
    "nothing_changed": "nothing changed",
    "expected_changes_seen": "expected changes seen",
    "unexpected_changes": "unexpected changes",
    "expected_changes_missing": "expected changes not (all) seen",
}


async def verification(store: Store, change_id: str, packages: bool = False) -> dict[str, Any]:
    """What discovery saw change on the declared CIs during the window, and a verdict.

    ``{verdict, text, expected, unexpected, missing, not_reported, items: [{ci, changes,
    packages}]}``: non-package changes in words (``cmdb.server.catalogue.review``), package
    changes folded into counts per host (the full list with ``packages``). Verdict:
    ``nothing_changed``; ``unexpected_changes`` when something matched none of the change's
    ``expected`` patterns; ``expected_changes_missing`` when a pattern matched nothing;
    else ``expected_changes_seen`` (a change without ``expected`` expects any change on its
    CIs). ``not_reported`` names declared CIs no source reported after the window opened:
    for those, "nothing changed" means "not seen"."""
    change = await get_change(store, change_id)
    start, end = change.attributes["window_start"], change.attributes["window_end"]
    expected = change.attributes.get("expected") or []
    declared = [ci for ci, _ in await _affects(store, change.id)]
    per_ci: list[tuple[CI, list[HistoryEntry]]] = []
    for ci in declared:
        entries, _ = await store.history(ci.id, 100_000, 0, since=start, until=end)
        per_ci.append((ci, [e for e in reversed(entries) if e.source in DISCOVERY_SOURCES]))
    everything = [e for _, entries in per_ci for e in entries]
    names = await entry_labels(store, everything)
    names.update({i["id"]: i for i in await labels(store, declared)})
    items, unexpected, seen_patterns = [], [], set()
    for ci, entries in per_ci:
        folded = fold_packages(entries, names, packages)
        described = [describe(e, names) for e in entries if not is_package(e)]
        for e in entries:
            hits = [i for i, p in enumerate(expected) if _matches(p, e, names)]
            seen_patterns.update(hits)
            if expected and not hits:
                unexpected.append(e)
        items.append(
            {
                "ci": names.get(ci.id) or ref(ci),
                "last_seen": ci.last_seen,
                "changes": described,
                "packages": list(folded.values()),
            }
        )
    missing = [p for i, p in enumerate(expected) if i not in seen_patterns]
    if not everything:
        verdict = "nothing_changed"
    elif unexpected:
        verdict = "unexpected_changes"
    elif missing:
        verdict = "expected_changes_missing"
    else:
        verdict = "expected_changes_seen"
    not_reported = [text(names.get(c.id)) for c in declared if (c.last_seen or "") < start]
    unexpected_items = _summarise(unexpected, names, packages)
    counts = f"{sum(len(i['changes']) for i in items)} changes"
    pkg = sum(p["total"] for i in items for p in i["packages"])
    if pkg:
        counts += f" and {pkg} package changes"
    sentence = f"{VERDICTS[verdict]}: {counts} on {len(declared)} declared CIs in the window"
    if unexpected:
        odd = sum(i.get("total", 1) for i in unexpected_items)
        sentence += f"; {odd} matched no expected change"
    if missing:
        sentence += f"; not seen: {', '.join(json.dumps(m) for m in missing)}"
    if not_reported:
        sentence += f"; no report since the window opened from {', '.join(not_reported)}"
    return {
        "change": {
            "id": change.id,
            "change_id": change.name,
            "title": change.attributes.get("title"),
            "window": {"start": start, "end": end},
        },
        "verdict": verdict,
        "text": sentence,
        "expected": expected,
        "missing": missing,
        "unexpected": unexpected_items,
        "not_reported": not_reported,
        "items": items,
        "total": len(items),
    }


def _summarise(entries: list[HistoryEntry], names: dict[str, dict], packages: bool) -> list[dict]:
    """Entries in words, package changes folded per host (one item each)."""
    out = [describe(e, names) for e in entries if not is_package(e)]
    for folded in fold_packages(entries, names, packages).values():
        out.append({"ci": folded["host"], "kind": "packages", "field": "INSTALLED", **folded})
    return out


async def unauthorized(
    store: Store, since: str | None, until: str | None, packages: bool = False
) -> list[dict]:
    """Discovered attribute and relationship changes no authorised change covered, in words
    (``cmdb.server.catalogue.review``): listening ports opened or closed, links, connections,
    interfaces and addresses with the names at both ends, attributes with old and new
    values; package changes folded per host and report (the list with ``packages``).

    Covered: an approved/implemented/verified/closed change AFFECTS the CI (or the
    other end of a relationship entry) and its window contains the entry's time.
    What a CI's first report brings with it is discovery, not a change, and is left out:
    entries of the report that created the CI they belong to (not their other end: a
    new listening port creates its endpoint in a later report of a known host).
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
    flagged: list[HistoryEntry] = []
    for e in entries:
        if e.kind not in ("attribute", "relationship"):
            continue
        if (e.ci_id, e.report_id) in created:
            continue
        covered = any(
            start <= e.at <= end
            for ci_id in (e.ci_id, e.other_id)
            if ci_id
            for start, end, _ in windows.get(ci_id, ())
        )
        if not covered:
            flagged.append(e)
    names = await entry_labels(store, flagged)
    out = [describe(e, names) for e in flagged if not is_package(e)]
    by_report: dict[tuple[str, str | None], list[HistoryEntry]] = {}
    for e in flagged:
        if is_package(e):
            by_report.setdefault((e.ci_id, e.report_id), []).append(e)
    for (_host, report_id), group in by_report.items():
        for folded in fold_packages(group, names, packages).values():
            out.append(
                {
                    "at": group[0].at,
                    "source": group[0].source,
                    "report_id": report_id,
                    "ci": folded["host"],
                    "kind": "packages",
                    "field": "INSTALLED",
                    "change": "packages",
                    **{k: v for k, v in folded.items() if k != "host"},
                }
            )
    out.sort(key=lambda item: (item["at"], text(item["ci"])))
    return out


async def all_changes(store: Store) -> list[CI]:
    return await all_of_class(store, "Change")
