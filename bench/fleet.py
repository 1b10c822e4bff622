"""Fleet benchmark: simulated agents against 1, 2 and 4 real ``cmdb server`` processes on
one real Neo4j, over HTTP, the way a load balancer spreads them.

    .venv/bin/python bench/fleet.py --neo4j-uri bolt://127.0.0.1:7689 \\
        --neo4j-password-file .cache/neo4j-bench/password [--servers 1,2,4] [--agents 200] \\
        [--seconds 20] [--burst 2000] [--repeat 3] [--warmup 15] [--profile DIR]

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
   timeout, each retrying as the agent's spool does (Retry-After plus up to 25 %, until
   applied): how many were answered 503 + Retry-After and how often each (``503_per_agent``:
   return slots spread them, so few come back to a full server), how many timed out (must
   be 0), how many were applied (must be all), and the seconds until the last was.

Tokens are made in the servers' shared state in Neo4j (one per agent, valid on every
server).

On a shared 2-core machine the wall clock is noisy, so the benchmark also counts CPU: the
CPU seconds the servers, Neo4j (``--neo4j-pid``, else whoever listens on the Bolt port)
and this client spent in the steady phase, per report (``cpu_ms_per_report``): the cost
that decides how far more server processes can go on the same cores; ``servers_runq`` and
``neo4j_runq`` are the milliseconds per report their threads waited for a CPU the machine's
other work held (``/proc/PID/task/*/schedstat``): when they rival the CPU figures, the wall
clock measured the machine's load, not the servers. ``--warmup`` runs an
untimed round first (a cold Neo4j makes the first measured count look slow);
``--repeat`` runs the server counts interleaved (1,2,1,2,...) and reports medians.
``--profile DIR`` samples each server with py-spy (on PATH, or ``--py-spy``) during the
steady phase and writes the hottest functions to ``DIR``.
"""

from __future__ import annotations

import argparse
import asyncio
import gzip
import json
import os
import random
import re
import shutil
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
        # serial, MAC and address drawn from the run's seed too: runs never share a weak
        # identity key, so a database that kept earlier runs does not slow identification
        self.serial = f"S-{run}-{index}"
        self.mac = "52:54:" + ":".join(f"{rng.randrange(256):02x}" for _ in range(4))
        self.address = f"10.{rng.randrange(256)}.{rng.randrange(256)}.{rng.randrange(1, 255)}"
        self.packages = {p: f"1.{rng.randint(0, 9)}" for p in rng.sample(pool, 300)}
        self.last_applied: str | None = None
        self.tokens: list[str] = []
        self.sequence = 0
        self._full: dict[str, Any] | None = None  # the last full report built
        self._sections_json = ""

    def report(self, delta: bool = False) -> dict[str, Any]:
        """The next report: a full one (unchanged since the last), or with ``delta`` two
        packages upgraded and only the sections a delta carries. The sections are built
        once per change, as an agent keeps its last collection: the client's own CPU is
        not what this benchmark measures (it shares the machine with the servers)."""
        if delta:
            for name in random.sample(sorted(self.packages), 2):
                major, minor = self.packages[name].split(".", 1)
                self.packages[name] = f"{major}.{int(minor) + 1}"
            self._full = None
        if self._full is None:
            packages = [
                {"name": n, "version": v, "architecture": "amd64", "manager": "dpkg"}
                for n, v in sorted(self.packages.items())
            ]
            self._full = agent_report(
                hostname=self.name,
                system_uuid=self.uuid,
                machine_id=self.machine_id,
                serial=self.serial,
                interfaces=[
                    nic("lo", None, [("127.0.0.1", 8)], kind="loopback"),
                    nic("eth0", self.mac, [(self.address, 16)]),
                ],
                packages=packages,
            )
            self._sections_json = json.dumps(self._full["sections"])
        self.sequence += 1
        body = {
            **self._full,
            "report_id": str(uuid.uuid4()),
            "collected_at": time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime()),
            "sequence": self.sequence,
            "agent_instance": self.uuid,
        }
        if delta and self.last_applied:
            body["sections"] = {
                k: body["sections"][k] for k in ("system", "interfaces", "packages")
            }
            body.update(mode="delta", base_report_id=self.last_applied)
        return body

    def encode(self, report: dict[str, Any]) -> bytes:
        """The report as sent: JSON, gzip level 1 (an unchanged full report reuses the JSON
        of its sections)."""
        if self._full is not None and report["sections"] is self._full["sections"]:
            head = json.dumps({k: v for k, v in report.items() if k != "sections"})
            text = head[:-1] + ', "sections": ' + self._sections_json + "}"
        else:
            text = json.dumps(report)
        return gzip.compress(text.encode(), 1)


