"""Catalogue references, custom attribute declarations and the curation API contract
(in-process server on SQLite): what is refused, with which status and sentence."""

from __future__ import annotations

import pytest
from aiohttp.test_utils import TestClient, TestServer

from cmdb.server.api.keys import CONTROL_KEY, INGEST_KEY
from cmdb.server.app import create_app
from cmdb.server.catalogue import CatalogueError
from cmdb.server.catalogue.custom import parse_declarations
from cmdb.server.catalogue.refs import parse_ref, text
from cmdb.server.cli.catalogue import parse_ref as cli_ref
from cmdb.server.config import ConfigError, Settings, load_settings
from tests.reports import ReplayIngestor, agent_report, nic


# ---------------------------------------------------------------- references
def test_parse_ref_forms():
    assert parse_ref("a1b2", "$.ci").id == "a1b2"
    assert parse_ref("orders-db", "$.s", default_class="Service").name == "orders-db"
    ep = parse_ref({"class": "Endpoint", "host": "db1", "port": "5432"}, "$.ci")
    assert (ep.cls, ep.host, ep.port, ep.protocol) == ("Endpoint", "db1", 5432, None)
    sw = parse_ref({"class": "Software", "name": "perl", "version": "5.36.0-7"}, "$.ci")
    assert sw.filters == {"version": "5.36.0-7"} and "version='5.36.0-7'" in sw.describe()


@pytest.mark.parametrize(
    "value, words",
    [
        ({"class": "Widget", "name": "x"}, "must be one of"),
        ({"class": "Host", "colour": "red"}, "colour, which a Host does not have"),
        ({"class": "Endpoint", "host": "db1"}, "named by its host and port"),
        ({"class": "Endpoint", "host": "db1", "port": 70000}, "port must be a port number"),
        ({"class": "Host"}, "say which Host"),
        (42, "must be a CI id or an object"),
    ],
)
def test_malformed_references_are_400(value, words):
    with pytest.raises(CatalogueError) as err:
        parse_ref(value, "$.ci")
    assert err.value.status == 400 and words in err.value.message


def test_labels_read_as_words():
    assert text({"class": "Endpoint", "name": "tcp/5432 (postgres)", "host": "db1"}) == (
        "db1 tcp/5432 (postgres)"
    )
    assert text({"class": "Software", "name": "perl", "version": "5.36", "arch": "amd64"}) == (
        "perl 5.36 amd64"
    )
    assert text({"class": "Service", "name": "shop"}) == "Service shop"


def test_cli_reference_syntax():
    assert cli_ref("0f3c-id") == "0f3c-id"
    assert cli_ref("Host:db1") == {"class": "Host", "name": "db1"}
    assert cli_ref("Endpoint:host=db1,port=5432") == {
        "class": "Endpoint",
        "host": "db1",
        "port": "5432",
    }


# ---------------------------------------------------------------- custom attribute config
@pytest.mark.parametrize(
    "raw, words",
    [
        ({"Change": {"x": {"type": "string"}}}, "not a class that takes custom attributes"),
        ({"Host": {"hostname": {"type": "string"}}}, "not a free attribute name"),
        ({"Host": {"tier": {"type": "colour"}}}, "type must be one of"),
        ({"Host": {"tier": {"type": "integer", "allowed": ["a"]}}}, "must be an integer"),
        ({"Host": {"tier": {"kind": "x"}}}, "unknown keys kind"),
    ],
)
def test_bad_declarations_are_refused(raw, words):
    with pytest.raises(ValueError) as err:
        parse_declarations(raw)
    assert words in str(err.value)


def test_config_section_loads_and_is_checked(tmp_path):
    good = tmp_path / "good.toml"
    good.write_text(
        'allow_self_approval = true\n[custom_attributes.Host.tier]\ntype = "string"\n'
        'allowed = ["gold", "silver"]\n'
    )
    settings = load_settings(good, environ={})
    assert settings.allow_self_approval is True
    assert parse_declarations(settings.custom_attributes)["Host"]["tier"].allowed == (
        "gold",
        "silver",
    )
    bad = tmp_path / "bad.toml"
    bad.write_text('[custom_attributes.Host.tier]\ntype = "colour"\n')
    with pytest.raises(ConfigError, match="type must be one of"):
        load_settings(bad, environ={})


