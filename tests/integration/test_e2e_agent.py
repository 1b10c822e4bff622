"""A real server process, the real agent process on this machine, checked through the API
against what the operating system's own tools say."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

from tests.processes import api_get, cmdb, create_token, running_server

pytestmark = pytest.mark.e2e


def run_agent(url: str, token: str, spool, check: bool = True, env: dict | None = None):
    """The real agent process, once, against ``url``, its token in a 0600 file."""
    token_file = Path(str(spool) + ".token")
    token_file.write_text(token + "\n")
    token_file.chmod(0o600)
    return cmdb(
        "agent",
        "run",
        "--once",
        "--server",
        url,
        "--token-file",
        str(token_file),
        "--spool-dir",
        str(spool),
        check=check,
        env=env,
    )


def dpkg_installed() -> set[tuple[str, str]]:
    out = subprocess.run(
        ["dpkg-query", "-W", "-f=${Status}\t${Package}\t${Version}\n"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return {
        (pkg, version)
        for status, pkg, version in (line.split("\t") for line in out.splitlines())
        if status == "install ok installed"
    }


def ip_links() -> set[str]:
    out = subprocess.run(["ip", "-o", "link"], capture_output=True, text=True, check=True).stdout
    return {re.split(r"[@:]", line.split(": ", 2)[1])[0] for line in out.splitlines()}


def ip_addrs() -> set[str]:
    out = subprocess.run(["ip", "-o", "addr"], capture_output=True, text=True, check=True).stdout
    return {line.split()[3].split("/")[0] for line in out.splitlines()}


def all_items(url, token, path):
    items, offset = [], 0
    while True:
        page = api_get(url, token, f"{path}{'&' if '?' in path else '?'}limit=1000&offset={offset}")
        items += page["items"]
        offset += len(page["items"])
        if offset >= page["total"] or not page["items"]:
            return items


def test_agent_run_once_against_real_server(tmp_path):
    data_dir = tmp_path / "server"
    data_dir.mkdir()
    agent_token = create_token(data_dir, "agent")
    reader_token = create_token(data_dir, "reader")
    with running_server(data_dir) as (url, _proc):
        result = run_agent(url, agent_token, str(tmp_path / "spool"))
        assert "1 acknowledged" in result.stdout, result.stderr
        hosts = api_get(url, reader_token, "/api/v1/cis?class=Host")
        assert hosts["total"] == 1
        host = api_get(url, reader_token, f"/api/v1/cis/{hosts['items'][0]['id']}")
        rels = host["relationships"]

        installed = [r for r in rels if r["type"] == "INSTALLED"]
        assert len(installed) == len(dpkg_installed())

        interfaces = {r["other"]["name"] for r in rels if r["type"] == "HAS_INTERFACE"}
        assert interfaces == ip_links()

        addresses = set()
        for r in rels:
            if r["type"] == "HAS_INTERFACE":
                nic = api_get(url, reader_token, f"/api/v1/cis/{r['other']['id']}")
                addresses |= {
                    x["other"]["name"] for x in nic["relationships"] if x["type"] == "HAS_IP"
                }
        assert addresses == ip_addrs()

        # the second run sends only what changed (the packages did not): nothing is lost
        again = run_agent(url, agent_token, str(tmp_path / "spool"))
        assert "1 acknowledged" in again.stdout, again.stderr
        # the delta state is kept per server, privately
        state = list((tmp_path / "spool" / "state").glob("delta-*.json"))
        assert len(state) == 1 and state[0].stat().st_mode & 0o077 == 0
        host = api_get(url, reader_token, f"/api/v1/cis/{hosts['items'][0]['id']}")
        rels = host["relationships"]
        assert len([r for r in rels if r["type"] == "INSTALLED"]) == len(dpkg_installed())

        # the CLI reads the same through the API
        shown = cmdb("ci", "show", host["id"], "--server", url, "--token", reader_token, "--json")
        assert f'"id": "{host["id"]}"' in shown.stdout
        api = ("--server", url, "--token", reader_token)
        package = sorted(dpkg_installed())[0][0]
        installed = cmdb("ci", "show", host["name"], "--rel", "INSTALLED", "--limit", "0", *api)
        assert package in installed.stdout
        # what depends on the host (its endpoints, by the dependency rules), by name
        deps = cmdb("ci", "deps", host["name"], "--direction", "up", "--depth", "2", *api)
        assert deps.returncode == 0 and host["name"] in deps.stdout


def test_agent_spools_while_server_is_away_and_sends_in_order_later(tmp_path):
    data_dir = tmp_path / "server"
    data_dir.mkdir()
    agent_token = create_token(data_dir, "agent")
    reader_token = create_token(data_dir, "reader")
    spool = tmp_path / "spool"
    # nothing listens on this port: the report must stay in the spool
    away = run_agent("http://127.0.0.1:9", agent_token, str(spool), check=False)
    assert away.returncode == 3
    assert len(list(spool.glob("*.json.gz"))) == 1
    with running_server(data_dir) as (url, _proc):
        back = run_agent(url, agent_token, str(spool))
        assert "2 acknowledged" in back.stdout
        assert list(spool.glob("*.json.gz")) == []
        hosts = api_get(url, reader_token, "/api/v1/cis?class=Host")
        assert hosts["total"] == 1
        history = api_get(url, reader_token, f"/api/v1/cis/{hosts['items'][0]['id']}/history")
        assert history["total"] > 0
