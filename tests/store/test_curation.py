"""Curated knowledge beside discovered facts, on both stores: exact catalogue references
(names, endpoints by host and port, addresses, serials; ambiguity answered with the
candidates), import dry runs that count membership changes, declared relationships that
discovery never closes, and custom attributes declared in config."""

from __future__ import annotations

import pytest

from cmdb.server.catalogue import CatalogueError, custom, manual_cis, relationships, services
from cmdb.server.catalogue.impact import impact
from cmdb.server.catalogue.refs import Resolver
from tests.reports import ReplayIngestor, agent_report, nic

pytestmark = pytest.mark.asyncio

T0 = "2026-11-20T10:00:00.000Z"
T1 = "2026-11-21T10:00:00.000Z"


def pkg(name, version):
    return {"name": name, "version": version, "architecture": "amd64", "manager": "dpkg"}


# 60 packages whose names contain "perl", so a capped 'contains' search would miss "perl"
PERLISH = [pkg(f"libperl-module{i:02d}-perl", "1.0") for i in range(60)]


def host(name, n, ip, ports=(), pkgs=(), at=T0):
    return agent_report(
        hostname=name,
        system_uuid=f"4c4c4544-0042-3510-8057-b4c04f4a4d{n:02d}",
        machine_id=f"5f2d0c7a9b1e4d3c8a6f0e1d2c3b4a{n:02d}",
        serial=f"SER{n:04d}",
        interfaces=[nic("eth0", f"52:54:00:00:00:{n:02x}", [(ip, 24)])],
        packages=list(pkgs),
        listening=[
            {"protocol": "tcp", "address": "0.0.0.0", "port": p, "pid": 100 + p, "process": proc}
            for p, proc in ports
        ],
        collected_at=at,
    )


async def ingest(store, report):
    return (await ReplayIngestor(store).ingest(report))["ci_id"]


async def fleet(store):
    return {
        "db1": await ingest(
            store,
            host("db1", 1, "10.20.0.11", [(5432, "postgres")], [*PERLISH, pkg("perl", "5.36.0-7")]),
        ),
        "db2": await ingest(store, host("db2", 2, "10.20.0.12", [(5432, "postgres")])),
        "web9": await ingest(store, host("web9", 9, "10.20.0.99", [(80, "nginx")])),
    }


# ---------------------------------------------------------------- references
async def test_references_resolve_exactly(store):
    ids = await fleet(store)
    resolve = Resolver(store).resolve
    perl = await resolve({"class": "Software", "name": "perl"}, "$.ci")
    assert (perl.name, perl.attributes["version"]) == ("perl", "5.36.0-7")
    ep = await resolve({"class": "Endpoint", "host": "db2", "port": 5432}, "$.ci")
    assert ep.attributes["host"] == ids["db2"]
    assert (await resolve({"class": "Host", "address": "10.20.0.12"}, "$.ci")).id == ids["db2"]
    assert (await resolve({"class": "Host", "serial": "SER0009"}, "$.ci")).id == ids["web9"]
    assert (await resolve({"class": "Host", "name": "DB1"}, "$.ci")).id == ids["db1"]
    ip = await resolve({"class": "IPAddress", "address": "10.20.0.11"}, "$.ci")
    assert ip.cls == "IPAddress"
    # a host's short name against its FQDN, both ways; another domain is another host
    assert (await resolve({"class": "Host", "name": "DB1.example.net"}, "$.ci")).id == ids["db1"]
    legacy = await manual_cis.create(
        store, {"class": "Host", "name": "legacy9.corp.example"}, {}, "alice"
    )
    assert (await resolve({"class": "Host", "name": "LEGACY9"}, "$.ci")).id == legacy["id"]
    with pytest.raises(CatalogueError) as err:
        await resolve({"class": "Host", "name": "db1.other.org"}, "$.x")
    assert err.value.status == 422 and "no Host named 'db1.other.org'" in err.value.message
    with pytest.raises(CatalogueError) as err:
        await resolve({"class": "Software", "name": "perl5"}, "$.x")
    assert err.value.status == 422 and "no Software named 'perl5'" in err.value.message
    with pytest.raises(CatalogueError) as err:
        await resolve({"class": "Endpoint", "host": "db3", "port": 5432}, "$.x")
    assert err.value.status == 422 and "$.x.host" in err.value.message


