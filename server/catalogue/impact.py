"""Impact: what fails with the given CIs, up to the services, and why.

Breadth-first from the failed CIs, one batched store read per level
(``cmdb.graph.queries.impact_steps``, each relationship read only from the end the rules of
``cmdb.graph.dependency`` go up from, with the far end's class, name and status), deciding
states as the walk goes by those rules (the same for both stores). States only grow, so the
walk is cycle-safe and its answer does not depend on the order of the reads.
Each state keeps the causes that justify it (a down CI only down causes), and the paths
are the shortest cause chains from a failed CI, so a down service is explained through
failed dependencies, never through a group that merely degraded.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import Counter, deque
from collections.abc import Hashable, Sequence
from dataclasses import dataclass, field
from itertools import compress
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
    directed,
    path_kind,
    rule_for,
)
from cmdb.graph.queries import (
    Layer2,
    ReadAhead,
    generation,
    impact_steps,
    impact_steps_ahead,
    layer2_at,
    uplinks,
)
from cmdb.graph.store import Store

RANK = {"down": 2, "degraded": 1}
CRITICALITY_ORDER = {"critical": 0, "high": 1, "medium": 2, "low": 3}
DEFAULT_DEPTH = 16
# a degraded CI (working, with less redundancy) degrades the services and groups that need
# it; a host or VM on a degraded host still works
DEGRADED_REACHES = ("Service", GROUP)
CONNECTS = "CONNECTS_TO"
MEMBERSHIP = ("DEPENDS_ON", "MEMBER_OF")
# what a client needs: its observed connections, declared dependencies, and its endpoints
CLIENT_TYPES = (CONNECTS, *DECLARED_TYPES, "LISTENS_ON")
# _Walk.loaded holds group ids as they are, and these prefixes before a client's or a
# device's id (a host can be both): what the loaders and their reads ahead skip
CLIENTS_LOADED, PORTS_LOADED = "conn:", "ports:"
# the walk reads each relationship only from the end the rules go up from (a host's
# endpoints from the host, not the host again from each endpoint), and a CI's asset
UP_FROM_DOWN = (*directed("up"), IN + LIFECYCLE_TYPE)
UP_FROM_DEGRADED = (*directed("up", DEGRADED_HOP_TYPES), IN + LIFECYCLE_TYPE)
# relationships from a container to its parts: the src is the part's host or device
CONTAINERS = ("LISTENS_ON", "HAS_INTERFACE")
# the far end of a step is the dependent: rule_for(type, that end, its class)
FAR_END = {True: "dst", False: "src"}
# why a state spread: (relationship type, Kind value); plain strings, so the tuples (and the
# dicts of causes holding them) are not tracked by the garbage collector
Via = tuple[str, str]
# a step (``cmdb.graph.queries.impact_steps``): type, near, far, near is the src, far class,
# far name, far status
Step = Sequence[Any]


# One-of-several dependencies of a CI: (k, members, relationship type, Kind value): k of the
# members must work. The walk's bulk (needs, classes, names, parents, causes) is plain tuples,
# strings and dicts of them: untracked by the garbage collector, which a large walk would
# otherwise traverse whole again and again as it grows (a third of its time).
Need = tuple[int, tuple[str, ...], str, str]


@dataclass
class _Walk:
    store: Store
    max_depth: int
    state: dict[str, str] = field(default_factory=dict)
    depth: dict[str, int] = field(default_factory=dict)
    # what the walk knows of each CI it met: class, name (None until met named: a device's
    # uplink port), and parent (the host of an endpoint, the device of an interface)
    classes: dict[str, str] = field(default_factory=dict)
    names: dict[str, str | None] = field(default_factory=dict)
    parents: dict[str, str] = field(default_factory=dict)
    # effect -> {cause: (relationship type, kind)}: what justifies the effect's state
    because: dict[str, dict[str, Via]] = field(default_factory=dict)
    needs: dict[str, tuple[Need, ...]] = field(default_factory=dict)  # loaded one-of-several
    loaded: set[str] = field(default_factory=set)
    gone: set[str] = field(default_factory=set)  # retired: never a working member
    topology: Layer2 | None = None
    generation: Hashable | None = None  # the graph's, read first: keys the cached topology
    # the loaders' first reads, started as a level's chunks name the CIs to evaluate again
    members_ahead: ReadAhead = field(init=False)
    clients_ahead: ReadAhead = field(init=False)
    uplinks_ahead: ReadAhead = field(init=False)

    def __post_init__(self) -> None:
        store = self.store
        self.members_ahead = ReadAhead(lambda ids: impact_steps(store, ids, MEMBERSHIP), _near)
        self.clients_ahead = ReadAhead(lambda ids: impact_steps(store, ids, CLIENT_TYPES), _near)
        self.uplinks_ahead = ReadAhead(lambda ids: uplinks(store, ids), _device)

    # ------------------------------------------------------------ states
    def _note(self, step: Step) -> None:
        """Learn a step's far end (class, name, retired) and who contains whom."""
        rel_type, near, far, out, cls, name, status = step
        if far not in self.classes:
            self.classes[far] = cls
            self.names[far] = name
        elif self.names[far] is None:
            self.names[far] = name  # first met as a device's uplink port, named here
        if status == "retired":
            self.gone.add(far)
        if rel_type in CONTAINERS:
            if out:
                self.parents[far] = near
            elif near in self.classes:
                self.parents[near] = far

    def _raise(self, ci: str, new: str, causes: dict[str, Via], level: int) -> bool:
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

    def _evaluate(self, ci: str) -> tuple[str, dict[str, Via]] | None:
        """The worst state the CI's one-of-several needs give it, with its causes."""
        worst: tuple[str, dict[str, Via]] | None = None
        state, gone = self.state, self.gone
        is_group = self.classes[ci] == GROUP
        for k, members, rel_type, kind in self.needs.get(ci, ()):
            failed: list[str] = []
            touched: list[str] = []
            working = 0
            for m in members:
                m_state = state.get(m)
                if m_state == "down":
                    failed.append(m)
                elif m not in gone:
                    working += 1
                if m_state is not None:
                    touched.append(m)
            # a group degrades with any member down or degraded; a client or device only
            # when one of its dependencies failed
            causes = touched if is_group else failed
            if working < k:
                new, causes = "down", failed
            elif causes:
                new = "degraded"
            else:
                continue
            if worst is None or RANK[new] > RANK[worst[0]]:
                worst = (new, {})
            if new == worst[0]:
                worst[1].update(dict.fromkeys(causes, (rel_type, kind)))
        return worst

    # ------------------------------------------------------------ loading
    async def _load_groups(self, groups: set[str]) -> None:
        """Members and ``min`` of redundancy groups (DEPENDS_ON from the group, MEMBER_OF to
        it), and which members are out of service."""
        groups = groups - self.loaded  # a new set: the caller evaluates loaded groups again
        if not groups:
            return
        self.loaded |= groups
        members: dict[str, set[str]] = {g: set() for g in groups}
        kinds: dict[str, str] = {}
        steps, details = await asyncio.gather(
            self.members_ahead.take(groups), self.store.get_cis(sorted(groups))
        )
        for step in steps:
            self._note(step)
            rel_type, group, member, out = step[0], step[1], step[2], step[3]
            if rel_type == "DEPENDS_ON" and out:  # the group depends on the member
                members[group].add(member)
                kinds[group] = rel_type
            elif rel_type == "MEMBER_OF" and not out:  # the member is a member of the group
                members[group].add(member)
                kinds.setdefault(group, rel_type)
        await self._retired_assets({m for ms in members.values() for m in ms})
        for gid, group_members in members.items():
            ci = details.get(gid)
            k = int((ci.attributes.get("min") if ci else None) or 1)
            need = (k, tuple(group_members), kinds.get(gid, "DEPENDS_ON"), Kind.DECLARED.value)
            self.needs[gid] = (*self.needs.get(gid, ()), need)

    async def _retired_assets(self, ids: set[str]) -> None:
        """CIs whose asset (REPRESENTS) is retired or disposed are out of service."""
        steps = await impact_steps(self.store, ids, (IN + LIFECYCLE_TYPE,))
        await self._retire([(s[2], s[1]) for s in steps])

    async def _retire(self, represents: list[tuple[str, str]]) -> set[str]:
        """Mark out of service the CIs of (asset, CI) pairs whose asset is retired or
        disposed; returns those that were not out of service already."""
        if not represents:
            return set()
        found = await self.store.get_cis(sorted({asset for asset, _ci in represents}))
        retired = {
            ci
            for asset, ci in represents
            if asset in found and found[asset].attributes.get("state") in RETIRED_ASSET_STATES
        }
        retired -= self.gone
        self.gone |= retired
        return retired

    async def _load_clients(self, clients: set[str]) -> None:
        """The implicit groups of observed connections: a client's targets grouped by the
        service they offer (their host's redundancy group, else protocol and port), minus
        connections to itself, to fellow members of its own groups, and those a declared
        dependency of the client covers."""
        key = CLIENTS_LOADED
        clients = {c for c in clients if key + c not in self.loaded}
        if not clients:
            return
        self.loaded |= {key + c for c in clients}
        targets: dict[str, set[str]] = {c: set() for c in clients}
        declared: dict[str, set[str]] = {c: set() for c in clients}
        for step in await self.clients_ahead.take(clients):
            self._note(step)
            rel_type, client, far, out = step[0], step[1], step[2], step[3]
            if not out:
                continue  # what the client needs: relationships it is the src of
            if rel_type == CONNECTS:
                targets[client].add(far)
                continue
            if far == client:
                continue
            rule = rule_for(rel_type, "src", self.classes[client])
            if rule is not None and rule.kind is Kind.DECLARED:
                declared[client].add(far)
        all_targets = {t for ts in targets.values() for t in ts}
        for step in await impact_steps(self.store, all_targets, (IN + "LISTENS_ON",)):
            self._note(step)
        parents = self.parents
        host = {c: c if self.classes[c] == "Host" else parents.get(c) for c in clients}
        hosts = {parents.get(t) for t in all_targets} | set(host.values())
        hosts.discard(None)
        await self._retired_assets(hosts)
        # an endpoint of a host out of service is no working member either
        self.gone |= {t for t in all_targets if parents.get(t) in self.gone}
        groups_of: dict[str, set[str]] = {}
        for step in await impact_steps(self.store, hosts | clients, MEMBERSHIP):
            self._note(step)
            rel_type, near, far, out = step[0], step[1], step[2], step[3]
            src, dst = (near, far) if out else (far, near)
            if rel_type == "DEPENDS_ON":
                if self.classes.get(src) == GROUP:
                    groups_of.setdefault(dst, set()).add(src)
            elif rel_type == "MEMBER_OF":
                groups_of.setdefault(src, set()).add(dst)
        for client in sorted(clients):
            own = host[client]
            mine = groups_of.get(client, set()) | groups_of.get(own or "", set())
            by_service: dict[str, set[str]] = {}
            for target in targets[client]:
                target_host = parents.get(target)
                theirs = groups_of.get(target_host or "", set())
                if target_host in (own, client) or theirs & mine:
                    continue  # itself (loopback, own address) or replication among peers
                if {target, target_host} & declared[client] or theirs & declared[client]:
                    continue  # a declared dependency says what the client needs
                name = (self.names[target] or "").split(" (")[0]
                service = min(theirs) if theirs else f"port:{name}"
                by_service.setdefault(service, set()).add(target)
            needs = [
                (1, tuple(members), CONNECTS, Kind.INFERRED.value)
                for members in by_service.values()
            ]
            if needs:
                self.needs[client] = (*self.needs.get(client, ()), *needs)

    async def _load_devices(self, devices: set[str]) -> None:
        """A device's uplink ports (``cmdb.graph.queries.Layer2``): it needs one of them."""
        key = PORTS_LOADED
        devices = {d for d in devices if key + d not in self.loaded}
        if not devices:
            return
        self.loaded |= {key + d for d in devices}
        if self.topology is None:
            self.topology = await layer2_at(self.store, self.generation)
        ports: dict[str, set[str]] = {}
        # a switch's uplinks were read with the topology (outwards from the core); a host's
        # links need a read of their own
        classes = self.classes
        switches = {d for d in devices if classes[d] == "NetworkDevice"}
        await self.topology.reach(self.store, switches)
        known = [link for d in switches for link in self.topology.links.get(d, ())]
        hosts = devices - switches
        for link in known + await self.uplinks_ahead.take(hosts):
            cls = classes[link.device]
            if self.topology.is_uplink(cls, link.device, link.peer_class, link.peer_device):
                ports.setdefault(link.device, set()).add(link.port)
                if link.port not in classes:
                    classes[link.port] = "Interface"
                    self.names[link.port] = None
                    self.parents[link.port] = link.device
        for device, device_ports in ports.items():
            need = (1, tuple(device_ports), "HAS_INTERFACE", Kind.DISCOVERED.value)
            self.needs[device] = (*self.needs.get(device, ()), need)

    # ------------------------------------------------------------ the walk
    async def run(self, start: list[str]) -> None:
        # the failed CIs, the graph generation and the first hop (from every id given: an
        # unknown one has no relationships) are independent reads
        known, self.generation, first = await asyncio.gather(
            self.store.get_cis(start),
            generation(self.store),
            impact_steps(self.store, start, UP_FROM_DOWN) if self.max_depth > 0 else _none(),
        )
        for ci_id, ci in known.items():
            self.classes[ci_id] = ci.cls
            self.names[ci_id] = ci.name
            if ci.attributes.get("host"):
                self.parents[ci_id] = ci.attributes["host"]
            self.state[ci_id] = "down"
            self.depth[ci_id] = 0
            self.because[ci_id] = {}
            if ci.status == "retired":
                self.gone.add(ci_id)  # fails itself, takes nothing along
        first = [s for s in first if s[1] in known]
        try:
            await self._levels(set(start), first, sorted(known))
        finally:
            for ahead in (self.members_ahead, self.clients_ahead, self.uplinks_ahead):
                ahead.cancel()

    async def _levels(self, starting: set[str], first: list[Step], frontier: list[str]) -> None:
        """Level by level from the failed CIs (``frontier``, ``first``: their first hop's
        steps); ``starting``: every id given."""
        level = 0
        while frontier and level < self.max_depth:
            level += 1
            proposals: list[tuple[str, str, str, Via]] = []
            reevaluate: dict[str, set[str]] = {"group": set(), "client": set(), "device": set()}
            if level == 1:
                await self._frontier_assets(first, starting)
                self._propose(first, proposals, reevaluate)
            else:
                states = list(map(self.state.__getitem__, frontier))
                down = list(compress(frontier, map("down".__eq__, states)))
                degraded = list(compress(frontier, map("degraded".__eq__, states)))
                reads = [(down, UP_FROM_DOWN), (degraded, UP_FROM_DEGRADED)]
                # chunk by chunk, the next one read meanwhile: the store's work overlaps ours
                ahead = impact_steps_ahead(self.store, reads, back=self._came_from(frontier))
                async with contextlib.aclosing(ahead) as chunks:
                    async for steps in chunks:
                        await self._frontier_assets(steps, starting)
                        self._read_ahead(self._propose(steps, proposals, reevaluate))
            # independent reads: one loader's store reads overlap the others' work
            await asyncio.gather(
                self._load_groups(reevaluate["group"]),
                self._load_clients(reevaluate["client"]),
                self._load_devices(reevaluate["device"]),
            )
            # a host both a client and a device got its needs in whichever order the loaders
            # finished: put them in one order, so its causes (and the paths) do not vary
            for ci in reevaluate["client"] & reevaluate["device"]:
                if ci in self.needs:
                    self.needs[ci] = tuple(sorted(self.needs[ci], key=_need_rank))
            changed = self._apply(proposals, level)
            for ci in sorted(set().union(*reevaluate.values())):
                result = self._evaluate(ci)
                if result and self._raise(ci, result[0], result[1], level):
                    changed.add(ci)
            frontier = sorted(changed)

    def _read_ahead(self, added: list[tuple[str, str]]) -> None:
        """Start the loaders' first reads for the CIs a chunk named to evaluate again
        ((kind, CI), ``_propose``), those not loaded yet."""
        if not added:
            return
        loaded, classes = self.loaded, self.classes
        groups, clients, hosts = [], [], []
        for kind, ci in added:
            if kind == "group":
                if ci not in loaded:
                    groups.append(ci)
            elif kind == "client":
                if CLIENTS_LOADED + ci not in loaded:
                    clients.append(ci)
            elif PORTS_LOADED + ci not in loaded and classes[ci] != "NetworkDevice":
                hosts.append(ci)  # a switch's uplinks come with the topology
        self.members_ahead.start(groups)
        self.clients_ahead.start(clients)
        self.uplinks_ahead.start(hosts)

    def _came_from(self, frontier: list[str]) -> dict[str, tuple[str, str]]:
        """For each frontier CI, one cause of its new state and the relationship type it
        came through (the least cause id: the same on every store). Reading that
        relationship back is a third of a large walk's reads and cannot change a state:
        the cause is already as bad as the CI it made so. Nor is it an explanation: the
        cause failed first."""
        came: dict[str, tuple[str, str]] = {}
        because = self.because
        for ci in frontier:
            causes = because.get(ci)
            if not causes:
                continue
            if len(causes) == 1:  # most CIs: no choice to make
                ((cause, via),) = causes.items()
            else:
                cause = min(causes)
                via = causes[cause]
            came[ci] = (cause, via[0])
        return came

    async def _frontier_assets(self, steps: list[Step], start: set[str]) -> None:
        """A CI whose asset is retired or disposed is not reported, nor walked through."""
        represents = [(s[2], s[1]) for s in steps if s[0] == LIFECYCLE_TYPE and not s[3]]
        for ci in await self._retire(represents) - start:
            self.state.pop(ci, None)

    def _propose(
        self,
        steps: list[Step],
        proposals: list[tuple[str, str, str, Via]],
        reevaluate: dict[str, set[str]],
    ) -> list[tuple[str, str]]:
        """Note each step's far end; what the near end failing or degrading does to it:
        (dependent, new state, cause, (type, kind)) ``proposals``, and the CIs whose
        one-of-several needs must be evaluated again (``reevaluate``: "group", "client",
        "device"). Chunk by chunk: proposals are only applied (``_apply``) once the level is
        read whole. Returns the (kind, CI) added to ``reevaluate`` by these steps."""
        state, gone = self.state, self.gone
        classes, names, parents = self.classes, self.names, self.parents
        propose = proposals.append
        added: list[tuple[str, str]] = []
        # this loop runs once per relationship read: _note and the rules are inline
        for rel_type, near, far, out, far_class, far_name, status in steps:
            key = (rel_type, out, far_class)  # out: 1/0 on one store, True/False on the other
            effects = _EFFECTS.get(key)
            if effects is None:
                effects = _EFFECTS[key] = _effects(rel_type, bool(out), far_class)
            if effects is _SKIP:
                continue
            if far not in classes:
                classes[far] = far_class
                names[far] = far_name
            elif names[far] is None:
                names[far] = far_name
            if status == "retired":
                gone.add(far)
            if effects[3]:  # a container and its part: the src holds the dst
                if out:
                    parents[far] = near
                elif near in classes:
                    parents[near] = far
            if far == near or near in gone or far in gone:
                continue
            effect = effects[0] if state[near] == "down" else effects[1]
            if effect is None:
                continue
            if effect in RANK:
                propose((far, effect, near, effects[2]))
            else:
                bucket = reevaluate[effect]
                if far not in bucket:
                    bucket.add(far)
                    added.append((effect, far))
        return added

    def _apply(self, proposals: list[tuple[str, str, str, Via]], level: int) -> set[str]:
        """``_raise`` for each proposal (inline: one per relationship read); the CIs whose
        state changed."""
        state, depth, because, gone = self.state, self.depth, self.because, self.gone
        changed: set[str] = set()
        for ci, new, cause, via in proposals:
            if ci in gone:
                continue
            old = state.get(ci)
            if old == new:
                because[ci][cause] = via  # another explanation of the same state
            elif old is None or RANK[new] > RANK[old]:
                state[ci] = new
                depth.setdefault(ci, level)
                because[ci] = {cause: via}
                changed.add(ci)
        return changed

    # ------------------------------------------------------------ explanations
    def explanations(
        self, start: list[str], targets: list[str]
    ) -> dict[str, dict[str, tuple[str, Via]]]:
        """For each failed CI, a shortest-cause tree over what explains ``targets``: effect
        -> (its cause one step nearer that failed CI, the relationship type and kind between
        them). One breadth-first pass per failed CI over the causes every state keeps, shared
        by all targets (a backward search per target re-read the same causes once per
        target), limited to the targets' causes, their causes, and so on: every chain to a
        target runs through those alone, so the trees agree with a pass over every state
        (a CI's parent is its first cause dequeued, and causes keep their queue order)."""
        state, because = self.state, self.because
        relevant = {t for t in targets if t in state}
        todo = list(relevant)
        while todo:
            node = todo.pop()
            for cause in because.get(node, ()):
                if cause not in relevant and cause in state:
                    relevant.add(cause)
                    todo.append(cause)
        # each cause's effects in id order (effects taken in id order), so the chains are the
        # same whatever order the store returned rows in
        effects: dict[str, list[tuple[str, Via]]] = {}
        for node in sorted(relevant):
            for cause, via in because.get(node, {}).items():
                if cause in state:
                    found = effects.get(cause)
                    if found is None:
                        effects[cause] = [(node, via)]
                    else:
                        found.append((node, via))
        trees: dict[str, dict[str, tuple[str, Via]]] = {}
        for sid in sorted(set(start) & state.keys()):
            parent: dict[str, tuple[str, Via]] = {}
            seen = {sid}
            queue = deque([sid])
            while queue:
                node = queue.popleft()
                for effect, via in effects.get(node, ()):
                    if effect not in seen:
                        seen.add(effect)
                        parent[effect] = (node, via)
                        queue.append(effect)
            trees[sid] = parent
        return trees

    @staticmethod
    def paths(
        trees: dict[str, dict[str, tuple[str, Via]]], target: str
    ) -> list[list[tuple[str, str | None, str | None]]]:
        """One shortest cause chain from each failed CI that explains ``target``'s state:
        (CI, relationship type to the previous step, its kind), failed CI first; the
        shortest chains first (``explanations`` gives the trees)."""
        out = []
        for sid, parent in trees.items():
            if target != sid and target not in parent:
                continue
            back: list[tuple[str, str | None, str | None]] = []
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
    """What fails with ``ci_ids``: ``failed`` the CIs given (``out_of_service`` true on one
    already retired, which takes nothing down); ``services`` (worst first, then
    criticality) with state, owner, SLA and the paths that explain each; ``cis`` every
    affected CI (class, name, host for endpoints and interfaces, state, depth), left out
    when ``summary``; ``counts`` by state for services and CIs, and CIs by class."""
    start = sorted(set(ci_ids))
    walk = _Walk(store, depth)
    await walk.run(start)
    state, classes, names, parent_of = walk.state, walk.classes, walk.names, walk.parents
    # one C-level pass each over what may be tens of thousands of CIs
    affected_classes = list(map(classes.__getitem__, state))
    service_ids = sorted(compress(state, map("Service".__eq__, affected_classes)))
    # the hosts and devices of affected endpoints and interfaces that the walk never met
    parents = set(map(parent_of.get, state)) - classes.keys()
    parents.discard(None)
    details, missing = await asyncio.gather(
        store.get_cis(service_ids), store.get_cis(sorted(parents)) if parents else _none({})
    )
    retired = {s for s in service_ids if details[s].attributes.get("service_status") == "retired"}
    for pid, ci in missing.items():
        classes[pid] = ci.cls
        names[pid] = ci.name

    def ref(ci: str, **more: Any) -> dict[str, Any]:
        cls = classes[ci]
        out: dict[str, Any] = {"id": ci, "class": cls, "name": names[ci]}
        parent = parent_of.get(ci)
        if parent and cls in ("Endpoint", "Interface") and parent in classes:
            out["host" if cls == "Endpoint" else "device"] = names[parent]
        out.update(more)
        return out

    trees = walk.explanations(start, [s for s in service_ids if s not in retired])
    services = []
    for sid in service_ids:
        if sid in retired:
            continue
        a = details[sid].attributes
        paths = []
        for chain in walk.paths(trees, sid):
            steps = [
                ref(ci, state=state[ci], via=t, kind=k) if t else ref(ci, state=state[ci])
                for ci, t, k in chain
            ]
            paths.append({"kind": path_kind([Kind(k) for _c, _t, k in chain if k]), "steps": steps})
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
    by_state = {"down": 0, "degraded": 0, **Counter(state.values())}
    by_class = dict(Counter(affected_classes))
    for sid in retired:  # a retired service is not reported
        by_state[state[sid]] -= 1
        by_class["Service"] -= 1
    if not by_class.get("Service", 1):
        del by_class["Service"]
    counts: dict[str, Any] = {
        "services": _by_state(state[s["id"]] for s in services),
        "cis": by_state,
        "classes": by_class,
    }
    answer: dict[str, Any] = {
        "start": start,
        # a failed CI already out of service (retired, or its asset retired or disposed)
        # takes nothing down with it: said, so an empty answer is not misread
        "failed": [
            ref(i, out_of_service=True) if i in walk.gone else ref(i) for i in start if i in classes
        ],
        "depth": depth,
        "counts": counts,
        "services": services,
    }
    if not summary:
        depth_of = walk.depth
        affected = [i for i in state if i not in retired]
        affected.sort(key=lambda i: (depth_of[i], classes[i], names[i] or "", i))
        answer["cis"] = [ref(i, state=state[i], depth=depth_of[i]) for i in affected]
    return answer


