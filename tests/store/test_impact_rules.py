"""The one table of dependency rules (cmdb.graph.dependency), read alike by impact and by the
dependencies walk (``GET /api/v1/cis/{id}/dependencies``), on both stores."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest

from cmdb.graph.dependency import HOP_TYPES, RULES, Effect, edges, steps
from cmdb.graph.queries import dependency_walk
from cmdb.graph.records import HopRow
from cmdb.graph.store import CI, ChangeSet, Rel
from cmdb.server.catalogue import impact as impact_mod
from cmdb.server.catalogue.impact import UP_FROM_DOWN, impact
from cmdb.server.staleness import sweep
from tests.store.test_impact_ha import ha

pytestmark = pytest.mark.asyncio
T0 = "2026-11-20T10:00:00.000Z"


def row(rel_type: str, src_class: str, dst_class: str) -> HopRow:
    return HopRow("r", rel_type, "a", "b", src_class, dst_class, "a", "b", "live", "live")


def test_the_table_reads_each_relationship_once():
    # a group's members are one-of-several; a service needs what it depends on
    (group,) = edges(row("DEPENDS_ON", "RedundancyGroup", "Host"))
    assert group.dependent == "a" and group.rule.effect is Effect.DEGRADES
    (service,) = edges(row("DEPENDS_ON", "Service", "Host"))
    assert service.rule.effect is Effect.FAILS
    # an endpoint is part of its host; its failure does not fail the host
    (part,) = edges(row("LISTENS_ON", "Host", "Endpoint"))
    assert (part.dependent, part.dependency, part.rule.effect) == ("b", "a", Effect.CONTAINS)
    # a device's port: contained, and an uplink the device may need
    port = {(e.dependent, e.rule.effect) for e in edges(row("HAS_INTERFACE", "Host", "Interface"))}
    assert port == {("b", Effect.CONTAINS), ("a", Effect.DEGRADES)}
    # observed connections are inferred one-of-several dependencies of the client
    (conn,) = edges(row("CONNECTS_TO", "Host", "Endpoint"))
    assert conn.dependent == "a" and conn.rule.kind == "inferred"
    # what is not in the table is no dependency
    assert edges(row("INSTALLED", "Host", "Software")) == []
    assert set(HOP_TYPES) == {r.type for r in RULES}


def test_up_and_down_are_each_others_reverse():
    up, down = steps("up"), steps("down")
    flip = {"in": "out", "out": "in"}
    assert up.keys() == down.keys()
    for rel_type, ways in up.items():
        assert set(down[rel_type]) == {flip[w] for w in ways}
    assert up["CONNECTS_TO"] == ("in",) and up["LISTENS_ON"] == ("out",)


async def test_dependencies_up_lists_what_impact_marks(store):
    """The issue: `ci deps db1 --direction up` did not list app1 while impact marked it."""
    c = await ha(store)
    walk = await dependency_walk(store, c["db1"], "up", 8)
    assert c["app1"] in walk.nodes
    names = {v[1] for v in walk.nodes.values()}
    assert {"pg-prod", "checkout-app", "checkout"} <= names
    assert c["web9"] not in walk.nodes  # db2 is listed: it replicates from db1 (observed)
    down = await dependency_walk(store, c["app1"], "down", 3)
    assert c["db1"] in down.nodes and c["db2"] in down.nodes  # through its connections


async def apply_manual(store, report_id: str, cis: list[CI], rels: list[Rel]) -> None:
    """Write ``cis`` and ``rels`` in one change set with source manual, at T0."""
    cs = ChangeSet(report_id=report_id, source="manual", at=T0)
    cs.create_cis, cs.create_rels = cis, rels
    await store.apply(cs)


async def random_graph(store, seed: int) -> list[str]:
    """Switches with ports and links, hosts patched in, endpoints, observed connections,
    software, VMs, redundancy groups and services: cycles and parallel paths."""
    rng = random.Random(seed)
    cis: list[CI] = []
    rels: dict[tuple[str, str, str], Rel] = {}

    def ci(ci_id: str, cls: str, **attributes) -> str:
        ci_id = f"{seed}-{ci_id}"  # one graph per seed, side by side in one store
        cis.append(CI(id=ci_id, cls=cls, name=ci_id, attributes=attributes))
        return ci_id

    def rel(rel_type: str, src: str, dst: str) -> None:
        if src != dst:
            rels[(rel_type, src, dst)] = Rel(f"{rel_type}:{src}:{dst}", rel_type, src, dst)

    switches = [ci(f"sw{k}", "NetworkDevice") for k in range(5)]
    ports: list[str] = []
    for sw in switches:
        for p in range(6):
            ports.append(ci(f"{sw}/p{p}", "Interface", parent=sw, name=f"p{p}"))
            rel("HAS_INTERFACE", sw, ports[-1])
    for _ in range(8):
        a, b = rng.sample(ports, 2)
        rel("CONNECTED_TO", a, b)
    hosts = [ci(f"h{k}", "Host") for k in range(14)]
    endpoints = []
    for h in hosts:
        nic = ci(f"{h}/eth0", "Interface", parent=h, name="eth0")
        rel("HAS_INTERFACE", h, nic)
        rel("CONNECTED_TO", nic, rng.choice(ports))
        for port in rng.sample([5432, 6379, 8080], 2):
            ep = ci(f"{h}:{port}", "Endpoint", host=h, protocol="tcp", port=port)
            rel("LISTENS_ON", h, ep)
            endpoints.append(ep)
    for _ in range(20):
        rel("CONNECTS_TO", rng.choice(hosts), rng.choice(endpoints))
    for k in range(4):
        rel("HOSTED_ON", rng.choice(hosts), rng.choice(hosts))
        rel("RUNS_ON", ci(f"sw-pkg{k}", "Software", name=f"pkg{k}"), rng.choice(hosts))
    services = [ci(f"svc{k}", "Service", name=f"svc{k}") for k in range(8)]
    for k, svc in enumerate(services):
        group = ci(f"g{k}", "RedundancyGroup", service=svc, name="g", min=rng.choice([1, 2]))
        rel("DEPENDS_ON", svc, group)
        for member in rng.sample(hosts + endpoints, 3):
            rel("DEPENDS_ON", group, member)
        rel("DEPENDS_ON", svc, rng.choice(hosts + services))
    await apply_manual(store, f"random-{seed}", cis, list(rels.values()))
    return [c.id for c in cis if c.cls in ("Host", "NetworkDevice", "Endpoint", "Interface")]


async def test_impact_never_reaches_what_dependencies_up_does_not_list(store):
    for seed in (1, 2, 3):
        failable = await random_graph(store, seed)
        rng = random.Random(seed)
        for failed in rng.sample(failable, 8):
            result = await impact(store, [failed], depth=12)
            up = await dependency_walk(store, failed, "up", 12)
            marked = {c["id"] for c in result["cis"]}
            assert marked <= set(up.nodes), (seed, failed, marked - set(up.nodes))


async def test_a_dependency_is_not_a_sighting(store):
    """The staleness sweep retires a silent host even when a service declared a dependency
    on it recently: a declaration says nothing about the host being there."""
    c = await ha(store)
    later = datetime.now(UTC) + timedelta(days=40)
    recent = (later - timedelta(days=1)).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    svc = CI(id="declared-late", cls="Service", name="declared-late", attributes={"name": "x"})
    cs = ChangeSet(report_id="late", source="manual", at=recent)
    cs.create_cis = [svc]
    cs.create_rels = [Rel("late-dep", "DEPENDS_ON", svc.id, c["db1"], recent, recent)]
    await store.apply(cs)
    await sweep(store, timedelta(hours=72), timedelta(days=30), now=later)
    assert (await store.get_ci(c["db1"])).status == "retired"
    # failing it now takes nothing down, and the answer says why
    result = await impact(store, [c["db1"]])
    assert result["failed"][0]["out_of_service"] is True
    assert result["counts"]["services"] == {"down": 0, "degraded": 0}
    assert "out_of_service" not in (await impact(store, [svc.id]))["failed"][0]


async def test_going_back_the_way_a_failure_came_changes_no_state(store, monkeypatch):
    """The walk does not read a CI's relationship back to the cause of its state (a quarter
    of a large failure's reads): on random graphs with cycles and parallel paths, the states
    and depths are those of a walk that reads everything."""
    for seed in (4, 5):
        failable = await random_graph(store, seed)
        rng = random.Random(seed)
        for failed in rng.sample(failable, 8):
            skipping = await impact(store, [failed], depth=12)
            with monkeypatch.context() as m:
                m.setattr(impact_mod._Walk, "_came_from", lambda self, frontier: {})
                reading = await impact(store, [failed], depth=12)
            got = {c["id"]: (c["state"], c["depth"]) for c in skipping["cis"]}
            assert got == {c["id"]: (c["state"], c["depth"]) for c in reading["cis"]}, failed
            assert skipping["counts"] == reading["counts"]
            assert [s["state"] for s in skipping["services"]] == [
                s["state"] for s in reading["services"]
            ]


async def test_the_order_of_reads_changes_no_answer(store, monkeypatch):
    """A level is read in chunks, and the loaders' reads start as the chunks name the CIs
    to evaluate again: on random graphs with cycles and parallel paths, one CI a read gives
    the whole answer (paths included) of the default chunks."""
    import functools

    from cmdb.graph import queries

    for seed in (6, 7):
        failable = await random_graph(store, seed)
        rng = random.Random(seed)
        for failed in rng.sample(failable, 6):
            default = await impact(store, [failed], depth=12)
            with monkeypatch.context() as m:
                m.setattr(
                    impact_mod,
                    "impact_steps_ahead",
                    functools.partial(queries.impact_steps_ahead, chunk=1, reads_ahead=4),
                )
                assert await impact(store, [failed], depth=12) == default, failed


async def test_the_store_skips_only_the_relationship_back(store):
    """``Store.impact_steps`` with ``back``: the relationship of that type to that CI is not
    read; another type to the same CI still is."""
    cis = [
        CI(id="h", cls="Host", name="h"),
        CI(id="nic", cls="Interface", name="eth0"),
        CI(id="port", cls="Interface", name="gi1"),
    ]
    rels = [
        Rel("hi", "HAS_INTERFACE", "h", "nic"),
        Rel("link", "CONNECTED_TO", "nic", "port"),
        Rel("dep", "DEPENDS_ON", "port", "nic"),  # declared: the port needs the NIC
    ]
    await apply_manual(store, "back", cis, rels)

    def seen(rows) -> set[tuple[str, str]]:
        return {(r[0], r[2]) for r in rows}

    every = {("HAS_INTERFACE", "h"), ("CONNECTED_TO", "port"), ("DEPENDS_ON", "port")}
    assert seen(await store.impact_steps(["nic"], UP_FROM_DOWN)) == every
    back = {"nic": ("port", "CONNECTED_TO")}
    assert seen(await store.impact_steps(["nic"], UP_FROM_DOWN, back)) == every - {
        ("CONNECTED_TO", "port")
    }


async def test_a_group_is_evaluated_again_when_its_next_member_fails_later(store):
    """A group (min 1) whose first member fails at one level and whose second fails levels
    later goes from degraded to down: loading its members once does not stop evaluating it."""
    cis = [
        CI(id="svc", cls="Service", name="svc", attributes={"name": "svc"}),
        CI(id="grp", cls="RedundancyGroup", name="grp", attributes={"min": 1}),
        CI(id="a", cls="Host", name="a"),
        CI(id="b", cls="Host", name="b"),
        CI(id="vm1", cls="Host", name="vm1"),
        CI(id="vm2", cls="Host", name="vm2"),
    ]
    rels = [
        Rel("s-g", "DEPENDS_ON", "svc", "grp"),
        Rel("g-a", "DEPENDS_ON", "grp", "a"),
        Rel("g-vm2", "DEPENDS_ON", "grp", "vm2"),
        Rel("vm2-vm1", "HOSTED_ON", "vm2", "vm1"),  # nested: vm2 fails two levels after b
        Rel("vm1-b", "HOSTED_ON", "vm1", "b"),
    ]
    await apply_manual(store, "late-member", cis, rels)
    result = await impact(store, ["a", "b"], depth=8)
    states = {c["id"]: c["state"] for c in result["cis"]}
    assert states["vm2"] == "down"
    assert states["grp"] == "down", states
    assert [s["state"] for s in result["services"]] == ["down"]
