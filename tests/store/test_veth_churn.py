"""Container churn is not history: the veth-churn case on both stores (issue 11, item 5).

A container host reports five times; each report has lo, eno1, docker0 and three new
veth links (containers restarted). Right answer (tests/fixtures/cases/README.md): the
host's Interface CIs stay bounded by what exists now, and churn piles up neither CIs nor
history; the host counts its container links instead."""

from __future__ import annotations

import pytest

from cmdb.server.ingest import Ingestor
from cmdb.server.reconcile.links import is_ephemeral_link
from tests.cases import load_case, replay

pytestmark = pytest.mark.asyncio

REAL = {"lo", "eno1", "docker0"}


async def interfaces_of(store, host_id, include_ended=False):
    rels = await store.relationships(host_id, include_ended=include_ended)
    return [v for v in rels if v.rel.type == "HAS_INTERFACE"]


async def test_veth_churn_keeps_interfaces_bounded(store):
    answers = await replay(Ingestor(store), load_case("veth-churn"))
    assert [a["status"] for a in answers.values()][0] == "applied"
    assert {a["status"] for a in list(answers.values())[1:]} == {"unchanged"}
    host_id = answers["r1-containers-restarted"]["ci_id"]
    assert {a["ci_id"] for a in answers.values()} == {host_id}

    # what exists now: the three real links, and never a veth, open or ended
    assert {v.other.name for v in await interfaces_of(store, host_id)} == REAL
    assert {v.other.name for v in await interfaces_of(store, host_id, include_ended=True)} == REAL
    items, total = await store.list_cis("Interface", None, 100, 0)
    assert total == 3, sorted(ci.name for ci in items)
    assert not [ci for ci in items if ci.name.startswith("veth")]

    host = await store.get_ci(host_id)
    assert host.attributes["virtual_links"] == 3
    assert host.attributes["primary_mac"] == "7c:d3:0a:30:03:01"

    # reports two to five changed nothing: no history after the first report
    entries, _ = await store.history(host_id, 1000, 0)
    first_id = answers["r1-containers-restarted"]["report_id"]
    later = [e for e in entries if e.report_id != first_id]
    assert later == [], later
    for answer in list(answers.values())[1:]:
        assert answer["counts"]["history_entries"] == 0
        assert answer["counts"]["cis_created"] == 0


async def test_veth_links_already_stored_are_closed(store):
    """A host recorded before this rule had veth Interface CIs: its next report closes
    them (end-dated, as any link that is gone) and they do not come back."""
    reports = list(load_case("veth-churn").values())
    ingestor = Ingestor(store)
    old = reports[0]
    # the same report as an older server saw it: veths with an address of their own
    # (a real fact), so they were Interface CIs
    for index, nic in enumerate(old["sections"]["interfaces"]):
        if nic["name"].startswith("veth"):
            nic["addresses"] = [{"address": f"192.0.2.{index}", "prefixlen": 32, "family": 4}]
    first = await ingestor.ingest(old)
    assert len(await interfaces_of(store, first["ci_id"])) == 6
    second = await ingestor.ingest(reports[1])
    assert {v.other.name for v in await interfaces_of(store, second["ci_id"])} == REAL


@pytest.mark.parametrize(
    ("nic", "ephemeral"),
    [
        ({"name": "veth71342c3", "kind": "virtual", "addresses": []}, True),
        (
            {
                "name": "cali1a2b3c4d5e6",
                "kind": "virtual",
                "addresses": [{"address": "fe80::ecee:eeff:feee:eeee", "family": 6}],
            },
            True,
        ),
        ({"name": "tap0f1e2d3c-4b", "kind": "tun", "addresses": []}, True),
        ({"name": "vnet3", "kind": "tun", "addresses": []}, True),
        ({"name": "lxc12ab34cd", "kind": "virtual", "addresses": []}, True),
        ({"name": "pod-7f9c", "kind": "veth", "addresses": []}, True),
        # an address of its own is a fact of the host: kept
        (
            {
                "name": "cni0",
                "kind": "bridge",
                "addresses": [{"address": "10.244.0.1", "prefixlen": 24, "family": 4}],
            },
            False,
        ),
        (
            {
                "name": "flannel.1",
                "kind": "vxlan",
                "addresses": [{"address": "10.244.0.0", "prefixlen": 32, "family": 4}],
            },
            False,
        ),
        ({"name": "veth0", "kind": "ethernet", "addresses": []}, False),  # hardware
        ({"name": "eno1", "kind": "ethernet", "addresses": []}, False),
        ({"name": "docker0", "kind": "bridge", "addresses": []}, False),
        ({"name": "br-lan", "kind": "bridge", "addresses": []}, False),
    ],
)
async def test_ephemeral_link_rule(nic, ephemeral):
    assert is_ephemeral_link(nic) is ephemeral