class Fleet:
    def __init__(self, urls: list[str], timeout: float, patience: float = 3600.0) -> None:
        self.urls = urls
        self.patience = patience  # seconds a report is retried before it counts as lost
        self.timeout = aiohttp.ClientTimeout(total=timeout)
        self.latencies: list[float] = []
        self.statuses: dict[int, int] = {}
        self.errors: dict[str, int] = {}  # "status: message" of answers other than 2xx/503
        self.timeouts = 0
        self.resets = 0  # connections refused or reset: the agent keeps the report and retries
        self.turn = 0

    async def send(self, session: aiohttp.ClientSession, agent: Agent, report: dict) -> int:
        """One report, retried after 503 + Retry-After (as the agent does); final status."""
        body = agent.encode(report)
        # as the agent's spool: the report is kept and sent again until it is applied (the
        # agent's next collection would replace it after an hour)
        deadline = time.monotonic() + self.patience
        while time.monotonic() < deadline:
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
            except aiohttp.ClientConnectionError:
                # a full listen queue or connection limit: as the agent, keep the report
                # (spooled) and try again after a jittered pause
                self.resets += 1
                await asyncio.sleep(1 + 2 * random.random())
                continue
            self.latencies.append(time.perf_counter() - started)
            self.statuses[status] = self.statuses.get(status, 0) + 1
            if status == 503:
                # the agent's wait (cmdb.agent.runner.retry_wait): Retry-After plus up to 25 %
                await asyncio.sleep(retry * random.uniform(1.0, 1.25))
                continue
            if status == 409 and answer.get("status") == "full_report_required":
                report = agent.report()
                body = agent.encode(report)
                continue
            if status in (200, 201):
                agent.last_applied = report["report_id"]
            else:
                message = ((answer or {}).get("error") or {}).get("message") or ""
                what = f"{status}: {message[:120]}"
                self.errors[what] = self.errors.get(what, 0) + 1
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
        "resets": fleet.resets,
        **({"errors": fleet.errors} if fleet.errors else {}),
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

                pids = {"servers": [p.pid for p in procs], "neo4j": [args.neo4j_pid_value]}
                before = cpu_snapshot(pids)
                profilers = start_profilers(args, procs, count)
                started = time.perf_counter()
                await asyncio.gather(*(loop(a) for a in agents))
                out["steady"] = summary(fleet, sent, time.perf_counter() - started)
                out["steady"]["cpu_ms_per_report"] = cpu_per_report(
                    before, cpu_snapshot(pids), sent
                )
                out["profiles"] = finish_profilers(profilers)

                if args.burst:
                    burst = [Agent(run_id + "b", i, pool) for i in range(args.burst)]
                    make_tokens(burst, env, count)
                    fleet = Fleet(urls, timeout=30)
                    started = time.perf_counter()
                    codes = await asyncio.gather(
                        *(fleet.send(session, a, a.report()) for a in burst)
                    )
                    seconds = time.perf_counter() - started
                    out["burst"] = {
                        **summary(fleet, len(burst), seconds),
                        "applied": sum(1 for c in codes if c in (200, 201)),
                        "absorbed_s": round(seconds, 1),
                        "503_per_agent": round(fleet.statuses.get(503, 0) / len(burst), 2),
                    }
            out["duplicates"] = duplicates(args, password, [a.uuid for a in agents])
            return out
        finally:
            for proc in procs:
                proc.terminate()
            for proc in procs:
                proc.wait(timeout=30)


