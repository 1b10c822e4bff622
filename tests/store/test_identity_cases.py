"""The identity failure cases (tests/fixtures/cases/host, right answers in its README), each
replayed through the ingest path on both stores."""

from __future__ import annotations

import pytest

from cmdb.server.ingest import Ingestor
from tests.cases import load_case, replay

pytestmark = pytest.mark.asyncio


async def live_hosts(store) -> list:
    items, _ = await store.list_cis("Host", None, 1000, 0)
    return items


async def open_rels(store, ci_id: str, rel_type: str) -> list:
    return [v for v in await store.relationships(ci_id) if v.rel.type == rel_type]


async def test_placeholder_uuids_in_either_byte_order_never_merge(store):
    answers = await replay(Ingestor(store), load_case("placeholder-uuid"))
    assert len({a["ci_id"] for a in answers.values()}) == 4
    hosts = await live_hosts(store)
    assert sorted(h.name for h in hosts) == ["lab-pc-01", "lab-pc-02", "lab-pc-11", "lab-pc-12"]
    for answer in answers.values():
        explained = answer["identification"]
        assert any("system_uuid: not reported or placeholder" in e for e in explained)


async def test_clones_sharing_a_machine_id_stay_two_hosts_and_keep_their_facts(store):
    answers = await replay(Ingestor(store), load_case("clone-shared-machine-id"))
    first, second = answers["r1-ci-runner-01"], answers["r2-ci-runner-02"]
    assert first["ci_id"] != second["ci_id"]
    # the second clone's answer explains the rejected candidate
    assert any(
        "machine_id" in line and "rejected" in line and "collision" in line
        for line in second["identification"]
    )
    assert second["counts"]["relationships_closed"] == 0
    for answer in (first, second):
        assert len(await open_rels(store, answer["ci_id"], "INSTALLED")) == 6
        assert await open_rels(store, answer["ci_id"], "HAS_INTERFACE")
    assert sorted(h.name for h in await live_hosts(store)) == ["ci-runner-01", "ci-runner-02"]


async def test_cloud_guests_sharing_their_node_serial_are_four_hosts(store):
    answers = await replay(Ingestor(store), load_case("openstack-clones-shared-serial"))
    assert len({a["ci_id"] for a in answers.values()}) == 4
    assert len(await live_hosts(store)) == 4
    bravo = answers["p1-vm-bravo"]
    assert any("rejected" in line for line in bravo["identification"])
    for answer in answers.values():
        assert len(await open_rels(store, answer["ci_id"], "INSTALLED")) == 5


async def test_a_scan_lagging_behind_a_rename_joins_the_renamed_host(store):
    answers = await replay(Ingestor(store), load_case("rename-snmp-lag"))
    host_id = answers["a1-agent-mail-relay-2"]["ci_id"]
    for stem in (
        "a2-agent-renamed-mx-out-2",
        "s1-snmp-sysname-mail-relay-2",
        "s2-snmp-sysname-still-mail-relay-2",
    ):
        assert answers[stem]["ci_id"] == host_id, (stem, answers[stem]["identification"])
    hosts = await live_hosts(store)
    assert [h.id for h in hosts] == [host_id]
    host = hosts[0]
    assert host.name == "mx-out-2"  # the agent's name wins by precedence
    assert set(host.sources) == {"agent", "snmp"}
    # the switch's forwarding table places the host's MAC: its layer-2 link stays open
    links = []
    for view in await open_rels(store, host_id, "HAS_INTERFACE"):
        links += await open_rels(store, view.other.id, "CONNECTED_TO")
    assert len(links) == 1
    assert links[0].rel.ended_at is None
