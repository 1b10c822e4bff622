"""Traversal semantics both stores share: distances, depth bound, cycles, the edges walked,
relationship-type filters, closed relationships, and the ``limit`` / ``truncated`` cut."""

from __future__ import annotations

from cmdb.graph.store import CI, ChangeSet, Rel

T0 = "2026-11-28T10:00:00.000Z"
T1 = "2026-11-28T11:00:00.000Z"

# svc -DEPENDS_ON-> app1, app2 -HOSTED_ON-> db (a diamond); app1 <-HOSTED_ON-> app2 (a cycle
# within one level); db -OWNED_BY-> svc (a cycle back to the start); db -INSTALLED-> s1..s5
# and one closed INSTALLED.
CIS = {
    "svc": "Service",
    "app1": "Host",
    "app2": "Host",
    "db": "Host",
    "s1": "Software",
    "s2": "Software",
    "s3": "Software",
    "s4": "Software",
    "s5": "Software",
    "gone": "Software",
}
RELS = [
    ("e01", "DEPENDS_ON", "svc", "app1"),
    ("e02", "DEPENDS_ON", "svc", "app2"),
    ("e03", "HOSTED_ON", "app1", "app2"),  # same level: not walked
    ("e04", "HOSTED_ON", "app2", "app1"),
    ("e05", "HOSTED_ON", "app1", "db"),
    ("e06", "HOSTED_ON", "app2", "db"),  # diamond: db reached twice at distance 2
    ("e07", "OWNED_BY", "db", "svc"),  # back to the start: a cycle
    ("e08", "INSTALLED", "db", "s1"),
    ("e09", "INSTALLED", "db", "s2"),
    ("e10", "INSTALLED", "db", "s3"),
    ("e11", "INSTALLED", "db", "s4"),
    ("e12", "INSTALLED", "db", "s5"),
    ("e13", "INSTALLED", "db", "gone"),  # closed below
]


async def _seed(store) -> None:
    await store.apply(
        ChangeSet(
            report_id="seed",
            source="manual",
            at=T0,
            create_cis=[CI(id=i, cls=c, name=i) for i, c in CIS.items()],
            create_rels=[Rel(id=r, type=t, src=s, dst=d) for r, t, s, d in RELS],
        )
    )
    await store.apply(
        ChangeSet(
            report_id="close",
            source="manual",
            at=T1,
            close_rels=["e13"],
            close_rel_types={"e13": "INSTALLED"},
        )
    )


def _depths(walk) -> dict[str, int]:
    return {ci_id: d for ci_id, (_, d) in walk.nodes.items()}


def _edges(walk) -> list[str]:
    return sorted(r.id for r in walk.edges)


async def test_depths_are_shortest_and_bounded_and_cycles_end(store) -> None:
    await _seed(store)
    walk = await store.traverse(["svc"], "down", 6)
    assert _depths(walk) == {
        "svc": 0,
        "app1": 1,
        "app2": 1,
        "db": 2,
        **{f"s{k}": 3 for k in range(1, 6)},
    }
    # the edges joining distance d to d + 1: both diamond arms, not the same-level cycle,
    # not the edge back to the start, not the closed one
    assert _edges(walk) == ["e01", "e02", "e05", "e06", "e08", "e09", "e10", "e11", "e12"]
    assert walk.truncated is False
    edge = next(r for r in walk.edges if r.id == "e05")
    assert (edge.type, edge.src, edge.dst) == ("HOSTED_ON", "app1", "db")
    assert walk.nodes["db"][0].cls == "Host"

    two = await store.traverse(["svc"], "down", 2)
    assert _depths(two) == {"svc": 0, "app1": 1, "app2": 1, "db": 2}
    assert _edges(two) == ["e01", "e02", "e05", "e06"]
    zero = await store.traverse(["svc"], "down", 0)
    assert _depths(zero) == {"svc": 0} and zero.edges == []