# ---------------------------------------------------------------- CPU accounting
def cpu_seconds(pid: int | None) -> float:
    """User + system CPU seconds a process has used (Linux ``/proc/PID/stat`` fields 14 and
    15); 0 when there is no such process."""
    if not pid:
        return 0.0
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def runq_seconds(pid: int | None) -> dict[str, float]:
    """Per thread of a process: seconds it spent runnable but waiting for a CPU (Linux
    ``/proc/PID/task/*/schedstat``, second field), how much the machine's other work
    delayed it. Empty when unknown."""
    out: dict[str, float] = {}
    if not pid:
        return out
    for stat in Path(f"/proc/{pid}/task").glob("*/schedstat"):
        try:
            out[f"{pid}/{stat.parent.name}"] = int(stat.read_text().split()[1]) / 1e9
        except (OSError, IndexError, ValueError):
            continue
    return out


def cpu_snapshot(pids: dict[str, list[int | None]]) -> dict[str, Any]:
    """CPU seconds so far per role (servers, neo4j) and for this client, and per thread
    the seconds the servers' and Neo4j's threads waited for a CPU (``*_runq``)."""
    snap: dict[str, Any] = {r: sum(cpu_seconds(p) for p in g) for r, g in pids.items()}
    for role, group in pids.items():
        snap[f"{role}_runq"] = {k: v for p in group for k, v in runq_seconds(p).items()}
    usage = os.times()
    snap["client"] = usage.user + usage.system
    return snap


def cpu_per_report(before: dict[str, Any], after: dict[str, Any], reports: int) -> dict:
    """Milliseconds per report of each role between two snapshots (a thread that ended in
    between is left out of the waits)."""
    out = {}
    for role, start in before.items():
        if isinstance(start, dict):
            spent = sum(v - start.get(k, 0.0) for k, v in after[role].items())
        else:
            spent = after[role] - start
        out[role] = round(1000 * spent / max(1, reports), 2)
    return out


def neo4j_pid(uri: str) -> int | None:
    """The process listening on the Bolt port of ``uri`` (``ss -ltnp``), when it is local."""
    port = uri.rsplit(":", 1)[-1].split("/")[0]
    try:
        listing = subprocess.run(
            ["ss", "-ltnpH", f"sport = :{port}"], capture_output=True, text=True, check=False
        ).stdout
    except OSError:
        return None
    found = re.search(r"pid=(\d+)", listing)
    return int(found.group(1)) if found else None


# ---------------------------------------------------------------- profiles (py-spy)
def start_profilers(args: argparse.Namespace, procs, count: int) -> list[tuple[Path, Any]]:
    """One ``py-spy record`` per server for the steady phase (raw collapsed stacks)."""
    if not args.profile:
        return []
    spy = args.py_spy or shutil.which("py-spy")
    if not spy:
        raise SystemExit("--profile needs py-spy: pip install py-spy, or give --py-spy PATH")
    folder = Path(args.profile)
    folder.mkdir(parents=True, exist_ok=True)
    out = []
    for i, proc in enumerate(procs):
        path = folder / f"servers{count}-{i}-{int(time.time())}.txt"
        command = [
            spy, "record", "--pid", str(proc.pid), "--duration", str(int(args.seconds)),
            "--rate", "50", "--nonblocking", "--format", "raw", "--output", str(path),
        ]  # fmt: skip
        out.append(
            (path, subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE))
        )
    return out


