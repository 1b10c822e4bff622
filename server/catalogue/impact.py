"""Impact: what fails with the given CIs, up to the services, and why.

Breadth-first from the failed CIs, one batched store read per level
(``cmdb.graph.queries.impact_hop``, each relationship read only from the end the rules of
``cmdb.graph.dependency`` go up from), deciding states as the walk goes by those rules (the
same for both stores). States only grow, so the walk is cycle-safe and its answer does not
depend on the order of the reads.
Each state keeps the causes that justify it (a down CI only down causes), and the paths
are the shortest cause chains from a failed CI, so a down service is explained through
failed dependencies, never through a group that merely degraded.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from typing import Any

from cmdb.graph.dependency import (
    DECLARED_TYPES,
    DEGRADED_HOP_TYPES,
    GROUP,
    IN,
    LIFECYCLE_TYPE,
    RETIRED_ASSET_STATES,
    Effect,
    Kind,
    dependencies_of,
    dependents_of,
    directed,
    path_kind,
)
from cmdb.graph.queries import Layer2, impact_hop, layer2, uplinks
from cmdb.graph.records import HopRow
from cmdb.graph.store import Store

RANK = {"down": 2, "degraded": 1}
CRITICALITY_ORDER = {"critical": 0, "high": 1, "medium": 2, "low": 3}
DEFAULT_DEPTH = 16
# a degraded CI (working, with less redundancy) degrades the services and groups that need
# it; a host or VM on a degraded host still works
DEGRADED_REACHES = ("Service", GROUP)
CONNECTS = "CONNECTS_TO"
MEMBERSHIP = ("DEPENDS_ON", "MEMBER_OF")
# the walk reads each relationship only from the end the rules go up from (a host's
# endpoints from the host, not the host again from each endpoint), and a CI's asset
UP_FROM_DOWN = (*directed("up"), IN + LIFECYCLE_TYPE)
UP_FROM_DEGRADED = (*directed("up", DEGRADED_HOP_TYPES), IN + LIFECYCLE_TYPE)


@dataclass(slots=True)
class _Need:
    """One-of-several dependencies of a CI: ``k`` of ``members`` must work."""

    k: int
    members: set[str]
    rel_type: str
    kind: Kind


@dataclass(slots=True)
class _Info:
    cls: str
    name: str | None
    parent: str | None = None  # the host of an endpoint, the device of an interface


@dataclass
class _Walk:
    store: Store
    max_depth: int
    state: dict[str, str] = field(default_factory=dict)
    depth: dict[str, int] = field(default_factory=dict)
    info: dict[str, _Info] = field(default_factory=dict)
    # effect -> {cause: (relationship type, kind)}: what justifies the effect's state
    because: dict[str, dict[str, tuple[str, Kind]]] = field(default_factory=dict)
    needs: dict[str, list[_Need]] = field(default_factory=dict)  # loaded one-of-several
    loaded: set[str] = field(default_factory=set)
    gone: set[str] = field(default_factory=set)  # retired: never a working member
    topology: Layer2 | None = None

    # ------------------------------------------------------------ states
    def _note(self, row: HopRow) -> None:
        for ci, cls, name, status in (
            (row.src, row.src_class, row.src_name, row.src_status),
            (row.dst, row.dst_class, row.dst_name, row.dst_status),
        ):
            if ci not in self.info:
                self.info[ci] = _Info(cls, name)
            if status == "retired":
                self.gone.add(ci)
        if row.type in ("LISTENS_ON", "HAS_INTERFACE"):
            self.info[row.dst].parent = row.src

    def _raise(self, ci: str, new: str, causes: dict[str, tuple[str, Kind]], level: int) -> bool:
        old = self.state.get(ci)
        if ci in self.gone or (old and RANK[old] > RANK[new]):
            return False
        if old == new:
            self.because[ci].update(causes)  # another explanation of the same state
            return False
        self.state[ci] = new
        self.depth.setdefault(ci, level)
        self.because[ci] = dict(causes)
        return True

    def _evaluate(self, ci: str) -> tuple[str, dict[str, tuple[str, Kind]]] | None:
        """The worst state the CI's one-of-several needs give it, with its causes."""
        worst: tuple[str, dict[str, tuple[str, Kind]]] | None = None
        for need in self.needs.get(ci, ()):
            failed = {m for m in need.members if self.state.get(m) == "down"}
            working = len(need.members - failed - self.gone)
            # a group degrades with any member down or degraded; a client or device only
            # when one of its dependencies failed
            touched = {m for m in need.members if m in self.state}
            causes = touched if self.info[ci].cls == GROUP else failed
            if working < need.k:
                new, causes = "down", failed
            elif causes:
                new = "degraded"
            else:
                continue
            if worst is None or RANK[new] > RANK[worst[0]]:
                worst = (new, {})
            if new == worst[0]:
                worst[1].update(dict.fromkeys(causes, (need.rel_type, need.kind)))
        return worst

    # ------------------------------------------------------------ loading
    async def _load_groups(self, groups: set[str]) -> None:
        """Members and ``min`` of redundancy groups (DEPENDS_ON from the group, MEMBER_OF to
        it), and which members are out of service."""
        groups -= self.loaded
        if not groups:
            return
        self.loaded |= groups
        members: dict[str, set[str]] = {g: set() for g in groups}
        kinds: dict[str, str] = {}
        for row in await impact_hop(self.store, groups, MEMBERSHIP):
            self._note(row)
            if row.type == "DEPENDS_ON" and row.src in members:
                members[row.src].add(row.dst)
                kinds[row.src] = row.type
            elif row.type == "MEMBER_OF" and row.dst in members:
                members[row.dst].add(row.src)
                kinds.setdefault(row.dst, row.type)
        await self._retired_assets({m for ms in members.values() for m in ms})
        details = await self.store.get_cis(sorted(groups))
        for gid, group_members in members.items():
            ci = details.get(gid)
            k = int((ci.attributes.get("min") if ci else None) or 1)
            need = _Need(k, group_members, kinds.get(gid, "DEPENDS_ON"), Kind.DECLARED)
            self.needs.setdefault(gid, []).append(need)

    async def _retired_assets(self, ids: set[str]) -> None:
        """CIs whose asset (REPRESENTS) is retired or disposed are out of service."""
        rows = await impact_hop(self.store, ids, (LIFECYCLE_TYPE,))
        assets = {r.src: r.dst for r in rows if r.dst in ids}
        if not assets:
            return
        found = await self.store.get_cis(sorted(assets))
        for asset, ci in assets.items():
            if asset in found and found[asset].attributes.get("state") in RETIRED_ASSET_STATES:
                self.gone.add(ci)

    async def _load_clients(self, clients: set[str]) -> None:
        """The implicit groups of observed connections: a client's targets grouped by the
        service they offer (their host's redundancy group, else protocol and port), minus
        connections to itself, to fellow members of its own groups, and those a declared
        dependency of the client covers."""
        key = "conn:"
        clients = {c for c in clients if key + c not in self.loaded}
        if not clients:
            return
        self.loaded |= {key + c for c in clients}
        targets: dict[str, set[str]] = {c: set() for c in clients}
        declared: dict[str, set[str]] = {c: set() for c in clients}
        for row in await impact_hop(self.store, clients, (CONNECTS, *DECLARED_TYPES, "LISTENS_ON")):
            self._note(row)
            if row.src not in clients:
                continue
            if row.type == CONNECTS:
                targets[row.src].add(row.dst)
                continue
            for edge in dependencies_of(row, row.src):
                if edge.rule.kind is Kind.DECLARED:
                    declared[row.src].add(edge.dependency)
        all_targets = {t for ts in targets.values() for t in ts}
        for row in await impact_hop(self.store, all_targets, ("LISTENS_ON",)):
            self._note(row)
        host = {c: c if self.info[c].cls == "Host" else self.info[c].parent for c in clients}
        hosts = {self.info[t].parent for t in all_targets} | set(host.values())
        hosts.discard(None)
        await self._retired_assets(hosts)
        # an endpoint of a host out of service is no working member either
        self.gone |= {t for t in all_targets if self.info[t].parent in self.gone}
        groups_of: dict[str, set[str]] = {}
        for row in await impact_hop(self.store, hosts | clients, MEMBERSHIP):
            self._note(row)
            if row.type == "DEPENDS_ON" and row.src_class == GROUP:
                groups_of.setdefault(row.dst, set()).add(row.src)
            elif row.type == "MEMBER_OF":
                groups_of.setdefault(row.src, set()).add(row.dst)
        for client in sorted(clients):
            own = host[client]
            mine = groups_of.get(client, set()) | groups_of.get(own or "", set())
            by_service: dict[str, set[str]] = {}
            for target in targets[client]:
                target_host = self.info[target].parent
                theirs = groups_of.get(target_host or "", set())
                if target_host in (own, client) or theirs & mine:
                    continue  # itself (loopback, own address) or replication among peers
                if {target, target_host} & declared[client] or theirs & declared[client]:
                    continue  # a declared dependency says what the client needs
                name = (self.info[target].name or "").split(" (")[0]
                service = min(theirs) if theirs else f"port:{name}"
                by_service.setdefault(service, set()).add(target)
            for members in by_service.values():
                self.needs.setdefault(client, []).append(_Need(1, members, CONNECTS, Kind.INFERRED))

    async def _load_devices(self, devices: set[str]) -> None:
        """A device's uplink ports (``cmdb.graph.queries.Layer2``): it needs one of them."""
        key = "ports:"
        devices = {d for d in devices if key + d not in self.loaded}
        if not devices:
            return
        self.loaded |= {key + d for d in devices}
        if self.topology is None:
            self.topology = await layer2(self.store)
        ports: dict[str, set[str]] = {}
        # a switch's uplinks were read with the topology (outwards from the core); a host's
        # links need a read of their own
        switches = {d for d in devices if self.info[d].cls == "NetworkDevice"}
        await self.topology.reach(switches)
        known = [link for d in switches for link in self.topology.links.get(d, ())]
        hosts = devices - switches
        for link in known + await uplinks(self.store, hosts):
            cls = self.info[link.device].cls
            if self.topology.is_uplink(cls, link.device, link.peer_class, link.peer_device):
                ports.setdefault(link.device, set()).add(link.port)
                self.info.setdefault(link.port, _Info("Interface", None, link.device))
        for device, device_ports in ports.items():
            self.needs.setdefault(device, []).append(
                _Need(1, device_ports, "HAS_INTERFACE", Kind.DISCOVERED)
            )

    # ------------------------------------------------------------ the walk
    async def run(self, start: list[str]) -> None:
        known = await self.store.get_cis(start)
        for ci_id, ci in known.items():
            self.info[ci_id] = _Info(ci.cls, ci.name, ci.attributes.get("host"))
            self.state[ci_id] = "down"
            self.depth[ci_id] = 0
            self.because[ci_id] = {}
        frontier = sorted(known)
        level = 0
        while frontier and level < self.max_depth:
            level += 1
            down = [ci for ci in frontier if self.state.get(ci) == "down"]
            degraded = [ci for ci in frontier if self.state.get(ci) == "degraded"]
            rows = await impact_hop(self.store, down, UP_FROM_DOWN)
            rows += await impact_hop(self.store, degraded, UP_FROM_DEGRADED)
            on_frontier = set(frontier)
            await self._frontier_assets(rows, on_frontier, set(start))
            proposals: list[tuple[str, str, str, tuple[str, Kind]]] = []
            reevaluate: dict[str, set[str]] = {"group": set(), "client": set(), "device": set()}
            for row in rows:
                if row.type == LIFECYCLE_TYPE:
                    continue
                self._note(row)
                for here in (row.src, row.dst):
                    if here in on_frontier and here not in self.gone:
                        self._propose(row, here, proposals, reevaluate)
            await self._load_groups(reevaluate["group"])
            await self._load_clients(reevaluate["client"])
            await self._load_devices(reevaluate["device"])
            changed: set[str] = set()
            for effect, new, cause, via in proposals:
                if self._raise(effect, new, {cause: via}, level):
                    changed.add(effect)
            for ci in sorted(set().union(*reevaluate.values())):
                result = self._evaluate(ci)
                if result and self._raise(ci, result[0], result[1], level):
                    changed.add(ci)
            frontier = sorted(changed)

    async def _frontier_assets(
        self, rows: list[HopRow], frontier: set[str], start: set[str]
    ) -> None:
        """A CI whose asset is retired or disposed is not reported, nor walked through."""
        assets = {r.src: r.dst for r in rows if r.type == LIFECYCLE_TYPE and r.dst in frontier}
        if not assets:
            return
        before = set(self.gone)
        await self._retired_assets(set(assets.values()))
        for ci in (self.gone - before) - start:
            self.state.pop(ci, None)

    def _propose(self, row: HopRow, here: str, proposals: list, reevaluate: dict) -> None:
        state = self.state[here]
        for edge in dependents_of(row, here):
            dependent, rule = edge.dependent, edge.rule
            if dependent in self.gone:
                continue
            via = (row.type, rule.kind)
            if rule.effect is Effect.CONTAINS or rule.type == "CONNECTED_TO":
                if state == "down":
                    proposals.append((dependent, "down", here, via))
            elif rule.effect is Effect.FAILS:
                if state == "down":
                    proposals.append((dependent, "down", here, via))
                elif self.info[dependent].cls in DEGRADED_REACHES:
                    proposals.append((dependent, "degraded", here, via))
            elif rule.uplink_only:
                if state == "down":
                    reevaluate["device"].add(dependent)
            elif rule.type == CONNECTS:
                if state == "down":
                    reevaluate["client"].add(dependent)
            else:
                reevaluate["group"].add(dependent)

    # ------------------------------------------------------------ explanations
    def explanations(self, start: list[str]) -> dict[str, dict[str, tuple[str, tuple[str, Kind]]]]:
        """For each failed CI, a shortest-cause tree: effect -> (its cause one step nearer
        that failed CI, the relationship type and kind between them). One breadth-first pass
        per failed CI over the causes every state keeps, shared by all services (a backward
        search per service re-read the same causes once per service)."""
        effects: dict[str, list[tuple[str, tuple[str, Kind]]]] = {}
        for node, causes in self.because.items():
            if node not in self.state:
                continue
            for cause, via in causes.items():
                if cause in self.state:
                    effects.setdefault(cause, []).append((node, via))
        trees: dict[str, dict[str, tuple[str, tuple[str, Kind]]]] = {}
        for sid in sorted(set(start) & self.state.keys()):
            parent: dict[str, tuple[str, tuple[str, Kind]]] = {}
            seen = {sid}
            queue = deque([sid])
            while queue:
                node = queue.popleft()
                # by id: the same chains whatever order the store returned rows in
                for effect, via in sorted(effects.get(node, ())):
                    if effect not in seen:
                        seen.add(effect)
                        parent[effect] = (node, via)
                        queue.append(effect)
            trees[sid] = parent
        return trees

    @staticmethod
    def paths(
        trees: dict[str, dict[str, tuple[str, tuple[str, Kind]]]], target: str
    ) -> list[list[tuple[str, str | None, Kind | None]]]:
        """One shortest cause chain from each failed CI that explains ``target``'s state:
        (CI, relationship type to the previous step, its kind), failed CI first; the
        shortest chains first (``explanations`` gives the trees)."""
        out = []
        for sid, parent in trees.items():
            if target != sid and target not in parent:
                continue
            back: list[tuple[str, str | None, Kind | None]] = []
            cur = target
            while cur != sid:
                cause, (rel_type, kind) = parent[cur]
                back.append((cur, rel_type, kind))
                cur = cause
            back.append((sid, None, None))
            out.append(back[::-1])
        out.sort(key=lambda chain: (len(chain), chain[0][0]))
        return out


