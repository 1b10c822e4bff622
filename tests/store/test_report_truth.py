"""Reports never lose or invent facts (issue 11, server side), on both stores: partial and
shrunk sections, deltas and their base, the server's clock, and agent tokens bound to
their host. The cases of tests/fixtures/cases/host replay with their right answers."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from cmdb.server.ingest import Ingestor
from cmdb.server.reconcile.engine import FullReportRequired, ReportForbidden
from cmdb.server.staleness import sweep
from tests.cases import load_case, replay
from tests.reports import agent_report

pytestmark = pytest.mark.asyncio


async def open_rels(store, ci_id: str, rel_type: str) -> list:
    return [v for v in await store.relationships(ci_id) if v.rel.type == rel_type]


async def installed(store, ci_id: str) -> dict[str, str]:
    return {
        v.other.attributes["name"]: v.other.attributes["version"]
        for v in await open_rels(store, ci_id, "INSTALLED")
    }


async def all_history(store, ci_id: str) -> list:
    _, total = await store.history(ci_id, 1, 0)
    entries, _ = await store.history(ci_id, max(total, 1), 0)
    return entries


async def test_absent_partial_and_empty_sections_close_nothing(store):
    reports = load_case("partial-section")
    answers = await replay(Ingestor(store), reports)
    host = answers["r1-full"]["ci_id"]
    assert {a["ci_id"] for a in answers.values()} == {host}
    assert len(await open_rels(store, host, "INSTALLED")) == 6
    assert any(
        "read only in part" in line
        for line in answers["r3-packages-partial-with-note"]["identification"]
    )
    assert any(
        "shrank from 6 to 0" in line for line in answers["r4-packages-empty-list"]["identification"]
    )
    assert answers["r4-packages-empty-list"]["counts"]["relationships_closed"] == 0


async def test_a_shrink_closes_once_the_next_report_confirms_it(store):
    ingest = Ingestor(store).ingest
    first = await ingest(agent_report(packages=10))
    host = first["ci_id"]
    shrunk = await ingest(agent_report(packages=2))
    assert shrunk["counts"]["relationships_closed"] == 0
    assert len(await open_rels(store, host, "INSTALLED")) == 10
    confirmed = await ingest(agent_report(packages=2))
    assert confirmed["counts"]["relationships_closed"] == 8
    assert len(await open_rels(store, host, "INSTALLED")) == 2
    (entry,) = [e for e in await all_history(store, host) if e.kind == "completeness"]
    assert entry.field == "packages"
    assert entry.new["reports"] == [shrunk["report_id"], confirmed["report_id"]]


async def test_a_bad_read_that_recovers_is_forgotten(store):
    ingest = Ingestor(store).ingest
    host = (await ingest(agent_report(packages=10)))["ci_id"]
    await ingest(agent_report(packages=0))  # held back
    await ingest(agent_report(packages=10))  # back to size: the shrink is forgotten
    again = await ingest(agent_report(packages=0))  # a new suspicion, not a confirmation
    assert again["counts"]["relationships_closed"] == 0
    assert len(await open_rels(store, host, "INSTALLED")) == 10


async def test_a_remark_on_a_complete_section_does_not_hold_it_back(store):
    ingest = Ingestor(store).ingest
    host = (await ingest(agent_report(packages=4)))["ci_id"]
    report = agent_report(packages=3)
    report["notes"] = [
        {"section": "packages", "message": "an owner was not visible", "partial": False}
    ]
    answer = await ingest(report)
    assert answer["counts"]["relationships_closed"] == 1
    assert len(await open_rels(store, host, "INSTALLED")) == 3


async def test_weak_identity_host_reports_and_deltas_apply(store):
    reports = load_case("delta-report-weak-identity")
    ingestor = Ingestor(store)
    first = await ingestor.ingest(reports["r1-full-first-report"], agent_key="token-7")
    second = reports["r2-next-run-varnish-upgraded"]
    # the agent's own delta: only the changed section, on the report the server applied
    delta = {
        **second,
        "sections": {"packages": second["sections"]["packages"]},
        "base_report_id": first["report_id"],
        "mode": "delta",
    }
    answer = await ingestor.ingest(delta, agent_key="token-7")
    assert answer["status"] == "applied" and answer["ci_id"] == first["ci_id"]
    versions = await installed(store, first["ci_id"])
    expected = {p["name"]: p["version"] for p in second["sections"]["packages"]}
    assert versions == expected


async def test_the_full_case_files_apply_in_order(store):
    answers = await replay(Ingestor(store), load_case("delta-report-weak-identity"))
    assert [a["status"] for a in answers.values()] == ["applied", "applied"]
    assert len({a["ci_id"] for a in answers.values()}) == 1


async def test_a_delta_on_a_base_the_server_did_not_apply_asks_for_a_full_report(store):
    ingestor = Ingestor(store)
    first = await ingestor.ingest(agent_report(), agent_key="token-1")
    delta = agent_report(drop=("interfaces", "listening", "connections"))
    delta.update(base_report_id="a-report-another-server-applied", mode="delta")
    with pytest.raises(FullReportRequired, match="send a full report"):
        await ingestor.ingest(delta, agent_key="token-1")
    assert not await store.report_seen(delta["report_id"])
    # a new, empty server: the first delta it sees has no base there either
    other = agent_report(hostname="elsewhere", system_uuid="11" * 16, machine_id="22" * 16)
    other.update(base_report_id=first["report_id"], mode="delta")
    with pytest.raises(FullReportRequired):
        await ingestor.ingest(other, agent_key="token-2")


async def test_an_agent_token_speaks_only_for_its_own_host(store):
    ingestor = Ingestor(store)
    mine = await ingestor.ingest(agent_report(hostname="web1"), agent_key="token-web1")
    theirs = agent_report(hostname="db1", system_uuid="33" * 16, machine_id="44" * 16)
    other = await ingestor.ingest(theirs, agent_key="token-db1")
    attack = agent_report(hostname="db1", system_uuid="33" * 16, machine_id="44" * 16, packages=0)
    with pytest.raises(ReportForbidden, match="each host needs its own agent token"):
        await ingestor.ingest(attack, agent_key="token-web1")
    assert len(await open_rels(store, other["ci_id"], "INSTALLED")) == 20
    assert mine["ci_id"] != other["ci_id"]
    assert not await store.report_seen(attack["report_id"])
    # one token copied to a second, new machine does not merge it into the first
    copied = agent_report(hostname="web2", system_uuid="55" * 16, machine_id="66" * 16)
    with pytest.raises(ReportForbidden, match="does not know"):
        await ingestor.ingest(copied, agent_key="token-web1")
    hosts, _ = await store.list_cis("Host", None, 10, 0)
    assert sorted(h.name for h in hosts) == ["db1", "web1"]


async def test_wrong_clocks_neither_supersede_nor_retire(store):
    answers = await replay(Ingestor(store), load_case("clock-skew", keep_times=True))
    assert all(a["status"] in ("applied", "unchanged") for a in answers.values()), answers
    terminal = answers["r1-good-clock"]["ci_id"]
    kiosk = answers["n1-new-kiosk-clock-2001"]["ci_id"]
    assert (await installed(store, terminal))["pos-client"] == "2.1.1"
    now = datetime.now(UTC)
    await sweep(store, timedelta(hours=72), timedelta(days=30), now=now)
    for ci_id in (terminal, kiosk):
        ci = await store.get_ci(ci_id)
        assert ci.status == "live"
        seen = datetime.fromisoformat(ci.last_seen.replace("Z", "+00:00"))
        assert now - seen < timedelta(minutes=5)
    kiosk_ci = await store.get_ci(kiosk)
    assert kiosk_ci.attributes["clock_skew_seconds"] < -20 * 365 * 86400
    history = await all_history(store, terminal)
    changes = [e for e in history if e.field == "clock_skew_seconds"]
    skews = [e.old for e in changes] + [e.new for e in changes]
    assert any(s and s > 300 * 24 * 3600 for s in skews)  # the year-ahead clock (first report)
    assert any(s and s < -20 * 365 * 86400 for s in skews)  # the CMOS reset


async def test_an_unchanged_report_costs_no_comparison_but_a_changed_one_does(store):
    ingest = Ingestor(store).ingest
    first = await ingest(agent_report(packages=30))
    again = await ingest(agent_report(packages=30, collected_at="2026-11-28T11:00:00.000Z"))
    assert again["status"] == "unchanged"
    assert any("every section as in the last report" in e for e in again["identification"])
    host = await store.get_ci(first["ci_id"])
    # the scope's facts take the new report time: nothing was read or written per fact
    (iface, *_) = [v.other for v in await open_rels(store, host.id, "HAS_INTERFACE")]
    assert iface.last_seen == host.last_seen
    changed = await ingest(agent_report(packages=31, collected_at="2026-11-28T12:00:00.000Z"))
    assert changed["status"] == "applied" and changed["counts"]["relationships_created"] == 1
    noted = agent_report(packages=31, collected_at="2026-11-28T13:00:00.000Z")
    noted["notes"] = [{"section": "packages", "message": "rpm database locked"}]
    answer = await ingest(noted)
    assert not any("every section as in the last report" in e for e in answer["identification"])


async def test_what_a_source_could_not_read_is_in_history_once_per_change(store):
    ingest = Ingestor(store).ingest
    host = (await ingest(agent_report(packages=5)))["ci_id"]
    noted = []
    for hour in (11, 12):  # the same partial read twice: one history entry
        report = agent_report(packages=5, collected_at=f"2026-11-28T{hour}:00:00.000Z")
        report["notes"] = [{"section": "packages", "message": "rpm database locked"}]
        noted.append(await ingest(report))
    await ingest(agent_report(packages=5, collected_at="2026-11-28T13:00:00.000Z"))
    entries = [e for e in await all_history(store, host) if e.kind == "completeness"]
    assert [(e.old["read"], e.new["read"]) for e in reversed(entries)] == [
        ("complete", "in part"),
        ("in part", "complete"),
    ]
    assert entries[-1].new["note"] == "rpm database locked"


async def test_a_busy_host_is_unchanged_though_its_metrics_and_connections_move(store):
    """Used bytes, process lists and connections change every run: not configuration. The
    report is unchanged (no history), and its connections are still resolved."""
    ingest = Ingestor(store).ingest
    first = await ingest(agent_report(packages=30))
    report = agent_report(packages=30, collected_at="2026-11-28T11:00:00.000Z")
    report["sections"]["filesystems"] = [
        {
            "device": "/dev/sda1",
            "mountpoint": "/",
            "fstype": "ext4",
            "size_bytes": 10,
            "used_bytes": 7,
        }
    ]
    await ingest(report)  # a new filesystem: applied
    again = agent_report(packages=30, collected_at="2026-11-28T12:00:00.000Z")
    again["sections"]["filesystems"] = [
        {
            "device": "/dev/sda1",
            "mountpoint": "/",
            "fstype": "ext4",
            "size_bytes": 10,
            "used_bytes": 8,
        }
    ]
    again["sections"]["processes"] = [{"pid": 1, "name": "init"}, {"pid": 2, "name": "x"}]
    answer = await ingest(again)
    assert answer["status"] == "unchanged", answer
    assert "connections" in answer  # resolved again though nothing else was compared
    host = await store.get_ci(first["ci_id"])
    assert "used_bytes" not in host.attributes["filesystems"][0]


async def test_history_names_the_other_end_of_a_relationship_pointing_at_the_ci(store):
    from cmdb.graph.store import CI, ChangeSet, Rel

    await store.apply(
        ChangeSet(
            report_id="seed",
            source="manual",
            at="2026-11-28T10:00:00.000Z",
            create_cis=[
                CI(id="svc", cls="Service", name="shop"),
                CI(id="h", cls="Host", name="db1"),
            ],
            create_rels=[Rel(id="r1", type="DEPENDS_ON", src="svc", dst="h")],
        )
    )
    (host_event,) = [e for e in await all_history(store, "h") if e.kind == "relationship"]
    assert host_event.new == {"id": "svc", "name": "shop", "direction": "in"}
    (svc_event,) = [e for e in await all_history(store, "svc") if e.kind == "relationship"]
    assert svc_event.new == {"id": "h", "name": "db1"}
