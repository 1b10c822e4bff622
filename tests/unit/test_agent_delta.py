"""The agent sends only changed sections, names the base they build on, and everything
again when in doubt."""

from __future__ import annotations

import json

from cmdb.agent.delta import FULL_EVERY_SECONDS, DeltaState, state_path
from tests.reports import agent_report


def test_first_report_goes_whole_then_only_changes(tmp_path):
    state = DeltaState(tmp_path / "state.json")
    first = agent_report(report_id="r-00000001")
    sent = state.delta(first, now=1000)
    assert sent["mode"] == "full" and sent["sections"] == first["sections"]
    assert "base_report_id" not in sent
    state.acknowledged(first, sent, now=1000)

    second = agent_report(report_id="r-00000002", packages=21)
    sent = state.delta(second, now=2000)
    # identity sections always travel; the changed one too
    assert set(sent["sections"]) == {"system", "interfaces", "packages"}
    assert sent["mode"] == "delta" and sent["base_report_id"] == "r-00000001"
    assert "os" in sent["unchanged_sections"]
    assert "system" not in sent["unchanged_sections"]
    assert "interfaces" not in sent["unchanged_sections"]
    state.acknowledged(second, sent, now=2000)

    # a restart reads the state back from disk
    reloaded = DeltaState(tmp_path / "state.json")
    third = agent_report(report_id="r-00000003", packages=21)
    sent = reloaded.delta(third, now=3000)
    assert set(sent["sections"]) == {"system", "interfaces"}
    assert sent["base_report_id"] == "r-00000002"


def test_full_report_is_due_daily_after_a_rejection_and_when_the_clock_goes_back(tmp_path):
    state = DeltaState(tmp_path / "state.json")
    report = agent_report()
    state.acknowledged(report, {**report, "mode": "full"}, now=10_000)
    assert state.delta(report, now=10_001)["mode"] == "delta"
    assert state.delta(report, now=10_000 + FULL_EVERY_SECONDS + 1)["mode"] == "full"
    assert state.delta(report, now=5)["mode"] == "full"  # the clock jumped back
    assert state.delta(report, now=10_001, full=True)["mode"] == "full"
    state.forget()
    assert state.delta(report, now=10_001)["mode"] == "full"
    assert not (tmp_path / "state.json").exists()


def test_state_is_kept_per_server_and_a_foreign_or_broken_file_is_ignored(tmp_path):
    a = DeltaState.for_server(tmp_path, "https://CMDB.example.net/")
    report = agent_report()
    a.acknowledged(report, {**report, "mode": "full"})
    assert DeltaState.for_server(tmp_path, "https://cmdb.example.net").base_report_id
    assert DeltaState.for_server(tmp_path, "https://new.example.net").base_report_id is None
    path = state_path(tmp_path, "https://cmdb.example.net")
    assert json.loads(path.read_text())["server"] == "https://cmdb.example.net"
    path.write_text('{"server": "https://cmdb.example.net", "digests": [1]}')
    assert DeltaState.for_server(tmp_path, "https://cmdb.example.net").base_report_id is None
    path.write_text("[" * 100_000)
    assert DeltaState.for_server(tmp_path, "https://cmdb.example.net").digests == {}
