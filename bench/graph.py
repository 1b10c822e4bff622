"""Graph store benchmark: reconciliation throughput against the store's raw limit, and
depth-6 dependency traversal on a 100k-CI graph, on SQLite and Neo4j side by side.

    .venv/bin/python bench/graph.py [--store sqlite|neo4j|both] [--reports N] [--cis 100000]
                                    [--queries 200] [--neo4j-uri bolt://127.0.0.1:7689]
                                    [--neo4j-password-file .cache/neo4j-bench/password]

Neo4j: start a server of your own for this (the run WIPES its database), e.g.
``deploy/neo4j/neo4j-local start .cache/neo4j-bench --bolt-port 7689 --http-port 7476
--heap 2g --pagecache 1g`` (and ``neo4j-local stop .cache/neo4j-bench`` afterwards).

(a) Ingest. N realistic host reports (800 packages drawn from a shared pool of 4,000, so
Software CIs are shared as in a fleet; 5 interfaces; 20 listening endpoints; an empty
connections section) go through the real path of an agent's report,
``Ingestor(store).ingest(report, agent_key=...)`` (each host with its own agent token, as
the API passes it): first as new hosts, then again unchanged (steady state, new report
ids, later times). Inside the timer is what the server does per report: validation,
reconciliation, commit; the report is built before it. The process-wide cache of
sections validated before is emptied before each report (outside the timer): in a fleet
(100,000 hosts of about ten sections each against its 20,000 entries, several servers) a
host's own sections are not in it an hour later, so the steady state must not lean on
it. Interleaved with them, report by report, the store's raw limit writes the same rows
(the report's CIs and relationships, as the host transform derives them) in one
transaction per report: a batched ``UNWIND $rows MERGE`` per label and relationship type
on Neo4j, an ``executemany`` upsert into the same tables and indexes on SQLite (a
separate database file); the two take turns going first. Throughput is reports/s over
the whole phase; ``ratio`` is raw time / reconciliation time over the phase,
``median_ratio`` the same of the medians.
Report times are recent (the server takes a collection time older than 72 hours for a
wrong clock).

(b) Traversal. A synthetic data centre of ``--cis`` CIs and about five relationships per
CI (services -DEPENDS_ON-> services and redundancy groups -DEPENDS_ON-> hosts, services
-RUNS_ON-> hosts, hosts -INSTALLED-> a shared software pool, -LISTENS_ON-> endpoints,
-CONNECTS_TO-> other hosts' endpoints, -HAS_INTERFACE-> interfaces -HAS_IP-> addresses
-IN_NETWORK-> networks, interfaces -CONNECTED_TO-> switch ports, switches in a ring of
uplinks) is loaded with big change sets through ``store.apply``. Then ``store.traverse``
from random services and hosts: depth-6 ``down`` over all types unlimited and with the
API's default limit of 1,000, and depth-6 ``up`` over the impact types from hosts,
interleaved start by start; then the limited query again in a pass of its own
(``_alone``: not right after a 20,000-CI walk); p50 and p95 in ms. For comparison the
single-query alternatives are timed on the same starts in a last pass (ids and depths
only): SQLite's recursive CTE and Neo4j's ``ANY SHORTEST`` quantified path pattern.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import sqlite3
import statistics
import sys
import tempfile
import time
import uuid
from collections import defaultdict
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from cmdb.graph.dependency import HOP_TYPES  # noqa: E402
from cmdb.graph.identity import identity_values  # noqa: E402
from cmdb.graph.schema import CLASSES  # noqa: E402
from cmdb.graph.sqlite.ddl import all_statements  # noqa: E402
from cmdb.graph.store import CI, ChangeSet, Rel  # noqa: E402
from cmdb.server import ingest as ingest_module  # noqa: E402
from cmdb.server.ingest import Ingestor  # noqa: E402
from cmdb.server.reconcile import host as host_transform  # noqa: E402
from tests.reports import agent_report, nic  # noqa: E402

NS = uuid.UUID("6f1c2a3e-0d4b-4c5e-9f8a-7b6c5d4e3f21")
AT0 = "2026-11-28T00:00:00.000Z"
POOL = 4000
PACKAGES = 800


def ms(seconds: float) -> float:
    return round(seconds * 1000, 1)


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


# ------------------------------------------------------------------ stores
async def open_sqlite(path: Path):
    from cmdb.graph.sqlite.store import SQLiteStore

    store = SQLiteStore(path)
    await store.open()
    return store


async def open_neo4j(uri: str, password: str):
    from cmdb.graph.neo4j.store import Neo4jStore

    store = Neo4jStore(uri, "neo4j", password)
    await store.open()
    await wipe_neo4j(store)
    return store


async def wipe_neo4j(store) -> None:
    async with store.driver.session() as session:
        await (
            await session.run("MATCH (n) CALL (n) { DETACH DELETE n } IN TRANSACTIONS OF 5000 ROWS")
        ).consume()


# ------------------------------------------------------------------ (a) ingest
def fleet_report(i: int, at: str) -> dict[str, Any]:
    rng = random.Random(i)
    # a fleet shares most packages: 500 everywhere, the rest from a long tail
    common = [f"pkg{k}" for k in range(500)]
    tail = rng.sample(range(500, POOL), PACKAGES - 500)
    packages = [
        {"name": name, "version": f"1.{sum(map(ord, name)) % 17}", "architecture": "amd64"}
        | {"manager": "dpkg"}
        for name in common + [f"pkg{k}" for k in tail]
    ]

    def mac(n: int) -> str:
        return f"52:54:{i >> 8 & 255:02x}:{i & 255:02x}:{n:02x}:07"

    interfaces = [nic("lo", None, [("127.0.0.1", 8)], kind="loopback")] + [
        nic(f"eth{n}", mac(n), [(f"10.{n}.{i >> 8 & 255}.{i & 255}", 16)]) for n in range(4)
    ]
    listening = [
        {"protocol": "tcp", "address": "0.0.0.0", "port": 1000 + p, "pid": 100 + p}
        | {"process": f"svc{p}"}
        for p in range(20)
    ]
    return agent_report(
        hostname=f"host{i:05d}",
        system_uuid=str(uuid.uuid5(NS, f"host{i}")),
        machine_id=uuid.uuid5(NS, f"mid{i}").hex,
        serial=f"SN{i:06d}",
        interfaces=interfaces,
        packages=packages,
        listening=listening,
        collected_at=at,
    )


def raw_rows(report: dict[str, Any]) -> tuple[list[dict], list[dict]]:
    """The report's CIs and relationships as plain rows with deterministic ids."""
    desired = host_transform.transform(report).expand()
    ids: dict[str, str] = {}
    cis: list[dict] = []
    for dci in [desired.root, *desired.cis]:
        if dci.parent_ref and dci.parent_attr:
            dci.attributes[dci.parent_attr] = dci.parent_format.format(id=ids[dci.parent_ref])
        identity = identity_values(CLASSES[dci.cls], dci.attributes)
        key = "|".join(f"{k}={v}" for k, v in sorted(identity.items()))
        ids[dci.ref] = str(uuid.uuid5(NS, f"{dci.cls}/{key}"))
        attrs = {k: v for k, v in dci.attributes.items() if v is not None}
        cis.append({"id": ids[dci.ref], "cls": dci.cls, "name": dci.name, "attrs": attrs})
    rels = []
    for drel in desired.rels:
        src, dst = ids[drel.src], ids[drel.dst]
        rid = str(uuid.uuid5(NS, f"{drel.type}/{src}/{dst}"))
        rels.append(
            {"id": rid, "type": drel.type, "src": src, "dst": dst, "attrs": drel.attributes}
        )
    return cis, rels


