"""Fleet benchmark: simulated agents against 1, 2 and 4 real ``cmdb server`` processes on
one real Neo4j, over HTTP, the way a load balancer spreads them.

    .venv/bin/python bench/fleet.py --neo4j-uri bolt://127.0.0.1:7689 \\
        --neo4j-password-file .cache/neo4j-bench/password [--servers 1,2,4] [--agents 200] \\
        [--seconds 20] [--burst 2000]

Each agent is a host with an identity drawn from a seed (``--seed``; a run id keeps runs
apart, nothing is wiped): 300 packages from a shared pool, 3 interfaces, a few listening
ports. Per server count:

1. first reports: every agent's full first report, all at once;
2. steady state for ``--seconds``: each agent sends again and again, 90 % of reports
   unchanged full reports and 10 % deltas (two packages upgraded, ``base_report_id`` the
   last report the servers applied for it), like an hourly fleet compressed in time;
   sustained reports/s, p50/p95 latency, 503s (retried after Retry-After, as the agent
   does), client timeouts;
3. duplicates: Host CIs per agent identity in Neo4j (must be exactly one each);
4. with ``--burst``: that many agents return at once (new hosts), with a 30 s client
   timeout: how many were answered 503 + Retry-After, how many timed out (must be 0),
   how many were applied after their retries.

Tokens are made in the servers' shared state in Neo4j (one per agent, valid on every
server).
"""

from __future__ import annotations

import argparse
import asyncio
import gzip
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

import aiohttp  # noqa: E402

from cmdb.server.config import load_settings  # noqa: E402
from cmdb.server.shared_state import open_shared_state  # noqa: E402
from tests.processes import CMDB, free_port, neo4j_env  # noqa: E402
from tests.reports import agent_report, nic  # noqa: E402


class Agent:
    """One simulated host: its identity, its packages, its last applied report id."""

    def __init__(self, run: str, index: int, pool: list[str]) -> None:
        rng = random.Random(f"{run}-{index}")
        self.index = index
        self.name = f"fleet-{run}-{index}"
        self.uuid = str(uuid.UUID(int=rng.getrandbits(128)))
        self.machine_id = f"{rng.getrandbits(128):032x}"
        self.mac = f"52:54:00:{index >> 16 & 255:02x}:{index >> 8 & 255:02x}:{index & 255:02x}"
        self.packages = {p: f"1.{rng.randint(0, 9)}" for p in rng.sample(pool, 300)}
        self.last_applied: str | None = None
        self.tokens: list[str] = []
        self.sequence = 0

    def report(self, delta: bool = False) -> dict[str, Any]:
        if delta:
            for name in random.sample(sorted(self.packages), 2):
                major, minor = self.packages[name].split(".", 1)
                self.packages[name] = f"{major}.{int(minor) + 1}"
        packages = [
            {"name": n, "version": v, "architecture": "amd64", "manager": "dpkg"}
            for n, v in sorted(self.packages.items())
        ]
        body = agent_report(
            hostname=self.name,
            system_uuid=self.uuid,
            machine_id=self.machine_id,
            serial=f"S{self.index}",
            interfaces=[
                nic("lo", None, [("127.0.0.1", 8)], kind="loopback"),
                nic("eth0", self.mac, [(f"10.{self.index >> 8 & 255}.{self.index & 255}.5", 16)]),
            ],
            packages=packages,
            collected_at=time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime()),
        )
        self.sequence += 1
        body.update(sequence=self.sequence, agent_instance=self.uuid)
        if delta and self.last_applied:
            body["sections"] = {
                k: body["sections"][k] for k in ("system", "interfaces", "packages")
            }
            body.update(mode="delta", base_report_id=self.last_applied)
        return body


class Fleet:
    def __init__(self, urls: list[str], timeout: float) -> None:
        self.urls = urls
        self.timeout = aiohttp.ClientTimeout(total=timeout)
        self.latencies: list[float] = []
        self.statuses: dict[int, int] = {}
        self.timeouts = 0
        self.turn = 0

    async def send(self, session: aiohttp.ClientSession, agent: Agent, report: dict) -> int:
        """One report, retried after 503 + Retry-After (as the agent does); final status."""
        body = gzip.compress(json.dumps(report).encode(), 1)
        for _ in range(30):
            self.turn += 1
            server = self.turn % len(self.urls)
            headers = {
                "Authorization": f"Bearer {agent.tokens[server]}",
                "Content-Encoding": "gzip",
                "Content-Type": "application/json",
            }
            started = time.perf_counter()
            try:
                async with session.post(
                    self.urls[server] + "/api/v1/reports", data=body, headers=headers
                ) as response:
                    answer = await response.json(content_type=None)
                    status = response.status
                    retry = int(response.headers.get("Retry-After", "1"))
            except TimeoutError:
                self.timeouts += 1
                return 0
            self.latencies.append(time.perf_counter() - started)
            self.statuses[status] = self.statuses.get(status, 0) + 1
            if status == 503:
                await asyncio.sleep(retry + random.random())
                continue
            if status == 409 and answer.get("status") == "full_report_required":
                report = agent.report()
                body = gzip.compress(json.dumps(report).encode(), 1)
                continue
            if status in (200, 201):
                agent.last_applied = report["report_id"]
            return status
        return 503


