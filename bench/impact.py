"""Impact of a core switch on a synthetic data centre of 100k+ CIs, on SQLite and Neo4j.

    .venv/bin/python bench/impact.py [--hosts 16000] [--runs 30] [--neo4j-uri bolt://...
                                     --neo4j-password-file DIR/password] [--skip-neo4j]
                                     [--design redundant|single-homed]

Topology: two core switches; 48 access switches of 48 ports; hosts patched into
access ports (interface CONNECTED_TO interface, as discovery records it); every
host has 2 NICs, 1 IP, 2 listening endpoints and 8 installed packages from a
shared pool; app hosts CONNECTS_TO database endpoints; 600 technical services
depend on a 2-of-3 host group plus one host, 150 business services on three
technical services. The cores hold the hosts' default gateway (that is where the
core is). Two designs, each timed on both stores:

* ``redundant``: every access switch uplinked to both cores (the usual design).
  Failing one core degrades the access switches and nothing goes down.
* ``single-homed``: each access switch uplinked to one core. Failing that core takes
  down half the data centre: the answer itself lists tens of thousands of CIs.

The graph is loaded with big change sets (one batched statement per class or
relationship type) without history (SQLite's WAL then checkpointed). Three timings per
store, side by side:

* ``closure``: the store's raw limit for the same failure, ids only, following every rule
  of ``cmdb.graph.dependency`` upwards without states or redundancy: one recursive CTE on
  SQLite; on Neo4j one query per level over the whole frontier with the visited set kept
  by the caller (the single quantified-path query enumerates paths: minutes at 69k CIs);
* ``full``: the whole ``POST /api/v1/impact`` computation minus HTTP (walk, states,
  services, paths, every affected CI with class and name);
* ``summary``: the same with ``summary=true`` (services and counts).

Latency (p50, p95) of ``full`` and ``summary`` comes from ``--runs`` rounds of the two in
turn, after warm-up rounds (one, or as many as fit 10 s: a JVM just started needs them): the
steady state of repeated requests. The ratios to the
closure come from separate rounds of all three in turn (closure, full, summary, closure,
...), so a machine shared with other work slows all three alike; those are kept apart
because the closure's heavy reads disturb the store (caches, the JVM's heap) for whatever
runs next. No answer is kept alive while the next call runs (a server drops an answer once
sent). Each timing also reports this process's CPU time (on SQLite all of the work, on
Neo4j the client's share).
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import random
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from cmdb.graph.identity import identity_values  # noqa: E402
from cmdb.graph.queries import layer2  # noqa: E402
from cmdb.graph.schema import CLASSES  # noqa: E402
from cmdb.graph.store import CI, ChangeSet, Rel  # noqa: E402
from cmdb.server.catalogue import impact as impact_mod  # noqa: E402

AT = "2026-11-28T00:00:00.000Z"


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


def build(hosts: int, redundant: bool, seed: int = 7) -> tuple[Graph, str]:
    """Two core switches and 48 access switches of 48 ports; each access switch uplinked to
    both cores (``redundant``, the usual design) or to one core only."""
    rng = random.Random(seed)
    g = Graph()
    packages = [
        g.ci("Software", ecosystem="deb", name=f"pkg{i}", version="1.0", arch="amd64")
        for i in range(3000)
    ]
    host_ids: list[str] = []
    db_endpoints: list[str] = []
    cores = [
        g.ci("NetworkDevice", sys_name=f"core{c}", lldp_chassis_id=f"00:00:00:00:0{c}:00")
        for c in range(2)
    ]
    gateway_ip = g.ci("IPAddress", address="10.255.255.254", net_scope="global")
    for core in cores:  # both cores hold the gateway (VRRP): that is where the core is
        svi = g.ci("Interface", parent=core, name="Vlan10")
        g.rel("HAS_INTERFACE", core, svi)
        g.rel("HAS_IP", svi, gateway_ip)
    gateways = [
        {"family": "inet", "address": "10.255.255.254", "interface": "eth0", "is_default": True}
    ]
    per_access = hosts // 48
    for a in range(48):
        access = g.ci(
            "NetworkDevice", sys_name=f"acc{a}", lldp_chassis_id=f"00:00:00:01:00:{a:02x}"
        )
        uplinked_to = cores if redundant else [cores[a % 2]]
        for u, core in enumerate(uplinked_to):
            cport = g.ci("Interface", parent=core, name=f"Te1/0/{a}")
            g.rel("HAS_INTERFACE", core, cport)
            uplink = g.ci("Interface", parent=access, name=f"Te1/1/{u}")
            g.rel("HAS_INTERFACE", access, uplink)
            g.rel("CONNECTED_TO", uplink, cport)
        ports = []
        for p in range(48):
            port = g.ci("Interface", parent=access, name=f"Gi1/0/{p}")
            g.rel("HAS_INTERFACE", access, port)
            ports.append(port)
        for h in range(per_access):
            n = len(host_ids)
            hid = g.ci(
                "Host",
                hostname=f"h{n}",
                system_uuid=str(uuid.UUID(int=n + 1)),
                gateways=gateways,
            )
            host_ids.append(hid)
            for k in range(2):
                nic = g.ci("Interface", parent=hid, name=f"eth{k}")
                g.rel("HAS_INTERFACE", hid, nic)
                if k == 0:
                    g.rel("CONNECTED_TO", nic, ports[h % 48])
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
    loaded = time.perf_counter() - started
    await settle(store)
    return loaded


async def settle(store) -> None:
    """SQLite: write the loaded pages home before timing (a WAL checkpoint): a store in
    service does not read 300 MB it was just given through its write-ahead log. Neo4j
    checkpoints by itself (Community has no procedure to ask for one)."""
    if hasattr(store, "conn"):
        await store._run(lambda: store.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchall())


async def uplink_ports(store) -> list[str]:
    """The switch ports the topology makes uplinks (the closure query's one input beyond
    the failed CI: which port leads to its switch)."""
    topology = await layer2(store)
    switches, _ = await store.list_cis("NetworkDevice", None, 1_000_000, 0)
    await topology.reach(store, {d.id for d in switches})
    return sorted(
        link.port
        for links in topology.links.values()
        for link in links
        if topology.is_uplink("NetworkDevice", link.device, link.peer_class, link.peer_device)
    )


async def closure(store, start: str, ports: list[str]) -> list[str]:
    """The store's raw closure query for the failure of ``start`` (ids only)."""
    if hasattr(store, "conn"):
        from cmdb.graph.sqlite import impact as reads

        return await store._run(reads.closure, store.conn, [start], ports)
    from cmdb.graph.neo4j import impact as reads

    # one query per level, visited set here: the single quantified-path query
    # (reads.closure_query) did not finish in 8 minutes on the single-homed failure
    params = reads.closure_params(ports)
    seen, frontier = {start}, [start]
    while frontier:
        found = await store._collected(reads.closure_step_query(), "ids", ids=frontier, **params)
        frontier = [i for i in found if i not in seen]
        seen.update(frontier)
    return sorted(seen)