class RawSQLite:
    def __init__(self, path: Path) -> None:
        self.conn = sqlite3.connect(path, isolation_level=None)
        for pragma in ("journal_mode=WAL", "synchronous=FULL", "cache_size=-65536"):
            self.conn.execute(f"PRAGMA {pragma}")
        for statement in all_statements():
            self.conn.execute(statement)

    def write(self, cis: list[dict], rels: list[dict], at: str) -> None:
        c = self.conn
        c.execute("BEGIN IMMEDIATE")
        c.executemany(
            "INSERT INTO ci (id, class, name, first_seen, last_seen, sources, attributes) "
            "VALUES (?,?,?,?,?,?,?) ON CONFLICT (id) DO UPDATE SET name=excluded.name, "
            "last_seen=excluded.last_seen, attributes=excluded.attributes",
            [
                (r["id"], r["cls"], r["name"], at, at, '["agent"]', json.dumps(r["attrs"]))
                for r in cis
            ],
        )
        c.executemany(
            "INSERT INTO rel (id, type, src, dst, first_seen, last_seen, sources, attributes) "
            "VALUES (?,?,?,?,?,?,?,?) ON CONFLICT (id) DO UPDATE SET "
            "last_seen=excluded.last_seen, attributes=excluded.attributes",
            [
                (
                    r["id"],
                    r["type"],
                    r["src"],
                    r["dst"],
                    at,
                    at,
                    '["agent"]',
                    json.dumps(r["attrs"]),
                )
                for r in rels
            ],
        )
        c.execute("COMMIT")


