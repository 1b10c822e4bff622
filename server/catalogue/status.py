"""Status accounting: a CI as it was at a time, and what changed between two times.

Attributes and status roll back from the current values through the history
(newest first, each entry undone by restoring its ``old``); relationships are
the ones whose [first_seen, ended_at) interval contains the time.
"""

from __future__ import annotations

from collections import deque
from typing import Any

from cmdb.graph.dependency import steps
from cmdb.graph.schema import CLASSES
from cmdb.graph.store import CI, Store
from cmdb.server.catalogue import invalid, not_found

DIFF_DEPTH = 6


def _valid_at(rel, at: str) -> bool:
    return (rel.first_seen or "") <= at and (rel.ended_at is None or rel.ended_at > at)


async def ci_as_of(store: Store, ci: CI, at: str) -> dict[str, Any] | None:
    """The CI as the store knew it at ``at``; None when it did not exist yet."""
    if (ci.first_seen or "") > at:
        return None
    entries, _ = await store.history(ci.id, 100_000, 0, since=None, until=None)
    attrs = dict(ci.attributes)
    status = ci.status
    for e in entries:  # newest first
        if e.at <= at or e.ci_id != ci.id:
            continue
        if e.kind == "attribute":
            if e.old is None:
                attrs.pop(e.field, None)
            else:
                attrs[e.field] = e.old
        elif e.kind == "ci" and e.field == "status" and e.old is not None:
            status = e.old
    name_attr = CLASSES[ci.cls].name_attr if ci.cls in CLASSES else None
    name = attrs.get(name_attr, ci.name) if name_attr else ci.name
    rels = [v for v in await store.relationships(ci.id, include_ended=True) if _valid_at(v.rel, at)]
    return {
        "id": ci.id,
        "class": ci.cls,
        "name": None if name is None else str(name),
        "status": status,
        "first_seen": ci.first_seen,
        "as_of": at,
        "attributes": attrs,
        "relationships": [{**v.to_api(), "ended_at": None, "last_seen": None} for v in rels],
    }


def _rel_key(r: dict[str, Any]) -> str:
    return r["id"]


def diff_states(before: dict[str, Any] | None, after: dict[str, Any] | None) -> dict[str, Any]:
    b_attrs = (before or {}).get("attributes", {})
    a_attrs = (after or {}).get("attributes", {})
    attributes = {
        k: {"from": b_attrs.get(k), "to": a_attrs.get(k)}
        for k in sorted(set(b_attrs) | set(a_attrs))
        if b_attrs.get(k) != a_attrs.get(k)
    }
    b_rels = {_rel_key(r): r for r in (before or {}).get("relationships", [])}
    a_rels = {_rel_key(r): r for r in (after or {}).get("relationships", [])}

    def brief(r):
        return {"id": r["id"], "type": r["type"], "direction": r["direction"], "other": r["other"]}

    out = {
        "existed": {"from": before is not None, "to": after is not None},
        "attributes": attributes,
        "relationships_added": [brief(a_rels[k]) for k in sorted(set(a_rels) - set(b_rels))],
        "relationships_removed": [brief(b_rels[k]) for k in sorted(set(b_rels) - set(a_rels))],
    }
    b_status, a_status = (before or {}).get("status"), (after or {}).get("status")
    if b_status != a_status:
        out["status"] = {"from": b_status, "to": a_status}
    return out


def check_range(start: str, end: str) -> None:
    if end < start:
        raise invalid("'to' must not be before 'from'")


async def ci_diff(store: Store, ci_id: str, start: str, end: str) -> dict[str, Any]:
    check_range(start, end)
    ci = await store.get_ci(ci_id)
    if ci is None:
        raise not_found(f"no configuration item with id {ci_id!r}")
    before, after = await ci_as_of(store, ci, start), await ci_as_of(store, ci, end)
    entries, _ = await store.history(ci.id, 10_000, 0, since=start, until=end)
    return {
        "id": ci.id,
        "class": ci.cls,
        "name": ci.name,
        "from": start,
        "to": end,
        **diff_states(before, after),
        "history": [e.to_api() for e in reversed(entries) if e.at > start],
    }


async def dependency_graph_at(
    store: Store, root: str, at: str, depth: int = DIFF_DEPTH
) -> tuple[dict[str, CI], set[tuple[str, str, str]]]:
    """What ``root`` depended on at ``at``, by the rules of ``cmdb.graph.dependency`` (down to
    the devices; the layer-2 network is not the service's): edges (X, type, Y) with X
    depending on Y."""
    down = steps("down", layer2=False)
    nodes: dict[str, CI] = {}
    edges: set[tuple[str, str, str]] = set()
    root_ci = await store.get_ci(root)
    if root_ci is None:
        return nodes, edges
    nodes[root] = root_ci
    queue = deque([(root, 0)])
    while queue:
        node, d = queue.popleft()
        if d >= depth:
            continue
        for v in await store.relationships(node, include_ended=True):
            if not _valid_at(v.rel, at):
                continue
            depends = v.direction in down.get(v.rel.type, ())
            if not depends or (v.other.first_seen or "") > at:
                continue
            edges.add((node, v.rel.type, v.other.id))
            if v.other.id not in nodes:
                nodes[v.other.id] = v.other
                queue.append((v.other.id, d + 1))
    return nodes, edges


async def service_diff(store: Store, service: CI, start: str, end: str) -> dict[str, Any]:
    check_range(start, end)
    b_nodes, b_edges = await dependency_graph_at(store, service.id, start)
    a_nodes, a_edges = await dependency_graph_at(store, service.id, end)

    def brief(ci):
        return {"id": ci.id, "class": ci.cls, "name": ci.name}

    changed = []
    for ci_id in sorted(set(b_nodes) & set(a_nodes)):
        ci = a_nodes[ci_id]
        diff = diff_states(await ci_as_of(store, ci, start), await ci_as_of(store, ci, end))
        if diff["attributes"] or "status" in diff:
            entry = {**brief(ci), "attributes": diff["attributes"]}
            if "status" in diff:
                entry["status"] = diff["status"]
            changed.append(entry)
    return {
        "id": service.id,
        "name": service.name,
        "from": start,
        "to": end,
        "cis_added": [brief(a_nodes[i]) for i in sorted(set(a_nodes) - set(b_nodes))],
        "cis_removed": [brief(b_nodes[i]) for i in sorted(set(b_nodes) - set(a_nodes))],
        "dependencies_added": [
            {"from": s, "type": t, "to": d} for s, t, d in sorted(a_edges - b_edges)
        ],
        "dependencies_removed": [
            {"from": s, "type": t, "to": d} for s, t, d in sorted(b_edges - a_edges)
        ],
        "cis_changed": changed,
    }
