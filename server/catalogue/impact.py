"""Impact: what fails with the given CIs, up to the services, and why.

Breadth-first from the failed CIs, one store read per level
(``graph.queries.impact_hop``), deciding states as the walk goes, the same way
for both stores (the rules are on ``_Propagation``). States only grow, so the
walk is cycle-safe. Paths are the breadth-first parent chains from each given
CI, so each explains a service's state with the fewest hops.
"""

from __future__ import annotations

from collections import deque
from typing import Any

from graph.queries import impact_hop, uplinks
from graph.schema import IMPACT_INBOUND, IMPACT_OUTBOUND
from graph.store import Store

RANK = {"down": 2, "degraded": 1}
CRITICALITY_ORDER = {"critical": 0, "high": 1, "medium": 2, "low": 3}
DEFAULT_DEPTH = 16


# Failure of X reaches Y when Y -[t]-> X with t a dependency (Y needs X) ...
DEPENDENCY = tuple(t for t in IMPACT_INBOUND if t != "MEMBER_OF")
# ... when X -[t]-> Y with t containment (Y is part of X) ...
CONTAINS = IMPACT_OUTBOUND
# ... and across a layer-2 link (the peer port loses its link).
LINK = "CONNECTED_TO"
HOP_TYPES = (*DEPENDENCY, *CONTAINS, LINK)
DEVICES = ("Host", "NetworkDevice")
# a degraded CI (still working, with less redundancy) makes what depends on it degraded only
# where that is a service or a redundancy group; a host or switch depending on a degraded
# switch still works, so the walk stops there
DEGRADED_REACHES = ("Service", "RedundancyGroup")


def _uplink(device_class: str, peer_class: str) -> bool:
    """Links a device depends on: a host on the switches it is patched into, a switch on
    other switches; a switch does not depend on the hosts patched into it."""
    return peer_class == "NetworkDevice" and device_class in DEVICES


