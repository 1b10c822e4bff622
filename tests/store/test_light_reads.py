"""The light reads behind the UI's long lists and reports, on both stores: a scan of
summaries (``Store.list_summaries``) answers what ``list_cis`` answers, and the CIs no
open relationship points at (``Store.unlinked_cis``) are what a walk from every asset
leaves out; the asset register and its reports, read in batches, answer as the record of
each asset read alone does."""

from __future__ import annotations

from cmdb.graph.store import CI, ChangeSet, Rel
from cmdb.server.catalogue import assets
from cmdb.server.ui.listing import ListQuery, list_page
from cmdb.server.ui.views.browse import _page

T0 = "2026-11-28T10:00:00.000Z"
T1 = "2026-11-28T11:00:00.000Z"

# values of every JSON type, including what Neo4j keeps as encoded text (a list of
# objects, an object) and a plain string that looks encoded
HOSTS = {
    "h1": {"cpu_cores": 16, "clock_skew_seconds": 0.25, "os_name": "Debian"},
    "h2": {"cpu_cores": 4, "gateways": ["10.0.0.1", "10.0.1.1"], "os_name": "alma"},
    "h3": {"disks": [{"name": "sda", "size": 1}], "custom": {"rack": "R1"}},
    "h4": {"os_name": 'json:{"not": "encoded"}', "virtualization": None},
    "h5": {"cpu_cores": 0, "gateways": []},
}


async def _seed(store) -> None:
    cis = [CI(id=i, cls="Host", name=f"web-{i}", attributes=a) for i, a in HOSTS.items()]
    cis += [
        CI(id="nameless", cls="Host", name=None, attributes={"cpu_cores": 2}),
        CI(id="sw1", cls="NetworkDevice", name="sw1", attributes={"placeholder": True}),
        CI(id="sw2", cls="NetworkDevice", name="SW2", attributes={"placeholder": False}),
        CI(id="old", cls="Host", name="old", attributes={}),
        CI(id="a1", cls="Asset", name="A-1", attributes={"asset_tag": "A-1", "state": "deployed"}),
        CI(id="a2", cls="Asset", name="A-2", attributes={"asset_tag": "A-2", "state": "in_stock"}),
        CI(id="a3", cls="Asset", name="A-3", attributes={"asset_tag": "A-3", "state": "deployed"}),
        CI(id="dell", cls="Supplier", name="Dell", attributes={"name": "Dell"}),
    ]
    rels = [
        Rel(id="r1", type="REPRESENTS", src="a1", dst="h1"),
        Rel(id="r2", type="REPRESENTS", src="a2", dst="sw1"),
        Rel(id="r3", type="REPRESENTS", src="a3", dst="h2"),  # closed below
        Rel(id="s1", type="SUPPLIED_BY", src="a1", dst="dell"),
    ]
    await store.apply(
        ChangeSet(report_id="seed", source="manual", at=T0, create_cis=cis, create_rels=rels)
    )
    await store.apply(
        ChangeSet(
            report_id="later",
            source="manual",
            at=T1,
            close_rels=["r3"],
            close_rel_types={"r3": "REPRESENTS"},
            set_status=[("old", "retired")],
        )
    )


def _summary(ci: CI, attributes: tuple[str, ...]) -> tuple:
    have = {a: ci.attributes[a] for a in attributes if ci.attributes.get(a) is not None}
    fields = (ci.id, ci.cls, ci.name, ci.status, ci.first_seen, ci.last_seen, ci.scope)
    return (*fields, list(ci.sources), have)