class RawNeo4j:
    def __init__(self, driver) -> None:
        self.driver = driver

    async def setup(self) -> None:
        await self.driver.execute_query(
            "CREATE CONSTRAINT raw_ci_id IF NOT EXISTS FOR (n:RawCI) REQUIRE n.id IS UNIQUE"
        )
        await self.driver.execute_query("CALL db.awaitIndexes(60)")

    async def write(self, cis: list[dict], rels: list[dict], at: str) -> None:
        by_label: dict[str, list[dict]] = defaultdict(list)
        for r in cis:
            props = {k: v for k, v in r["attrs"].items() if not isinstance(v, (dict, list))}
            props.update(name=r["name"], last_seen=at, attributes=json.dumps(r["attrs"]))
            by_label[r["cls"]].append({"id": r["id"], "props": props})
        by_type: dict[str, list[dict]] = defaultdict(list)
        for r in rels:
            props = {"id": r["id"], "last_seen": at, "attributes": json.dumps(r["attrs"])}
            by_type[r["type"]].append({"src": r["src"], "dst": r["dst"], "props": props})

        async def work(tx) -> None:
            for label, rows in by_label.items():
                await (
                    await tx.run(
                        f"UNWIND $rows AS row MERGE (n:RawCI:`Raw{label}` {{id: row.id}}) "
                        "ON CREATE SET n.first_seen = $at SET n += row.props",
                        rows=rows,
                        at=at,
                    )
                ).consume()
            for rel_type, rows in by_type.items():
                await (
                    await tx.run(
                        "UNWIND $rows AS row MATCH (a:RawCI {id: row.src}) "
                        f"MATCH (b:RawCI {{id: row.dst}}) MERGE (a)-[r:`{rel_type}`]->(b) "
                        "ON CREATE SET r.first_seen = $at SET r += row.props",
                        rows=rows,
                        at=at,
                    )
                ).consume()

        async with self.driver.session() as session:
            await session.execute_write(work)


# reports are collected from four hours ago on, one a minute: plausible to the server
_BASE = int(time.time()) // 60 * 60 - 4 * 3600


def iso(base_minutes: int) -> str:
    t = time.gmtime(_BASE + base_minutes * 60)
    return time.strftime("%Y-%m-%dT%H:%M:%S.000Z", t)


async def timed_raw_write(raw, cis: list[dict], rels: list[dict], at: str) -> float:
    """Seconds the store's raw limit takes to write one report's rows."""
    t0 = time.perf_counter()
    if isinstance(raw, RawSQLite):
        raw.write(cis, rels, at)
    else:
        await raw.write(cis, rels, at)
    return time.perf_counter() - t0


