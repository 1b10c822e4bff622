"""Impact against a reference: on random graphs the walk's states are the least fixpoint of
the rules of ``cmdb.graph.dependency``, computed here the slow and obvious way (every CI
re-derived from all its dependencies until nothing changes), on both stores. Two kinds of
graph: declared dependencies (hosts on hypervisors, software on hosts, services on CIs,
other services and redundancy groups, with cycles), and observed connections (one-of
groups by the service offered, endpoints contained in hosts, loopback, replication among
group members, declared dependencies covering connections). The walk decides level by
level from what each level's reads name; this checks it misses no re-evaluation (a group
whose members fail at different levels) and adds no state the rules do not give. Each of
those exclusions, and the group re-evaluation, made these tests fail when taken out."""

from __future__ import annotations

import random

import pytest

from cmdb.graph.store import CI, ChangeSet, Rel
from cmdb.server.catalogue.impact import impact

pytestmark = pytest.mark.asyncio
T0 = "2026-11-20T10:00:00.000Z"
RANK = {None: 0, "degraded": 1, "down": 2}
# a degraded dependency degrades services and groups; a host on a degraded host still works
DEGRADED_REACHES = ("Service", "RedundancyGroup")


class Graph:
    def __init__(self, seed: int) -> None:
        self.seed = seed
        self.cis: dict[str, str] = {}  # id -> class
        self.rels: dict[tuple[str, str, str], Rel] = {}
        self.minimum: dict[str, int] = {}
        self.host_of: dict[str, str] = {}  # endpoint -> its host
        self.names: dict[str, str] = {}

    def endpoint(self, host: str, port: int) -> str:
        ep = self.ci(f"{host}:{port}", "Endpoint")
        self.host_of[ep] = host
        self.names[ep] = f"tcp/{port}"
        self.rel("LISTENS_ON", host, ep)
        return ep

    def ci(self, name: str, cls: str) -> str:
        ci_id = f"ref{self.seed}-{name}"
        self.cis[ci_id] = cls
        return ci_id

    def rel(self, rel_type: str, src: str, dst: str) -> None:
        if src != dst:
            self.rels[(rel_type, src, dst)] = Rel(f"{rel_type}:{src}:{dst}", rel_type, src, dst)

    async def store_in(self, store) -> None:
        cs = ChangeSet(report_id=f"reference-{self.seed}", source="manual", at=T0)
        cs.create_cis = [
            CI(
                id=i,
                cls=cls,
                name=i,
                attributes={"min": self.minimum[i]} if i in self.minimum else {"name": i},
            )
            if cls in ("Service", "RedundancyGroup")
            else CI(
                id=i,
                cls=cls,
                name=self.names.get(i, i),
                attributes={
                    "host": self.host_of[i],
                    "protocol": "tcp",
                    "port": int(i.rsplit(":")[-1]),
                }
                if cls == "Endpoint"
                else {},
            )
            for i, cls in self.cis.items()
        ]
        cs.create_rels = list(self.rels.values())
        await store.apply(cs)

    def _observed(self, members: dict[str, set[str]]) -> dict[str, list[set[str]]]:
        """Each client's observed connections as one-of groups: its targets by the service
        they offer (their host's redundancy group, else the port), leaving out its own
        endpoints, its group peers' and those a declared dependency of the client covers."""
        groups_of: dict[str, set[str]] = {}
        for group, group_members in members.items():
            for m in group_members:
                groups_of.setdefault(m, set()).add(group)
        declared: dict[str, set[str]] = {}
        for rel_type, src, dst in self.rels:
            if rel_type in ("RUNS_ON", "HOSTED_ON", "DEPENDS_ON"):
                declared.setdefault(src, set()).add(dst)
        out: dict[str, list[set[str]]] = {}
        for rel_type, client, target in sorted(self.rels):
            if rel_type != "CONNECTS_TO":
                continue
            own = client if self.cis[client] == "Host" else self.host_of[client]
            mine = groups_of.get(client, set()) | groups_of.get(own, set())
            host = self.host_of[target]
            theirs = groups_of.get(host, set())
            mine_declared = declared.get(client, set())
            if host in (own, client) or theirs & mine:
                continue
            if {target, host} & mine_declared or theirs & mine_declared:
                continue
            service = min(theirs) if theirs else "port:" + self.names[target]
            out.setdefault(client, {}).setdefault(service, set()).add(target)
        return {c: list(by_service.values()) for c, by_service in out.items()}

    def reference(self, failed: list[str]) -> dict[str, str]:
        """The least fixpoint: each CI's state from all its dependencies, until stable."""
        needs: dict[str, list[str]] = {}  # dependent -> what it needs (each one)
        members: dict[str, set[str]] = {}  # group -> members
        for rel_type, src, dst in self.rels:
            if rel_type in ("RUNS_ON", "HOSTED_ON"):
                needs.setdefault(src, []).append(dst)
            elif rel_type == "DEPENDS_ON":
                if self.cis[src] == "RedundancyGroup":
                    members.setdefault(src, set()).add(dst)
                else:
                    needs.setdefault(src, []).append(dst)
            elif rel_type == "MEMBER_OF":
                members.setdefault(dst, set()).add(src)
        contained = dict(self.host_of)  # an endpoint fails with its host, nothing else
        one_of = self._observed(members)
        state: dict[str, str] = dict.fromkeys(failed, "down")
        changed = True
        while changed:
            changed = False
            for ci, cls in self.cis.items():
                new = None
                for dependency in needs.get(ci, ()):
                    got = state.get(dependency)
                    if got == "down":
                        new = "down"
                    elif got == "degraded" and cls in DEGRADED_REACHES and new is None:
                        new = "degraded"
                if state.get(contained.get(ci)) == "down":
                    new = "down"
                for targets in one_of.get(ci, ()):  # observed: needs one of each service's
                    if all(state.get(t) == "down" for t in targets):
                        new = "down"
                    elif new is None and any(state.get(t) == "down" for t in targets):
                        new = "degraded"
                if ci in members:
                    group = members[ci]
                    working = sum(1 for m in group if state.get(m) != "down")
                    if working < self.minimum.get(ci, 1):
                        new = "down"
                    elif new is None and any(m in state for m in group):
                        new = "degraded"
                if RANK[new] > RANK[state.get(ci)]:
                    state[ci] = new
                    changed = True
        return state


