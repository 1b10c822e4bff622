"""The real agent process against the real server: its token never reaches a report or a
readable file, a report over the server's limit still brings the host's facts, and
broken spool files do not stop it."""

from __future__ import annotations

import gzip
import json
import os
import stat

import pytest

from tests.integration.test_e2e_agent import run_agent
from tests.processes import api_get, cmdb, create_token, running_server
from tests.unit.test_agent_spool import BROKEN

pytestmark = pytest.mark.e2e

SECRET = "e2e-S3cret-token-value"


def test_the_token_given_with_token_is_in_no_report_and_no_readable_file(tmp_path):
    spool = tmp_path / "spool"
    # nothing listens on port 9: the report stays in the spool, where we can read it
    result = cmdb(
        "agent",
        "run",
        "--once",
        "--server",
        "http://127.0.0.1:9",
        "--token",
        SECRET,
        "--spool-dir",
        str(spool),
        check=False,
    )
    assert result.returncode == 3, result.stderr
    assert "visible to every user" in result.stderr
    files = list(spool.glob("*.json.gz"))
    assert len(files) == 1
    assert stat.S_IMODE(spool.stat().st_mode) == 0o700
    assert stat.S_IMODE(files[0].stat().st_mode) == 0o600
    text = gzip.decompress(files[0].read_bytes()).decode()
    assert SECRET not in text
    report = json.loads(text)
    agent_rows = [
        p
        for p in report["sections"]["processes"]
        if p["cmdline"] and "agent run --once" in p["cmdline"]
    ]
    assert agent_rows and all("--token <redacted>" in p["cmdline"] for p in agent_rows)
    assert isinstance(report["sequence"], int)
    for path in (spool / "state").iterdir():
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        assert SECRET not in path.read_text()


def test_a_report_over_the_real_servers_limit_still_brings_the_host(tmp_path):
    data_dir = tmp_path / "server"
    data_dir.mkdir()
    agent_token = create_token(data_dir, "agent")
    reader_token = create_token(data_dir, "reader")
    spool = tmp_path / "spool"
    env = {"CMDB_MAX_WIRE_BYTES": "4096"}
    with running_server(data_dir, env=env) as (url, _proc):
        result = run_agent(url, agent_token, spool)
        assert "1 acknowledged" in result.stdout, result.stderr
        assert "over the server's limit" in result.stderr
        assert list(spool.glob("*.json.gz")) == [] and not (spool / "rejected").exists()
        hosts = api_get(url, reader_token, "/api/v1/cis?class=Host")
        assert hosts["total"] == 1
        host = api_get(url, reader_token, f"/api/v1/cis/{hosts['items'][0]['id']}")
        assert any(r["type"] == "HAS_INTERFACE" for r in host["relationships"])


def test_broken_spool_files_do_not_stop_the_real_agent(tmp_path):
    data_dir = tmp_path / "server"
    data_dir.mkdir()
    agent_token = create_token(data_dir, "agent")
    spool = tmp_path / "spool"
    spool.mkdir(mode=0o700)
    for i, data in enumerate(BROKEN.values()):
        (spool / f"{i:020d}-1-000001.json.gz").write_bytes(data)
    with running_server(data_dir) as (url, _proc):
        result = run_agent(url, agent_token, spool, check=False)
    assert result.returncode == 4, result.stderr  # sent, and some files were set aside
    assert "1 acknowledged" in result.stdout
    assert f"{len(BROKEN)} set aside" in result.stdout
    assert len(list((spool / "corrupt").glob("*.reason"))) == len(BROKEN)
    assert list(spool.glob("*.json.gz")) == []
    assert all(stat.S_IMODE(os.stat(p).st_mode) == 0o600 for p in (spool / "corrupt").iterdir())
