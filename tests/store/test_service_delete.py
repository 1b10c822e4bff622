"""Deleting a service: refused with 409 naming what depends on it; else retired (history
kept) with its dependencies and groups closed."""

from __future__ import annotations

import pytest

from cmdb.server.catalogue import CatalogueError, services
from tests.store.test_catalogue import cluster

pytestmark = pytest.mark.asyncio


async def test_a_service_others_depend_on_is_not_deleted(store):
    c = await cluster(store)
    with pytest.raises(CatalogueError) as refused:
        await services.delete_service(store, c["orders_db"]["id"], "alice")
    assert refused.value.status == 409
    assert "shop" in refused.value.message
    assert (await store.get_ci(c["orders_db"]["id"])).status == "live"


async def test_a_deleted_service_is_retired_with_its_groups_and_dependencies(store):
    c = await cluster(store)
    await services.delete_service(store, c["shop"]["id"], "alice")
    answer = await services.delete_service(store, c["orders_db"]["id"], "alice")
    assert answer["status"] == "retired"
    assert (await store.get_ci(c["orders_db"]["id"])).status == "retired"
    assert not [v for v in await store.relationships(c["orders_db"]["id"]) if v.direction == "out"]
    # the hosts it depended on are untouched, and nothing of the group stays open on them
    db1 = await store.get_ci(c["db1"])
    assert db1.status == "live"
    assert not [v for v in await store.relationships(c["db1"]) if v.other.cls == "RedundancyGroup"]
    _, total = await store.history(c["orders_db"]["id"], 1, 0)
    entries, _ = await store.history(c["orders_db"]["id"], total, 0)
    assert any(e.field == "status" and e.new == "retired" for e in entries)
