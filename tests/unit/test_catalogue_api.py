"""The catalogue API contract and its error statuses, in-process (aiohttp TestClient)."""

from __future__ import annotations

import pytest
from aiohttp.test_utils import TestClient, TestServer

from cmdb.server.api.keys import CONTROL_KEY, INGEST_KEY
from cmdb.server.app import create_app
from cmdb.server.config import Settings
from tests.reports import agent_report, nic, replay_clock

pytestmark = pytest.mark.asyncio


@pytest.fixture
async def api(tmp_path):
    client = TestClient(TestServer(create_app(Settings(data_dir=tmp_path))))
    await client.start_server()
    # the reports below are days apart: receive each at the time it says it was collected
    replay_clock(client.app[INGEST_KEY])
    control = client.app[CONTROL_KEY]
    tokens = {
        role: control.create_token(role, f"{role}-token")[1]
        for role in ("agent", "reader", "editor", "admin")
    }
    yield client, tokens
    await client.close()


def auth(token):
    return {"Authorization": f"Bearer {token}"}


async def error_of(response, status):
    assert response.status == status, await response.text()
    body = await response.json()
    assert body["error"]["status"] == status
    return body["error"]["message"]


async def two_hosts(client, tokens):
    ids = []
    for n, name in ((1, "db1"), (2, "db2")):
        report = agent_report(
            hostname=name,
            system_uuid=f"4c4c4544-0042-3510-8057-b4c04f4a4d{n:02d}",
            machine_id=f"5f2d0c7a9b1e4d3c8a6f0e1d2c3b4a{n:02d}",
            serial=f"S{n}",
            interfaces=[nic("eth0", f"52:54:00:00:00:0{n}", [(f"10.0.0.{n}", 24)])],
            listening=[{"protocol": "tcp", "address": "0.0.0.0", "port": 5432}],
            collected_at="2026-11-20T10:00:00.000Z",
        )
        # one agent token per host: a token speaks only for the host it first reported
        token = client.app[CONTROL_KEY].create_token("agent", name)[1]
        r = await client.post("/api/v1/reports", json=report, headers=auth(token))
        assert r.status == 201, await r.text()
        ids.append((await r.json())["ci_id"])
    return ids


async def test_service_contract_and_impact(api):
    client, tokens = api
    db1, db2 = await two_hosts(client, tokens)
    body = {
        "name": "orders",
        "owner": "team-a",
        "criticality": "critical",
        "sla": {"availability": 99.95, "response_time": 15, "resolution_time": "4h"},
        "depends_on": [{"group": {"name": "pg", "min": 1, "members": [db1, db2]}}],
    }
    r = await client.post("/api/v1/services", json=body, headers=auth(tokens["editor"]))
    assert r.status == 201
    svc = await r.json()
    assert svc["id"] and svc["name"] == "orders" and svc["sla"]["response_time"] == "15m"

    r = await client.get("/api/v1/services", headers=auth(tokens["reader"]))
    listing = await r.json()
    assert listing["total"] == 1 and listing["items"][0]["id"] == svc["id"]

    r = await client.post(
        "/api/v1/impact", json={"cis": [db1], "depth": 5}, headers=auth(tokens["reader"])
    )
    assert r.status == 200
    result = await r.json()
    (service,) = result["services"]
    assert {k: service[k] for k in ("id", "name", "state", "criticality", "owner")} == {
        "id": svc["id"],
        "name": "orders",
        "state": "degraded",
        "criticality": "critical",
        "owner": "team-a",
    }
    steps = service["paths"][0]["steps"]
    assert steps[0]["id"] == db1 and steps[-1]["id"] == svc["id"]
    assert all({"id", "class", "name"} <= set(c) for c in result["cis"])
    r = await client.post(
        "/api/v1/impact", json={"cis": [db1, db2]}, headers=auth(tokens["reader"])
    )
    assert (await r.json())["services"][0]["state"] == "down"
    # the failed CIs by reference, as a catalogue names them: the same answer
    r = await client.post(
        "/api/v1/impact",
        json={"cis": [{"class": "Host", "name": "db1"}], "depth": 5},
        headers=auth(tokens["reader"]),
    )
    assert r.status == 200 and await r.json() == result
    msg = await error_of(
        await client.post(
            "/api/v1/impact",
            json={"cis": [db1, {"class": "Host", "name": "no-such-host"}]},
            headers=auth(tokens["reader"]),
        ),
        422,
    )
    assert "$.cis[1]" in msg and "no-such-host" in msg


