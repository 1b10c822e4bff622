"""Directed hop reads (``>T`` from the frontier's src end, ``<T`` from its dst end, bare
``T`` either end): the impact walk reads each relationship only from the end the rules go
up from. Both stores generate their hop query from ``cmdb.graph.dependency.split_directed``."""

from __future__ import annotations

import pytest

from cmdb.graph.dependency import directed, split_directed
from cmdb.graph.queries import impact_hop
from tests.store.test_impact_ha import ha

pytestmark = pytest.mark.asyncio


def test_directed_types_follow_the_rules_upwards():
    up = directed("up")
    assert ">LISTENS_ON" in up and "<CONNECTS_TO" in up and "<DEPENDS_ON" in up
    assert "HAS_INTERFACE" in up and "CONNECTED_TO" in up  # followed both ways up
    assert split_directed((">A", "<B", "C")) == (["A", "C"], ["B", "C"])


async def test_a_directed_hop_reads_only_the_named_end(store):
    c = await ha(store)
    listens = await impact_hop(store, [c["db1"]], ("LISTENS_ON",))
    assert listens and all(r.src == c["db1"] for r in listens)
    endpoints = sorted(r.dst for r in listens)
    # from the host: only the src end reads LISTENS_ON
    assert {r.id for r in await impact_hop(store, [c["db1"]], (">LISTENS_ON",))} == {
        r.id for r in listens
    }
    assert await impact_hop(store, [c["db1"]], ("<LISTENS_ON",)) == []
    # from the endpoints: the host is not read again going up, app1's connection is
    assert await impact_hop(store, endpoints, (">LISTENS_ON",)) == []
    up = await impact_hop(store, endpoints, ("<LISTENS_ON", "<CONNECTS_TO"))
    assert {r.type for r in up} == {"LISTENS_ON", "CONNECTS_TO"}
    assert c["app1"] in {r.src for r in up if r.type == "CONNECTS_TO"}
    assert all(r.dst in endpoints for r in up)