async def test_summaries_answer_what_list_cis_answers(store):
    await _seed(store)
    wanted = ("cpu_cores", "clock_skew_seconds", "gateways", "disks", "custom", "os_name")
    for cls, q, status, attributes in (
        ("Host", None, None, wanted),
        ("Host", "WEB", None, ("os_name", "virtualization", "name", "no such", "a-b")),
        ("NetworkDevice", None, None, ("placeholder",)),
        (None, None, "live", ("asset_tag", "cpu_cores")),
        ("Host", None, "retired", ()),
    ):
        for limit, offset in ((100, 0), (2, 1)):
            full, total = await store.list_cis(cls, q, limit, offset, status)
            light, light_total = await store.list_summaries(
                cls, q, limit, offset, status, attributes
            )
            assert light_total == total
            assert [_summary(c, attributes) for c in light] == [
                _summary(c, attributes) for c in full
            ], (cls, q, status, limit, offset)
    assert await store.list_summaries("No Such", None, 10, 0) == ([], 0)


async def test_unlinked_cis_are_what_no_asset_represents(store):
    await _seed(store)
    found = await store.unlinked_cis(("NetworkDevice", "Host"), "REPRESENTS", "Asset", ("retired",))
    # by class as asked, name (none first), id: h1 and sw1 are represented, h2 no longer
    # (its REPRESENTS closed), old is retired
    assert [(c.id, c.cls) for c in found] == [
        ("sw2", "NetworkDevice"),
        ("nameless", "Host"),
        ("h2", "Host"),
        ("h3", "Host"),
        ("h4", "Host"),
        ("h5", "Host"),
    ]
    host = {c.id: c for c in (await store.list_cis("Host", None, 100, 0))[0]}
    assert all(c.last_seen == host[c.id].last_seen for c in found if c.cls == "Host")
    assert all(c.status == "live" and c.attributes == {} for c in found)
    retired = await store.unlinked_cis(("Host",), "REPRESENTS", "Asset")
    assert "old" in {c.id for c in retired}
    # only relationships from the class named count
    assert {c.id for c in await store.unlinked_cis(("Host",), "REPRESENTS", "Service")} >= {
        "h1",
        "h2",
    }
    assert await store.unlinked_cis((), "REPRESENTS", "Asset") == []


async def test_asset_register_and_reports_read_in_batches(store):
    await _seed(store)
    report = await assets.unregistered(store)
    assert [x["id"] for x in report] == ["nameless", "h2", "h3", "h4", "h5", "sw2"]
    assert report[1] == {
        "id": "h2",
        "class": "Host",
        "name": "web-h2",
        "status": "live",
        "last_seen": report[1]["last_seen"],
    }
    for state in (None, "deployed", "in_stock"):
        items, total = await assets.list_assets(store, state, None, 50, 0)
        alone = [
            await assets.asset_record(store, await assets.get_asset(store, x["id"])) for x in items
        ]
        assert items == alone and total == len(items)
    deployed, _ = await assets.list_assets(store, "deployed", "a-", 50, 0)
    assert [x["asset_tag"] for x in deployed] == ["A-1", "A-3"]
    assert deployed[0]["ci"]["id"] == "h1" and deployed[0]["supplier"]["name"] == "Dell"
    assert deployed[1]["ci"] is None
    unseen = await assets.unseen(store, 30)
    assert [(x["asset_tag"], x["reason"]) for x in unseen] == [("A-3", "no discovered CI")]


async def test_a_sorted_list_scans_summaries_and_shows_whole_cis(store):
    await _seed(store)
    for query in (
        ListQuery(cls="Host", sort="cpu_cores", desc=True),
        ListQuery(cls="Host", sort="os_name"),
        ListQuery(cls="Host", attr="gateways", sort="last_seen"),
        ListQuery(cls=None, source="manual", sort="sources", desc=True),
        ListQuery(cls="Host", attr="os_name", value="json"),
    ):
        for offset, size in ((0, 50), (1, 2)):
            expected = await list_page(store, query, offset, size)
            got = await _page(store, query, offset, size)
            assert (got.total, got.columns, got.capped) == (
                expected.total,
                expected.columns,
                expected.capped,
            )
            assert [(c.id, c.attributes, c.sources) for c in got.items] == [
                (c.id, c.attributes, c.sources) for c in expected.items
            ], query