async def test_up_both_and_type_filters(store) -> None:
    await _seed(store)
    up = await store.traverse(["s1"], "up", 6)
    assert _depths(up) == {"s1": 0, "db": 1, "app1": 2, "app2": 2, "svc": 3}
    assert _edges(up) == ["e01", "e02", "e05", "e06", "e08"]  # e07 leaves db: not walked up
    typed = await store.traverse(["svc"], "down", 6, ("DEPENDS_ON",))
    assert _depths(typed) == {"svc": 0, "app1": 1, "app2": 1}
    both = await store.traverse(["s1"], "both", 2)
    siblings = {f"s{k}": 2 for k in range(2, 6)}
    assert _depths(both) == {"s1": 0, "db": 1, "app1": 2, "app2": 2, "svc": 2, **siblings}
    assert _edges(both) == ["e05", "e06", "e07", "e08", "e09", "e10", "e11", "e12"]
    unknown = await store.traverse(["svc", "nope"], "down", 3)
    assert "nope" not in unknown.nodes and unknown.nodes["svc"][1] == 0


async def test_limit_keeps_the_nearest_and_says_truncated(store) -> None:
    await _seed(store)
    cut = await store.traverse(["svc"], "down", 6, limit=6)
    # all of distances 0-2 (4 CIs) and the two smallest ids at distance 3
    assert _depths(cut) == {"svc": 0, "app1": 1, "app2": 1, "db": 2, "s1": 3, "s2": 3}
    assert cut.truncated is True
    assert _edges(cut) == ["e01", "e02", "e05", "e06", "e08", "e09"]

    exact = await store.traverse(["svc"], "down", 6, limit=9)  # exactly everything
    assert len(exact.nodes) == 9 and exact.truncated is False
    bounded = await store.traverse(["svc"], "down", 2, limit=4)  # more exists, deeper only
    assert len(bounded.nodes) == 4 and bounded.truncated is False
    tiny = await store.traverse(["svc"], "down", 6, limit=1)
    assert _depths(tiny) == {"svc": 0} and tiny.edges == [] and tiny.truncated is True


async def test_closing_with_a_wrong_type_hint_still_closes(store) -> None:
    await _seed(store)
    await store.apply(
        ChangeSet(
            report_id="close-2",
            source="manual",
            at=T1,
            close_rels=["e12", "e11"],
            close_rel_types={"e12": "DEPENDS_ON"},  # wrong hint; e11 has none
        )
    )
    walk = await store.traverse(["db"], "down", 1)
    assert set(walk.nodes) == {"db", "s1", "s2", "s3", "svc"}
    views = await store.relationships("db", include_ended=True)
    ended = {v.rel.id: v.rel.ended_at for v in views}
    assert ended["e12"] == T1 and ended["e11"] == T1 and ended["e13"] == T1


async def test_every_limit_is_the_unlimited_walk_cut_to_it(store) -> None:
    """On a random graph with cycles and parallel paths, in every direction: a walk with a
    limit keeps exactly the ``limit`` nearest CIs (ties by id) of the unlimited walk and
    the walked edges among them, and says truncated exactly when it left some out."""
    import random

    rng = random.Random(5)
    ids = [f"n{k:02d}" for k in range(40)]
    rels = []
    for k in range(120):
        src, dst = rng.sample(ids, 2)
        rels.append(
            Rel(id=f"r{k:03d}", type=rng.choice(["DEPENDS_ON", "OWNED_BY"]), src=src, dst=dst)
        )
    unique = {(r.type, r.src, r.dst): r for r in rels}  # one open relationship per triple
    await store.apply(
        ChangeSet(
            report_id="random",
            source="manual",
            at=T0,
            create_cis=[CI(id=i, cls="Service", name=i) for i in ids],
            create_rels=list(unique.values()),
        )
    )
    for direction in ("down", "up", "both"):
        full = await store.traverse(["n00", "n07"], direction, 4)
        order = sorted(full.nodes, key=lambda i: (full.nodes[i][1], i))
        for limit in (1, 2, 3, 5, 8, 13, 21, 34, len(order), len(order) + 1):
            cut = await store.traverse(["n00", "n07"], direction, 4, limit=limit)
            kept = set(order[:limit])
            assert set(cut.nodes) == kept, (direction, limit)
            assert {i: d for i, (_, d) in cut.nodes.items()} == {i: full.nodes[i][1] for i in kept}
            assert _edges(cut) == [r.id for r in full.edges if r.src in kept and r.dst in kept]
            assert cut.truncated is (limit < len(order)), (direction, limit)