def start_servers(count: int, env: dict[str, str], agents: list[Agent], tmp: Path):
    procs, urls = [], []
    make_tokens(agents, env, count)
    for s in range(count):
        data = tmp / f"server{s}"
        data.mkdir()
        port = free_port()
        log = open(data / "server.log", "w")  # noqa: SIM115 - closed with the process
        procs.append(
            subprocess.Popen(
                [*CMDB, "server", "--listen", f"127.0.0.1:{port}", "--data-dir", str(data)],
                stdout=log,
                stderr=subprocess.STDOUT,
                env={**os.environ, **env},
                cwd=REPO,
            )
        )
        urls.append(f"http://127.0.0.1:{port}")
    return procs, urls


async def wait_ready(urls: list[str]) -> None:
    async with aiohttp.ClientSession() as session:
        for url in urls:
            for _ in range(300):
                try:
                    async with session.get(url + "/healthz") as r:
                        if r.status == 200:
                            break
                except aiohttp.ClientError:
                    pass
                await asyncio.sleep(0.2)


def summary(fleet: Fleet, count: int, seconds: float) -> dict[str, Any]:
    lat = sorted(fleet.latencies) or [0.0]
    return {
        "reports": count,
        "reports_per_s": round(count / seconds, 1),
        "p50_ms": round(1000 * statistics.median(lat), 1),
        "p95_ms": round(1000 * lat[int(0.95 * (len(lat) - 1))], 1),
        "statuses": fleet.statuses,
        "timeouts": fleet.timeouts,
    }


async def run(count: int, args: argparse.Namespace, env: dict[str, str], password: str) -> dict:
    run_id = f"{args.seed}{count}{random.randrange(10**6)}"
    pool = [f"lib{k}" for k in range(2000)]
    agents = [Agent(run_id, i, pool) for i in range(args.agents)]
    with tempfile.TemporaryDirectory(prefix="bench-fleet-") as tmp:
        procs, urls = start_servers(count, env, agents, Path(tmp))
        try:
            await wait_ready(urls)
            out: dict[str, Any] = {"servers": count}
            connector = aiohttp.TCPConnector(limit=0)
            async with aiohttp.ClientSession(connector=connector) as session:
                fleet = Fleet(urls, timeout=60)
                started = time.perf_counter()
                await asyncio.gather(*(fleet.send(session, a, a.report()) for a in agents))
                out["first"] = summary(fleet, len(agents), time.perf_counter() - started)

                fleet = Fleet(urls, timeout=60)
                sent = 0
                deadline = time.perf_counter() + args.seconds

                async def loop(agent: Agent) -> None:
                    nonlocal sent
                    while time.perf_counter() < deadline:
                        await fleet.send(session, agent, agent.report(random.random() < 0.1))
                        sent += 1

                started = time.perf_counter()
                await asyncio.gather(*(loop(a) for a in agents))
                out["steady"] = summary(fleet, sent, time.perf_counter() - started)

                if args.burst:
                    burst = [Agent(run_id + "b", i, pool) for i in range(args.burst)]
                    make_tokens(burst, env, count)
                    fleet = Fleet(urls, timeout=30)
                    started = time.perf_counter()
                    codes = await asyncio.gather(
                        *(fleet.send(session, a, a.report()) for a in burst)
                    )
                    out["burst"] = {
                        **summary(fleet, len(burst), time.perf_counter() - started),
                        "applied": sum(1 for c in codes if c in (200, 201)),
                    }
            out["duplicates"] = duplicates(args, password, [a.uuid for a in agents])
            return out
        finally:
            for proc in procs:
                proc.terminate()
            for proc in procs:
                proc.wait(timeout=30)


def make_tokens(agents: list[Agent], env: dict[str, str], count: int) -> None:
    """One agent token per simulated host, in the servers' shared state (Neo4j): the same
    token works on every server (``tokens[s]`` for server ``s``)."""
    state = open_shared_state(load_settings(environ=env))
    try:
        for agent in agents:
            token = state.create_token("agent", agent.name)[1]
            agent.tokens = [token] * count
    finally:
        state.close()


def duplicates(args: argparse.Namespace, password: str, uuids: list[str]) -> int:
    """Hosts beyond one per agent identity, read from Neo4j itself."""
    from neo4j import GraphDatabase

    from cmdb.graph.identity import canonical_uuid

    keys = [canonical_uuid(u) for u in uuids]
    with GraphDatabase.driver(args.neo4j_uri, auth=("neo4j", password)) as driver:
        records, _, _ = driver.execute_query(
            "UNWIND $keys AS k MATCH (h:Host {key_system_uuid: k}) RETURN count(h) AS n",
            keys=keys,
        )
    return records[0]["n"] - len(keys)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--neo4j-uri", default="bolt://127.0.0.1:7689")
    parser.add_argument(
        "--neo4j-password-file", default=str(REPO / ".cache" / "neo4j-bench" / "password")
    )
    parser.add_argument("--servers", default="1,2,4")
    parser.add_argument("--agents", type=int, default=200)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--burst", type=int, default=0)
    parser.add_argument("--seed", default="fleet")
    args = parser.parse_args()
    password = Path(args.neo4j_password_file).read_text().strip()
    env = neo4j_env(args.neo4j_uri, password)
    results = []
    for count in (int(c) for c in args.servers.split(",")):
        print(f"[fleet] {count} server(s), {args.agents} agents ...", file=sys.stderr)
        results.append(asyncio.run(run(count, args, env, password)))
        print(json.dumps(results[-1]), file=sys.stderr)
    base = results[0]["steady"]["reports_per_s"] or 1
    for r in results:
        r["steady_scaling"] = round(r["steady"]["reports_per_s"] / base, 2)
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
