"""CIs nobody reports any more become stale, then retired; a new report revives them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from cmdb.server.ingest import Ingestor  # noqa: F401
from cmdb.server.staleness import sweep
from tests.reports import ReplayIngestor, agent_report

pytestmark = pytest.mark.asyncio

T0 = datetime(2026, 11, 20, 10, 0, tzinfo=UTC)


def iso(moment: datetime) -> str:
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


async def test_unseen_host_goes_stale_then_retired_and_comes_back(store):
    ingest = ReplayIngestor(store).ingest
    old = await ingest(agent_report(hostname="old", collected_at=iso(T0), packages=3))
    fresh = await ingest(
        agent_report(
            hostname="fresh",
            system_uuid="4c4c4544-0042-3510-8057-000000000009",
            serial="FRESH9",
            machine_id="99999999999999999999999999999999",
            collected_at=iso(T0 + timedelta(days=4)),
            packages=3,
        )
    )
    now = T0 + timedelta(days=4, hours=1)
    counts = await sweep(store, timedelta(hours=72), timedelta(days=30), now=now)
    assert counts["stale"] > 0
    assert (await store.get_ci(old["ci_id"])).status == "stale"
    assert (await store.get_ci(fresh["ci_id"])).status == "live"
    # the packages both hosts report are still seen through the fresh host
    software, _ = await store.list_cis("Software", None, 10, 0)
    assert {ci.status for ci in software} == {"live"}
    entries, _ = await store.history(old["ci_id"], 5, 0)
    assert (entries[0].field, entries[0].old, entries[0].new) == ("status", "live", "stale")
    # a second sweep changes nothing more
    again = await sweep(store, timedelta(hours=72), timedelta(days=30), now=now)
    assert again == {"stale": 0, "retired": 0}
    later = await sweep(store, timedelta(hours=72), timedelta(days=30), now=T0 + timedelta(days=40))
    assert later["retired"] > 0
    assert (await store.get_ci(old["ci_id"])).status == "retired"
    back = await ingest(
        agent_report(hostname="old", collected_at=iso(T0 + timedelta(days=41)), packages=3)
    )
    assert back["ci_id"] == old["ci_id"]
    assert (await store.get_ci(old["ci_id"])).status == "live"
