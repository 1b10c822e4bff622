"""Validation at the edge from the route declarations (cmdb.server.api.spec): each refusal
is the one JSON error shape, names the parameter or field and what it takes."""

from __future__ import annotations

import pytest
from aiohttp.test_utils import TestClient, TestServer

from cmdb.server.api.keys import CONTROL_KEY
from cmdb.server.app import create_app
from cmdb.server.config import Settings
from tests.reports import agent_report

pytestmark = pytest.mark.asyncio


@pytest.fixture
async def api(tmp_path):
    client = TestClient(TestServer(create_app(Settings(data_dir=tmp_path, max_page_size=500))))
    await client.start_server()
    control = client.app[CONTROL_KEY]
    tokens = {r: control.create_token(r)[1] for r in ("agent", "reader", "editor", "admin")}
    yield client, {r: {"Authorization": f"Bearer {t}"} for r, t in tokens.items()}
    await client.close()


async def refused(response, status: int) -> dict:
    assert response.status == status, await response.text()
    assert response.content_type == "application/json"
    error = (await response.json())["error"]
    assert error["status"] == status and len(error["message"]) > 10
    return error


async def test_unknown_query_parameters_are_400_naming_the_known_ones(api):
    client, auth = api
    error = await refused(
        await client.get("/api/v1/cis?os_version=12", headers=auth["reader"]), 400
    )
    assert "'os_version'" in error["message"]
    assert "class, q, status, limit, offset" in error["message"]
    error = await refused(await client.get("/api/v1/tokens?x=1", headers=auth["admin"]), 400)
    assert "takes none" in error["message"]


async def test_filter_values_types_and_ranges(api):
    client, auth = api
    reader = auth["reader"]
    error = await refused(await client.get("/api/v1/cis?status=foo", headers=reader), 400)
    assert "live, stale, retired" in error["message"] and "'foo'" in error["message"]
    error = await refused(
        await client.get("/api/v1/cis?offset=9223372036854775808", headers=reader), 400
    )
    assert "'offset'" in error["message"] and error["field"] == "offset"
    error = await refused(await client.get("/api/v1/cis?limit=501", headers=reader), 400)
    assert "at most 500" in error["message"]  # this server's max_page_size
    error = await refused(await client.get("/api/v1/cis?limit=1&limit=2", headers=reader), 400)
    assert "more than once" in error["message"]
    error = await refused(await client.get("/api/v1/cis?q=" + "x" * 201, headers=reader), 400)
    assert "at most 200" in error["message"]
    error = await refused(await client.get("/api/v1/assets?state=lost", headers=reader), 400)
    assert "in_stock" in error["message"]
    error = await refused(await client.get("/api/v1/changes?state=open", headers=reader), 400)
    assert "draft" in error["message"]
    response = await client.get("/api/v1/cis?class=&limit=", headers=reader)  # empty: defaults
    assert (await response.json())["limit"] == 50


async def test_times_are_checked_and_compared_as_instants(api):
    client, auth = api
    r = await client.post("/api/v1/reports", json=agent_report(), headers=auth["agent"])
    ci = (await r.json())["ci_id"]
    history = f"/api/v1/cis/{ci}/history"
    for bad in ("yesterday", "0001-01-01T00:00:00+14:00"):
        error = await refused(
            await client.get(history, params={"since": bad}, headers=auth["reader"]), 400
        )
        assert error["field"] == "since" and "ISO 8601" in error["message"]
    r = await client.get(history, params={"since": "2000-01-01"}, headers=auth["reader"])
    assert r.status == 200 and (await r.json())["total"] > 0
    error = await refused(await client.get(f"/api/v1/cis/{ci}/diff", headers=auth["reader"]), 400)
    assert "'from' is required" in error["message"]


async def test_path_values_that_cannot_name_a_resource_are_404(api):
    client, auth = api
    for path in ("/api/v1/cis/a%20b", "/api/v1/cis/" + "x" * 300, "/api/v1/assets/%27x"):
        await refused(await client.get(path, headers=auth["reader"]), 404)
    for token_id in ("9223372036854775808", "0", "abc", "-1"):
        error = await refused(
            await client.delete(f"/api/v1/tokens/{token_id}", headers=auth["admin"]), 404
        )
        assert "token id" in error["message"]


async def test_role_is_checked_before_anything_else(api):
    client, auth = api
    error = await refused(await client.get("/api/v1/cis?bogus=1", headers=auth["agent"]), 403)
    assert "reader" in error["message"]
    await refused(await client.post("/api/v1/services", data=b"{", headers=auth["reader"]), 403)