def random_declared(seed: int) -> Graph:
    rng = random.Random(seed)
    g = Graph(seed)
    hosts = [g.ci(f"h{k}", "Host") for k in range(10)]
    for vm in hosts[5:]:  # VMs on hypervisors, sometimes nested
        g.rel("HOSTED_ON", vm, rng.choice(hosts[:5] + hosts[5:]))
    software = [g.ci(f"sw{k}", "Software") for k in range(5)]
    for sw in software:
        g.rel("RUNS_ON", sw, rng.choice(hosts))
    services = [g.ci(f"svc{k}", "Service") for k in range(8)]
    groups = []
    for k in range(5):
        group = g.ci(f"g{k}", "RedundancyGroup")
        groups.append(group)
        picked = rng.sample(hosts + software + services, rng.randint(2, 4))
        g.minimum[group] = rng.randint(1, len(picked))
        for member in picked:
            if rng.random() < 0.7:
                g.rel("DEPENDS_ON", group, member)
            else:
                g.rel("MEMBER_OF", member, group)
    for svc in services:  # cycles among services are allowed: the fixpoint is still least
        for dependency in rng.sample(hosts + software + services + groups, rng.randint(1, 3)):
            g.rel("DEPENDS_ON", svc, dependency)
    return g


async def agrees_with_reference(store, g: Graph, seed: int, failing: tuple[str, ...]) -> None:
    """Store ``g``, then fail 1 to 3 of its CIs of the ``failing`` classes at a time, six
    times: the walk's states must be the reference's."""
    await g.store_in(store)
    rng = random.Random(seed)
    candidates = sorted(i for i, cls in g.cis.items() if cls in failing)
    for _ in range(6):
        failed = rng.sample(candidates, rng.randint(1, 3))
        answer = await impact(store, failed, depth=50)
        got = {c["id"]: c["state"] for c in answer["cis"]}
        assert got == g.reference(failed), (seed, failed)


async def test_impact_is_the_least_fixpoint_of_the_rules(store):
    for seed in range(8):
        await agrees_with_reference(store, random_declared(seed), 100 + seed, ("Host", "Software"))


def random_observed(seed: int) -> Graph:
    """Hosts with PostgreSQL and Redis endpoints, clients connecting to them (to their own
    endpoints too), database hosts in groups that replicate among themselves, a declared
    dependency that covers a connection, services on hosts and groups."""
    rng = random.Random(seed)
    g = Graph(seed + 1000)
    hosts = [g.ci(f"h{k}", "Host") for k in range(9)]
    endpoints = [g.endpoint(h, port) for h in hosts for port in rng.sample([5432, 6379], 2)]
    for _ in range(14):
        client = rng.choice(hosts + endpoints[:3])
        g.rel("CONNECTS_TO", client, rng.choice(endpoints))
    groups = []
    for k in range(2):
        group = g.ci(f"g{k}", "RedundancyGroup")
        groups.append(group)
        picked = rng.sample(hosts, 3)
        g.minimum[group] = rng.randint(1, 2)
        for member in picked:
            g.rel("DEPENDS_ON", group, member)
    # declared dependencies that cover observed connections: on the target's host, on the
    # target endpoint itself
    observed = sorted(k for k in g.rels if k[0] == "CONNECTS_TO" and g.cis[k[1]] == "Host")
    for _type, client, target in rng.sample(observed, 3):
        g.rel("DEPENDS_ON", client, rng.choice([target, g.host_of[target]]))
    for k in range(5):
        svc = g.ci(f"svc{k}", "Service")
        for dependency in rng.sample(hosts + groups, 2):
            g.rel("DEPENDS_ON", svc, dependency)
    return g


async def test_observed_connections_are_the_least_fixpoint_too(store):
    """The same with observed connections: one-of groups per service, containment of
    endpoints, loopback, replication among group members and declared dependencies."""
    for seed in range(8):
        await agrees_with_reference(store, random_observed(seed), 200 + seed, ("Host", "Endpoint"))
