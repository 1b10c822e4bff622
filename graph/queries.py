"""Reads for impact, dependencies and history by time, with their inputs normalised (empty
batches cost no round trip, ids sorted and unique). Each backend implements the batched
reads as store methods; the walks here follow the rules of ``cmdb.graph.dependency``."""

from __future__ import annotations

import asyncio
import weakref
from collections import deque
from collections.abc import (
    AsyncIterator,
    Awaitable,
    Callable,
    Hashable,
    Iterable,
    Mapping,
    Sequence,
)
from dataclasses import dataclass, field
from typing import Any

from cmdb.graph.dependency import DEVICES, Edge, dependencies_of, dependents_of
from cmdb.graph.records import HopRow, Uplink
from cmdb.graph.store import HistoryEntry, Store

_CHUNK = 2000  # ids per batched read: bounded statements on both stores
# the impact walk reads a level 700 ids at a time with two reads in flight: on 2 cores the
# store works on the next reads while the walk decides the last (the walk alone on the
# 69k-CI failure of bench/impact.py: 1.69x to 1.35x of the closure on Neo4j, 1.70x to 1.37x
# on SQLite, against 2000 ids with one read ahead)
WALK_CHUNK = 700
READS_AHEAD = 2
GATEWAY_SAMPLE = 64  # hosts whose default gateways locate the core


async def history_between(
    store: Store,
    since: str | None,
    until: str | None,
    sources: tuple[str, ...] | None = None,
    limit: int = 100_000,
) -> list[HistoryEntry]:
    """History entries of every CI with ``since <= at <= until``, oldest first."""
    return await store.history_between(since, until, sources, int(limit))


async def impact_hop(
    store: Store, ids: list[str] | set[str], types: tuple[str, ...]
) -> list[HopRow]:
    """One hop for a whole frontier: every open relationship of ``types`` touching ``ids``
    (``HopRow``: rel id, type, both ends with class, name and status)."""
    if not ids or not types:
        return []
    wanted = sorted(set(ids))
    rows: list[HopRow] = []
    for start in range(0, len(wanted), _CHUNK * 10):
        rows += await store.impact_hop(wanted[start : start + _CHUNK * 10], tuple(types))
    return rows


async def impact_steps(
    store: Store, ids: list[str] | set[str], types: tuple[str, ...]
) -> list[Sequence[Any]]:
    """One hop of the impact walk from the frontier's side (``Store.impact_steps``: type,
    near, far, near is the src, far class, far name, far status)."""
    if not ids or not types:
        return []
    wanted = sorted(set(ids))
    rows: list[Sequence[Any]] = []
    for start in range(0, len(wanted), _CHUNK * 10):
        rows += await store.impact_steps(wanted[start : start + _CHUNK * 10], tuple(types))
    return rows


async def impact_steps_ahead(
    store: Store,
    reads: list[tuple[list[str], tuple[str, ...]]],
    chunk: int = WALK_CHUNK,
    back: Mapping[str, tuple[str, str]] | None = None,
    reads_ahead: int = READS_AHEAD,
) -> AsyncIterator[list[Sequence[Any]]]:
    """``impact_steps`` of each (ids, types) of ``reads`` (ids sorted, without repeats: the
    store's reads go in index order, and the answer is the same on every run), ``chunk`` ids
    at a time, the next ``reads_ahead`` chunks' reads started before one is handed over: the
    caller's work on one chunk overlaps the store's on the next. ``back``: for a frontier
    CI, (the CI, the relationship type) its state came through, not read back
    (``Store.impact_steps``).
    Close it (``contextlib.aclosing``) when leaving early: the read ahead is cancelled."""
    jobs = []
    for ids, types in reads:
        wanted = ids if types else []
        for start in range(0, len(wanted), chunk):
            jobs.append((wanted[start : start + chunk], tuple(types), back))
    pending: deque[asyncio.Future[list[Sequence[Any]]]] = deque()
    try:
        for n, job in enumerate(jobs):
            if not pending:
                pending.append(asyncio.ensure_future(store.impact_steps(*job)))
            rows = await pending.popleft()
            for later in jobs[n + 1 + len(pending) : n + 1 + reads_ahead]:
                pending.append(asyncio.ensure_future(store.impact_steps(*later)))
            if pending:
                await asyncio.sleep(0)  # let them start (send their query) before we get busy
            yield rows
    finally:
        for future in pending:
            future.cancel()
            future.add_done_callback(_retrieved)