async def test_service_errors(api):
    client, tokens = api
    editor = auth(tokens["editor"])
    msg = await error_of(
        await client.post(
            "/api/v1/services", json={"name": "x", "depends_on": [{"ci": "ghost"}]}, headers=editor
        ),
        422,
    )
    assert "ghost" in msg
    msg = await error_of(
        await client.post(
            "/api/v1/services",
            json={"name": "y", "depends_on": [{"service": "nope"}]},
            headers=editor,
        ),
        422,
    )
    assert "nope" in msg
    r = await client.post("/api/v1/services", json={"name": "a"}, headers=editor)
    a = await r.json()
    msg = await error_of(
        await client.patch(
            f"/api/v1/services/{a['id']}",
            json={"depends_on": [{"service": a["id"]}]},
            headers=editor,
        ),
        422,
    )
    assert "itself" in msg
    await error_of(
        await client.post(
            "/api/v1/services",
            data=b"{not json",
            headers={**editor, "Content-Type": "application/json"},
        ),
        400,
    )
    await error_of(await client.post("/api/v1/services", json={"owner": "x"}, headers=editor), 400)
    await error_of(
        await client.post("/api/v1/services", json={"name": "z"}, headers=auth(tokens["reader"])),
        403,
    )
    await error_of(
        await client.post("/api/v1/impact", json={"cis": ["ghost"]}, headers=editor), 422
    )
    await error_of(await client.post("/api/v1/impact", json={"cis": "x"}, headers=editor), 400)
    await error_of(await client.get("/api/v1/services/none", headers=editor), 404)


async def test_import_yaml(api):
    client, tokens = api
    db1, db2 = await two_hosts(client, tokens)
    text = f"""
services:
  - name: db
    criticality: high
    depends_on:
      - group: {{name: pg, min: 2, members: [{db1}, {{class: Host, name: db2}}]}}
  - name: web
    kind: business
    depends_on: [{{service: db}}]
"""
    r = await client.post(
        "/api/v1/services/import",
        data=text.encode(),
        headers={**auth(tokens["editor"]), "Content-Type": "application/yaml"},
    )
    assert r.status == 201, await r.text()
    assert len((await r.json())["created"]) == 2
    r = await client.post("/api/v1/impact", json={"cis": [db2]}, headers=auth(tokens["reader"]))
    assert {s["name"]: s["state"] for s in (await r.json())["services"]} == {
        "db": "down",
        "web": "down",
    }


async def test_asset_and_change_contract(api):
    client, tokens = api
    db1, _ = await two_hosts(client, tokens)
    editor = auth(tokens["editor"])
    r = await client.post(
        "/api/v1/assets", json={"asset_tag": "A-1", "ci": db1, "supplier": "Dell"}, headers=editor
    )
    assert r.status == 201
    asset = await r.json()
    assert asset["id"] and asset["state"] == "planned"
    msg = await error_of(
        await client.post(
            f"/api/v1/assets/{asset['id']}/transition", json={"state": "deployed"}, headers=editor
        ),
        409,
    )
    assert "ordered" in msg
    r = await client.post(
        f"/api/v1/assets/{asset['id']}/transition", json={"state": "ordered"}, headers=editor
    )
    record = await r.json()
    assert record["state"] == "ordered"
    assert record["transitions"][-1]["by"] == "editor-token"
    await error_of(
        await client.post(
            "/api/v1/assets", json={"asset_tag": "A-2", "ci": "ghost"}, headers=editor
        ),
        422,
    )
    await error_of(
        await client.post(
            "/api/v1/assets", json={"asset_tag": "A-3"}, headers=auth(tokens["reader"])
        ),
        403,
    )
    r = await client.get("/api/v1/reports/assets/unregistered", headers=auth(tokens["reader"]))
    assert (await r.json())["total"] == 1

    window = {"start": "2026-11-20T00:00:00Z", "end": "2026-11-20T23:00:00Z"}
    r = await client.post(
        "/api/v1/changes", json={"title": "t", "cis": [db1], "window": window}, headers=editor
    )
    assert r.status == 201
    change = await r.json()
    assert change["id"] and change["state"] == "draft"
    await error_of(
        await client.post(
            f"/api/v1/changes/{change['id']}/transition", json={"state": "closed"}, headers=editor
        ),
        409,
    )
    await error_of(
        await client.post(
            "/api/v1/changes",
            json={
                "title": "t",
                "cis": [db1],
                "window": {"start": window["end"], "end": window["start"]},
            },
            headers=editor,
        ),
        400,
    )
    r = await client.get("/api/v1/changes", headers=auth(tokens["reader"]))
    assert (await r.json())["total"] == 1
    r = await client.get(
        "/api/v1/reports/unauthorized-changes?since=2026-01-01T00:00:00Z",
        headers=auth(tokens["reader"]),
    )
    assert r.status == 200 and "items" in await r.json()