# ---------------------------------------------------------------- API contract
@pytest.fixture
async def api(tmp_path):
    settings = Settings(
        data_dir=tmp_path,
        custom_attributes={"Host": {"tier": {"type": "string", "allowed": ["gold", "silver"]}}},
    )
    client = TestClient(TestServer(create_app(settings)))
    await client.start_server()
    client.app[INGEST_KEY].__class__ = ReplayIngestor
    control = client.app[CONTROL_KEY]
    tokens = {
        role: {"Authorization": f"Bearer {control.create_token(role, f'{role}-token')[1]}"}
        for role in ("reader", "editor")
    }
    ids = []
    for n, name in ((1, "db1"), (2, "db2")):
        report = agent_report(
            hostname=name,
            system_uuid=f"4c4c4544-0042-3510-8057-b4c04f4a4d{n:02d}",
            machine_id=f"5f2d0c7a9b1e4d3c8a6f0e1d2c3b4a{n:02d}",
            serial=f"SER{n:04d}",
            interfaces=[nic("eth0", f"52:54:00:00:00:0{n}", [(f"10.0.0.{n}", 24)])],
            packages=[
                {"name": "perl", "version": f"5.3{n}", "architecture": "amd64", "manager": "dpkg"}
            ],
            listening=[{"protocol": "tcp", "address": "0.0.0.0", "port": 5432}],
            collected_at="2026-11-20T10:00:00.000Z",
        )
        # one agent token per host: a token is bound to the host of its first report
        agent = {"Authorization": f"Bearer {control.create_token('agent', name)[1]}"}
        r = await client.post("/api/v1/reports", json=report, headers=agent)
        assert r.status == 201, await r.text()
        ids.append((await r.json())["ci_id"])
    yield client, tokens, ids
    await client.close()


@pytest.mark.asyncio
async def test_curation_api_contract(api):
    client, tokens, (db1, db2) = api
    assert db1 != db2
    editor, reader = tokens["editor"], tokens["reader"]
    # ambiguous: two perl builds; 422 lists both
    r = await client.post(
        "/api/v1/relationships",
        json={"type": "RUNS_ON", "from": {"class": "Software", "name": "perl"}, "to": db1},
        headers=editor,
    )
    assert r.status == 422
    error = (await r.json())["error"]
    assert sorted(c["version"] for c in error["candidates"]) == ["5.31", "5.32"]
    body = {
        "type": "RUNS_ON",
        "from": {"class": "Software", "name": "perl", "version": "5.31"},
        "to": {"class": "Host", "name": "db1"},
    }
    r = await client.post("/api/v1/relationships", json=body, headers=editor)
    assert r.status == 201, await r.text()
    assert (await client.post("/api/v1/relationships", json=body, headers=editor)).status == 200
    assert (await client.post("/api/v1/relationships", json=body, headers=reader)).status == 403
    r = await client.get(f"/api/v1/relationships?ci={db1}", headers=reader)
    assert (await r.json())["total"] == 1
    r = await client.delete("/api/v1/relationships", json=body, headers=editor)
    assert r.status == 200 and (await r.json())["ended_at"]

    # custom attributes: 400 with a sentence, then a filter
    r = await client.patch(f"/api/v1/cis/{db1}/custom", json={"tier": "bronze"}, headers=editor)
    assert r.status == 400 and "must be one of gold, silver" in (await r.json())["error"]["message"]
    r = await client.patch(f"/api/v1/cis/{db1}/custom", json={"tier": "gold"}, headers=editor)
    assert r.status == 200 and (await r.json())["custom"] == {"tier": "gold"}
    r = await client.get("/api/v1/custom-attributes/cis?class=Host&tier=gold", headers=reader)
    found = await r.json()
    assert found["total"] == 1 and found["items"][0]["id"] == db1
    r = await client.get("/api/v1/custom-attributes/cis?class=Host&size=9", headers=reader)
    assert r.status == 400

    # import dry run writes nothing and says what it would do
    doc = {
        "services": [
            {
                "name": "pg-prod",
                "depends_on": [
                    {
                        "group": {
                            "name": "pg",
                            "members": [
                                {"class": "Endpoint", "host": "db1", "port": 5432},
                                {"class": "Endpoint", "host": "db2", "port": 5432},
                            ],
                        }
                    }
                ],
            }
        ]
    }
    r = await client.post("/api/v1/services/import?dry_run=1", json=doc, headers=editor)
    assert r.status == 200 and (await r.json())["summary"]["members_added"] == 2
    assert (await (await client.get("/api/v1/services", headers=reader)).json())["total"] == 0
