"""The server's data dir is private (issue 11, item 6): the directory 0700, its
databases and their -wal/-shm files 0600, for a new data dir and for one an older
version left readable. A real ``cmdb`` server process on the SQLite store."""

from __future__ import annotations

import gzip
import json
import stat
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from tests.processes import cmdb, create_token, running_server
from tests.reports import agent_report

pytestmark = pytest.mark.e2e


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def post(url: str, token: str, report: dict) -> tuple[int, dict]:
    request = urllib.request.Request(
        url + "/api/v1/reports",
        data=gzip.compress(json.dumps(report).encode()),
        headers={"Authorization": f"Bearer {token}", "Content-Encoding": "gzip"},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def assert_private(data_dir: Path) -> None:
    assert mode(data_dir) == 0o700, oct(mode(data_dir))
    files = sorted(data_dir.glob("*.db*"))
    names = {f.name for f in files}
    assert {"control.db", "graph.db", "graph.db-wal", "graph.db-shm"} <= names, names
    loose = {f.name: oct(mode(f)) for f in files if mode(f) != 0o600}
    assert not loose, loose


def test_new_data_dir_is_private(tmp_path):
    data_dir = tmp_path / "var"
    token = create_token(data_dir, "agent")
    assert mode(data_dir) == 0o700
    assert mode(data_dir / "control.db") == 0o600
    with running_server(data_dir) as (url, _):
        status, _ = post(url, token, agent_report())
        assert status == 201
        assert_private(data_dir)


def test_loose_data_dir_from_an_older_version_is_tightened(tmp_path):
    data_dir = tmp_path / "var"
    token = create_token(data_dir, "agent")
    with running_server(data_dir) as (url, _):
        assert post(url, token, agent_report())[0] == 201
    data_dir.chmod(0o755)
    for path in data_dir.glob("*.db*"):
        path.chmod(0o644)
    with running_server(data_dir) as (url, _):
        assert post(url, token, agent_report())[0] == 201
        assert_private(data_dir)


def test_poller_token_from_the_cli_posts_snmp_not_agent_reports(tmp_path):
    data_dir = tmp_path / "var"
    poller = create_token(data_dir, "poller")
    admin = create_token(data_dir, "admin")
    snmp = json.loads(
        (Path(__file__).resolve().parent.parent / "fixtures/snmp/cisco-n5000.json").read_text()
    )
    with running_server(data_dir) as (url, _):
        assert post(url, poller, snmp)[0] == 201
        status, body = post(url, poller, agent_report())
        assert (status, body["status"]) == (403, "forbidden")
        status, body = post(url, admin, agent_report())
        assert (status, body["status"]) == (403, "forbidden")
        assert "agent or poller role" in body["error"]["message"]
    listed = cmdb("token", "list", "--data-dir", str(data_dir), "--json").stdout
    assert {t["role"] for t in json.loads(listed)["items"]} == {"poller", "admin"}
