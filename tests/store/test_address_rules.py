"""Addresses that are not unique never link hosts, on both stores (issue 10, item 4).

* the ``docker0-shared-ip`` case: two Docker hosts both hold 172.17.0.1; a connection to
  172.17.0.1 on the second host stays on that host, never reaching the first host's
  PostgreSQL;
* an address several live hosts hold at once (a VRRP virtual address) links to nothing and
  the report's answer counts it as ambiguous; once one node stops holding it, it links to
  the other;
* a retired host no longer holds its address (the staleness sweep end-dates its interface
  and address relationships, closed by the sweep), so a reused address links to its new
  holder only; a stale holder gives way to a live one.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from cmdb.graph.staleness import holding_rels
from cmdb.server.ingest import Ingestor  # noqa: F401
from cmdb.server.staleness import sweep
from tests.cases import load_case, replay
from tests.reports import ReplayIngestor, agent_report, nic

pytestmark = pytest.mark.asyncio


def iso(moment: datetime) -> str:
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


NOW = datetime.now(UTC).replace(microsecond=0)
MINUTE = timedelta(minutes=1)


def host(name, n, addresses, listening=(), connections=(), at=None):
    """An agent report of host ``name`` (identity keys numbered ``n``) with one NIC holding
    ``addresses``, listening on ``listening`` ports and with outbound ``connections``
    (remote address, remote port)."""
    return agent_report(
        hostname=name,
        system_uuid=f"4c4c4544-0042-3510-8057-b4c04f4a5e{n:02d}",
        machine_id=f"6e2d0c7a9b1e4d3c8a6f0e1d2c3b4a{n:02d}",
        serial=f"ADR{n:04d}",
        interfaces=[
            nic("lo", None, [("127.0.0.1", 8)], kind="loopback"),
            nic("eth0", f"52:54:00:00:10:{n:02x}", [(a, 24) for a in addresses]),
        ],
        packages=1,
        listening=[
            {"protocol": "tcp", "address": "0.0.0.0", "port": p, "pid": 100 + p, "process": "d"}
            for p in listening
        ],
        connections=[
            {
                "protocol": "tcp",
                "local_address": addresses[0],
                "local_port": 50000 + i,
                "remote_address": ra,
                "remote_port": rp,
                "pid": 4242,
                "process": "client",
                "status": "ESTABLISHED",
            }
            for i, (ra, rp) in enumerate(connections)
        ],
        collected_at=iso(at or NOW - timedelta(minutes=30)),
    )


async def links(store, host_id):
    """(host id of the endpoint, port) of every open CONNECTS_TO of ``host_id``."""
    return sorted(
        (v.other.attributes["host"], v.other.attributes["port"])
        for v in await store.relationships(host_id)
        if v.rel.type == "CONNECTS_TO" and v.direction == "out"
    )


# ---------------------------------------------------------------- docker0 (the case)
async def test_docker0_connection_stays_on_its_host(store):
    answers = await replay(ReplayIngestor(store), load_case("docker0-shared-ip"))
    build08 = answers["r1-build-08"]["ci_id"]
    build07 = answers["r2-build-07"]["ci_id"]
    assert build08 != build07
    # the right answer: nothing from build-07 to build-08's PostgreSQL ...
    assert build08 not in {h for h, _ in await links(store, build07)}
    # ... the connection reached build-07's own docker-proxy on 172.17.0.1:5432
    assert await links(store, build07) == [(build07, 5432)]
    assert answers["r2-build-07"]["connections"] == {
        "linked": 1,
        "unresolved": 0,
        "ambiguous": 0,
    }
    # both hosts hold the address; build-08's PostgreSQL has no client
    key = f"{build08}|tcp|5432"
    (pg,) = (await store.find_by_identity("Endpoint", "host_port", [key]))[key]
    assert [v for v in await store.relationships(pg.id) if v.rel.type == "CONNECTS_TO"] == []


async def test_docker0_address_from_a_third_host_is_ambiguous(store):
    ingestor = ReplayIngestor(store)
    await replay(ingestor, load_case("docker0-shared-ip"))
    # a host without docker0 that reaches 172.17.0.1 cannot say which Docker host it meant
    third = await ingestor.ingest(
        host("client3", 3, ["10.70.0.30"], connections=[("172.17.0.1", 5432)])
    )
    assert third["connections"] == {"linked": 0, "unresolved": 0, "ambiguous": 1}
    assert await links(store, third["ci_id"]) == []


# ---------------------------------------------------------------- VRRP virtual address
async def test_vrrp_address_held_by_both_nodes_links_nothing_until_one_lets_go(store):
    ingest = ReplayIngestor(store).ingest
    t = NOW - timedelta(minutes=50)
    lb1 = (await ingest(host("lb1", 11, ["10.30.0.11", "10.30.0.100"], [443], at=t)))["ci_id"]
    lb2 = (await ingest(host("lb2", 12, ["10.30.0.12", "10.30.0.100"], [443], at=t)))["ci_id"]
    app = await ingest(host("app", 13, ["10.30.0.50"], connections=[("10.30.0.100", 443)], at=t))
    assert app["connections"] == {"linked": 0, "unresolved": 0, "ambiguous": 1}
    assert await links(store, app["ci_id"]) == []
    # the master itself reaching the address stays on the master
    own = await ingest(
        host("lb1", 11, ["10.30.0.11", "10.30.0.100"], [443], [("10.30.0.100", 443)], at=t + MINUTE)
    )
    assert own["ci_id"] == lb1 and await links(store, lb1) == [(lb1, 443)]
    # lb2 lets the address go (its interfaces section no longer has it): one holder left
    t2 = t + timedelta(minutes=10)
    await ingest(host("lb2", 12, ["10.30.0.12"], [443], at=t2))
    again = await ingest(host("app", 13, ["10.30.0.50"], connections=[("10.30.0.100", 443)], at=t2))
    assert again["connections"] == {"linked": 1, "unresolved": 0, "ambiguous": 0}
    assert await links(store, app["ci_id"]) == [(lb1, 443)]
    assert lb2 not in {h for h, _ in await links(store, app["ci_id"])}


# ---------------------------------------------------------------- retirement and reuse
async def test_retired_host_frees_its_address_for_the_new_holder(store):
    ingest = ReplayIngestor(store).ingest
    old = (await ingest(host("olddb", 21, ["10.40.0.5"], [5432], at=NOW - timedelta(days=40))))[
        "ci_id"
    ]
    counts = await sweep(store, timedelta(hours=72), timedelta(days=30), now=NOW)
    assert counts["retired"] > 0 and (await store.get_ci(old)).status == "retired"

    # the sweep end-dated the retired host's interface and address relationships, and says so
    everything = await store.relationships(old, include_ended=True)
    has_interface = [v for v in everything if v.rel.type == "HAS_INTERFACE"]
    assert len(has_interface) == 2 and all(v.rel.ended_at == iso(NOW) for v in has_interface)
    eth0 = next(v.other.id for v in has_interface if v.other.name == "eth0")
    has_ip = [v for v in await store.relationships(eth0, True) if v.rel.type == "HAS_IP"]
    assert [v.rel.ended_at for v in has_ip] == [iso(NOW)]
    entries, _ = await store.history(old, 50, 0)
    closed = [e for e in entries if e.kind == "relationship" and e.field == "HAS_INTERFACE"]
    closed = [e for e in closed if e.new is None]
    assert len(closed) == 2 and {e.source for e in closed} == {"staleness"}
    assert {e.report_id for e in closed} == {f"sweep-{iso(NOW)}"}

    # idempotent: nothing is left to close, and a second sweep changes nothing
    retired = await store.get_cis([old, eth0])
    assert await holding_rels(store, list(retired.values())) == {}
    assert await sweep(store, timedelta(hours=72), timedelta(days=30), now=NOW) == {
        "stale": 0,
        "retired": 0,
    }

    # a new server takes the address; a client's connection reaches it, and only it
    new = (await ingest(host("newdb", 22, ["10.40.0.5"], [5432])))["ci_id"]
    client = await ingest(host("client", 23, ["10.40.0.60"], connections=[("10.40.0.5", 5432)]))
    assert client["connections"] == {"linked": 1, "unresolved": 0, "ambiguous": 0}
    assert await links(store, client["ci_id"]) == [(new, 5432)]
    assert (await store.get_ci(old)).status == "retired"


async def test_a_live_holder_beats_a_stale_one(store):
    ingest = ReplayIngestor(store).ingest
    old = (await ingest(host("olddb", 31, ["10.41.0.5"], [5432], at=NOW - timedelta(days=5))))[
        "ci_id"
    ]
    counts = await sweep(store, timedelta(hours=72), timedelta(days=30), now=NOW)
    assert counts["stale"] > 0 and counts["retired"] == 0
    assert (await store.get_ci(old)).status == "stale"
    # stale only: it keeps its relationships, and is still the address's one holder
    client = host("client", 33, ["10.41.0.60"], connections=[("10.41.0.5", 5432)])
    first = await ingest(client)
    assert await links(store, first["ci_id"]) == [(old, 5432)]
    # a live host reporting the address now is the better evidence
    new = (await ingest(host("newdb", 32, ["10.41.0.5"], [5432])))["ci_id"]
    later = NOW - timedelta(minutes=5)
    again = await ingest(
        host("client", 33, ["10.41.0.60"], connections=[("10.41.0.5", 5432)], at=later)
    )
    assert again["connections"] == {"linked": 1, "unresolved": 0, "ambiguous": 0}
    assert (new, 5432) in await links(store, first["ci_id"])


async def test_a_retired_host_that_reports_again_holds_its_address_again(store):
    ingest = ReplayIngestor(store).ingest
    old = (await ingest(host("olddb", 41, ["10.42.0.5"], [5432], at=NOW - timedelta(days=40))))[
        "ci_id"
    ]
    await sweep(store, timedelta(hours=72), timedelta(days=30), now=NOW)
    assert (await store.get_ci(old)).status == "retired"
    back = await ingest(host("olddb", 41, ["10.42.0.5"], [5432], at=NOW - timedelta(minutes=20)))
    assert back["ci_id"] == old and (await store.get_ci(old)).status == "live"
    held = await store.relationships(old)
    names = sorted(v.other.name for v in held if v.rel.type == "HAS_INTERFACE")
    assert names == ["eth0", "lo"]
    client = await ingest(host("client", 43, ["10.42.0.60"], connections=[("10.42.0.5", 5432)]))
    assert await links(store, client["ci_id"]) == [(old, 5432)]
