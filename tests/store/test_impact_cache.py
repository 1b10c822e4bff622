"""Where the core is (``cmdb.graph.queries.layer2_at``) is computed once per graph
generation and shared by impact requests: a write must make the next request see the new
graph, on both stores; and the pipelined reads give the same answer as one read a level."""

from __future__ import annotations

import functools

import pytest

from cmdb.graph import queries
from cmdb.graph.store import CI, ChangeSet, CIUpdate, Rel
from cmdb.server.catalogue import impact as impact_mod
from cmdb.server.catalogue.impact import impact

pytestmark = pytest.mark.asyncio
AT = "2026-11-28T10:00:00.000Z"
LATER = "2026-11-28T11:00:00.000Z"
GATEWAY = [{"family": "inet", "address": "10.0.0.1", "interface": "p0", "is_default": True}]


async def build(store) -> None:
    """core1 holds the hosts' default gateway; a1 is uplinked to core1 only; h1 on a1."""
    cis = [
        CI(id="core1", cls="NetworkDevice", name="core1", attributes={}, identity={}),
        CI(id="a1", cls="NetworkDevice", name="a1", attributes={}, identity={}),
        CI(id="h1", cls="Host", name="h1", attributes={"gateways": GATEWAY}, identity={}),
        CI(id="vip", cls="IPAddress", name="vip", attributes={"address": "10.0.0.1"}, identity={}),
    ]
    rels: list[Rel] = []
    for device, ports in (("core1", 2), ("a1", 2), ("h1", 1)):
        for i in range(ports):
            port = f"{device}/p{i}"
            cis.append(CI(id=port, cls="Interface", name=f"p{i}", attributes={}, identity={}))
            rels.append(Rel(f"hi:{port}", "HAS_INTERFACE", device, port))
    rels += [
        Rel("ip", "HAS_IP", "core1/p1", "vip"),
        Rel("up", "CONNECTED_TO", "a1/p0", "core1/p0"),
        Rel("patch", "CONNECTED_TO", "h1/p0", "a1/p1"),
    ]
    cs = ChangeSet(report_id="topology", source="manual", at=AT)
    cs.create_cis, cs.create_rels = cis, rels
    await store.apply(cs)


def affected(result) -> dict[str, str]:
    return {c["id"]: c["state"] for c in result["cis"] if c["class"] != "Interface"}


async def test_a_write_moves_the_core_for_the_next_request(store):
    await build(store)
    assert affected(await impact(store, ["core1"])) == {"core1": "down", "a1": "down", "h1": "down"}
    before = await store.impact_generation()
    assert before is not None and before == await store.impact_generation()  # no write: same
    # a1 is declared the core: the link to core1 becomes core1's uplink, not a1's
    update = CIUpdate(
        id="a1",
        name="a1",
        attributes={"tier": "core"},
        attr_sources={"tier": "manual"},
        identity={},
        sources=["manual"],
        cls="NetworkDevice",
    )
    await store.apply(ChangeSet(report_id="core", source="manual", at=LATER, update_cis=[update]))
    assert await store.impact_generation() != before
    assert affected(await impact(store, ["core1"])) == {"core1": "down"}


async def test_no_generation_inside_a_transaction(store):
    await build(store)
    async with store.transaction() as tx:
        assert await tx.impact_generation() is None


async def test_one_topology_per_generation(store, monkeypatch):
    await build(store)
    computed = []
    real = queries.layer2

    async def counting(s):
        computed.append(1)
        return await real(s)

    monkeypatch.setattr(queries, "layer2", counting)
    first = await impact(store, ["core1"])
    assert await impact(store, ["core1"]) == first
    assert len(computed) == 1  # the second request took the first one's topology


async def test_chunked_reads_give_the_same_answer(store, monkeypatch):
    """The walk reads a level chunk by chunk, the next chunk read meanwhile, and starts the
    loaders' reads as the chunks name the CIs to evaluate again; with one id a chunk (a
    read ahead per CI), and with no read ahead, the answer is the one of a whole level at
    once."""
    await build(store)
    whole = await impact(store, ["core1"])
    monkeypatch.setattr(
        impact_mod,
        "impact_steps_ahead",
        functools.partial(queries.impact_steps_ahead, chunk=1),
    )
    assert await impact(store, ["core1"]) == whole
    monkeypatch.setattr(impact_mod._Walk, "_read_ahead", lambda self, added: None)
    assert await impact(store, ["core1"]) == whole
