"""A CI's neighbourhood as cytoscape elements, with big fans collapsed into counted groups.

The walk is ``store.traverse`` (what ``GET /api/v1/cis/{id}/dependencies`` reads). Each
edge is drawn the way the dependency rules (``cmdb.graph.dependency.edges``) read it: from the
dependent to what it depends on, styled by the rule's effect (fails, degrades, contains)
or as a plain relationship when no rule makes it a dependency (INSTALLED, HAS_IP, ...).

Collapsing keeps a 2,000-CI neighbourhood drawable: the CIs of one class hanging off one
CI by one relationship type become one group node ("812 Software") when there are more
than ``GROUP_OVER`` of them (``GROUP_OVER_ANY`` for classes that are usually few); a
group's members (up to ``MEMBERS_SHOWN``) travel with it so a click can expand it.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from typing import Any

from cmdb.graph.dependency import edges as dependency_edges
from cmdb.graph.records import HopRow
from cmdb.graph.store import CI, Rel, Traversal

# classes that come by the hundred per host: grouped beyond a few
FAN_CLASSES = ("Software", "Endpoint", "Interface", "IPAddress", "Network")
GROUP_OVER = 6
GROUP_OVER_ANY = 40
MEMBERS_SHOWN = 300


def _parent(node: str, depth: dict[str, int], adjacent: dict[str, list[tuple[str, Rel]]]):
    """The neighbour one step nearer the start (ties by id) and the relationship to it."""
    best = None
    for other, rel in adjacent.get(node, ()):
        if depth.get(other, 1 << 30) < depth[node]:
            key = (depth[other], other, rel.type)
            if best is None or key < best[0]:
                best = (key, other, rel)
    return (best[1], best[2]) if best else (None, None)


def _edge_style(
    rel: Rel, classes: dict[str, str], rules: dict[tuple[str, str, str], tuple[bool, str]]
) -> tuple[str, str, str]:
    """(from, to, effect) as the dependency rules read the relationship. The rules read
    only its type and its ends' classes: ``rules`` keeps what they said per (type, class
    of src, class of dst), as (whether the dependent is src, effect)."""
    key = (rel.type, classes.get(rel.src, ""), classes.get(rel.dst, ""))
    said = rules.get(key)
    if said is None:
        row = HopRow(rel.id, rel.type, rel.src, rel.dst, key[1], key[2], None, None, None, None)
        found = dependency_edges(row)
        said = (found[0].dependent == rel.src, found[0].rule.effect.value) if found else None
        said = rules[key] = said or (True, "none")
    forward, effect = said
    return (rel.src, rel.dst, effect) if forward else (rel.dst, rel.src, effect)


def build(walk: Traversal, root: str, group_over: int = GROUP_OVER) -> dict[str, Any]:
    """Cytoscape ``elements`` (nodes and edges), plus counts of what was walked and drawn."""
    depth = {ci_id: d for ci_id, (_, d) in walk.nodes.items()}
    cis: dict[str, CI] = {ci_id: ci for ci_id, (ci, _) in walk.nodes.items()}
    classes = {ci_id: ci.cls for ci_id, ci in cis.items()}
    adjacent: dict[str, list[tuple[str, Rel]]] = defaultdict(list)
    for rel in walk.edges:
        adjacent[rel.src].append((rel.dst, rel))
        adjacent[rel.dst].append((rel.src, rel))

    # representative of each CI: itself, or the group it is folded into; decided level by
    # level so a CI's group key uses its parent's representative
    rep: dict[str, str] = {}
    groups: dict[str, dict[str, Any]] = {}
    order = sorted(cis, key=lambda i: (depth[i], i))
    pending: dict[tuple[str, str, str], list[str]] = defaultdict(list)
    for ci_id in order:
        if ci_id == root or depth[ci_id] == 0:
            rep[ci_id] = ci_id
            continue
        parent, rel = _parent(ci_id, depth, adjacent)
        if parent is None:
            rep[ci_id] = ci_id
            continue
        pending[(parent, classes[ci_id], rel.type)].append(ci_id)
    # sizes are known once every CI has its key; parents come first (sorted by depth)
    sizes = Counter({key: len(members) for key, members in pending.items()})
    key_of = {m: key for key, members in pending.items() for m in members}
    for ci_id in order:
        if ci_id in rep:
            continue
        parent, cls, rel_type = key_of[ci_id]
        limit = group_over if cls in FAN_CLASSES else GROUP_OVER_ANY
        if sizes[(parent, cls, rel_type)] > limit:
            parent_rep = rep.get(parent, parent)
            group_id = f"group:{parent_rep}:{rel_type}:{cls}"
            group = groups.get(group_id)
            if group is None:  # not setdefault: its default would be built for every member
                group = groups[group_id] = {
                    "id": group_id,
                    "cls": cls,
                    "rel": rel_type,
                    "parent": parent_rep,
                    "members": [],
                    "count": 0,
                    "depth": depth[ci_id],
                    "statuses": Counter(),
                }
            group["count"] += 1
            group["statuses"][cis[ci_id].status] += 1
            if len(group["members"]) < MEMBERS_SHOWN:
                group["members"].append(
                    {
                        "id": ci_id,
                        "label": cis[ci_id].name or ci_id[:8],
                        "status": cis[ci_id].status,
                    }
                )
            rep[ci_id] = group_id
        else:
            rep[ci_id] = ci_id

    nodes: list[dict[str, Any]] = []
    for ci_id in order:
        if rep[ci_id] != ci_id:
            continue
        ci = cis[ci_id]
        nodes.append(
            {
                "data": {
                    "id": ci_id,
                    "label": ci.name or f"{ci.cls} {ci_id[:8]}",
                    "cls": ci.cls,
                    "status": ci.status,
                    "depth": depth[ci_id],
                    "root": ci_id == root,
                }
            }
        )
    for group in groups.values():
        nodes.append(
            {
                "data": {
                    "id": group["id"],
                    "label": f"{group['count']} {group['cls']}",
                    "cls": group["cls"],
                    "status": "live"
                    if group["statuses"].get("live", 0) == group["count"]
                    else "mixed",
                    "depth": group["depth"],
                    "group": True,
                    "count": group["count"],
                    "rel": group["rel"],
                    "members": group["members"],
                }
            }
        )
    drawn: dict[tuple[str, str, str], dict[str, Any]] = {}
    rules: dict[tuple[str, str, str], tuple[bool, str]] = {}
    for rel in walk.edges:
        a, b, effect = _edge_style(rel, classes, rules)
        ra, rb = rep.get(a, a), rep.get(b, b)
        if ra == rb:
            continue
        key = (ra, rb, rel.type)
        edge = drawn.get(key)
        if edge is None:
            drawn[key] = {
                "data": {
                    "id": f"e:{rel.id}" if ra == a and rb == b else f"e:{ra}:{rb}:{rel.type}",
                    "source": ra,
                    "target": rb,
                    "type": rel.type,
                    "effect": effect,
                    "count": 1,
                }
            }
        else:
            edge["data"]["count"] += 1
    return {
        "root": root,
        "elements": {"nodes": nodes, "edges": list(drawn.values())},
        "walked": {"nodes": len(cis), "edges": len(walk.edges)},
        "drawn": {"nodes": len(nodes), "edges": len(drawn), "groups": len(groups)},
        "truncated": walk.truncated,
    }
