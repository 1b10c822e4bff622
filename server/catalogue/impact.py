"""Impact: what fails with the given CIs, up to the services, and why.

The walk (``graph.queries.impact_walk``, one native query per backend) gives
every CI failure can reach within ``depth`` hops and the cause -> effect edges
among them. States are then computed here, the same way for both stores:

* the given CIs are ``down``;
* a redundancy group is ``down`` when fewer than ``min`` of its members are
  up (a ``degraded`` member still counts as up), ``degraded`` when at least
  ``min`` are up but some member is affected;
* anything else takes the worst state of its causes (down > degraded).

States only grow, so iterating to a fixpoint is cycle-safe. Paths are the
breadth-first parent chains from each given CI, so each explains the state
with the fewest hops.
"""

from __future__ import annotations

from collections import deque
from typing import Any

from graph.queries import ImpactWalk, impact_walk
from graph.schema import IMPACT_INBOUND, IMPACT_OUTBOUND
from graph.store import Store

RANK = {"down": 2, "degraded": 1}
CRITICALITY_ORDER = {"critical": 0, "high": 1, "medium": 2, "low": 3}
DEFAULT_DEPTH = 10


def propagate(
    walk: ImpactWalk, start: list[str], groups: dict[str, tuple[int, list[str]]]
) -> dict[str, str]:
    """State of every affected CI; ``groups`` maps group id -> (min, member ids)."""
    causes: dict[str, list[str]] = {}
    effects: dict[str, list[str]] = {}
    for edge in walk.edges:
        causes.setdefault(edge.effect, []).append(edge.cause)
        effects.setdefault(edge.cause, []).append(edge.effect)
    for gid, (_, members) in groups.items():
        for member in members:  # a member's change re-evaluates its group
            if gid not in effects.get(member, ()):
                effects.setdefault(member, []).append(gid)
    state = {sid: "down" for sid in start if sid in walk.nodes}
    # worklist: a CI is re-evaluated when one of its causes got worse; states only grow
    queue = deque(n for sid in state for n in effects.get(sid, ()))
    while queue:
        node = queue.popleft()
        if node not in walk.nodes or state.get(node) == "down":
            continue
        if node in groups:
            k, members = groups[node]
            down = sum(1 for m in members if state.get(m) == "down")
            if len(members) - down < k:
                new = "down"
            elif any(m in state for m in members):
                new = "degraded"
            else:
                new = None
        else:
            worst = max((RANK[state[c]] for c in causes.get(node, ()) if c in state), default=0)
            new = {2: "down", 1: "degraded"}.get(worst)
        if new is not None and RANK[new] > RANK.get(state.get(node, ""), 0):
            state[node] = new
            queue.extend(effects.get(node, ()))
    return state


def paths_to(
    walk: ImpactWalk, start: list[str], state: dict[str, str], targets: set[str]
) -> dict[str, list[list[str]]]:
    """For each target, one shortest cause chain from every given CI that reaches it."""
    effects: dict[str, list[str]] = {}
    for edge in walk.edges:
        if edge.cause in state and edge.effect in state:
            effects.setdefault(edge.cause, []).append(edge.effect)
    out: dict[str, list[list[str]]] = {t: [] for t in targets}
    for sid in start:
        if sid not in state:
            continue
        parent: dict[str, str | None] = {sid: None}
        queue = deque([sid])
        while queue:
            node = queue.popleft()
            for nxt in effects.get(node, ()):
                if nxt not in parent:
                    parent[nxt] = node
                    queue.append(nxt)
        for target in targets:
            if target in parent:
                chain, cur = [], target
                while cur is not None:
                    chain.append(cur)
                    cur = parent[cur]
                out[target].append(chain[::-1])
    return out


async def impact(store: Store, ci_ids: list[str], depth: int = DEFAULT_DEPTH) -> dict[str, Any]:
    start = sorted(set(ci_ids))
    walk = await impact_walk(store, start, depth, IMPACT_INBOUND, IMPACT_OUTBOUND)
    group_ids = [i for i, (cls, _, _) in walk.nodes.items() if cls == "RedundancyGroup"]
    service_ids = [i for i, (cls, _, _) in walk.nodes.items() if cls == "Service"]
    details = await store.get_cis([*group_ids, *service_ids])
    members_of: dict[str, list[str]] = {gid: [] for gid in group_ids}
    if group_ids:  # every member of every reached group, reached or not: one read
        hop = await store.traverse(group_ids, "down", 1, ("DEPENDS_ON",))
        for rel in hop.edges:
            if rel.src in members_of:
                members_of[rel.src].append(rel.dst)
    groups: dict[str, tuple[int, list[str]]] = {}
    for gid in group_ids:
        members = members_of[gid]
        group = details.get(gid)
        k = (group.attributes.get("min") if group else None) or 1
        groups[gid] = (int(k), members)
    state = propagate(walk, start, groups)
    affected_services = [s for s in service_ids if s in state]
    paths = paths_to(walk, start, state, set(affected_services))
    services = []
    for sid in affected_services:
        ci = details[sid]
        a = ci.attributes
        services.append(
            {
                "id": sid,
                "name": ci.name,
                "state": state[sid],
                "criticality": a.get("criticality"),
                "owner": a.get("owner"),
                "sla": a.get("sla") or {},
                "kind": a.get("kind"),
                "paths": sorted(paths[sid], key=lambda p: (len(p), p)),
            }
        )
    services.sort(
        key=lambda s: (
            -RANK[s["state"]],
            CRITICALITY_ORDER.get(s["criticality"] or "", 9),
            s["name"] or "",
            s["id"],
        )
    )
    cis = [
        {"id": i, "class": cls, "name": name, "state": state[i], "depth": d}
        for i, (cls, name, d) in walk.nodes.items()
        if i in state
    ]
    cis.sort(key=lambda c: (c["depth"], c["class"], c["name"] or "", c["id"]))
    return {"start": start, "depth": depth, "services": services, "cis": cis}