async def test_ambiguous_reference_lists_the_candidates(store):
    await fleet(store)
    await ingest(store, host("app1", 3, "10.20.0.21", pkgs=[pkg("perl", "5.32.1-4")]))
    with pytest.raises(CatalogueError) as err:
        await Resolver(store).resolve({"class": "Software", "name": "perl"}, "$.ci")
    assert err.value.status == 422
    versions = sorted(c["version"] for c in err.value.extra["candidates"])
    assert versions == ["5.32.1-4", "5.36.0-7"]
    assert "perl 5.32.1-4" in err.value.message and "version" in err.value.message
    old = await Resolver(store).resolve(
        {"class": "Software", "name": "perl", "version": "5.32.1-4"}, "$.ci"
    )
    assert old.attributes["version"] == "5.32.1-4"


# ---------------------------------------------------------------- catalogue import
async def test_import_dry_run_and_membership_counts(store):
    await fleet(store)
    doc = {
        "services": [
            {
                "name": "pg-prod",
                "depends_on": [
                    {
                        "group": {
                            "name": "pg",
                            "min": 1,
                            "members": [
                                {"class": "Endpoint", "host": "db1", "port": 5432},
                                {"class": "Endpoint", "host": "db2", "port": 5432},
                            ],
                        }
                    },
                    {"ci": {"class": "Software", "name": "perl"}},
                ],
            }
        ]
    }
    dry = await services.import_services(store, doc, "ci-bot", dry_run=True)
    assert dry["dry_run"] and dry["created"] == ["pg-prod"]
    assert dry["summary"]["members_added"] == 2 and dry["summary"]["dependencies_added"] == 1
    assert (await store.list_cis("Service", None, 10, 0))[1] == 0  # nothing written
    done = await services.import_services(store, doc, "ci-bot")
    assert len(done["created"]) == 1 and done["summary"]["groups_added"] == 1
    # swap db2's endpoint for web9's host: a membership change, not "0 updated"
    doc["services"][0]["depends_on"][0]["group"]["members"][1] = {"class": "Host", "name": "web9"}
    preview = await services.import_services(store, doc, "ci-bot", dry_run=True)
    (change,) = preview["changes"]
    assert change["action"] == "update"
    assert sorted((d["change"], d["member"]["name"]) for d in change["diff"]) == [
        ("member added", "web9"),
        ("member removed", "tcp/5432 (postgres)"),
    ]
    applied = await services.import_services(store, doc, "ci-bot")
    assert applied["summary"]["services_updated"] == 1 and applied["updated"] == [
        done["created"][0]
    ]
    assert (applied["summary"]["members_added"], applied["summary"]["members_removed"]) == (1, 1)
    again = await services.import_services(store, doc, "ci-bot")
    assert again["summary"]["services_unchanged"] == 1 and again["changes"] == []


