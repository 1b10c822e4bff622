"""A full disk and broken spool files against a real HTTP server: the agent sends what is
spooled, sends a report it cannot spool directly, keeps running, and no file stops it."""

from __future__ import annotations

import logging
import threading
import time

from cmdb.agent.runner import flush, run_forever, run_once
from cmdb.agent.spool import Spool
from tests.integration.test_agent_protocol import ScriptedServer, collector
from tests.reports import agent_report
from tests.unit.test_agent_spool import BROKEN, fill, small_filesystem


def test_run_once_on_a_full_disk_sends_the_spool_then_the_new_report(tmp_path, caplog):
    with small_filesystem(tmp_path / "fs", "256k") as fs, ScriptedServer() as server:
        spool_dir = fs / "spool"
        away = run_once("http://127.0.0.1:9", "t", spool_dir, collector(packages=1))
        assert away.pending == 1
        fill(fs)
        caplog.set_level(logging.INFO, "cmdb.agent")
        outcome = run_once(server.url, "t", spool_dir, collector(packages=2))
    assert outcome.ok and outcome.sent == 2 and outcome.lost == 0
    assert [len(r["sections"]["packages"]) for r in server.applied] == [1, 2]
    assert "disk is full" in caplog.text and "without spooling it" in caplog.text
    # the sequence still grew on the full disk (it is rewritten in place)
    assert server.applied[1]["sequence"] > server.applied[0]["sequence"]


def test_run_once_on_a_full_disk_with_the_server_away_says_the_report_is_lost(tmp_path):
    with small_filesystem(tmp_path / "fs", "256k") as fs:
        Spool(fs / "spool")
        fill(fs)
        outcome = run_once("http://127.0.0.1:9", "t", fs / "spool", collector())
    assert outcome.lost == 1 and not outcome.ok


def test_the_daemon_survives_a_full_disk_and_delivers_held_reports(tmp_path):
    collected = []

    def collect():
        collected.append(1)
        return agent_report(packages=len(collected))

    with small_filesystem(tmp_path / "fs", "256k") as fs, ScriptedServer() as server:
        Spool(fs / "spool")
        fill(fs)
        deadline = time.monotonic() + 30
        thread = threading.Thread(
            target=run_forever,
            kwargs=dict(
                server=server.url,
                token="t",
                spool_dir=fs / "spool",
                interval=1.0,
                jitter=0.0,
                collect=collect,
                stop=lambda: len(server.applied) >= 3 or time.monotonic() > deadline,
            ),
        )
        thread.start()
        thread.join(40)
    assert not thread.is_alive()
    assert len(server.applied) >= 3, "the daemon stopped sending on a full disk"
    packages = [len(r["sections"]["packages"]) for r in server.applied]
    assert packages == sorted(packages)


def test_broken_spool_files_are_moved_aside_and_the_rest_is_sent_in_order(tmp_path):
    spool = Spool(tmp_path / "spool")
    good = []
    for i, data in enumerate(BROKEN.values()):
        report = agent_report(packages=i + 1)
        spool.put(report)
        good.append(report["report_id"])
        path = spool.dir / f"{time.time_ns():020d}-0-{i:06d}.json.gz"
        path.write_bytes(data)
    with ScriptedServer() as server:
        outcome = flush(server.url, "t", spool)
    assert outcome.ok and outcome.sent == len(good)
    assert outcome.set_aside == len(BROKEN)
    assert [r["report_id"] for r in server.applied] == good
    corrupt = tmp_path / "spool" / "corrupt"
    assert len(list(corrupt.glob("*.json.gz"))) == len(BROKEN)
    assert len(list(corrupt.glob("*.reason"))) == len(BROKEN)