class ReadAhead:
    """One batched read (``read(ids)``: rows) started for ids as soon as a walk knows it
    will need them, and handed over when it does (``take``): the store works on it while
    the walk goes on. Reading is all it does, so starting early changes no answer.
    ``owner(row)``: the id a row was read for (``take`` returns only the rows of the ids it
    is given). ``cancel`` when leaving early."""

    def __init__(
        self,
        read: Callable[[list[str]], Awaitable[list[Any]]],
        owner: Callable[[Any], str],
    ) -> None:
        self._read = read
        self._owner = owner
        self._started: dict[str, asyncio.Future[list[Any]]] = {}

    def start(self, ids: Iterable[str]) -> None:
        """Start one read of those of ``ids`` not started yet."""
        new = sorted({i for i in ids if i not in self._started})
        if new:
            future = asyncio.ensure_future(self._read(new))
            self._started.update(dict.fromkeys(new, future))

    async def take(self, ids: Iterable[str]) -> list[Any]:
        """The rows of ``ids`` (read now for those not started), read by read."""
        wanted = set(ids)
        self.start(wanted)
        futures: dict[int, asyncio.Future[list[Any]]] = {}
        for i in sorted(wanted):
            future = self._started.pop(i)
            futures.setdefault(id(future), future)
        rows: list[Any] = []
        owner = self._owner
        for future in futures.values():
            rows += [row for row in await future if owner(row) in wanted]
        return rows

    def cancel(self) -> None:
        """Cancel the reads nobody took."""
        for future in set(self._started.values()):
            if not future.done():
                future.cancel()
            future.add_done_callback(_retrieved)
        self._started.clear()


def _retrieved(task: asyncio.Future[Any]) -> None:
    # a read ahead nobody waits for: its error (the one the caller saw first) is not news
    if not task.cancelled():
        task.exception()


async def generation(store: Store) -> Hashable | None:
    """The store's graph generation (``Store.impact_generation``), None if it has none."""
    read = getattr(store, "impact_generation", None)
    return None if read is None else await read()


async def uplinks(store: Store, device_ids: list[str] | set[str]) -> list[Uplink]:
    """Layer-2 links of devices to network devices (``Uplink``)."""
    if not device_ids:
        return []
    return await store.uplinks(sorted(set(device_ids)))


@dataclass(slots=True)
class Layer2:
    """Where the core is, for deciding which links are uplinks: ``level`` is a switch's
    distance from the core (lower is nearer), learnt breadth-first from the core as far as
    the walk needs it (``reach``); ``basis`` says how the core was found. Shared by the
    requests of one graph generation (``layer2_at``): it holds no store, and ``reach``
    extends it one caller at a time."""

    level: dict[str, int] = field(default_factory=dict)
    basis: str = "none"
    # switch -> its links to switches nearer the core (all its links on the "edge" basis)
    links: dict[str, list[Uplink]] = field(default_factory=dict)
    frontier: list[str] = field(default_factory=list)
    guard: asyncio.Lock = field(default_factory=asyncio.Lock)

    def is_uplink(self, device_class: str, device: str, peer_class: str, peer: str) -> bool:
        """A host's links to switches are uplinks; a switch's link is an uplink when the
        peer is nearer the core. Peers at the same level (two cores, a stack) need neither."""
        if peer_class != "NetworkDevice" or device_class not in DEVICES:
            return False
        if device_class == "Host":
            return True
        mine, theirs = self.level.get(device), self.level.get(peer)
        return mine is not None and theirs is not None and theirs < mine

    async def reach(self, store: Store, switches: set[str]) -> None:
        """Read the switch graph of ``store`` outwards from the core until every one of
        ``switches`` has a level, or the graph ends. A switch's uplinks are its links to the
        level above, which were all read by then (``links`` holds them reversed), so the
        switches at the failure's level are never read themselves. A level is added whole
        between two reads, so a concurrent reader never sees half of one."""
        if not self.frontier or not switches - self.level.keys():
            return  # known already: no lock to take
        async with self.guard:  # the frontier is handed over: one reader at a time
            while self.frontier and switches - self.level.keys():
                found = await uplinks(store, self.frontier)
                frontier: list[str] = []
                for link in found:
                    if link.peer_device not in self.level:
                        self.level[link.peer_device] = self.level[link.device] + 1
                        frontier.append(link.peer_device)
                    back = Uplink(
                        link.peer_device, link.peer_port, link.port, link.device, "NetworkDevice"
                    )
                    self.links.setdefault(link.peer_device, []).append(back)
                self.frontier = sorted(frontier)


