"""Impact across layer-2 links: a host depends on the switch ports it is patched into, a
switch on its uplinks to other switches; redundancy (two uplinks) degrades, not downs."""

from __future__ import annotations

import pytest

from graph.store import CI, ChangeSet, Rel
from server.catalogue.impact import impact

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
    assert path[0] == "core1" and path[-1] == "svc" and "a2" in path and "h2" in path


async def test_both_cores_down_take_down_everything_below(store):
    await build(store)
    got = states(await impact(store, ["core1", "core2"]))
    assert {got[x] for x in ("a1", "a2", "h1", "h2", "h3")} == {"down"}


async def test_a_host_failing_does_not_take_down_its_switch(store):
    await build(store)
    got = states(await impact(store, ["h1"]))
    assert got == {"h1": "down"}
