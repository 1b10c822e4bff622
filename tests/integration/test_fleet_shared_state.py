"""Two ``cmdb server`` processes on one real Neo4j share one state (issue 15, items 1, 2
and 9): a token made on one works on the other (and its revocation reaches the other
within the authentication cache's few seconds); a schedule fires once per period across
both, however often both run the due check; a scan started on one is visible and
cancellable on the other; a server killed (SIGKILL) while reports are in flight loses no
report it acknowledged. What the servers stored is also read from Neo4j itself.

Every name is drawn from a per-run id, so the tests need no empty database.
"""

from __future__ import annotations

import json
import os
import signal
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from typing import Any

import pytest
from cryptography.fernet import Fernet

from cmdb.agent.client import send_report
from tests.processes import cmdb, free_port, neo4j_env, running_server
from tests.reports import agent_report, nic

pytestmark = [pytest.mark.e2e, pytest.mark.neo4j]

RUN = uuid.uuid4().hex[:8]
KEY = Fernet.generate_key().decode()


@dataclass
class Fleet:
    urls: tuple[str, str]
    admin: str  # made with `cmdb token create` against Neo4j, before either server ran
    env: dict[str, str]
    driver: Any  # neo4j.Driver
    tmp: Any  # tmp_path_factory


def call(url: str, token: str, method: str, path: str, body: Any = None) -> tuple[int, Any]:
    request = urllib.request.Request(
        url + path,
        data=json.dumps(body).encode() if body is not None else None,
        method=method,
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"{}")


@pytest.fixture(scope="module")
def fleet(neo4j_server, tmp_path_factory) -> Iterator[Fleet]:
    from neo4j import GraphDatabase

    env = {
        **neo4j_env(neo4j_server.uri, neo4j_server.password, neo4j_server.user),
        "CMDB_SECRETS_KEY": KEY,
        "CMDB_SCHEDULE_TICK": "0.5",  # both servers run the due check twice a second
    }
    # the CLI writes to Neo4j (it reads CMDB_STORE and CMDB_NEO4J_* like the server)
    admin_dir = tmp_path_factory.mktemp("cli")
    admin = cmdb(
        "token", "create", "--role", "admin", "--name", f"admin-{RUN}",
        "--data-dir", str(admin_dir), env=env,
    ).stdout.strip()  # fmt: skip
    assert not (admin_dir / "control.db").exists(), "the CLI wrote a local control.db"
    with ExitStack() as stack:
        urls = []
        for name in ("a", "b"):
            data_dir = tmp_path_factory.mktemp(f"fleet-{name}")
            url, _proc = stack.enter_context(running_server(data_dir, env=env))
            urls.append(url)
        driver = stack.enter_context(
            GraphDatabase.driver(neo4j_server.uri, auth=(neo4j_server.user, neo4j_server.password))
        )
        yield Fleet((urls[0], urls[1]), admin, env, driver, tmp_path_factory)


# ---------------------------------------------------------------- tokens


def test_token_made_on_one_server_works_on_the_other(fleet):
    a, b = fleet.urls
    # the CLI's token works on both servers
    for url in (a, b):
        assert call(url, fleet.admin, "GET", "/api/v1/tokens")[0] == 200
    status, made = call(a, fleet.admin, "POST", "/api/v1/tokens", {"role": "reader", "name": RUN})
    assert status == 201
    assert call(b, made["token"], "GET", "/api/v1/scans")[0] == 200
    listed = call(b, fleet.admin, "GET", "/api/v1/tokens")[1]["items"]
    assert [t["id"] for t in listed if t["name"] == RUN] == [made["id"]]
    with fleet.driver.session() as session:
        stored = session.run("MATCH (t:CmdbToken {id: $id}) RETURN t", id=made["id"]).single()[0]
    assert made["token"] not in json.dumps(dict(stored))  # only its hash is kept

    # revoked on B: refused on B at once, on A once it reads the revocation counter (2 s)
    assert call(b, fleet.admin, "DELETE", f"/api/v1/tokens/{made['id']}")[0] == 200
    assert call(b, made["token"], "GET", "/api/v1/scans")[0] == 401
    deadline = time.monotonic() + 5
    while call(a, made["token"], "GET", "/api/v1/scans")[0] != 401:
        assert time.monotonic() < deadline, "a token revoked on B still works on A after 5 s"
        time.sleep(0.25)


