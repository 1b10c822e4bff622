"""Each identification rule on its own, on both stores (the cases replay them together in
test_identity_cases.py)."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest

from cmdb.graph.store import CI, ChangeSet, StoreConflict
from cmdb.server.ingest import Ingestor
from tests.reports import agent_report, nic

pytestmark = pytest.mark.asyncio

T0 = "2026-11-28T10:00:00.000Z"


async def hosts(store) -> list[CI]:
    items, _ = await store.list_cis("Host", None, 100, 0)
    return items


async def test_a_unique_value_already_held_fails_the_change_set_and_writes_nothing(store):
    """No 'first holder wins': the second holder is a conflict the caller retries."""
    first = CI(id="h1", cls="Host", name="h1", identity={"system_uuid": "u-1"})
    await store.apply(ChangeSet(report_id="r1", source="agent", at=T0, create_cis=[first]))
    second = CI(id="h2", cls="Host", name="h2", identity={"system_uuid": "u-1"})
    with pytest.raises(StoreConflict):
        await store.apply(ChangeSet(report_id="r2", source="agent", at=T0, create_cis=[second]))
    assert await store.get_ci("h2") is None
    assert not await store.report_seen("r2")


async def test_the_uuid_matches_in_either_smbios_byte_order(store):
    ingest = Ingestor(store).ingest
    first = await ingest(agent_report(system_uuid="4c4c4544-0042-3510-8057-b4c04f4a4d32"))
    swapped = agent_report(
        system_uuid="44454C4C-4200-1035-8057-B4C04F4A4D32",
        machine_id="0f" * 16,  # a reinstall: only the UUID (as newer firmware spells it) stays
        collected_at="2026-11-28T11:00:00.000Z",
    )
    second = await ingest(swapped)
    assert second["ci_id"] == first["ci_id"]
    assert len(await hosts(store)) == 1


async def test_host_names_compare_without_case_and_domain(store):
    """SNMP's short, upper-case sysName and the agent's FQDN-style hostname are one name."""
    ingest = Ingestor(store).ingest
    report = agent_report(hostname="web7.corp.example", system_uuid=None, machine_id=None)
    report["sections"]["system"].update(serial=None, manufacturer=None, fqdn=None)
    first = await ingest(report)
    again = agent_report(
        hostname="WEB7", system_uuid=None, machine_id=None, collected_at="2026-11-28T11:00:00Z"
    )
    again["sections"]["system"].update(serial=None, manufacturer=None, fqdn=None)
    second = await ingest(again)
    assert second["ci_id"] == first["ci_id"]


async def test_a_weak_key_loses_to_any_other_key_that_differs(store):
    ingest = Ingestor(store).ingest
    a = agent_report(hostname="clone-a", system_uuid=None, serial=None, machine_id="ab" * 16)
    b = agent_report(
        hostname="clone-b",
        system_uuid=None,
        serial=None,
        machine_id="ab" * 16,
        interfaces=[nic("eth0", "52:54:00:00:00:0b", [("10.0.0.11", 24)])],
        collected_at="2026-11-28T11:00:00.000Z",
    )
    first, second = await ingest(a), await ingest(b)
    assert first["ci_id"] != second["ci_id"]
    rejected = [line for line in second["identification"] if "rejected" in line]
    assert rejected and "fqdn_mac" in rejected[0]


async def test_a_rejected_holder_keeps_its_unique_key(store):
    """Two switches stacked wrongly report one LLDP chassis ID but different serials: the
    second is a new device that goes without the chassis ID (explained), not a failure."""
    from cmdb.server.reconcile.desired import Desired, DesiredCI
    from cmdb.server.reconcile.engine import reconcile

    def device(serial: str) -> Desired:
        attrs = {"vendor": "cisco", "serial": serial, "lldp_chassis_id": "00:11:22:33:44:55"}
        return Desired(
            source="snmp", root=DesiredCI("device", "NetworkDevice", attrs, serial, None)
        )

    first = await reconcile(store, device("FOC1"), "r1", T0)
    second = await reconcile(store, device("FOC2"), "r2", "2026-11-28T11:00:00.000Z")
    assert first.root_id != second.root_id
    assert any("goes without it" in line for line in second.explanation)
    new = await store.get_ci(second.root_id)
    assert "lldp_chassis_id" not in new.identity


async def rename_then_lag(store, grace: timedelta, uuid_byte: str) -> tuple[dict, dict]:
    """A host renamed by its agent, then a report that still carries the old name (and no
    stronger key): the first report's answer and the lagging one's."""
    ingest = Ingestor(store, grace=grace).ingest
    first = await ingest(
        agent_report(hostname="old-name", system_uuid=uuid_byte * 16, machine_id=None)
    )
    renamed = agent_report(
        hostname="new-name",
        system_uuid=uuid_byte * 16,
        machine_id=None,
        collected_at="2026-11-28T11:00:00.000Z",
    )
    await ingest(renamed)
    lagging = agent_report(
        hostname="old-name",
        system_uuid=None,
        machine_id=None,
        serial=None,
        collected_at="2026-11-28T12:00:00.000Z",
    )
    lagging["sections"]["system"]["fqdn"] = None
    return first, await ingest(lagging)


async def test_a_renamed_value_matches_within_the_grace_period(store):
    """A scan that still reads the old sysName joins the renamed host (default: 7 days)."""
    first, answer = await rename_then_lag(store, timedelta(days=7), "9a")
    assert answer["ci_id"] == first["ci_id"]
    assert any("before a rename" in line for line in answer["identification"])
    _, total = await store.history(first["ci_id"], 100, 0)
    entries, _ = await store.history(first["ci_id"], total, 0)
    assert any(e.kind == "identity" and e.field == "hostname_mac" for e in entries)


async def test_after_the_grace_period_the_old_name_is_nobodys(store):
    first, answer = await rename_then_lag(store, timedelta(0), "9b")
    assert answer["ci_id"] != first["ci_id"]


async def test_concurrent_first_reports_of_one_host_make_one_ci(store):
    """Identification inside the write transaction: ten copies of one new host's first report
    at once (one process here; two processes in tests/integration) make one Host."""
    ingestor = Ingestor(store)
    reports = [agent_report(hostname="race", system_uuid="7c" * 16) for _ in range(10)]
    answers = await asyncio.gather(*(ingestor.ingest(r) for r in reports))
    assert len({a["ci_id"] for a in answers}) == 1
    assert len([h for h in await hosts(store) if h.name == "race"]) == 1
    software, _ = await store.list_cis("Software", None, 1000, 0)
    assert len(software) == 20  # every package once


async def test_any_stack_members_serial_identifies_the_stack(store):
    """A stack reports its master's serial as the chassis serial; after a failover the other
    member is master: the same device, found through its member serials."""
    from cmdb.server.reconcile.desired import Desired, DesiredCI
    from cmdb.server.reconcile.engine import reconcile

    def stack(master: str, other: str) -> Desired:
        attrs = {
            "vendor": "ciscoSystems",
            "serial": master,
            "sys_name": "core-stack",
            "members": [
                {"member": 1, "serial": master, "model": "C9300-48P"},
                {"member": 2, "serial": other, "model": "C9300-48P"},
            ],
        }
        return Desired(
            source="snmp", root=DesiredCI("device", "NetworkDevice", attrs, "core-stack", None)
        )

    first = await reconcile(store, stack("FOC2233X0AA", "FOC2233X0BB"), "s1", T0)
    after = await reconcile(
        store, stack("FOC2233X0BB", "FOC2233X0AA"), "s2", "2026-11-28T11:00:00.000Z"
    )
    assert after.root_id == first.root_id
    assert any("chassis_serial" in line and "matched" in line for line in after.explanation)
    devices, total = await store.list_cis("NetworkDevice", None, 10, 0)
    assert total == 1