# per store: (graph generation, its Layer2); weak, so a closed store takes its entry along
_TOPOLOGY: weakref.WeakKeyDictionary[Any, tuple[Hashable, Layer2]] = weakref.WeakKeyDictionary()


async def layer2_at(store: Store, at: Hashable | None) -> Layer2:
    """``layer2`` of ``store`` as of graph generation ``at`` (``Store.impact_generation``,
    read before this call): computed once per generation and shared, since where the core
    is only changes when the graph does. ``at`` None: computed afresh and not kept."""
    if at is None:
        return await layer2(store)
    key = getattr(store, "wrapped", store)  # the store itself, not a timing wrapper
    try:
        hit = _TOPOLOGY.get(key)
    except TypeError:  # not weakly referable: no cache
        return await layer2(store)
    if hit is not None and hit[0] == at:
        return hit[1]
    topology = await layer2(store)
    # keyed by the generation read BEFORE the topology: a write meanwhile changes the next
    # generation, so this entry is never taken for a graph it was not computed from
    _TOPOLOGY[key] = (at, topology)
    return topology


async def layer2(store: Store) -> Layer2:
    """Where the core of the switch graph is, in order of evidence: switches declaring
    ``tier`` core; routers and devices holding a sampled host's default gateway; failing
    both, the switches farthest from any host (hosts hang at the edge: this reads the whole
    switch graph). Levels are then learnt outwards from the core as far as needed
    (``Layer2.reach``), so a failure near the core reads little."""
    devices, _ = await store.list_cis("NetworkDevice", None, 1_000_000, 0)
    if not devices:
        return Layer2()
    by_id = {d.id: d for d in devices}
    core = {d for d, ci in by_id.items() if str(ci.attributes.get("tier")).lower() == "core"}
    basis = "tier"
    if not core:
        core = {d for d, ci in by_id.items() if ci.attributes.get("device_type") == "router"}
        core |= await _gateway_holders(store, set(by_id))
        basis = "gateway"
    if core:
        return Layer2(dict.fromkeys(core, 0), basis, {}, sorted(core))
    # nothing says where the core is: the whole switch graph, the core farthest from hosts
    out = Layer2(basis="edge")
    neighbours: dict[str, set[str]] = {d: set() for d in by_id}
    for link in await uplinks(store, list(by_id)):
        out.links.setdefault(link.device, []).append(link)
        if link.peer_device != link.device and link.peer_device in neighbours:
            neighbours[link.device].add(link.peer_device)
            neighbours[link.peer_device].add(link.device)
    for d in by_id:
        out.links.setdefault(d, [])
    for part in _components(neighbours):
        roots = await _far_from_hosts(store, part, neighbours)
        out.level.update(_distances(roots, neighbours))
    return out


def _components(neighbours: dict[str, set[str]]) -> list[set[str]]:
    seen: set[str] = set()
    parts = []
    for start in sorted(neighbours):
        if start in seen:
            continue
        part = set(_distances({start}, neighbours))
        seen |= part
        parts.append(part)
    return parts


def _distances(roots: set[str], neighbours: dict[str, set[str]]) -> dict[str, int]:
    dist = dict.fromkeys(roots, 0)
    queue = deque(sorted(roots))
    while queue:
        node = queue.popleft()
        for nxt in sorted(neighbours.get(node, ())):
            if nxt not in dist:
                dist[nxt] = dist[node] + 1
                queue.append(nxt)
    return dist