# a relationship the walk reads but does not follow (the asset of a CI, read with it)
_SKIP: tuple[None, None, None, bool] = (None, None, None, False)
# (type, near is the src, far class) -> _effects(...): filled as the walk meets them
_EFFECTS: dict[tuple[str, Any, str], tuple[str | None, str | None, Any, bool]] = {}


def _effects(rel_type: str, out: bool, far_class: str) -> tuple[str | None, str | None, Any, bool]:
    """What a CI failing (first) or degrading (second) does to the far end of a
    relationship read from it (``out``: it is the src), by the rules: a state to propose
    ("down", "degraded"), the far end's needs to evaluate again ("device", "client",
    "group"), or nothing (None); third, (type, kind) of the cause; fourth, whether the
    relationship ties a container to its part. ``_SKIP`` for the lifecycle relationship."""
    if rel_type == LIFECYCLE_TYPE:
        return _SKIP
    contains = rel_type in CONTAINERS
    rule = rule_for(rel_type, FAR_END[out], far_class)
    if rule is None:
        return None, None, None, contains
    via = (rel_type, rule.kind.value)
    if rule.effect is Effect.CONTAINS or rule.type == "CONNECTED_TO":
        return "down", None, via, contains
    if rule.effect is Effect.FAILS:
        return "down", "degraded" if far_class in DEGRADED_REACHES else None, via, contains
    if rule.uplink_only:
        return "device", None, via, contains
    if rule.type == CONNECTS:
        return "client", None, via, contains
    return "group", "group", via, contains


_NEED_RANK = {CONNECTS: 1, "HAS_INTERFACE": 2}


def _need_rank(need: Need) -> int:
    """Declared groups first, then observed connections, then uplinks."""
    return _NEED_RANK.get(need[2], 0)


def _near(step: Step) -> str:
    return step[1]


def _device(link: Any) -> str:
    return link.device


async def _none(value: Any = ()) -> Any:
    return value


def _by_state(states) -> dict[str, int]:
    out = {"down": 0, "degraded": 0}
    for s in states:
        out[s] += 1
    return out
