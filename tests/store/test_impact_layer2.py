"""Impact across layer-2 links: a host depends on the switch ports it is patched into, a
switch on its uplinks to other switches; redundancy (two uplinks) degrades, not downs."""

from __future__ import annotations

import pytest

from cmdb.graph.store import CI, ChangeSet, Rel
from cmdb.server.catalogue.impact import impact

pytestmark = pytest.mark.asyncio
AT = "2026-11-28T10:00:00.000Z"


class Topology:
    def __init__(self) -> None:
        self.cis: list[CI] = []
        self.rels: list[Rel] = []

    def ci(self, ci_id: str, cls: str, **attributes) -> str:
        self.cis.append(CI(id=ci_id, cls=cls, name=ci_id, attributes=attributes, identity={}))
        return ci_id

    def rel(self, rel_type: str, src: str, dst: str) -> None:
        self.rels.append(Rel(id=f"{rel_type}:{src}:{dst}", type=rel_type, src=src, dst=dst))

    def device(self, name: str, cls: str, ports: int) -> list[str]:
        self.ci(name, cls)
        out = []
        for i in range(ports):
            port = self.ci(f"{name}/p{i}", "Interface", name=f"p{i}")
            self.rel("HAS_INTERFACE", name, port)
            out.append(port)
        return out

    async def load(self, store) -> None:
        cs = ChangeSet(report_id="topology", source="manual", at=AT)
        cs.create_cis, cs.create_rels = self.cis, self.rels
        await store.apply(cs)


async def build(store) -> None:
    """core1, core2; access switch a1 uplinked to both cores, a2 only to core1;
    host h1 on a1, h2 on a2, h3 on a1 and a2; service svc depends on h2."""
    t = Topology()
    c1 = t.device("core1", "NetworkDevice", 3)
    c2 = t.device("core2", "NetworkDevice", 2)
    a1 = t.device("a1", "NetworkDevice", 5)
    a2 = t.device("a2", "NetworkDevice", 4)
    t.rel("CONNECTED_TO", a1[0], c1[0])
    t.rel("CONNECTED_TO", c2[0], a1[1])  # links are undirected: either end may be src
    t.rel("CONNECTED_TO", a2[0], c1[1])
    for host, patches in (("h1", [a1[2]]), ("h2", [a2[1]]), ("h3", [a1[3], a2[2]])):
        nics = t.device(host, "Host", len(patches))
        for nic, port in zip(nics, patches, strict=True):
            t.rel("CONNECTED_TO", nic, port)
    t.ci("svc", "Service", name="svc", criticality="high", owner="ops")
    t.rel("DEPENDS_ON", "svc", "h2")
    await t.load(store)


def states(result) -> dict[str, str]:
    return {c["id"]: c["state"] for c in result["cis"] if c["class"] != "Interface"}


async def test_core_switch_takes_down_what_hangs_only_on_it(store):
    await build(store)
    result = await impact(store, ["core1"])
    got = states(result)
    assert got["a1"] == "degraded"  # still up through core2
    assert got["a2"] == "down"  # its only uplink
    assert got["h2"] == "down"
    assert got["h3"] == "degraded"  # one of its two switches is gone
    assert "h1" not in got  # behind a1, which still works
    assert "core2" not in got
    (svc,) = result["services"]
    assert svc["state"] == "down"
    (path,) = svc["paths"]
    ids = [step["id"] for step in path["steps"]]
    assert ids[0] == "core1" and ids[-1] == "svc" and "a2" in ids and "h2" in ids
    assert all(step["state"] == "down" for step in path["steps"])  # a down service: failures
    assert path["kind"] == "declared"


async def test_both_cores_down_take_down_everything_below(store):
    await build(store)
    got = states(await impact(store, ["core1", "core2"]))
    assert {got[x] for x in ("a1", "a2", "h1", "h2", "h3")} == {"down"}


async def test_a_host_failing_does_not_take_down_its_switch(store):
    await build(store)
    got = states(await impact(store, ["h1"]))
    assert got == {"h1": "down"}


async def build_three_tier(store) -> None:
    """core1 and core2 hold the hosts' default gateway 10.0.0.1 (no tier declared); dist1
    is uplinked to core1 only and links down to access switches a1 and a2; h1 on a1, h2 on
    a2; svc depends on h1. dist1 has three switch links and one uplink."""
    t = Topology()
    c1 = t.device("core1", "NetworkDevice", 2)
    c2 = t.device("core2", "NetworkDevice", 1)
    d1 = t.device("dist1", "NetworkDevice", 3)
    a1 = t.device("a1", "NetworkDevice", 2)
    a2 = t.device("a2", "NetworkDevice", 2)
    t.ci("vip", "IPAddress", address="10.0.0.1", net_scope="global")
    t.rel("HAS_IP", c1[1], "vip")
    t.rel("HAS_IP", c2[0], "vip")
    t.rel("CONNECTED_TO", d1[0], c1[0])
    t.rel("CONNECTED_TO", a1[0], d1[1])  # access below distribution: a downlink of dist1
    t.rel("CONNECTED_TO", d1[2], a2[0])
    gateway = [{"family": "inet", "address": "10.0.0.1", "interface": "p0", "is_default": True}]
    for host, port in (("h1", a1[1]), ("h2", a2[1])):
        (nic,) = t.device(host, "Host", 1)
        t.cis[-2].attributes["gateways"] = gateway
        t.rel("CONNECTED_TO", nic, port)
    t.ci("svc", "Service", name="svc", criticality="high", owner="ops")
    t.rel("DEPENDS_ON", "svc", "h1")
    await t.load(store)


async def test_core_failure_takes_down_through_distribution_downlinks(store):
    """The old rule took every switch-to-switch link for an uplink, so dist1 kept 'working
    uplinks' to its access switches and only degraded; the gateways say where the core is."""
    await build_three_tier(store)
    result = await impact(store, ["core1"])
    got = states(result)
    assert {got.get(x) for x in ("dist1", "a1", "a2", "h1", "h2")} == {"down"}
    assert "core2" not in got
    (svc,) = result["services"]
    assert svc["state"] == "down"


async def test_access_switch_failure_does_not_climb_to_the_core(store):
    await build_three_tier(store)
    got = states(await impact(store, ["a1"]))
    assert got == {"a1": "down", "h1": "down", "svc": "down"}