WARM_UP_S, WARM_UP_ROUNDS = 10.0, 200


async def _interleaved(runs: int, calls: dict) -> dict[str, tuple[list[float], list[float], Any]]:
    """(wall ms, CPU ms, digest) of each call, run in turn ``runs`` times after warm-up
    rounds (caches, plans, the JIT, the topology of the graph's generation): one, then more
    while they take under ``WARM_UP_S`` seconds. ``calls``: name -> (call, digest of its
    result). Only the warm-up's digest is kept: a server drops an
    answer once sent, and a 69k-CI answer kept alive would slow whatever runs next (the
    garbage collector walks it)."""
    out = {}
    for name, (call, digest) in calls.items():
        out[name] = ([], [], digest(await call()))
    # a store just started and loaded (Neo4j's JIT and page cache) is not in its steady state
    # after one call: more warm-up rounds, up to WARM_UP_S, which a fast call fits many of
    begun, rounds = time.perf_counter(), 1
    while time.perf_counter() - begun < WARM_UP_S and rounds < WARM_UP_ROUNDS:
        for call, _digest in calls.values():
            await call()  # the answer is dropped at once, as a server drops it once sent
        rounds += 1
    for _ in range(runs):
        for name, (call, _digest) in calls.items():
            wall, cpu = time.perf_counter(), time.process_time()
            result = await call()
            out[name][0].append((time.perf_counter() - wall) * 1000)
            out[name][1].append((time.process_time() - cpu) * 1000)
            del result
    return out


def _answer_digest(result: dict) -> dict[str, int]:
    """What the bench reports of a full answer."""
    states = [s["state"] for s in result["services"]]
    return {
        "cis_affected": len(result["cis"]),
        "hosts_affected": sum(1 for c in result["cis"] if c["class"] == "Host"),
        "services_down": states.count("down"),
        "services_degraded": states.count("degraded"),
        "counts": result["counts"],
    }


def _counts(result: dict) -> Any:
    return result["counts"]


