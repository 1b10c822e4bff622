"""CIs declared by hand, over HTTP and the CLI, against a real ``cmdb server`` process on
each store: ``POST /api/v1/cis`` (201, 409 with the candidates, 422 naming the unknown
attributes, 400, 403), an agent report adopting the declared host, impact through a
declared RUNS_ON, ``DELETE /api/v1/cis/{id}`` (200, 409 for a discovered CI, 404), every
error one JSON shape; ``cmdb ci add`` and ``cmdb ci retire`` print what they did, or the
server's sentence.

On Neo4j the server shares the test database with nothing else while the session holds it
(``neo4j_server``); every name and identity value here is drawn from a per-run id."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
import uuid
from contextlib import ExitStack

import pytest

from tests.processes import cmdb, create_token, neo4j_env, running_server
from tests.reports import agent_report, nic

pytestmark = pytest.mark.e2e

RUN = uuid.uuid4().hex[:8]


def call(url: str, token: str, method: str, path: str, body=None) -> tuple[int, dict]:
    request = urllib.request.Request(
        url + path,
        data=None if body is None else json.dumps(body).encode(),
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
        method=method,
    )
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        answer = json.loads(error.read())
        assert answer["error"]["status"] == error.code and answer["error"]["message"]
        return error.code, answer


@pytest.fixture(params=["sqlite", "neo4j"])
def server(request, tmp_path):
    env = None
    if request.param == "neo4j":
        neo4j = request.getfixturevalue("neo4j_server")
        env = neo4j_env(neo4j.uri, neo4j.password, neo4j.user)
    with ExitStack() as stack:
        tokens = {role: create_token(tmp_path, role, env) for role in ("editor", "reader")}
        tokens["agent"] = create_token(tmp_path, "agent", env)
        url, _ = stack.enter_context(running_server(tmp_path, env=env))
        yield url, tokens, env


def test_declare_adopt_impact_and_retire_over_http(server):
    url, tokens, _ = server
    editor = tokens["editor"]
    legacy = f"legacy-{RUN}"
    status, made = call(
        url,
        editor,
        "POST",
        "/api/v1/cis",
        {"class": "Host", "name": legacy, "attributes": {"os_name": "AIX"}},
    )
    assert status == 201, made
    assert made["sources"] == ["manual"] and made["relationships"] == []
    status, shown = call(url, tokens["reader"], "GET", f"/api/v1/cis/{made['id']}")
    assert status == 200 and shown == made  # the same shape as a read
    status, history = call(url, tokens["reader"], "GET", f"/api/v1/cis/{made['id']}/history")
    (created,) = history["items"]
    assert (created["field"], created["source"]) == ("created", "manual")

    status, answer = call(
        url, tokens["reader"], "POST", "/api/v1/cis", {"class": "Host", "name": "x"}
    )
    assert status == 403
    status, answer = call(
        url, editor, "POST", "/api/v1/cis", {"class": "Host", "name": legacy.upper()}
    )
    assert status == 409 and "exists already" in answer["error"]["message"]
    assert [c["id"] for c in answer["error"]["candidates"]] == [made["id"]]
    status, answer = call(
        url,
        editor,
        "POST",
        "/api/v1/cis",
        {"class": "Host", "name": "y", "attributes": {"colour": 1}},
    )
    assert status == 422 and answer["error"]["unknown"] == ["colour"]
    assert "hostname" in answer["error"]["allowed"]
    status, answer = call(url, editor, "POST", "/api/v1/cis", {"class": "Service", "name": "y"})
    assert status == 400 and answer["error"]["field"] == "$.class"

    # an application on the declared host, and what its failure does
    status, app = call(
        url, editor, "POST", "/api/v1/cis", {"class": "Software", "name": f"orders-{RUN}"}
    )
    assert status == 201
    status, rel = call(
        url,
        editor,
        "POST",
        "/api/v1/relationships",
        {"type": "RUNS_ON", "from": app["id"], "to": {"class": "Host", "name": legacy}},
    )
    assert status == 201, rel
    status, hit = call(url, tokens["reader"], "POST", "/api/v1/impact", {"cis": [made["id"]]})
    assert status == 200 and {c["id"]: c["state"] for c in hit["cis"]}[app["id"]] == "down"

    # a host declared by hand, then its agent's first report: one CI
    web = f"web-{RUN}"
    status, placeholder = call(url, editor, "POST", "/api/v1/cis", {"class": "Host", "name": web})
    assert status == 201
    n = int(RUN[:6], 16)
    report = agent_report(
        hostname=web,
        system_uuid=str(uuid.UUID(int=n)),
        machine_id=f"{n:032x}",
        serial=f"S-{RUN}",
        interfaces=[nic("eth0", f"52:54:{RUN[:2]}:{RUN[2:4]}:{RUN[4:6]}:{RUN[6:8]}", [])],
        packages=2,
    )
    status, ingested = call(url, tokens["agent"], "POST", "/api/v1/reports", report)
    assert status == 201 and ingested["ci_id"] == placeholder["id"], ingested

    # retiring: the discovered one is discovery's, an unknown id is 404, the manual one goes
    status, answer = call(url, editor, "DELETE", f"/api/v1/cis/{placeholder['id']}")
    assert status == 409 and "discovery owns this CI" in answer["error"]["message"]
    status, answer = call(url, editor, "DELETE", f"/api/v1/cis/no-such-{RUN}")
    assert status == 404
    status, gone = call(url, editor, "DELETE", f"/api/v1/cis/{made['id']}")
    assert status == 200 and gone["status"] == "retired"
    assert [(r["type"], r["id"]) for r in gone["closed_relationships"]] == [("RUNS_ON", rel["id"])]

    status, doc = call(url, tokens["reader"], "GET", "/api/v1/openapi.json")
    assert "post" in doc["paths"]["/api/v1/cis"] and "delete" in doc["paths"]["/api/v1/cis/{id}"]


def test_cli_adds_and_retires(server):
    url, tokens, env = server
    api = ("--server", url, "--token", tokens["editor"])
    name = f"cli-{RUN}"
    done = cmdb(
        "ci", "add", "Host", name, "--set", "os_name=AIX", "--set", "cpu_cores:=8", *api, env=env
    )
    assert name in done.stdout and "Host" in done.stdout and "manual" in done.stdout
    made = json.loads(cmdb("ci", "show", name, "--json", *api, env=env).stdout)
    assert made["attributes"] == {"hostname": name, "os_name": "AIX", "cpu_cores": 8}
    assert made["id"] in done.stdout
    again = cmdb("ci", "add", "Host", name.upper(), *api, env=env, check=False)
    assert again.returncode == 1 and "exists already" in again.stderr and made["id"] in again.stderr
    wrong = cmdb("ci", "add", "Host", f"z-{RUN}", "--set", "colour=red", *api, env=env, check=False)
    assert wrong.returncode == 1 and "has no attribute 'colour'; it takes" in wrong.stderr
    bad = cmdb(
        "ci", "add", "Host", f"z-{RUN}", "--set", "cpu_cores:=eight", *api, env=env, check=False
    )
    assert bad.returncode == 2 and "not a JSON value" in bad.stderr
    gone = cmdb("ci", "retire", name, *api, env=env)
    assert f"Host {name} ({made['id']}) is retired" in gone.stdout