async def test_as_of_and_diff_endpoints(api):
    client, tokens = api
    db1, _ = await two_hosts(client, tokens)
    reader = auth(tokens["reader"])
    r = await client.get(f"/api/v1/cis/{db1}?as_of=2026-11-20T12:00:00Z", headers=reader)
    assert r.status == 200 and (await r.json())["as_of"] == "2026-11-20T12:00:00.000Z"
    await error_of(await client.get(f"/api/v1/cis/{db1}?as_of=2020-01-01", headers=reader), 404)
    await error_of(await client.get(f"/api/v1/cis/{db1}?as_of=yesterday", headers=reader), 400)
    r = await client.get(
        f"/api/v1/cis/{db1}/diff?from=2026-11-19T00:00:00Z&to=2026-11-21T00:00:00Z", headers=reader
    )
    diff = await r.json()
    assert diff["existed"] == {"from": False, "to": True}
    await error_of(await client.get(f"/api/v1/cis/{db1}/diff", headers=reader), 400)


async def test_references_say_what_is_wrong_with_them(api):
    """A reference names one CI or says why not: an address every host has names none, a
    class given with an id must be the CI's, host narrows endpoints and interfaces only and
    must be a host or device, and a missing class is asked for."""
    client, tokens = api
    db1, db2 = await two_hosts(client, tokens)
    reader = auth(tokens["reader"])

    async def impact_of(*refs) -> tuple[int, dict]:
        r = await client.post("/api/v1/impact", json={"cis": list(refs)}, headers=reader)
        return r.status, await r.json()

    for address in ("127.0.0.1", "::1", "fe80::1"):
        status, body = await impact_of({"class": "Host", "address": address})
        assert status == 422 and "which every host has" in body["error"]["message"], body
    status, body = await impact_of(
        {"class": "Endpoint", "host": {"class": "Host", "address": "127.0.0.1"}, "port": 5432}
    )
    assert status == 422 and "loopback" in body["error"]["message"]
    status, body = await impact_of({"class": "Service", "id": db1})
    assert status == 422 and "is a Host (db1), not a Service" in body["error"]["message"]
    status, body = await impact_of({"name": "db1"})
    assert status == 400 and "class is required" in body["error"]["message"]
    status, body = await impact_of({"class": "Host", "name": "db1", "host": "db2"})
    assert status == 400 and "a Host is not on a host" in body["error"]["message"]
    status, body = await impact_of({"class": "Host", "name": "db1", "port": 5432})
    assert status == 400 and "only an Endpoint has a port" in body["error"]["message"]
    svc = await client.post(
        "/api/v1/services", json={"name": "orders"}, headers=auth(tokens["editor"])
    )
    assert svc.status == 201
    status, body = await impact_of(
        {"class": "Endpoint", "host": {"class": "Service", "name": "orders"}, "port": 5432}
    )
    message = body["error"]["message"]
    assert status == 422 and "names a Service (orders)" in message and "{" not in message
    # host tells two interfaces called eth0 apart; an unknown host is said so
    status, body = await impact_of({"class": "Interface", "name": "eth0"})
    assert status == 422 and "2 CIs fit" in body["error"]["message"]
    status, body = await impact_of({"class": "Interface", "name": "eth0", "host": "db2"})
    assert status == 200 and body["failed"][0]["device"] == "db2", body["failed"]
    status, body = await impact_of({"class": "Interface", "name": "eth0", "host": "nosuch"})
    message = body["error"]["message"]
    assert status == 422 and "no Host nor NetworkDevice has the name 'nosuch'" in message
    # endpoints by the host's address
    status, body = await impact_of({"class": "Endpoint", "host": "10.0.0.2", "port": 5432})
    assert status == 200 and body["failed"][0]["host"] == "db2"
    status, body = await impact_of("db1")
    assert status == 422 and "name a CI with a reference" in body["error"]["message"]


async def test_a_malformed_reference_is_told_by_its_field(api):
    """A value that fits neither an id nor a reference object is judged as what it is: an
    object by the reference's schema, naming the field at fault."""
    client, tokens = api
    reader = auth(tokens["reader"])
    cases = [
        ({"class": "Nope"}, "$.cis[0].class", "$.cis[0].class must be one of Asset"),
        ({"class": "Host", "name": ""}, "$.cis[0].name", "$.cis[0].name must not be empty"),
        ({"class": "Endpoint", "host": "a", "port": 0}, "$.cis[0].port", "at least 1"),
        ({"class": "Endpoint", "host": "a", "port": True}, "$.cis[0].port", "not true"),
        ({"class": "Endpoint", "host": "a", "port": "99999"}, "$.cis[0].port", "1-65535"),
        (None, "$.cis[0]", "not null"),
    ]
    for ref, field, words in cases:
        r = await client.post("/api/v1/impact", json={"cis": [ref]}, headers=reader)
        error = (await r.json())["error"]
        assert r.status == 400 and error["field"] == field and words in error["message"], error