def finish_profilers(profilers: list[tuple[Path, Any]]) -> list[str]:
    """Wait for the profilers; write ``*-top.txt`` beside each profile: the functions with
    the most samples, on the CPU themselves (self) and with what they call (total)."""
    written = []
    for path, proc in profilers:
        proc.wait(timeout=120)
        if not path.exists():
            continue
        self_time: dict[str, int] = {}
        total: dict[str, int] = {}
        samples = 0
        for line in path.read_text().splitlines():
            stack, _, n = line.rpartition(" ")
            if not n.isdigit():
                continue
            count = int(n)
            samples += count
            frames = [f for f in stack.split(";") if f]
            if frames:
                self_time[frames[-1]] = self_time.get(frames[-1], 0) + count
            for frame in set(frames):
                total[frame] = total.get(frame, 0) + count
        lines = [f"{samples} samples (on CPU)", "", "self %  function"]
        for frame, n in sorted(self_time.items(), key=lambda kv: -kv[1])[:40]:
            lines.append(f"{100 * n / max(1, samples):5.1f}  {frame}")
        lines += ["", "total %  function"]
        for frame, n in sorted(total.items(), key=lambda kv: -kv[1])[:60]:
            lines.append(f"{100 * n / max(1, samples):5.1f}  {frame}")
        top = path.with_name(path.stem + "-top.txt")
        top.write_text("\n".join(lines) + "\n")
        written.append(str(top))
    return written


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
    parser.add_argument("--neo4j-pid", type=int, help="Neo4j's process (CPU accounting)")
    parser.add_argument("--servers", default="1,2,4")
    parser.add_argument("--agents", type=int, default=200)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--burst", type=int, default=0)
    parser.add_argument("--seed", default="fleet")
    parser.add_argument(
        "--in-flight", type=int, help="each server's max_reports_in_flight (its default)"
    )
    parser.add_argument("--repeat", type=int, default=1, help="interleaved runs per count")
    parser.add_argument("--warmup", type=float, default=10.0, help="untimed seconds first")
    parser.add_argument("--profile", help="py-spy each server's steady phase into DIR")
    parser.add_argument("--py-spy", help="the py-spy executable (default: on PATH)")
    args = parser.parse_args()
    password = Path(args.neo4j_password_file).read_text().strip()
    env = neo4j_env(args.neo4j_uri, password)
    if args.in_flight:
        env["CMDB_MAX_REPORTS_IN_FLIGHT"] = str(args.in_flight)
    args.neo4j_pid_value = args.neo4j_pid or neo4j_pid(args.neo4j_uri)
    counts = [int(c) for c in args.servers.split(",")]
    if args.warmup > 0:
        print(f"[fleet] warm-up: 1 server, {args.warmup:.0f} s (not reported) ...", file=sys.stderr)
        warm = argparse.Namespace(
            **{**vars(args), "seconds": args.warmup, "burst": 0, "profile": None}
        )
        asyncio.run(run(1, warm, env, password))
    results = []
    for repeat in range(args.repeat):
        for count in counts:
            print(
                f"[fleet] {count} server(s), {args.agents} agents, run {repeat + 1} ...",
                file=sys.stderr,
            )
            results.append(asyncio.run(run(count, args, env, password)))
            print(json.dumps(results[-1]), file=sys.stderr)
    medians = {}
    for count in counts:
        mine = [r for r in results if r["servers"] == count]
        cpu = [r["steady"]["cpu_ms_per_report"] for r in mine]
        medians[count] = {
            "reports_per_s": statistics.median(r["steady"]["reports_per_s"] for r in mine),
            "p50_ms": statistics.median(r["steady"]["p50_ms"] for r in mine),
            "p95_ms": statistics.median(r["steady"]["p95_ms"] for r in mine),
            "cpu_ms_per_report": {k: statistics.median(c[k] for c in cpu) for k in cpu[0]},
            "duplicates": sum(r["duplicates"] for r in mine),
            "burst_timeouts": sum(r.get("burst", {}).get("timeouts", 0) for r in mine),
            "burst_resets": sum(r.get("burst", {}).get("resets", 0) for r in mine),
            "burst_lost": sum(
                r["burst"]["reports"] - r["burst"]["applied"] for r in mine if "burst" in r
            ),
        }
    base = medians[counts[0]]["reports_per_s"] or 1
    for count in counts:
        medians[count]["steady_scaling"] = round(medians[count]["reports_per_s"] / base, 2)
    print(json.dumps({"runs": results, "medians": medians}, indent=2))


if __name__ == "__main__":
    main()
