"""An agent token speaks only for its own host, through the real server over HTTP."""

from __future__ import annotations

import json
import urllib.error
import urllib.request

import pytest

from tests.processes import create_token, running_server
from tests.reports import agent_report

pytestmark = pytest.mark.e2e


def post(url: str, token: str, report: dict) -> tuple[int, dict]:
    request = urllib.request.Request(
        url + "/api/v1/reports",
        data=json.dumps(report).encode(),
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def test_a_token_is_bound_to_the_host_of_its_first_report(tmp_path):
    web_token = create_token(tmp_path, "agent")
    db_token = create_token(tmp_path, "agent")
    web = agent_report(hostname="web1")
    db = agent_report(hostname="db1", system_uuid="33" * 16, machine_id="44" * 16, serial="S2")
    with running_server(tmp_path) as (url, _):
        status, first = post(url, web_token, web)
        assert status == 201 and first["status"] == "applied"
        status, answer = post(url, db_token, db)
        assert status == 201
        # web1's token tries to rewrite db1 (no packages: it would close all of them)
        attack = agent_report(
            hostname="db1", system_uuid="33" * 16, machine_id="44" * 16, serial="S2", packages=0
        )
        status, refused = post(url, web_token, attack)
        assert status == 403 and refused["status"] == "forbidden"
        assert "own agent token" in refused["error"]["message"]
        # the host's own token keeps working, and its packages are all there
        again = agent_report(
            hostname="db1", system_uuid="33" * 16, machine_id="44" * 16, serial="S2"
        )
        status, fine = post(url, db_token, again)
        assert status == 201 and fine["status"] == "unchanged"
        assert fine["ci_id"] == answer["ci_id"]