# ---------------------------------------------------------------- schedules


def test_schedule_fires_once_per_period_across_both_servers(fleet):
    a, b = fleet.urls
    name = f"every5s-{RUN}"
    community = f"secret-{RUN}"
    schedule = {
        "name": name,
        "cron": "* * * * * */5",  # every 5 seconds (croniter's sixth field: seconds)
        "targets": "127.0.0.1",
        "port": free_port(),  # nothing answers there: each scan ends in a blink
        "timeout": 0.1,
        "retries": 0,
        "credentials": [{"version": "2c", "community": community}],
    }
    status, saved = call(a, fleet.admin, "POST", "/api/v1/schedules", schedule)
    assert status == 201, saved
    assert community not in json.dumps(saved)
    # the secret is sealed in Neo4j and never shown by either server
    with fleet.driver.session() as session:
        raw = session.run("MATCH (s:CmdbSchedule {name: $n}) RETURN s.data", n=name).single()[0]
    assert community not in raw and "sealed" in raw
    assert community not in json.dumps(call(b, fleet.admin, "GET", f"/api/v1/schedules/{name}")[1])

    # besides both tickers (every 0.5 s), hammer the due check on both servers
    stop = threading.Event()
    errors: list[str] = []

    def hammer(url: str) -> None:
        while not stop.is_set():
            status, body = call(url, fleet.admin, "POST", "/api/v1/schedules/due", {})
            if status != 200:
                errors.append(f"{status} {body}")

    threads = [threading.Thread(target=hammer, args=(url,)) for url in (a, b) * 4]
    for thread in threads:
        thread.start()
    time.sleep(17)
    stop.set()
    for thread in threads:
        thread.join()
    assert call(a, fleet.admin, "DELETE", f"/api/v1/schedules/{name}")[0] == 200
    assert not errors, errors[:3]

    scans = [
        s for s in call(b, fleet.admin, "GET", "/api/v1/scans")[1]["items"] if s["schedule"] == name
    ]
    slots = sorted(s["slot"] for s in scans)
    assert len(slots) >= 3, slots  # 17 s of a 5 s period
    assert len(slots) == len(set(slots)), f"a firing ran twice: {slots}"
    owners = {s["owner"].rsplit(":", 1)[0] for s in scans}
    print(f"{len(slots)} firings, run by {len(owners)} server process(es): {slots}")


# ---------------------------------------------------------------- scans


def test_scan_started_on_one_server_is_visible_and_cancellable_on_the_other(fleet):
    a, b = fleet.urls
    port = free_port()
    body = {
        "targets": "127.0.0.1-127.0.0.16",
        "port": port,
        "timeout": 5,  # nothing answers: 16 targets one at a time take minutes
        "retries": 3,
        "concurrency": 1,
        "credentials": [{"version": "2c", "community": "public"}],
    }
    status, scan = call(a, fleet.admin, "POST", "/api/v1/scans", body)
    assert status == 202, scan
    status, seen = call(b, fleet.admin, "GET", f"/api/v1/scans/{scan['id']}")
    assert status == 200 and seen["status"] in ("queued", "running"), seen
    assert any(
        s["id"] == scan["id"] for s in call(b, fleet.admin, "GET", "/api/v1/scans")[1]["items"]
    )

    status, asked = call(b, fleet.admin, "POST", f"/api/v1/scans/{scan['id']}/cancel", {})
    assert status == 202 and asked["cancel_requested"], asked
    deadline = time.monotonic() + 15
    while True:
        final = call(b, fleet.admin, "GET", f"/api/v1/scans/{scan['id']}")[1]
        if final["status"] == "cancelled":
            break
        assert time.monotonic() < deadline, f"not cancelled within 15 s: {final}"
        time.sleep(0.5)
    assert call(a, fleet.admin, "GET", f"/api/v1/scans/{scan['id']}")[1]["status"] == "cancelled"
    assert final["counts"]["probed"] < 16
    # a finished scan is answered as it is
    assert call(a, fleet.admin, "POST", f"/api/v1/scans/{scan['id']}/cancel", {})[0] == 200