async def bench_ingest(store, raw, n: int) -> dict[str, Any]:
    ingestor = Ingestor(store)
    out: dict[str, Any] = {}
    for phase, minute in (("first", 0), ("steady", 60)):
        real_t: list[float] = []
        raw_t: list[float] = []
        statuses: dict[str, int] = defaultdict(int)
        for i in range(n):
            report = fleet_report(i, iso(minute + i))
            cis, rels = raw_rows(report)
            # the two take turns going first: the work a store leaves behind a commit
            # (Neo4j's garbage collection after a big write) lands on each side alike
            if i % 2 == 0:
                raw_t.append(await timed_raw_write(raw, cis, rels, report["collected_at"]))
            ingest_module._VALID_SECTIONS.clear()  # a fleet's hosts are not in it (see above)
            t1 = time.perf_counter()
            answer = await ingestor.ingest(report, agent_key=f"token:bench-host-{i}")
            real_t.append(time.perf_counter() - t1)
            if i % 2 == 1:
                raw_t.append(await timed_raw_write(raw, cis, rels, report["collected_at"]))
            statuses[answer["status"]] += 1
        out[phase] = {
            "reconcile_reports_per_s": round(n / sum(real_t), 1),
            "raw_reports_per_s": round(n / sum(raw_t), 1),
            "ratio": round(sum(raw_t) / sum(real_t), 2),
            "reconcile_median_ms": ms(statistics.median(real_t)),
            "raw_median_ms": ms(statistics.median(raw_t)),
            "median_ratio": round(statistics.median(raw_t) / statistics.median(real_t), 2),
            "rows_per_report": {"cis": len(cis), "rels": len(rels)},
            "statuses": dict(statuses),
        }
    return out


