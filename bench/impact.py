"""Impact of a core switch on a synthetic data centre of 100k+ CIs, on SQLite and Neo4j.

    .venv/bin/python bench/impact.py [--hosts 12000] [--runs 30] [--neo4j-uri bolt://...
                                     --neo4j-password-file DIR/password] [--skip-neo4j]

Topology (two core switches, each with 24 access switches of 48 ports; hosts
patched into access ports; every host has 2 NICs, 1 IP, 2 listening endpoints
and 8 installed packages from a shared pool; app hosts CONNECTS_TO database
endpoints; technical services depend on 2-of-3 host groups plus one host,
business services on three technical services):

    core -HAS_INTERFACE-> core port <-CONNECTED_TO- access switch
    access switch -HAS_INTERFACE-> access port <-CONNECTED_TO- host

CONNECTED_TO is read here as "the device depends on the port it is patched
into" and added to the inbound impact types for this benchmark (the schema's
impact types do not walk layer-2 links); everything above the hosts uses the
schema's IMPACT_INBOUND/IMPACT_OUTBOUND as the API does. The graph is loaded
with big change sets (one batched statement per class or relationship type)
without history. Timing covers the whole ``POST /api/v1/impact`` computation
minus HTTP: the store walk, the group and service reads, k-of-n propagation
and the paths.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from graph.queries import impact_walk  # noqa: E402
from graph.schema import CLASSES, IMPACT_INBOUND, IMPACT_OUTBOUND  # noqa: E402
from graph.store import CI, ChangeSet, Rel  # noqa: E402
from server.catalogue import impact as impact_mod  # noqa: E402
from server.reconcile.identify import identity_values  # noqa: E402

AT = "2026-11-28T00:00:00.000Z"
INBOUND = (*IMPACT_INBOUND, "CONNECTED_TO")


class Graph:
    def __init__(self) -> None:
        self.cis: list[CI] = []
        self.rels: list[Rel] = []

    def ci(self, cls: str, **attrs) -> str:
        ci_id = str(uuid.uuid4())
        name = attrs.get(CLASSES[cls].name_attr)
        self.cis.append(
            CI(
                id=ci_id,
                cls=cls,
                name=None if name is None else str(name),
                first_seen=AT,
                last_seen=AT,
                sources=["bench"],
                attributes=attrs,
                attr_sources=dict.fromkeys(attrs, "bench"),
                identity=identity_values(CLASSES[cls], attrs),
            )
        )
        return ci_id

    def rel(self, rel_type: str, src: str, dst: str) -> None:
        self.rels.append(Rel(str(uuid.uuid4()), rel_type, src, dst, AT, AT, sources=["bench"]))


def build(hosts: int, seed: int = 7) -> tuple[Graph, str]:
    rng = random.Random(seed)
    g = Graph()
    packages = [g.ci("Software", name=f"pkg{i}", version="1.0", arch="amd64") for i in range(3000)]
    host_ids: list[str] = []
    db_endpoints: list[str] = []
    cores = []
    per_core = hosts // 2
    for c in range(2):
        core = g.ci("NetworkDevice", sys_name=f"core{c}", lldp_chassis_id=f"00:00:00:00:0{c}:00")
        cores.append(core)
        for a in range(24):
            cport = g.ci("Interface", parent=core, name=f"Te1/0/{a}")
            g.rel("HAS_INTERFACE", core, cport)
            access = g.ci(
                "NetworkDevice",
                sys_name=f"acc{c}-{a}",
                lldp_chassis_id=f"00:00:00:01:{c:02x}:{a:02x}",
            )
            g.rel("CONNECTED_TO", access, cport)
            ports = []
            for p in range(48):
                port = g.ci("Interface", parent=access, name=f"Gi1/0/{p}")
                g.rel("HAS_INTERFACE", access, port)
                ports.append(port)
            for h in range(per_core // 24):
                n = len(host_ids)
                hid = g.ci("Host", hostname=f"h{n}", system_uuid=str(uuid.UUID(int=n + 1)))
                host_ids.append(hid)
                g.rel("CONNECTED_TO", hid, ports[h % 48])
                for k in range(2):
                    nic = g.ci("Interface", parent=hid, name=f"eth{k}")
                    g.rel("HAS_INTERFACE", hid, nic)
                    if k == 0:
                        ip = g.ci(
                            "IPAddress",
                            address=f"10.{n >> 16}.{(n >> 8) & 255}.{n & 255}",
                            net_scope="global",
                        )
                        g.rel("HAS_IP", nic, ip)
                for port in (22, 5432 if n % 10 == 0 else 8080):
                    ep = g.ci("Endpoint", host=hid, protocol="tcp", port=port)
                    g.rel("LISTENS_ON", hid, ep)
                    if port == 5432:
                        db_endpoints.append(ep)
                for pkg in rng.sample(packages, 8):
                    g.rel("INSTALLED", hid, pkg)
    for n, hid in enumerate(host_ids):
        if n % 10 in (1, 2):
            g.rel("CONNECTS_TO", hid, rng.choice(db_endpoints))
    technical = []
    for s in range(600):
        sid = g.ci(
            "Service", name=f"tech{s}", kind="technical", criticality="high", owner=f"team{s % 40}"
        )
        technical.append(sid)
        group = g.ci("RedundancyGroup", service=sid, name="pool", min=2)
        g.rel("DEPENDS_ON", sid, group)
        for hid in rng.sample(host_ids, 3):
            g.rel("DEPENDS_ON", group, hid)
        g.rel("DEPENDS_ON", sid, rng.choice(host_ids))
    for b in range(150):
        bid = g.ci("Service", name=f"biz{b}", kind="business", criticality="critical", owner="biz")
        for sid in rng.sample(technical, 3):
            g.rel("DEPENDS_ON", bid, sid)
    return g, cores[0]


async def load(store, g: Graph, chunk: int = 20_000) -> float:
    started = time.perf_counter()
    for i in range(0, len(g.cis), chunk):
        cs = ChangeSet(report_id=f"bench-ci-{i}", source="bench", at=AT, record_report=False)
        cs.create_cis = g.cis[i : i + chunk]
        await store.apply(cs)
    for i in range(0, len(g.rels), chunk):
        cs = ChangeSet(report_id=f"bench-rel-{i}", source="bench", at=AT, record_report=False)
        cs.create_rels = g.rels[i : i + chunk]
        await store.apply(cs)
    return time.perf_counter() - started


async def impact_of(store, start: list[str], depth: int) -> dict:
    """``server.catalogue.impact.impact`` with CONNECTED_TO among the inbound types."""
    original = impact_mod.impact_walk

    async def walk(store_, start_, depth_, inbound, outbound):
        return await original(store_, start_, depth_, INBOUND, IMPACT_OUTBOUND)

    impact_mod.impact_walk = walk
    try:
        return await impact_mod.impact(store, start, depth)
    finally:
        impact_mod.impact_walk = original


async def measure(store, start: str, runs: int, depth: int) -> dict:
    result = await impact_of(store, [start], depth)  # warm up caches and plans
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        result = await impact_of(store, [start], depth)
        times.append((time.perf_counter() - t) * 1000)
    walk_times = []
    for _ in range(runs):
        t = time.perf_counter()
        await impact_walk(store, [start], depth, INBOUND, IMPACT_OUTBOUND)
        walk_times.append((time.perf_counter() - t) * 1000)
    q = statistics.quantiles(times, n=20)
    wq = statistics.quantiles(walk_times, n=20)
    states = [s["state"] for s in result["services"]]
    return {
        "p50_ms": round(statistics.median(times), 1),
        "p95_ms": round(q[18], 1),
        "walk_p50_ms": round(statistics.median(walk_times), 1),
        "walk_p95_ms": round(wq[18], 1),
        "cis_affected": len(result["cis"]),
        "hosts_affected": sum(1 for c in result["cis"] if c["class"] == "Host"),
        "services_down": states.count("down"),
        "services_degraded": states.count("degraded"),
    }


async def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--hosts", type=int, default=12_000)
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--depth", type=int, default=10)
    parser.add_argument("--neo4j-uri")
    parser.add_argument("--neo4j-user", default="neo4j")
    parser.add_argument("--neo4j-password-file")
    parser.add_argument("--skip-neo4j", action="store_true")
    args = parser.parse_args()

    g, core = build(args.hosts)
    print(f"graph: {len(g.cis)} CIs, {len(g.rels)} relationships; failing core switch {core}")
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        from graph.sqlite.store import SQLiteStore

        store = SQLiteStore(Path(tmp) / "bench.db")
        await store.open()
        print(f"sqlite: loaded in {await load(store, g):.1f} s")
        results["sqlite"] = await measure(store, core, args.runs, args.depth)
        print(f"sqlite: {results['sqlite']}")
        await store.close()
    if not args.skip_neo4j and args.neo4j_uri:
        from graph.neo4j.store import Neo4jStore

        password = Path(args.neo4j_password_file).read_text().strip()
        store = Neo4jStore(args.neo4j_uri, args.neo4j_user, password)
        await store.open()
        async with store.driver.session() as session:  # implicit: CALL IN TRANSACTIONS
            await (
                await session.run(
                    "MATCH (n) CALL (n) { DETACH DELETE n } IN TRANSACTIONS OF 2000 ROWS"
                )
            ).consume()
        print(f"neo4j: loaded in {await load(store, g):.1f} s")
        results["neo4j"] = await measure(store, core, args.runs, args.depth)
        print(f"neo4j: {results['neo4j']}")
        async with store.driver.session() as session:  # leave the database empty
            await (
                await session.run(
                    "MATCH (n) CALL (n) { DETACH DELETE n } IN TRANSACTIONS OF 2000 ROWS"
                )
            ).consume()
        await store.close()
    if len(results) == 2:
        a, b = results["sqlite"], results["neo4j"]
        same = all(a[k] == b[k] for k in ("cis_affected", "services_down", "services_degraded"))
        print(f"same answer on both stores: {same}")
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