# ---------------------------------------------------------------- durability


def _host_report(index: int) -> tuple[str, dict[str, Any]]:
    hostname = f"kill-{RUN}-{index}"
    rid = uuid.uuid4()
    return hostname, agent_report(
        hostname=hostname,
        system_uuid=str(uuid.uuid5(rid, "uuid")),
        serial=f"K{RUN}{index:04d}",
        machine_id=uuid.uuid5(rid, "machine").hex,
        interfaces=[
            nic(
                "eth0",
                f"02:{index // 256:02x}:{index % 256:02x}:aa:bb:cc",
                [(f"10.77.{index // 200}.{index % 200 + 1}", 16)],
            )
        ],
        packages=[
            {
                "name": f"k{RUN}lib{i}",
                "version": f"1.{i}",
                "architecture": "amd64",
                "manager": "dpkg",
            }
            for i in range(300)
        ],
        report_id=str(rid),
    )


def test_a_server_killed_mid_ingest_loses_no_acknowledged_report(fleet):
    a, b = fleet.urls
    hosts = 40
    tokens = []
    for i in range(hosts):
        status, made = call(
            a, fleet.admin, "POST", "/api/v1/tokens", {"role": "agent", "name": f"kill-{RUN}-{i}"}
        )
        assert status == 201
        tokens.append(made["token"])
    data_dir = fleet.tmp.mktemp("fleet-killed")
    acknowledged: dict[str, str] = {}  # hostname -> report_id
    lock = threading.Lock()
    with running_server(data_dir, env=fleet.env) as (url, proc):

        def send(i: int) -> None:
            hostname, report = _host_report(i)
            result = send_report(url, tokens[i], report, timeout=60)
            if result.ok:
                with lock:
                    acknowledged[hostname] = report["report_id"]

        threads = [threading.Thread(target=send, args=(i,)) for i in range(hosts)]
        for thread in threads:
            thread.start()
        deadline = time.monotonic() + 60
        while len(acknowledged) < 5 and time.monotonic() < deadline:
            time.sleep(0.01)
        os.kill(proc.pid, signal.SIGKILL)  # mid-ingest: others are still in flight
        for thread in threads:
            thread.join()
        proc.wait(timeout=10)
    assert acknowledged, "no report was acknowledged before the kill"
    assert len(acknowledged) < hosts, "every report was answered before the kill: not mid-ingest"

    # every acknowledged report is in Neo4j, seen from the surviving servers too
    with fleet.driver.session() as session:
        applied = {
            r["id"]
            for r in session.run(
                "MATCH (r:Report) WHERE r.report_id IN $ids RETURN r.report_id AS id",
                ids=list(acknowledged.values()),
            )
        }
    missing = {h for h, rid in acknowledged.items() if rid not in applied}
    assert not missing, f"acknowledged but not stored: {sorted(missing)}"
    for hostname in list(acknowledged)[:5]:
        status, found = call(b, fleet.admin, "GET", f"/api/v1/cis?class=Host&q={hostname}")
        # q is a substring search: kill-…-2 also finds kill-…-20 to -29
        exact = [c for c in found["items"] if c["name"] == hostname]
        assert status == 200 and len(exact) == 1, found
    print(f"{len(acknowledged)} of {hosts} reports acknowledged before SIGKILL; all stored")