async def _gateway_holders(store: Store, device_ids: set[str]) -> set[str]:
    """Network devices holding the default gateway address of a sample of hosts (the
    first ``GATEWAY_SAMPLE`` by name: gateways are few, so a sample finds them)."""
    hosts, _ = await store.list_cis("Host", None, GATEWAY_SAMPLE, 0)
    addresses = sorted(
        {
            str(g.get("address"))
            for h in hosts
            if h.status != "retired"
            for g in h.attributes.get("gateways") or []
            if isinstance(g, dict) and g.get("address") and g.get("is_default", True)
        }
    )
    if not addresses:
        return set()
    held = {i for _a, i in await store.attribute_pairs("IPAddress", "address", addresses)}
    interfaces = {r.src for r in await impact_hop(store, held, ("HAS_IP",)) if r.dst in held}
    return {
        row.src
        for row in await impact_hop(store, interfaces, ("HAS_INTERFACE",))
        if row.src in device_ids
    }


async def _far_from_hosts(
    store: Store, part: set[str], neighbours: dict[str, set[str]]
) -> set[str]:
    """The switches of ``part`` farthest from the switches hosts are patched into."""
    ports = {
        r.dst: r.src for r in await impact_hop(store, part, ("HAS_INTERFACE",)) if r.src in part
    }
    edge = {
        ports[p]
        for row in await impact_hop(store, set(ports), ("CONNECTED_TO",))
        for p, far in ((row.src, row.dst), (row.dst, row.src))
        if p in ports and far not in ports
    }
    if not edge:
        return set(part)  # nothing says where the core is: every link is lateral
    dist = _distances(edge & part, neighbours)
    top = max(dist.values())
    return {d for d, level in dist.items() if level == top}


@dataclass(slots=True)
class Walk:
    """A dependency walk: each reached CI with its depth, class, name and status, and the
    relationships followed."""

    nodes: dict[str, tuple[str, str | None, str | None, int]]
    edges: dict[str, HopRow]
    truncated: bool = False


async def dependency_walk(
    store: Store, root: str, direction: str, depth: int, limit: int | None = None
) -> Walk:
    """Breadth-first along the dependency rules: ``up`` to what depends on ``root`` (what
    impact may reach), ``down`` to what it depends on, ``both``. A device's port counts as
    its dependency only when it is an uplink (``layer2``). One batched read per level."""
    from cmdb.graph.dependency import HOP_TYPES

    found = await store.get_cis([root])
    if root not in found:
        return Walk({}, {})
    ci = found[root]
    nodes = {root: (ci.cls, ci.name, ci.status, 0)}
    edges: dict[str, HopRow] = {}
    topology: Layer2 | None = None
    frontier = [root]
    level = 0
    truncated = False
    while frontier and level < depth and not truncated:
        level += 1
        fresh: list[str] = []
        rows = await impact_hop(store, frontier, HOP_TYPES)
        steps: list[tuple[str, Edge]] = []
        for row in sorted(rows, key=lambda r: r.id):
            for here in {row.src, row.dst} & set(frontier):
                if direction in ("up", "both"):
                    steps += [(e.dependent, e) for e in dependents_of(row, here)]
                if direction in ("down", "both"):
                    steps += [(e.dependency, e) for e in dependencies_of(row, here)]
        if any(e.rule.uplink_only for _f, e in steps):
            topology = topology or await layer2_at(store, await generation(store))
            links = await _uplink_ports(store, topology, steps)
            steps = [(f, e) for f, e in steps if not e.rule.uplink_only or e.row.dst in links]
        for far, edge in steps:
            row = edge.row
            edges.setdefault(row.id, row)
            if far in nodes:
                continue
            if limit is not None and len(nodes) >= limit:
                truncated = True
                break
            cls, name, status = (
                (row.src_class, row.src_name, row.src_status)
                if far == row.src
                else (row.dst_class, row.dst_name, row.dst_status)
            )
            nodes[far] = (cls, name, status, level)
            fresh.append(far)
        frontier = sorted(fresh)
    kept = {i: e for i, e in edges.items() if e.src in nodes and e.dst in nodes}
    return Walk(nodes, kept, truncated)


async def _uplink_ports(store: Store, topology: Layer2, steps: list[tuple[str, Edge]]) -> set[str]:
    """The ports among the walked device-port steps that are their device's uplinks."""
    devices = {e.row.src: e.row.src_class for _f, e in steps if e.rule.uplink_only}
    await topology.reach(store, {d for d, cls in devices.items() if cls == "NetworkDevice"})
    return {
        link.port
        for link in await uplinks(store, devices)
        if topology.is_uplink(devices[link.device], link.device, link.peer_class, link.peer_device)
    }