def _stats(times: list[float], cpu: list[float]) -> dict[str, float]:
    q = statistics.quantiles(times, n=20)
    return {
        "p50_ms": round(statistics.median(times), 1),
        "p95_ms": round(q[18], 1),
        "cpu_p50_ms": round(statistics.median(cpu), 1),
    }


async def measure(store, start: str, runs: int, depth: int) -> dict:
    ports = await uplink_ports(store)
    answers = {
        "full": (lambda: impact_mod.impact(store, [start], depth), _answer_digest),
        "summary": (lambda: impact_mod.impact(store, [start], depth, summary=True), _counts),
    }
    latency = await _interleaved(runs, answers)
    full, summary = (_stats(*latency[k][:2]) for k in ("full", "summary"))
    rounds = max(5, runs // 3)
    against = await _interleaved(
        rounds, {"closure": (lambda: closure(store, start, ports), len), **answers}
    )
    raw_stats, full_r, summary_r = (_stats(*against[k][:2]) for k in ("closure", "full", "summary"))
    return {
        "closure": {**raw_stats, "cis": against["closure"][2]},
        "full": full,
        "summary": summary,
        # p50 of the interleaved rounds: wall time, and this process's CPU time
        "full_vs_closure": round(full_r["p50_ms"] / max(raw_stats["p50_ms"], 0.1), 2),
        "summary_vs_closure": round(summary_r["p50_ms"] / max(raw_stats["p50_ms"], 0.1), 2),
        "cpu_full_vs_closure": round(full_r["cpu_p50_ms"] / max(raw_stats["cpu_p50_ms"], 0.1), 2),
        "cpu_summary_vs_closure": round(
            summary_r["cpu_p50_ms"] / max(raw_stats["cpu_p50_ms"], 0.1), 2
        ),
        **{k: v for k, v in latency["full"][2].items() if k != "counts"},
        # the summary counts what the full answer lists
        "summary_agrees": latency["summary"][2] == latency["full"][2]["counts"],
    }


async def wipe(store) -> None:
    async with store.driver.session() as session:  # implicit: CALL IN TRANSACTIONS
        await (
            await session.run("MATCH (n) CALL (n) { DETACH DELETE n } IN TRANSACTIONS OF 2000 ROWS")
        ).consume()


async def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--hosts", type=int, default=16_000)
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--depth", type=int, default=16)
    parser.add_argument("--neo4j-uri")
    parser.add_argument("--neo4j-user", default="neo4j")
    parser.add_argument("--neo4j-password-file")
    parser.add_argument("--skip-neo4j", action="store_true")
    parser.add_argument(
        "--design",
        choices=("redundant", "single-homed"),
        action="append",
        help="only this design (repeatable; default both)",
    )
    args = parser.parse_args()

    results: dict[str, dict] = {}
    for design in args.design or ("redundant", "single-homed"):
        g, core = build(args.hosts, redundant=design == "redundant")
        # the synthetic graph's 300k+ objects stay alive for loading both stores: out of the
        # garbage collector's sight, or its full passes over them land in the timings (a
        # server holds no such heap)
        gc.freeze()
        print(f"{design}: {len(g.cis)} CIs, {len(g.rels)} relationships; failing core {core}")
        with tempfile.TemporaryDirectory() as tmp:
            from cmdb.graph.sqlite.store import SQLiteStore

            store = SQLiteStore(Path(tmp) / "bench.db")
            await store.open()
            print(f"  sqlite: loaded in {await load(store, g):.1f} s")
            results[f"{design}/sqlite"] = await measure(store, core, args.runs, args.depth)
            print(f"  sqlite: {results[f'{design}/sqlite']}")
            await store.close()
        if not args.skip_neo4j and args.neo4j_uri:
            from cmdb.graph.neo4j.store import Neo4jStore

            password = Path(args.neo4j_password_file).read_text().strip()
            store = Neo4jStore(args.neo4j_uri, args.neo4j_user, password)
            await store.open()
            await wipe(store)
            print(f"  neo4j: loaded in {await load(store, g):.1f} s")
            results[f"{design}/neo4j"] = await measure(store, core, args.runs, args.depth)
            print(f"  neo4j: {results[f'{design}/neo4j']}")
            await wipe(store)  # leave the database empty
            await store.close()
            a, b = results[f"{design}/sqlite"], results[f"{design}/neo4j"]
            same = all(a[k] == b[k] for k in ("cis_affected", "services_down", "services_degraded"))
            print(f"  same answer on both stores: {same}")
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
