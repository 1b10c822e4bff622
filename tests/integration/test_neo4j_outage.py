"""The server on Neo4j: clear start-up errors, 503 while Neo4j is away, recovery without loss."""

from __future__ import annotations

import subprocess
import threading
import time

import pytest

from tests.processes import ROOT, api_get, cmdb, create_token, free_port, running_server
from tests.reports import agent_report

pytestmark = [pytest.mark.e2e, pytest.mark.neo4j]

LAUNCHER = ROOT / "deploy" / "neo4j" / "neo4j-local"


def neo4j_env(uri: str, password: str) -> dict[str, str]:
    return {
        "CMDB_STORE": "neo4j",
        "CMDB_NEO4J_URI": uri,
        "CMDB_NEO4J_USER": "neo4j",
        "CMDB_NEO4J_PASSWORD": password,
    }


def test_unreachable_neo4j_is_one_line_and_nonzero(tmp_path):
    port = free_port()
    result = cmdb(
        "server",
        "--listen",
        f"127.0.0.1:{free_port()}",
        "--data-dir",
        str(tmp_path),
        env=neo4j_env(f"bolt://127.0.0.1:{port}", "x"),
        check=False,
        timeout=120,
    )
    assert result.returncode != 0
    lines = [line for line in result.stderr.splitlines() if line.startswith("cmdb server:")]
    assert len(lines) == 1
    assert "unavailable" in lines[0] and str(port) in lines[0]


def test_wrong_password_is_one_line_and_nonzero(tmp_path, neo4j_server):
    result = cmdb(
        "server",
        "--listen",
        f"127.0.0.1:{free_port()}",
        "--data-dir",
        str(tmp_path),
        env=neo4j_env(neo4j_server.uri, "definitely-wrong"),
        check=False,
        timeout=120,
    )
    assert result.returncode != 0
    lines = [line for line in result.stderr.splitlines() if line.startswith("cmdb server:")]
    assert len(lines) == 1
    assert "credentials" in lines[0]
    assert "definitely-wrong" not in result.stderr + result.stdout


def _launcher(*args: str) -> str:
    done = subprocess.run(
        [str(LAUNCHER), *args], capture_output=True, text=True, timeout=400, check=True
    )
    return done.stdout.strip().splitlines()[-1] if done.stdout.strip() else ""


def test_neo4j_restart_mid_ingest_loses_no_acknowledged_report(tmp_path):
    """Agents keep sending while Neo4j is stopped and started again: every report the
    server acknowledged is in the graph, and every other one is still in a spool."""
    neo4j_dir = tmp_path / "neo4j"
    bolt = free_port()
    uri = _launcher(
        "start", str(neo4j_dir), "--bolt-port", str(bolt), "--http-port", str(free_port())
    )
    password = (neo4j_dir / "password").read_text().strip()
    data_dir = tmp_path / "server"
    data_dir.mkdir()
    hosts = 12
    # one agent token per host: a token speaks only for the host it first reported
    env = neo4j_env(uri, password)
    agent_tokens = [create_token(data_dir, "agent", env) for _ in range(hosts)]
    reader_token = create_token(data_dir, "reader", env)
    try:
        with running_server(data_dir, env=env) as (url, _proc):
            from cmdb.agent.runner import flush
            from cmdb.agent.spool import Spool

            spools = [Spool(tmp_path / f"spool{i}") for i in range(hosts)]
            acknowledged: list[str] = []
            generated: list[str] = []
            stop = threading.Event()
            saw_503 = threading.Event()
            first_round = threading.Event()  # every host has reported at least once

            def agents() -> None:
                # every host reports again and again; each report goes through its spool
                rounds = 0
                while not stop.is_set() or any(len(s) for s in spools):
                    for i, spool in enumerate(spools):
                        if not stop.is_set():
                            report = agent_report(
                                hostname=f"db{i}",
                                system_uuid=f"4c4c4544-0000-0000-0000-{i:012d}",
                                serial=f"SER{i}",
                                machine_id=f"{i:032x}",
                                packages=40 + rounds % 3,
                                collected_at=time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime()),
                            )
                            generated.append(report["report_id"])
                            spool.put(report)
                        before = {p.name for p in spool.pending()}
                        outcome = flush(url, agent_tokens[i], spool, timeout=30)
                        if outcome.last is not None and outcome.last.status == 503:
                            saw_503.set()
                        after = {p.name for p in spool.pending()}
                        acknowledged.extend(before - after)
                    rounds += 1
                    first_round.set()
                    time.sleep(0.05)

            worker = threading.Thread(target=agents)
            worker.start()
            # a cold Neo4j on a busy machine can take a while for the first reports: the
            # outage starts once every host is known, so it interrupts steady ingest
            assert first_round.wait(timeout=180), "the first round of reports never finished"
            time.sleep(1)
            _launcher("stop", str(neo4j_dir))
            time.sleep(4)
            _launcher("start", str(neo4j_dir), "--bolt-port", str(bolt))
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:  # the server recovers by itself
                try:
                    api_get(url, reader_token, "/api/v1/cis?class=Host&limit=1")
                    break
                except OSError:
                    time.sleep(1)
            time.sleep(3)
            stop.set()
            worker.join(timeout=180)
            assert not worker.is_alive()
            assert saw_503.is_set(), "Neo4j was stopped but no report was refused with 503"
            assert all(len(s) == 0 for s in spools), "reports left unsent after recovery"
            hosts_seen = api_get(url, reader_token, "/api/v1/cis?class=Host&limit=100")
            assert hosts_seen["total"] == hosts
            assert len(acknowledged) == len(generated) > hosts
            # every acknowledged report is recorded in the graph, in Neo4j itself
            from neo4j import GraphDatabase

            with GraphDatabase.driver(uri, auth=("neo4j", password)) as driver:
                records, _, _ = driver.execute_query(
                    "MATCH (r:Report) WHERE r.report_id IN $ids RETURN count(r) AS n",
                    ids=generated,
                )
            assert records[0]["n"] == len(generated)
    finally:
        subprocess.run([str(LAUNCHER), "stop", str(neo4j_dir)], capture_output=True, timeout=60)