async def impact(
    store: Store, ci_ids: list[str], depth: int = DEFAULT_DEPTH, summary: bool = False
) -> dict[str, Any]:
    """What fails with ``ci_ids``: ``services`` (worst first, then criticality) with state,
    owner, SLA and the paths that explain each; ``cis`` every affected CI (class, name, host
    for endpoints and interfaces, state, depth), left out when ``summary``; ``counts`` by
    state for services and CIs, and CIs by class."""
    start = sorted(set(ci_ids))
    walk = _Walk(store, depth)
    await walk.run(start)
    state = walk.state
    service_ids = sorted(i for i in state if walk.info[i].cls == "Service")
    details = await store.get_cis(service_ids)
    retired = {s for s in service_ids if details[s].attributes.get("service_status") == "retired"}
    parents = {walk.info[i].parent for i in state if walk.info[i].parent} - set(walk.info)
    missing = await store.get_cis(sorted(parents)) if parents else {}
    for pid, ci in missing.items():
        walk.info[pid] = _Info(ci.cls, ci.name)

    def ref(ci: str) -> dict[str, Any]:
        info = walk.info[ci]
        out: dict[str, Any] = {"id": ci, "class": info.cls, "name": info.name}
        if info.parent and info.cls in ("Endpoint", "Interface") and info.parent in walk.info:
            key = "host" if info.cls == "Endpoint" else "device"
            out[key] = walk.info[info.parent].name
        return out

    trees = walk.explanations(start)
    services = []
    for sid in service_ids:
        if sid in retired:
            continue
        a = details[sid].attributes
        paths = []
        for chain in walk.paths(trees, sid):
            steps = [
                {**ref(ci), "state": state[ci], **({"via": t, "kind": k.value} if t else {})}
                for ci, t, k in chain
            ]
            paths.append({"kind": path_kind([k for _c, _t, k in chain if k]), "steps": steps})
        services.append(
            {
                "id": sid,
                "name": details[sid].name,
                "state": state[sid],
                "criticality": a.get("criticality"),
                "owner": a.get("owner"),
                "sla": a.get("sla") or {},
                "kind": a.get("kind"),
                "paths": paths,
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
    affected = [i for i in state if i not in retired]
    counts: dict[str, Any] = {
        "services": _by_state(state[s["id"]] for s in services),
        "cis": _by_state(state[i] for i in affected),
        "classes": {},
    }
    for i in affected:
        cls = walk.info[i].cls
        counts["classes"][cls] = counts["classes"].get(cls, 0) + 1
    answer: dict[str, Any] = {
        "start": start,
        "failed": [ref(i) for i in start if i in walk.info],
        "depth": depth,
        "counts": counts,
        "services": services,
    }
    if not summary:
        cis = [{**ref(i), "state": state[i], "depth": walk.depth[i]} for i in affected]
        cis.sort(key=lambda c: (c["depth"], c["class"], c["name"] or "", c["id"]))
        answer["cis"] = cis
    return answer


def _by_state(states) -> dict[str, int]:
    out = {"down": 0, "degraded": 0}
    for s in states:
        out[s] += 1
    return out
