"""Every API error is JSON with the right status and a message a human can act on."""

from __future__ import annotations

import gzip
import json

import pytest
from aiohttp.test_utils import TestClient, TestServer

from cmdb.server.api.keys import CONTROL_KEY
from cmdb.server.app import create_app
from cmdb.server.config import Settings
from tests.reports import agent_report

pytestmark = pytest.mark.asyncio


@pytest.fixture
async def api(tmp_path):
    settings = Settings(data_dir=tmp_path, max_body_bytes=64 * 1024)
    client = TestClient(TestServer(create_app(settings)))
    await client.start_server()
    control = client.app[CONTROL_KEY]
    tokens = {role: control.create_token(role)[1] for role in ("agent", "reader", "admin")}
    yield client, tokens
    await client.close()


def auth(token):
    return {"Authorization": f"Bearer {token}"}


async def error_of(response, status):
    assert response.status == status
    assert response.content_type == "application/json"
    body = await response.json()
    assert body["error"]["status"] == status
    assert len(body["error"]["message"]) > 10
    return body["error"]


async def test_no_token_is_401(api):
    client, _ = api
    err = await error_of(await client.post("/api/v1/reports", json={}), 401)
    assert "Bearer" in err["message"]


async def test_unknown_token_is_401(api):
    client, _ = api
    response = await client.get("/api/v1/cis", headers=auth("cmdb_not-a-real-token"))
    err = await error_of(response, 401)
    assert "unknown or revoked" in err["message"]


async def test_reader_token_cannot_send_reports_403(api):
    client, tokens = api
    response = await client.post("/api/v1/reports", json={}, headers=auth(tokens["reader"]))
    err = await error_of(response, 403)
    assert "agent role" in err["message"]


async def test_agent_token_cannot_read_403(api):
    client, tokens = api
    await error_of(await client.get("/api/v1/cis", headers=auth(tokens["agent"])), 403)


async def test_malformed_json_is_400(api):
    client, tokens = api
    response = await client.post(
        "/api/v1/reports", data=b'{"schema_version": 1,', headers=auth(tokens["agent"])
    )
    err = await error_of(response, 400)
    assert "malformed JSON" in err["message"]


async def test_schema_violation_is_400_with_field_path(api):
    client, tokens = api
    report = agent_report()
    report["sections"]["interfaces"][1]["mtu"] = "large"
    response = await client.post("/api/v1/reports", json=report, headers=auth(tokens["agent"]))
    err = await error_of(response, 400)
    assert err["field"] == "$.sections.interfaces[1].mtu"
    assert "$.sections.interfaces[1].mtu" in err["message"]


async def test_unknown_schema_version_is_422_naming_supported(api):
    client, tokens = api
    report = agent_report()
    report["schema_version"] = 7
    response = await client.post("/api/v1/reports", json=report, headers=auth(tokens["agent"]))
    err = await error_of(response, 422)
    assert "accepts 1" in err["message"]


async def test_body_over_limit_is_413(api):
    client, tokens = api
    response = await client.post(
        "/api/v1/reports", data=b"x" * (65 * 1024), headers=auth(tokens["agent"])
    )
    err = await error_of(response, 413)
    assert "65536" in err["message"]


async def test_gzip_bomb_is_413_after_decompression(api):
    client, tokens = api
    body = gzip.compress(b"[" + b"0," * 100_000 + b"0]")
    assert len(body) < 64 * 1024
    response = await client.post(
        "/api/v1/reports",
        data=body,
        headers={**auth(tokens["agent"]), "Content-Encoding": "gzip"},
    )
    await error_of(response, 413)


async def test_report_without_identity_is_422(api):
    client, tokens = api
    report = agent_report(system_uuid=None, serial=None, machine_id=None, interfaces=[])
    report["sections"]["system"]["fqdn"] = None
    response = await client.post("/api/v1/reports", json=report, headers=auth(tokens["agent"]))
    err = await error_of(response, 422)
    assert "identity" in err["message"]


async def test_gzip_report_accepted_then_duplicate(api):
    client, tokens = api
    body = gzip.compress(json.dumps(agent_report()).encode())
    headers = {**auth(tokens["agent"]), "Content-Encoding": "gzip"}
    first = await client.post("/api/v1/reports", data=body, headers=headers)
    assert first.status == 201
    again = await client.post("/api/v1/reports", data=body, headers=headers)
    assert again.status == 200
    assert (await again.json())["status"] == "duplicate"


async def test_unknown_ci_is_404_and_bad_params_400(api):
    client, tokens = api
    headers = auth(tokens["reader"])
    err = await error_of(await client.get("/api/v1/cis/nope", headers=headers), 404)
    assert "nope" in err["message"]
    err = await error_of(await client.get("/api/v1/cis?limit=abc", headers=headers), 400)
    assert "limit" in err["message"]
    err = await error_of(await client.get("/api/v1/cis?class=Toaster", headers=headers), 400)
    assert "Toaster" in err["message"]


async def test_openapi_and_health_are_public(api):
    client, _ = api
    doc = await (await client.get("/api/v1/openapi.json")).json()
    assert doc["openapi"].startswith("3.")
    assert "/api/v1/reports" in doc["paths"]
    health = await client.get("/healthz")
    assert health.status == 200


async def test_bad_time_is_400_naming_the_field(api):
    client, tokens = api
    report = agent_report()
    report["collected_at"] = "yesterday at noon"
    response = await client.post("/api/v1/reports", json=report, headers=auth(tokens["agent"]))
    err = await error_of(response, 400)
    assert err["field"] == "$.collected_at"