class _Propagation:
    """Breadth-first from the failed CIs, one store read per level, states decided as the
    walk goes (so it stops where redundancy absorbs the failure):

    * a redundancy group is down when fewer than ``min`` members are up, else degraded;
    * a host or switch whose every uplink port lost its link is down, else degraded;
    * anything else that depends on, or is part of, a down CI is down; a service or group
      depending on a degraded CI is degraded.

    States only grow; a group or device is re-evaluated when one of its members or ports
    gets worse, so the answer does not depend on the order of the walk."""

    def __init__(self, store: Store, depth: int) -> None:
        self.store = store
        self.max_depth = depth
        self.state: dict[str, str] = {}
        self.depth: dict[str, int] = {}
        self.info: dict[str, tuple[str, str | None]] = {}
        self.effects: dict[str, set[str]] = {}  # cause -> effects, for the paths
        self.groups: dict[str, tuple[int, list[str]]] = {}
        self.groups_of: dict[str, set[str]] = {}  # member -> groups
        self.ports: dict[str, list[str]] = {}  # device -> its uplink interfaces
        self.device_of_port: dict[str, str] = {}

    def _raise(self, ci: str, new: str | None, level: int, changed: list[str]) -> None:
        if new is None or RANK[new] <= RANK.get(self.state.get(ci, ""), 0):
            return
        self.state[ci] = new
        self.depth.setdefault(ci, level)
        changed.append(ci)

    def _evaluate(self, ci: str, cause_state: str | None) -> str | None:
        if ci in self.groups:
            k, members = self.groups[ci]
            up = sum(1 for m in members if self.state.get(m) != "down")
            if up < k:
                return "down"
            return "degraded" if any(m in self.state for m in members) else None
        if ci in self.ports:
            ports = self.ports[ci]
            lost = sum(1 for p in ports if self.state.get(p) == "down")
            if not lost:
                return None
            return "down" if lost == len(ports) else "degraded"
        return cause_state

    async def _load_groups(self, ids: set[str]) -> None:
        ids = {i for i in ids if i not in self.groups}
        if not ids:
            return
        members: dict[str, list[str]] = {i: [] for i in ids}
        for _rid, _t, src, dst, _sc, dc, _sn, dn in await impact_hop(
            self.store, sorted(ids), ("DEPENDS_ON",)
        ):
            if src in members:
                members[src].append(dst)
                self.info.setdefault(dst, (dc, dn))
        details = await self.store.get_cis(sorted(ids))
        for gid, group_members in members.items():
            ci = details.get(gid)
            k = int((ci.attributes.get("min") if ci else None) or 1)
            self.groups[gid] = (k, group_members)
            for member in group_members:
                self.groups_of.setdefault(member, set()).add(gid)

    async def _load_ports(self, ids: set[str]) -> None:
        ids = {i for i in ids if i not in self.ports}
        if not ids:
            return
        found: dict[str, set[str]] = {i: set() for i in ids}
        for device, port, _peer, _peer_device, peer_class in await uplinks(self.store, sorted(ids)):
            if _uplink(self.info[device][0], peer_class):
                found[device].add(port)
        for device, device_ports in found.items():
            if device_ports:
                self.ports[device] = sorted(device_ports)
                for port in device_ports:
                    self.device_of_port[port] = device

    async def run(self, start: list[str]) -> None:
        known = await self.store.get_cis(start)
        for ci_id, ci in known.items():
            self.info[ci_id] = (ci.cls, ci.name)
            self.state[ci_id] = "down"
            self.depth[ci_id] = 0
        frontier = sorted(known)
        level = 0
        while frontier and level < self.max_depth:
            level += 1
            # a down CI takes down what needs it or is part of it; a degraded one only
            # degrades the services and groups that depend on it
            down = [ci for ci in frontier if self.state[ci] == "down"]
            degraded = [ci for ci in frontier if self.state[ci] != "down"]
            rows = await impact_hop(self.store, down, HOP_TYPES)
            rows += await impact_hop(self.store, degraded, ("DEPENDS_ON",))
            proposals: list[tuple[str, str, str]] = []  # (effect, cause, kind)
            for _rid, rel_type, src, dst, src_cls, dst_cls, src_name, dst_name in rows:
                self.info.setdefault(src, (src_cls, src_name))
                self.info.setdefault(dst, (dst_cls, dst_name))
                src_state, dst_state = self.state.get(src), self.state.get(dst)
                needs_dst = rel_type in DEPENDENCY and dst_state == "down"
                degraded_need = rel_type == "DEPENDS_ON" and src_cls in DEGRADED_REACHES
                if needs_dst or (degraded_need and dst_state):
                    proposals.append((src, dst, "depends"))
                if src_state == "down" and rel_type in CONTAINS:
                    proposals.append((dst, src, "part"))
                if rel_type == LINK:
                    if src_state == "down":
                        proposals.append((dst, src, "link"))
                    if dst_state == "down":
                        proposals.append((src, dst, "link"))
                if (
                    rel_type == "HAS_INTERFACE"
                    and dst_state == "down"
                    and src_cls in DEVICES
                    and src_state != "down"
                ):
                    proposals.append((src, dst, "uplink"))
            await self._load_groups(
                {e for e, _c, _k in proposals if self.info[e][0] == "RedundancyGroup"}
            )
            await self._load_ports({e for e, _c, kind in proposals if kind == "uplink"})
            changed: list[str] = []
            for effect, cause, kind in proposals:
                self.effects.setdefault(cause, set()).add(effect)
                if kind == "uplink" and effect not in self.ports:
                    continue  # that port is not one the device depends on
                self._raise(effect, self._evaluate(effect, self.state.get(cause)), level, changed)
            # a group or device re-evaluates when a member or port got worse
            queue = list(changed)
            while queue:
                ci = queue.pop()
                for watcher in (*self.groups_of.get(ci, ()), self.device_of_port.get(ci)):
                    if watcher is not None:
                        before = len(changed)
                        self._raise(watcher, self._evaluate(watcher, None), level, changed)
                        queue.extend(changed[before:])
            frontier = sorted(set(changed))

    def paths(self, start: list[str], targets: set[str]) -> dict[str, list[list[str]]]:
        """For each target, one shortest cause chain from every failed CI that reaches it."""
        out: dict[str, list[list[str]]] = {t: [] for t in targets}
        for sid in start:
            if sid not in self.state:
                continue
            parent: dict[str, str | None] = {sid: None}
            queue = deque([sid])
            while queue:
                node = queue.popleft()
                for nxt in sorted(self.effects.get(node, ())):
                    if nxt in self.state and nxt not in parent:
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
    walk = _Propagation(store, depth)
    await walk.run(start)
    state = walk.state
    service_ids = sorted(i for i in state if walk.info[i][0] == "Service")
    details = await store.get_cis(service_ids)
    paths = walk.paths(start, set(service_ids))
    services = []
    for sid in service_ids:
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
        {
            "id": i,
            "class": walk.info[i][0],
            "name": walk.info[i][1],
            "state": state[i],
            "depth": walk.depth[i],
        }
        for i in state
    ]
    cis.sort(key=lambda c: (c["depth"], c["class"], c["name"] or "", c["id"]))
    return {"start": start, "depth": depth, "services": services, "cis": cis}