# ---------------------------------------------------------------- declared relationships
async def test_declared_relationships_survive_discovery(store):
    ids = await fleet(store)
    app = await ingest(store, host("app1", 3, "10.20.0.21", [(8080, "java")]))
    record, created = await relationships.declare(
        store,
        {
            "type": "DEPENDS_ON",
            "from": {"class": "Host", "name": "app1"},
            "group": {"name": "pg", "min": 1, "members": [ids["db1"], ids["db2"]]},
        },
        "alice",
    )
    assert created and record["group"]["min"] == 1 and record["sources"] == ["manual"]
    assert sorted(m["name"] for m in record["group"]["members"]) == ["db1", "db2"]
    runs, created = await relationships.declare(
        store,
        {
            "type": "RUNS_ON",
            "from": {"class": "Endpoint", "host": "app1", "port": 8080},
            "to": {"class": "Host", "name": "web9"},
        },
        "alice",
    )
    assert created and runs["from"]["host"] == "app1" and runs["to"]["name"] == "web9"
    _, again = await relationships.declare(
        store,
        {
            "type": "RUNS_ON",
            "from": {"class": "Endpoint", "host": "app1", "port": 8080},
            "to": ids["web9"],
        },
        "alice",
    )
    assert not again
    with pytest.raises(CatalogueError) as err:
        await relationships.declare(
            store,
            {"type": "HOSTED_ON", "from": ids["db1"], "to": {"class": "Software", "name": "perl"}},
            "a",
        )
    assert err.value.status == 422 and "cannot end at a Software" in err.value.message

    # app1 and web9 report again, with nothing that mentions the declarations
    await ingest(store, host("app1", 3, "10.20.0.21", [(8080, "java")], at=T1))
    await ingest(store, host("web9", 9, "10.20.0.99", [(80, "nginx")], at=T1))
    declared = await relationships.declared_of(store, app)
    assert [r["type"] for r in declared] == ["DEPENDS_ON"] and declared[0]["ended_at"] is None
    assert len(await relationships.declared_of(store, ids["web9"])) == 1
    entries, _ = await store.history(app, 100, 0)
    opened = [e for e in entries if e.kind == "relationship" and e.field == "DEPENDS_ON"]
    assert opened and opened[0].source == "manual" and opened[0].actor == "alice"

    both = await impact(store, [ids["db1"], ids["db2"]])
    assert {c["id"]: c["state"] for c in both["cis"]}.get(app) == "down"

    removed = await relationships.remove(
        store,
        {"type": "DEPENDS_ON", "from": app, "group": {"name": "pg"}},
        "bob",
    )
    assert removed["ended_at"] is not None
    assert await relationships.declared_of(store, app) == []
    assert len(await relationships.declared_of(store, app, include_ended=True)) == 1


# ---------------------------------------------------------------- custom attributes
DECLS = custom.parse_declarations(
    {
        "Host": {
            "tier": {"type": "string", "allowed": ["gold", "silver"]},
            "rack_units": {"type": "integer"},
        }
    }
)


async def test_custom_attributes_validated_filterable_with_history(store):
    ids = await fleet(store)
    done = await custom.set_values(
        store, ids["db1"], {"tier": "gold", "rack_units": 2}, DECLS, "al"
    )
    assert done["custom"] == {"tier": "gold", "rack_units": 2}
    await custom.set_values(store, ids["db2"], {"tier": "silver"}, DECLS, "al")
    for body, words in (
        ({"tier": "platinum"}, "must be one of gold, silver"),
        ({"rack_units": "2"}, "must be an integer"),
        ({"colour": "red"}, "not a custom attribute of Host; it takes rack_units, tier"),
    ):
        with pytest.raises(CatalogueError) as err:
            await custom.set_values(store, ids["web9"], body, DECLS, "al")
        assert err.value.status == 400 and words in err.value.message
    with pytest.raises(CatalogueError):
        await custom.set_values(store, ids["db1"], {"tier": "x"}, DECLS, "al")

    gold, total = await custom.find(store, DECLS, "Host", {"tier": "gold"}, None, 10, 0)
    assert total == 1 and gold[0]["id"] == ids["db1"]
    filters = custom.parse_filters(DECLS, "Host", {"rack_units": "2"})
    assert (await custom.find(store, DECLS, "Host", filters, None, 10, 0))[1] == 1

    await custom.set_values(store, ids["db1"], {"tier": "silver", "rack_units": None}, DECLS, "bo")
    await ingest(store, host("db1", 1, "10.20.0.11", [(5432, "postgres")], at=T1))
    db1 = await store.get_ci(ids["db1"])
    assert db1.attributes["custom"] == {"tier": "silver"}  # discovery leaves it alone
    entries, _ = await store.history(ids["db1"], 200, 0)
    changes = [(e.old, e.new, e.actor) for e in entries if e.field == "custom"]
    assert changes[0] == ({"tier": "gold", "rack_units": 2}, {"tier": "silver"}, "bo")
    assert changes[-1] == (None, {"tier": "gold", "rack_units": 2}, "al")