async def test_bodies_are_checked_against_their_schema(api):
    client, auth = api
    editor = auth["editor"]
    cases = [
        ("/api/v1/services", {"name": "x" * 201}, "$.name", "at most 200"),
        ("/api/v1/services", {"name": "s", "description": "d" * 10_001}, "$.description", "10000"),
        ("/api/v1/services", {"name": "s", "colour": "red"}, "$.colour", "colour"),
        ("/api/v1/services", {"name": "  "}, "$.name", "not only spaces"),
        ("/api/v1/services", {"owner": "x"}, "$.name", "required"),
        ("/api/v1/services", {"name": "s", "criticality": "huge"}, "$.criticality", "critical"),
        (
            "/api/v1/services",
            {"name": "s", "depends_on": [{"ci": 5}]},
            "$.depends_on[0].ci",
            "CI id",
        ),
        ("/api/v1/impact", {"cis": "x"}, "$.cis", "a list"),
        ("/api/v1/impact", {"cis": []}, "$.cis", "at least 1"),
        ("/api/v1/impact", {"cis": ["a"], "depth": 21}, "$.depth", "at most 20"),
        ("/api/v1/impact", {"cis": ["a"], "summary": "yes"}, "$.summary", "true or false"),
        ("/api/v1/assets", {"asset_tag": "A", "cost": -1}, "$.cost", "at least 0"),
        ("/api/v1/assets", {"asset_tag": "A", "warranty_end": "soon"}, "$.warranty_end", "date"),
        ("/api/v1/tokens", {"role": "root"}, "$.role", "reader"),
    ]
    for path, body, field, words in cases:
        headers = auth["admin"] if path == "/api/v1/tokens" else editor
        error = await refused(await client.post(path, json=body, headers=headers), 400)
        assert error["field"] == field, (path, body, error)
        assert words in error["message"], (path, body, error)
        assert error["message"].startswith(field.split(".colour")[0]), (path, body, error)
    error = await refused(await client.post("/api/v1/services", headers=editor), 400)
    assert "empty" in error["message"]


async def test_patch_bodies_name_where_a_field_is_changed(api):
    client, auth = api
    r = await client.post("/api/v1/assets", json={"asset_tag": "A-9"}, headers=auth["editor"])
    asset = (await r.json())["id"]
    error = await refused(
        await client.patch(
            f"/api/v1/assets/{asset}", json={"state": "deployed"}, headers=auth["editor"]
        ),
        400,
    )
    assert "transition" in error["message"]


async def test_yaml_import_refuses_aliases_and_oversized_numbers(api):
    client, auth = api
    headers = {**auth["editor"], "Content-Type": "application/yaml"}
    bomb = b"a: &a [x, x]\nb: &b [*a, *a]\nservices: [*b]\n"
    error = await refused(
        await client.post("/api/v1/services/import", data=bomb, headers=headers), 400
    )
    assert "aliases" in error["message"]
    huge = b"services:\n  - name: s\n    sla: {availability: " + b"9" * 5000 + b"}\n"
    await refused(await client.post("/api/v1/services/import", data=huge, headers=headers), 400)
    ok = b"services:\n  - name: web\n    kind: business\n"
    r = await client.post("/api/v1/services/import?dry_run=true", data=ok, headers=headers)
    assert r.status == 200 and (await r.json())["created"] == ["web"]


async def test_impact_summary_mode_leaves_out_the_cis(api):
    client, auth = api
    r = await client.post("/api/v1/reports", json=agent_report(), headers=auth["agent"])
    ci = (await r.json())["ci_id"]
    full = await (
        await client.post("/api/v1/impact", json={"cis": [ci]}, headers=auth["reader"])
    ).json()
    summary = await (
        await client.post(
            "/api/v1/impact", json={"cis": [ci], "summary": True}, headers=auth["reader"]
        )
    ).json()
    assert "cis" in full and "cis" not in summary and summary["counts"] == full["counts"]


async def test_custom_attribute_filters_are_free_form_but_checked(api):
    client, auth = api
    error = await refused(
        await client.get(
            "/api/v1/custom-attributes/cis?class=Host&tier=gold", headers=auth["reader"]
        ),
        400,
    )
    assert "'tier'" in error["message"]
    error = await refused(
        await client.get("/api/v1/custom-attributes/cis", headers=auth["reader"]), 400
    )
    assert "'class' is required" in error["message"]


async def test_scan_and_schedule_bodies_are_declared_too(api):
    client, auth = api
    schedule = {"name": "s", "cron": "0 * * * *", "targets": "127.0.0.1", "port": "x"}
    error = await refused(
        await client.post("/api/v1/schedules", json=schedule, headers=auth["editor"]), 400
    )
    assert error["field"] == "$.port" and "integer" in error["message"]
    scan = {"targets": "127.0.0.1", "credentials": [{"community": "public"}], "retries": 99}
    error = await refused(
        await client.post("/api/v1/scans", json=scan, headers=auth["editor"]), 400
    )
    assert error["field"] == "$.retries" and "at most 10" in error["message"]


async def test_a_cron_that_never_fires_is_refused(api):
    client, auth = api
    never = {
        "name": "never",
        "cron": "0 0 31 2 *",
        "targets": "127.0.0.1",
        "credentials": [{"community": "p"}],
    }
    response = await client.post("/api/v1/schedules", json=never, headers=auth["editor"])
    assert 400 <= response.status < 500
    assert "never fires" in (await response.json())["error"]["message"]