# ------------------------------------------------------------------ (b) traversal graph
class Synthetic:
    def __init__(self, total_cis: int, seed: int = 7) -> None:
        rng = random.Random(seed)
        self.cis: list[CI] = []
        self.rels: list[Rel] = []
        n_hosts = max(20, total_cis // 42)
        n_services = n_hosts // 2
        n_groups = n_hosts // 8
        n_switches = max(4, n_hosts // 40)
        n_networks = max(8, n_hosts // 20)
        fixed = n_hosts * 29 + n_services + n_groups + n_switches * 49 + n_networks
        n_software = max(100, total_cis - fixed)
        self.networks = [
            self.ci("Network", f"10.{k}.0.0/16", cidr=f"10.{k}.0.0/16") for k in range(n_networks)
        ]
        self.software = [
            self.ci("Software", f"lib{k}", version=f"{k % 7}.{k % 13}", arch="amd64")
            for k in range(n_software)
        ]
        ports: list[str] = []
        switches = []
        for s in range(n_switches):
            sw = self.ci("NetworkDevice", f"sw{s}", vendor="acme", model="x48")
            switches.append(sw)
            sw_ports = []
            for p in range(48):
                port = self.ci("Interface", f"sw{s}/{p}", name_=f"ge-0/0/{p}", speed_mbps=10000)
                self.rel("HAS_INTERFACE", sw, port)
                sw_ports.append(port)
            ports += sw_ports[:47]
            switches[-1] = (sw, sw_ports)
        for s, (_, sw_ports) in enumerate(switches):  # uplinks in a ring: a cycle
            nxt = switches[(s + 1) % len(switches)][1]
            self.rel("CONNECTED_TO", sw_ports[47], nxt[47])
        self.hosts: list[str] = []
        self.endpoints: list[str] = []
        for h in range(n_hosts):
            host = self.ci("Host", f"host{h:05d}", os_name="Debian GNU/Linux 12", cpu_cores=16)
            self.hosts.append(host)
            for n in range(4):
                iface = self.ci("Interface", f"host{h}/eth{n}", mtu=1500, speed_mbps=1000)
                ip = self.ci("IPAddress", f"10.{n}.{h >> 8}.{h & 255}", address=f"10.{n}.{h}")
                self.rel("HAS_INTERFACE", host, iface)
                self.rel("HAS_IP", iface, ip)
                self.rel("IN_NETWORK", ip, rng.choice(self.networks))
                self.rel("CONNECTED_TO", iface, rng.choice(ports))
            for p in range(20):
                ep = self.ci("Endpoint", f"tcp/{1000 + p}", port=1000 + p, protocol="tcp")
                self.rel("LISTENS_ON", host, ep)
                self.endpoints.append(ep)
        # installed software: a common core everyone has plus a long tail
        n_rels_target = total_cis * 5
        per_host = max(10, (n_rels_target - len(self.rels) - n_hosts * 6) // n_hosts)
        core = self.software[:300]
        for host in self.hosts:
            picks = set(rng.sample(core, min(len(core), per_host // 2)))
            while len(picks) < per_host:
                picks.add(rng.choice(self.software))
            for sw in picks:
                self.rel("INSTALLED", host, sw)
            for ep in rng.sample(self.endpoints, 5):
                self.rel("CONNECTS_TO", host, ep)
        self.groups = []
        for g in range(n_groups):
            group = self.ci("RedundancyGroup", f"grp{g}", min=2)
            self.groups.append(group)
            for host in rng.sample(self.hosts, 3):
                self.rel("DEPENDS_ON", group, host)
                self.rel("MEMBER_OF", host, group)
        self.services = []
        for s in range(n_services):
            svc = self.ci("Service", f"svc{s}", criticality=rng.choice(["high", "low"]))
            self.services.append(svc)
        for s, svc in enumerate(self.services):
            # a layered service tree, with a few back edges (cycles)
            pool = self.services[s + 1 : s + 40]
            for other in rng.sample(pool if len(pool) >= 2 else self.services, 2):
                self.rel("DEPENDS_ON", svc, other)
            if rng.random() < 0.05:
                self.rel("DEPENDS_ON", svc, rng.choice(self.services[: s + 1]))
            self.rel("DEPENDS_ON", svc, rng.choice(self.groups))
            for host in rng.sample(self.hosts, 2):
                self.rel("RUNS_ON", svc, host)

    def ci(self, cls: str, name: str, **attrs: Any) -> str:
        ci_id = str(uuid.uuid4())
        attrs = {k.rstrip("_"): v for k, v in attrs.items()}
        self.cis.append(
            CI(
                id=ci_id,
                cls=cls,
                name=name,
                first_seen=AT0,
                last_seen=AT0,
                sources=["bench"],
                attributes=attrs,
                attr_sources=dict.fromkeys(attrs, "bench"),
            )
        )
        return ci_id

    def rel(self, rel_type: str, src: str, dst: str) -> None:
        self.rels.append(
            Rel(
                id=str(uuid.uuid4()),
                type=rel_type,
                src=src,
                dst=dst,
                first_seen=AT0,
                last_seen=AT0,
                sources=["bench"],
            )
        )

    async def load(self, store) -> float:
        t0 = time.perf_counter()
        seen: set[tuple[str, str, str]] = set()
        rels = []
        for r in self.rels:
            if (r.type, r.src, r.dst) not in seen:
                seen.add((r.type, r.src, r.dst))
                rels.append(r)
        self.rels = rels
        for k in range(0, len(self.cis), 20000):
            chunk = self.cis[k : k + 20000]
            await store.apply(
                ChangeSet(report_id=f"load-ci-{k}", source="bench", at=AT0, create_cis=chunk)
            )
        for k in range(0, len(rels), 50000):
            chunk = rels[k : k + 50000]
            await store.apply(
                ChangeSet(report_id=f"load-rel-{k}", source="bench", at=AT0, create_rels=chunk)
            )
        return time.perf_counter() - t0


CTE = (
    "WITH RECURSIVE walk(id, depth) AS (SELECT ?, 0 UNION "
    "SELECT r.dst, w.depth + 1 FROM walk w JOIN rel r ON r.src = w.id AND r.ended_at IS NULL "
    "WHERE w.depth < 6) SELECT id, min(depth) FROM walk GROUP BY id"
)
QPP = (
    "MATCH (s:CI {id: $id}) CALL (s) { "
    "MATCH p = ANY SHORTEST (s)(()-[r WHERE r.ended_at IS NULL]->()){1,6}(b) "
    "RETURN b.id AS id, length(p) AS d UNION ALL RETURN s.id AS id, 0 AS d } "
    "RETURN id, min(d) AS depth"
)


async def bench_traverse(store, graph: Synthetic, queries: int) -> dict[str, Any]:
    rng = random.Random(11)
    services = rng.sample(graph.services, min(len(graph.services), queries // 2))
    hosts = rng.sample(graph.hosts, queries - len(services))
    starts = services + hosts
    rng.shuffle(starts)
    kinds = {
        "down6_all_unlimited": dict(direction="down", depth=6, limit=None),
        "down6_all_limit1000": dict(direction="down", depth=6, limit=1000),
        "up6_impact_from_hosts": dict(direction="up", depth=6, rel_types=HOP_TYPES),
    }
    out: dict[str, Any] = {}
    samples: dict[str, list[float]] = defaultdict(list)
    sizes: dict[str, list[int]] = defaultdict(list)
    truncated: dict[str, int] = defaultdict(int)
    # warm-up
    for sid in starts[:10]:
        await store.traverse([sid], "down", 6)
    # the product's kinds interleaved start by start, so noise hits all alike
    for sid in starts:
        for kind, args in kinds.items():
            if kind.startswith("up") and sid not in set(hosts):
                continue
            t0 = time.perf_counter()
            walk = await store.traverse([sid], **args)
            samples[kind].append(time.perf_counter() - t0)
            sizes[kind].append(len(walk.nodes))
            truncated[kind] += walk.truncated
    # the API's default query again, in a pass of its own: its latency when it does not
    # follow a 20,000-CI walk (whose garbage collection lands on the next query)
    for sid in starts:
        t0 = time.perf_counter()
        walk = await store.traverse([sid], "down", 6, limit=1000)
        samples["down6_all_limit1000_alone"].append(time.perf_counter() - t0)
        sizes["down6_all_limit1000_alone"].append(len(walk.nodes))
        truncated["down6_all_limit1000_alone"] += walk.truncated
    # the single-query yardstick in a pass of its own: on Neo4j each takes a second of
    # server CPU, whose garbage collection would otherwise land on the next product query
    for sid in starts:
        t0 = time.perf_counter()
        if store.name == "sqlite":
            await store._run(lambda s=sid: store.conn.execute(CTE, (s,)).fetchall())
        else:
            await store._query(QPP, id=sid)
        samples["alt_single_query_ids_only"].append(time.perf_counter() - t0)
    for kind, values in samples.items():
        out[kind] = {
            "n": len(values),
            "p50_ms": ms(statistics.median(values)),
            "p95_ms": ms(pct(values, 0.95)),
        }
        if sizes.get(kind):
            out[kind]["median_nodes"] = int(statistics.median(sizes[kind]))
            out[kind]["max_nodes"] = max(sizes[kind])
            out[kind]["truncated"] = truncated[kind]
    return out


# ------------------------------------------------------------------ main
async def run_store(kind: str, args, workdir: Path) -> dict[str, Any]:
    result: dict[str, Any] = {}
    if kind == "sqlite":
        store = await open_sqlite(workdir / "ingest.db")
        raw = RawSQLite(workdir / "raw.db")
    else:
        password = Path(args.neo4j_password_file).read_text().strip()
        store = await open_neo4j(args.neo4j_uri, password)
        raw = RawNeo4j(store.driver)
        await raw.setup()
    try:
        if args.reports:
            print(f"[{kind}] ingest of {args.reports} reports ...", file=sys.stderr)
            result["ingest"] = await bench_ingest(store, raw, args.reports)
            print(json.dumps(result["ingest"]), file=sys.stderr)
    finally:
        await store.close()
    if args.cis:
        graph = Synthetic(args.cis)
        if kind == "sqlite":
            store = await open_sqlite(workdir / "graph.db")
        else:
            store = await open_neo4j(args.neo4j_uri, password)
        try:
            print(f"[{kind}] loading {len(graph.cis)} CIs, {len(graph.rels)} rels", file=sys.stderr)
            load_s = await graph.load(store)
            result["graph"] = {
                "cis": len(graph.cis),
                "rels": len(graph.rels),
                "load_s": round(load_s, 1),
            }
            print(f"[{kind}] loaded in {load_s:.1f}s; traversals ...", file=sys.stderr)
            result["traverse"] = await bench_traverse(store, graph, args.queries)
        finally:
            if kind == "neo4j":
                await wipe_neo4j(store)
            await store.close()
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--store", choices=("sqlite", "neo4j", "both"), default="both")
    parser.add_argument("--reports", type=int, default=30)
    parser.add_argument("--cis", type=int, default=100000)
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--neo4j-uri", default="bolt://127.0.0.1:7689")
    parser.add_argument(
        "--neo4j-password-file", default=str(REPO / ".cache" / "neo4j-bench" / "password")
    )
    args = parser.parse_args()
    kinds = ("sqlite", "neo4j") if args.store == "both" else (args.store,)
    results = {}
    with tempfile.TemporaryDirectory(prefix="bench-graph-") as tmp:
        for kind in kinds:
            results[kind] = asyncio.run(run_store(kind, args, Path(tmp)))
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
