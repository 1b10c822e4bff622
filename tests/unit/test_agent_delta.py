"""The agent sends only changed sections, and everything again when in doubt."""

from __future__ import annotations

from agent.delta import FULL_EVERY_SECONDS, DeltaState
from tests.reports import agent_report


def test_first_report_goes_whole_then_only_changes(tmp_path):
    state = DeltaState(tmp_path / "state.json")
    first = agent_report(report_id="r-00000001")
    assert state.delta(first, now=1000) is first
    state.acknowledged(first, first, now=1000)

    second = agent_report(report_id="r-00000002", packages=21)
    sent = state.delta(second, now=2000)
    assert set(sent["sections"]) == {"system", "packages"}
    assert "interfaces" in sent["unchanged_sections"]
    assert "system" not in sent["unchanged_sections"]
    state.acknowledged(second, sent, now=2000)

    # a restart reads the state back from disk
    reloaded = DeltaState(tmp_path / "state.json")
    third = agent_report(report_id="r-00000003", packages=21)
    assert set(reloaded.delta(third, now=3000)["sections"]) == {"system"}


def test_full_report_is_due_daily_and_after_a_rejection(tmp_path):
    state = DeltaState(tmp_path / "state.json")
    report = agent_report()
    state.acknowledged(report, report, now=0)
    assert state.delta(report, now=FULL_EVERY_SECONDS + 1) is report
    state.forget()
    assert state.delta(report, now=10) is report
    assert not (tmp_path / "state.json").exists()
