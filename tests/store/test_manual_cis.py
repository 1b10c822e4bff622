"""CIs declared by hand (a host or application discovery cannot see), on both stores:
created with history and source manual, never a duplicate (by name, short name against
FQDN, or identity value), adopted by the first agent report or SNMP scan that names them,
never marked stale while only people know them, retired by hand with their declared
relationships, and reached by impact through those relationships."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from cmdb.server.catalogue import CatalogueError, custom, manual_cis, relationships, services
from cmdb.server.catalogue.impact import impact
from cmdb.server.catalogue.writes import ManualWriter
from cmdb.server.staleness import sweep
from tests.reports import ReplayIngestor, agent_report, nic, switch_scan

pytestmark = pytest.mark.asyncio

T0 = datetime(2026, 11, 20, 10, 0, tzinfo=UTC)
DECLS = custom.parse_declarations({"Host": {"tier": {"type": "string", "allowed": ["gold"]}}})


def iso(moment: datetime) -> str:
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def host(name: str, n: int, at: datetime = T0, packages=2):
    return agent_report(
        hostname=name,
        system_uuid=f"4c4c4544-0042-3510-8057-b4c04f4a4d{n:02d}",
        machine_id=f"5f2d0c7a9b1e4d3c8a6f0e1d2c3b4a{n:02d}",
        serial=f"SER{n:04d}",
        interfaces=[nic("eth0", f"52:54:00:00:00:{n:02x}", [(f"10.20.0.{n}", 24)])],
        packages=packages,
        collected_at=iso(at),
    )


def switch(name: str, address: str, at: datetime = T0) -> dict:
    """An SNMP scan of a switch (no LLDP, no bridge: identified by its address alone)."""
    return switch_scan(name, address, iso(at))


async def ingest(store, report) -> dict:
    return await ReplayIngestor(store).ingest(report)


async def declare(store, cls, name, attributes=None, actor="alice") -> dict:
    body = {"class": cls, "name": name}
    if attributes is not None:
        body["attributes"] = attributes
    return await manual_cis.create(store, body, DECLS, actor)


async def refused(status: int, call) -> CatalogueError:
    with pytest.raises(CatalogueError) as err:
        await call
    assert err.value.status == status, err.value.message
    return err.value


# ---------------------------------------------------------------- create
async def test_a_declared_host_has_source_manual_and_a_created_entry(store):
    made = await declare(store, "Host", "legacy01", {"os_name": "AIX", "custom": {"tier": "gold"}})
    assert made["class"] == "Host" and made["name"] == "legacy01" and made["status"] == "live"
    assert made["sources"] == ["manual"] and made["relationships"] == []
    assert made["attributes"] == {
        "hostname": "legacy01",
        "os_name": "AIX",
        "custom": {"tier": "gold"},
    }
    ci = await store.get_ci(made["id"])
    assert ci.attr_sources == {"hostname": "manual", "os_name": "manual", "custom": "manual"}
    entries, _ = await store.history(made["id"], 10, 0)
    (created,) = entries
    assert (created.kind, created.field, created.source, created.actor) == (
        "ci",
        "created",
        "manual",
        "alice",
    )
    assert created.new == {"class": "Host", "name": "legacy01"}
    app = await declare(store, "Software", "orders-app", {"version": "4.2"})
    assert app["attributes"] == {"name": "orders-app", "version": "4.2"}
    device = await declare(store, "NetworkDevice", "core-fw1")
    assert device["attributes"] == {"sys_name": "core-fw1"}


async def test_bodies_the_class_does_not_take_are_refused(store):
    err = await refused(422, declare(store, "Host", "x1", {"colour": "red", "os_name": "AIX"}))
    assert err.extra["unknown"] == ["colour"] and "os_name" in err.extra["allowed"]
    assert "Host has no attribute 'colour'; it takes" in err.message
    err = await refused(422, declare(store, "Host", "x1", {"hostname": "x2"}))
    assert "give it once, as name" in err.message
    err = await refused(422, declare(store, "Host", "x1", {"cpu_cores": [1, 2]}))
    assert "$.attributes.cpu_cores must be a string, a number" in err.message
    err = await refused(400, declare(store, "Host", "x1", {"custom": {"tier": "tin"}}))
    assert "must be one of gold" in err.message
    err = await refused(400, declare(store, "Host", "x1", {"custom": {"rack": 2}}))
    assert "not a custom attribute of Host; it takes tier" in err.message
    err = await refused(400, declare(store, "Interface", "eth0"))
    assert "Host, NetworkDevice, Software" in err.message
    await refused(400, manual_cis.create(store, {"class": "Host", "name": " "}, DECLS, "a"))
    # names people read: visible characters; a host's is a host name; its FQDN is its own
    for name, words in (
        ("evil\x1b[2Jred", "U+001B"),
        ("ab\u200bc", "U+200B (ZERO WIDTH SPACE)"),
        ("x12\x00z", "U+0000"),
    ):
        err = await refused(422, declare(store, "Software", name))
        assert words in err.message and "visible characters only" in err.message, err.message
    for name in ("a b", "a/b", "x..y", ".lead", "-x", "x-.example", "x" * 64):
        err = await refused(422, declare(store, "Host", name))
        assert "is not a host name" in err.message, (name, err.message)
    err = await refused(422, declare(store, "Host", "legacy02.example.com", {"fqdn": "l3.x.org"}))
    assert "names another host than $.name" in err.message
    err = await refused(422, declare(store, "Host", "x1", {"os_name": "AIX\u202e"}))
    assert err.extra["field"] == "$.attributes.os_name"
    # values as discovery writes them: what each attribute takes is said
    for attributes, words in (
        ({"cpu_cores": "eight"}, "takes a whole number of at least 0"),
        ({"cpu_cores": -5}, "takes a whole number of at least 0"),
        ({"primary_mac": "notamac"}, "takes a MAC address"),
        ({"management_ip": "999.1.1.1"}, "takes an IPv4 or IPv6 address"),
        ({"system_uuid": "xyz"}, "takes a UUID"),
        ({"os_name": 1.5e300}, "takes text"),
        ({"gateways": True}, "is written by discovery only"),
    ):
        err = await refused(422, declare(store, "Host", "x1", attributes))
        assert words in err.message, (attributes, err.message)
    assert (await store.list_cis("Host", None, 10, 0))[1] == 0  # nothing written
    made = await declare(
        store,
        "Host",
        "web_01.dc-1.example.com.",
        {"primary_mac": "02FC.AABB.CCDD", "management_ip": "2001:DB8::0:1", "cpu_cores": 8},
    )
    assert made["attributes"]["primary_mac"] == "02:fc:aa:bb:cc:dd"
    assert made["attributes"]["management_ip"] == "2001:db8::1"


async def test_duplicates_by_name_short_name_and_identity_are_409(store):
    db1 = (await ingest(store, host("db1", 1)))["ci_id"]
    for name in ("db1", "DB1", "db1.example.net", "db1.other.org"):
        err = await refused(409, declare(store, "Host", name))
        (cand,) = err.extra["candidates"]
        assert (cand["id"], cand["class"], cand["name"], cand["status"]) == (
            db1,
            "Host",
            "db1",
            "live",
        )
        assert cand["sources"] == ["agent"] and cand["matched"] == "name"
        assert "exists already" in err.message and "declare relationships to it" in err.message
    # a serial (manufacturer + serial) another host holds, whatever the name
    err = await refused(
        409, declare(store, "Host", "spare7", {"manufacturer": "Dell Inc.", "serial": "SER0001"})
    )
    (cand,) = err.extra["candidates"]
    assert cand["id"] == db1 and cand["matched"].startswith("identity serial_key=")
    # a manual CI is a CI like any other: declared twice is a duplicate too
    first = await declare(store, "Host", "legacy01.corp.example")
    err = await refused(409, declare(store, "Host", "legacy01", actor="bob"))
    assert [c["id"] for c in err.extra["candidates"]] == [first["id"]]
    assert err.extra["candidates"][0]["sources"] == ["manual"]
    # two FQDNs that differ name two machines; a longer name is not the same name
    await declare(store, "Host", "legacy01.other.example")
    await declare(store, "Host", "db10")
    # an application: a package of that name, any version
    await ingest(
        store, host("app1", 3, packages=[{"name": "perl", "version": "5.36", "manager": "dpkg"}])
    )
    err = await refused(409, declare(store, "Software", "PERL"))
    assert [c["name"] for c in err.extra["candidates"]] == ["perl"]
    # a retired CI is no duplicate: its name can be declared again
    retired = await manual_cis.retire(store, first["id"], "alice")
    assert retired["status"] == "retired"
    again = await declare(store, "Host", "legacy01.corp.example")
    assert again["id"] != first["id"]


async def test_a_declared_identity_value_is_found_by_ordinary_identification(store):
    made = await declare(
        store, "Host", "rack-b7", {"manufacturer": "Dell Inc.", "serial": "SER0042"}
    )
    assert (await store.get_ci(made["id"])).identity == {"serial_key": "Dell Inc.|SER0042"}
    answer = await ingest(store, host("db42", 42))  # another name, the same serial
    assert answer["ci_id"] == made["id"] and not answer["created"]
    assert any("serial_key" in line and "matched" in line for line in answer["identification"])
    ci = await store.get_ci(made["id"])
    assert ci.sources == ["agent", "manual"]


# ---------------------------------------------------------------- adoption
async def test_an_agent_report_adopts_the_declared_host(store):
    placeholder = await declare(store, "Host", "web7", {"os_name": "Debian"})
    app = await declare(store, "Software", "shop")
    runs, _ = await relationships.declare(
        store, {"type": "RUNS_ON", "from": app["id"], "to": placeholder["id"]}, "alice"
    )
    answer = await ingest(store, host("web7", 7))
    assert answer["ci_id"] == placeholder["id"] and not answer["created"]
    assert any("manual placeholder by name" in line for line in answer["identification"])
    ci = await store.get_ci(placeholder["id"])
    assert ci.sources == ["agent", "manual"] and ci.status == "live"
    assert ci.identity["system_uuid"] and ci.attributes["os_version"] == "12"
    assert ci.attributes["os_name"] == "Debian"  # set by hand: manual outranks the agent
    (hosts, total) = await store.list_cis("Host", None, 10, 0)
    assert total == 1
    declared = await relationships.declared_of(store, placeholder["id"])
    assert [(r["id"], r["ended_at"]) for r in declared] == [(runs["id"], None)]
    # the next report is the steady state of the same CI
    again = await ingest(store, host("web7", 7, at=T0 + timedelta(hours=1)))
    assert again["ci_id"] == placeholder["id"] and again["status"] in ("unchanged", "applied")
    # and the CI is discovery's now: not retired by hand
    err = await refused(409, manual_cis.retire(store, placeholder["id"], "alice"))
    assert "discovery owns this CI" in err.message and "agent" in err.message


async def test_a_report_by_fqdn_adopts_a_host_declared_by_its_fqdn(store):
    placeholder = await declare(store, "Host", "web8.example.net")
    answer = await ingest(store, host("web8", 8))  # hostname web8, fqdn web8.example.net
    assert answer["ci_id"] == placeholder["id"]


async def test_a_short_name_adopts_a_placeholder_declared_by_its_fqdn(store):
    """A scan reads sysName "core-fw2"; the engineer declared the device by its FQDN. Two
    different FQDNs stay two machines."""
    placeholder = await declare(store, "NetworkDevice", "core-fw2.corp.example")
    other = await declare(store, "NetworkDevice", "core-fw3.corp.example")
    answer = await ingest(store, switch("core-fw2", "10.9.0.2"))
    assert answer["ci_id"] == placeholder["id"], answer["identification"]
    answer = await ingest(store, switch("core-fw3.lab.example", "10.9.0.4"))
    assert answer["ci_id"] != other["id"] and answer["created"]


async def test_a_scan_adopts_the_declared_network_device(store):
    placeholder = await declare(store, "NetworkDevice", "acc-sw-3", {"tier": "access"})
    answer = await ingest(store, switch("ACC-SW-3.corp.example", "10.9.0.3"))
    assert answer["ci_id"] == placeholder["id"]
    ci = await store.get_ci(placeholder["id"])
    assert ci.sources == ["manual", "snmp"] and ci.attributes["tier"] == "access"
    assert ci.identity["identity_address"] == "10.9.0.3"


async def test_no_guessing_between_placeholders_nor_over_a_contradicting_key(store):
    # two placeholders with one name (an import could write them): the report makes its own CI
    writer = ManualWriter("importer")
    twins = [writer.create_ci("Host", {"hostname": "web9"}) for _ in range(2)]
    await store.apply(writer.cs)
    answer = await ingest(store, host("web9", 9))
    assert answer["created"] and answer["ci_id"] not in {t.id for t in twins}
    assert any("2 manual placeholders" in line for line in answer["identification"])
    for twin in twins:
        assert (await store.get_ci(twin.id)).sources == ["manual"]
    # a placeholder whose serial says it is another machine is not adopted
    other = await declare(
        store, "Host", "web10", {"manufacturer": "Dell Inc.", "serial": "OTHER-10"}
    )
    answer = await ingest(store, host("web10", 10))
    assert answer["created"] and answer["ci_id"] != other["id"]
    assert any("its key differs" in line for line in answer["identification"])
    # a discovered CI is never a placeholder, and a retired placeholder is not adopted
    gone = await declare(store, "Host", "web11")
    await manual_cis.retire(store, gone["id"], "alice")
    answer = await ingest(store, host("web11", 11))
    assert answer["created"] and answer["ci_id"] != gone["id"]


# ---------------------------------------------------------------- staleness
async def test_the_sweep_leaves_hosts_only_people_know_live(store):
    manual = await declare(store, "Host", "legacy01")
    app = await declare(store, "Software", "orders-app")
    adopted = await declare(store, "Host", "web7")
    await ingest(store, host("web7", 7, at=T0))
    for days in (5, 60):
        await sweep(store, timedelta(hours=72), timedelta(days=30), now=T0 + timedelta(days=days))
    assert (await store.get_ci(manual["id"])).status == "live"
    assert (await store.get_ci(app["id"])).status == "live"
    # reported by the agent once, it ages like any discovered CI
    assert (await store.get_ci(adopted["id"])).status == "retired"


# ---------------------------------------------------------------- retire
async def test_retiring_closes_the_declared_relationships(store):
    legacy = await declare(store, "Host", "legacy01")
    app = await declare(store, "Software", "orders-app")
    db1 = (await ingest(store, host("db1", 1)))["ci_id"]
    db2 = (await ingest(store, host("db2", 2)))["ci_id"]
    await relationships.declare(
        store, {"type": "RUNS_ON", "from": app["id"], "to": legacy["id"]}, "alice"
    )
    await relationships.declare(
        store,
        {
            "type": "DEPENDS_ON",
            "from": legacy["id"],
            "group": {"name": "pg", "min": 1, "members": [db1, db2]},
        },
        "alice",
    )
    done = await manual_cis.retire(store, legacy["id"], "bob")
    assert done["status"] == "retired" and done["id"] == legacy["id"]
    kinds = sorted(
        (r["type"], r["from"]["name"], r["to"]["name"]) for r in done["closed_relationships"]
    )
    assert kinds == [
        ("DEPENDS_ON", "legacy01", "pg"),
        ("DEPENDS_ON", "pg", "db1"),
        ("DEPENDS_ON", "pg", "db2"),
        ("RUNS_ON", "orders-app", "legacy01"),
    ]
    assert (await store.get_ci(legacy["id"])).status == "retired"
    assert await relationships.declared_of(store, legacy["id"]) == []
    ended = await relationships.declared_of(store, legacy["id"], include_ended=True)
    assert len(ended) == 2 and all(r["ended_at"] for r in ended)
    entries, _ = await store.history(legacy["id"], 50, 0)
    status = [e for e in entries if e.kind == "ci" and e.field == "status"]
    assert [(e.old, e.new, e.actor, e.source) for e in status] == [
        ("live", "retired", "bob", "manual")
    ]
    closed = [e for e in entries if e.kind == "relationship" and e.field == "RUNS_ON"]
    assert any(e.actor == "bob" for e in closed), [(e.old, e.new, e.actor) for e in closed]
    group = (await store.list_cis("RedundancyGroup", None, 10, 0))[0][0]
    assert group.status == "retired"
    # a retired CI takes no new relationships, from either end
    for body in (
        {"type": "RUNS_ON", "from": app["id"], "to": legacy["id"]},
        {"type": "DEPENDS_ON", "from": legacy["id"], "to": db1},
    ):
        err = await refused(422, relationships.declare(store, body, "alice"))
        assert "is retired and takes no new relationships" in err.message, err.message
    # again: nothing more to do
    again = await manual_cis.retire(store, legacy["id"], "bob")
    assert again["status"] == "retired" and again["closed_relationships"] == []
    assert again["already_retired"] and not done["already_retired"]
    # the reply is the CI as stored after the retirement, times included
    stored = (await store.get_ci(legacy["id"])).to_api()
    assert {k: done[k] for k in stored} == stored
    # the discovered hosts keep their status; unknown ids and other classes are refused
    assert (await store.get_ci(db1)).status == "live"
    err = await refused(409, manual_cis.retire(store, db1, "bob"))
    assert (
        err.message.startswith("discovery owns this CI")
        and "retired when no longer seen" in err.message
    )
    await refused(404, manual_cis.retire(store, "no-such-ci", "bob"))
    svc = await services.create_service(store, {"name": "orders"}, "alice")
    err = await refused(409, manual_cis.retire(store, svc["id"], "bob"))
    assert "DELETE /api/v1/services/{id}" in err.message


# ---------------------------------------------------------------- impact
async def test_impact_reaches_an_application_on_a_declared_host(store):
    legacy = await declare(store, "Host", "legacy01")
    app = await declare(store, "Software", "orders-app")
    await relationships.declare(
        store,
        {
            "type": "RUNS_ON",
            "from": {"class": "Software", "name": "orders-app"},
            "to": {"class": "Host", "name": "legacy01"},
        },
        "alice",
    )
    await services.create_service(
        store, {"name": "orders", "depends_on": [{"ci": app["id"]}]}, "alice"
    )
    result = await impact(store, [legacy["id"]])
    states = {c["id"]: c["state"] for c in result["cis"]}
    assert states.get(app["id"]) == "down"
    assert [(s["name"], s["state"]) for s in result["services"]] == [("orders", "down")]
