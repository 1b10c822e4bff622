"""Two ``cmdb server`` processes on one real Neo4j, reports of new things sent to both at
the same moment: one real thing must stay one CI (issue 10, item 6).

Every trial invents its own host(s): system UUID, serial, machine-id, hostname, MAC,
subnet and package names are drawn from a per-run id (printed in every summary), so the
trials need no empty database (Community edition has only one) and never meet other
tests' data. What the servers made is read from Neo4j itself, by those values.

A report the server refuses with a transient status (503 + Retry-After, as the agent's
client classifies it) is sent again, like the agent's spool would; retries are counted and
reported. Anything else that is not 2xx fails the trial.

``CMDB_TEST_RACE_TRIALS`` changes the number of trials (default 20).
"""

from __future__ import annotations

import os
import random
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass, field
from typing import Any

import pytest

from cmdb.agent.client import send_report
from cmdb.server.config import load_settings
from cmdb.server.shared_state import open_shared_state
from tests.processes import cmdb, neo4j_env, running_server
from tests.reports import agent_report, nic

pytestmark = [pytest.mark.e2e, pytest.mark.neo4j]

TRIALS = int(os.environ.get("CMDB_TEST_RACE_TRIALS", "20"))
RUN = uuid.uuid4().hex[:8]  # the seed of every identity value in this run
PACKAGES = 25
MAX_RETRIES = 5  # per report; the agent keeps retrying from its spool, a test must stop
RETRY_AFTER_CAP = 2.0  # seconds: honour Retry-After, but keep the test fast


# ---------------------------------------------------------------- servers


@dataclass
class Cluster:
    """Two server processes on one Neo4j, and a driver to read that Neo4j directly."""

    urls: tuple[str, str]
    agent_tokens: tuple[str, str]
    driver: Any  # neo4j.Driver
    state: Any = None  # the servers' shared state (tokens live in Neo4j)

    def host_token(self, name: str) -> tuple[str, str]:
        """A fresh agent token for one host, the same on both servers (shared state): an
        agent token speaks only for the host its first report describes."""
        token = self.state.create_token("agent", name)[1]
        return token, token


@pytest.fixture(scope="module")
def cluster(neo4j_server, tmp_path_factory) -> Iterator[Cluster]:
    from neo4j import GraphDatabase

    env = neo4j_env(neo4j_server.uri, neo4j_server.password, neo4j_server.user)
    with ExitStack() as stack:
        urls, tokens = [], []
        for name in ("a", "b"):
            # with Neo4j, tokens live in the shared state: one made here works on both
            data_dir = tmp_path_factory.mktemp(f"server-{name}")
            tokens.append(
                cmdb(
                    "token", "create", "--role", "agent", "--data-dir", str(data_dir), env=env
                ).stdout.strip()
            )
            # started one after the other: concurrent schema creation is another test's job
            url, _proc = stack.enter_context(running_server(data_dir, env=env))
            urls.append(url)
        driver = stack.enter_context(
            GraphDatabase.driver(neo4j_server.uri, auth=(neo4j_server.user, neo4j_server.password))
        )
        state = open_shared_state(load_settings(environ=env))
        yield Cluster((urls[0], urls[1]), (tokens[0], tokens[1]), driver, state)
        state.close()


# ---------------------------------------------------------------- invented hosts


@dataclass(frozen=True)
class NewHost:
    hostname: str
    system_uuid: str
    serial: str
    machine_id: str
    mac: str
    address: str  # on a /24

    @property
    def cidr(self) -> str:
        return self.address.rsplit(".", 1)[0] + ".0/24"

    def report(self, packages: list[dict[str, Any]]) -> dict[str, Any]:
        """A first agent report of this host (a fresh report id on every call)."""
        return agent_report(
            hostname=self.hostname,
            system_uuid=self.system_uuid,
            serial=self.serial,
            machine_id=self.machine_id,
            interfaces=[
                nic("lo", None, [("127.0.0.1", 8), ("::1", 128)], kind="loopback"),
                nic("eth0", self.mac, [(self.address, 24)]),
            ],
            packages=packages,
        )


def subnet(rng: random.Random) -> str:
    """A /24 prefix no other trial uses (10.100.0.0 to 10.249.255.0)."""
    return f"10.{rng.randrange(100, 250)}.{rng.randrange(256)}"


def new_host(rng: random.Random, hostname: str, net: str, octet: int) -> NewHost:
    mac = ":".join(["02", *(f"{rng.randrange(256):02x}" for _ in range(5))])  # locally administered
    return NewHost(
        hostname=hostname,
        system_uuid=str(uuid.UUID(int=rng.getrandbits(128), version=4)),
        serial=f"RC{rng.getrandbits(40):010X}",
        machine_id=f"{rng.getrandbits(128):032x}",
        mac=mac,
        address=f"{net}.{octet}",
    )


def new_packages(prefix: str) -> list[dict[str, Any]]:
    return [
        {
            "name": f"{prefix}lib{i}",
            "version": f"2.{i}-1",
            "architecture": "amd64",
            "manager": "dpkg",
        }
        for i in range(PACKAGES)
    ]


# ---------------------------------------------------------------- sending at one moment


@dataclass
class Delivery:
    """Every attempt to have one report acknowledged by one server."""

    server: str
    attempts: list[tuple[int | None, str]] = field(default_factory=list)
    body: dict[str, Any] | None = None

    @property
    def acknowledged(self) -> bool:
        return self.body is not None

    @property
    def retries(self) -> int:
        return max(len(self.attempts) - 1, 0)

    def describe(self) -> str:
        tried = "; ".join(f"{status} {message[:160]}" for status, message in self.attempts)
        answer = ""
        if self.body is not None:
            answer = f" -> {self.body.get('status')} ci {self.body.get('ci_id')}"
            answer += f" created={self.body.get('created')}"
        return f"server {self.server}: [{tried}]{answer}"


def deliver(label: str, url: str, token: str, report: dict[str, Any]) -> Delivery:
    """Send like the agent: gzip, bearer token; retry what its client calls transient."""
    delivery = Delivery(label)
    for _ in range(MAX_RETRIES + 1):
        result = send_report(url, token, report, timeout=60)
        delivery.attempts.append((result.status, result.message))
        if result.ok:
            delivery.body = result.body or {}
            return delivery
        if not result.retry:
            return delivery
        time.sleep(min(result.retry_after or 0.5, RETRY_AFTER_CAP))
    return delivery


def at_once(sends: list[tuple[str, str, str, dict[str, Any]]]) -> list[Delivery]:
    """Each (label, url, token, report) from its own thread, released by one barrier."""
    barrier = threading.Barrier(len(sends))
    out: list[Delivery] = [Delivery(label) for label, *_ in sends]

    def run(i: int, label: str, url: str, token: str, report: dict[str, Any]) -> None:
        try:
            barrier.wait(timeout=30)
            out[i] = deliver(label, url, token, report)
        except Exception as exc:  # a failed thread must fail the trial, not vanish
            out[i].attempts.append((None, f"{type(exc).__name__}: {exc}"))

    threads = [threading.Thread(target=run, args=(i, *s)) for i, s in enumerate(sends)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=300)
    return out


# ---------------------------------------------------------------- what is in Neo4j

HOSTS = (
    "MATCH (h:Host) WHERE h.name STARTS WITH $prefix OR h.system_uuid IN $uuids "
    "RETURN h.id AS id, h.name AS name, h.system_uuid AS system_uuid, "
    "[k IN keys(h) WHERE k STARTS WITH 'key_'] AS keys ORDER BY id"
)
SOFTWARE = (
    "MATCH (s:Software) WHERE s.name STARTS WITH $prefix "
    "OPTIONAL MATCH (h:Host)-[r:INSTALLED]->(s) WHERE r.ended_at IS NULL "
    "RETURN s.id AS id, s.name AS name, collect(h.id) AS hosts"
)
NAMED_COUNT = "MATCH (n) WHERE $label IN labels(n) AND n.name = $name RETURN count(n) AS n"


def hosts_of(driver, prefix: str, uuids: list[str]) -> list[dict[str, Any]]:
    records, _, _ = driver.execute_query(HOSTS, prefix=prefix, uuids=uuids)
    return [dict(r) for r in records]


def software_of(driver, prefix: str) -> list[dict[str, Any]]:
    records, _, _ = driver.execute_query(SOFTWARE, prefix=prefix)
    return [dict(r) for r in records]


def named_count(driver, label: str, name: str) -> int:
    records, _, _ = driver.execute_query(NAMED_COUNT, label=label, name=name)
    return records[0]["n"]


# ---------------------------------------------------------------- verdicts


@dataclass
class Trial:
    number: int
    deliveries: list[Delivery]
    duplicates: list[str] = field(default_factory=list)  # one thing, several CIs
    other: list[str] = field(default_factory=list)  # refused reports, missing keys or links

    @property
    def retries(self) -> int:
        return sum(d.retries for d in self.deliveries)

    def describe(self) -> str:
        lines = [f"trial {self.number}:"]
        lines += [f"  duplicate: {p}" for p in self.duplicates]
        lines += [f"  problem: {p}" for p in self.other]
        lines += [f"  answer {d.describe()}" for d in self.deliveries]
        return "\n".join(lines)


def check_deliveries(trial: Trial) -> None:
    for delivery in trial.deliveries:
        if not delivery.acknowledged:
            trial.other.append(f"report to server {delivery.server} not answered 2xx")


def check_hosts(
    trial: Trial, hosts: list[dict[str, Any]], expected: list[NewHost], keys: frozenset[str]
) -> None:
    """One Host CI per invented host, each with every identity key a lone report gives."""

    def belongs(found: dict[str, Any], host: NewHost) -> bool:
        # by name (short or FQDN) or by the UUID attribute, which a keyless CI still holds
        short = (found["name"] or "").split(".")[0].lower()
        return short == host.hostname or found["system_uuid"] == host.system_uuid

    for host in expected:
        mine = [h for h in hosts if belongs(h, host)]
        if len(mine) > 1:
            trial.duplicates.append(
                f"{len(mine)} Host CIs for {host.hostname} (system_uuid {host.system_uuid}): "
                + ", ".join(f"{h['id']} keys={sorted(h['keys'])}" for h in mine)
            )
        elif not mine:
            trial.other.append(f"no Host CI named {host.hostname}")
        for h in mine:
            missing = keys - set(h["keys"])
            if missing:
                trial.other.append(f"Host {h['id']} lacks identity keys {sorted(missing)}")
    strays = [h for h in hosts if not any(belongs(h, e) for e in expected)]
    if strays:
        trial.duplicates.append(f"Host CIs under other names: {strays}")


def check_software(
    trial: Trial, software: list[dict[str, Any]], packages: list[dict[str, Any]], holders: int
) -> None:
    """Each package one Software CI, INSTALLED (open) from ``holders`` distinct hosts."""
    by_name = Counter(s["name"] for s in software)
    doubled = sorted(name for name, n in by_name.items() if n > 1)
    if doubled:
        trial.duplicates.append(
            f"{len(doubled)} of {len(packages)} packages have several Software CIs "
            f"(e.g. {doubled[0]}: {by_name[doubled[0]]})"
        )
    missing = sorted({p["name"] for p in packages} - set(by_name))
    if missing:
        trial.other.append(f"{len(missing)} packages have no Software CI (e.g. {missing[0]})")
    wrong = []
    for name in sorted(by_name):
        hosts = [h for s in software if s["name"] == name for h in s["hosts"]]
        if len(hosts) != holders or len(set(hosts)) != holders:
            wrong.append(f"{name}: INSTALLED from {hosts}")
    if wrong:
        trial.other.append(
            f"{len(wrong)} packages not INSTALLED from exactly {holders} host(s) (e.g. {wrong[0]})"
        )


def check_single(trial: Trial, driver, label: str, name: str) -> None:
    found = named_count(driver, label, name)
    if found > 1:
        trial.duplicates.append(f"{found} {label} CIs named {name}")
    elif found == 0:
        trial.other.append(f"no {label} CI named {name}")


def verdict(title: str, trials: list[Trial]) -> tuple[bool, str]:
    """(all right, a summary naming every failed trial)."""
    duplicated = [t for t in trials if t.duplicates]
    failed = [t for t in trials if t.duplicates or t.other]
    refused = sum(1 for t in trials for d in t.deliveries if not d.acknowledged)
    retried = sum(1 for t in trials for d in t.deliveries if d.retries)
    statuses = Counter(s for t in trials for d in t.deliveries for s, _ in d.attempts)
    summary = (
        f"{title} (run {RUN}): {len(duplicated)} of {len(trials)} trials made duplicate CIs, "
        f"{len(failed)} failed in all; {refused} reports never answered 2xx; "
        f"{retried} reports retried ({sum(t.retries for t in trials)} retries); "
        f"answers by status: {dict(sorted(statuses.items(), key=str))}"
    )
    detail = "\n".join(t.describe() for t in failed[:6])
    if len(failed) > 6:
        detail += f"\n... and {len(failed) - 6} more failed trials"
    print(summary)
    return not failed, summary + ("\n" + detail if detail else "")


# ---------------------------------------------------------------- tests


@pytest.fixture(scope="module")
def lone_keys(cluster: Cluster) -> frozenset[str]:
    """The identity keys a new host gets when its first report arrives alone: what every
    host made in a race must hold too."""
    rng = random.Random(f"{RUN}:lone")
    host = new_host(rng, f"race-{RUN}-lone", subnet(rng), 5)
    delivery = deliver("A", cluster.urls[0], cluster.host_token(host.hostname)[0], host.report([]))
    assert delivery.acknowledged, delivery.describe()
    hosts = hosts_of(cluster.driver, host.hostname, [host.system_uuid])
    assert len(hosts) == 1, hosts
    assert hosts[0]["keys"], f"a lone new host got no identity keys at all: {hosts[0]}"
    return frozenset(hosts[0]["keys"])


@pytest.mark.parametrize(
    "same_report",
    [True, False],
    ids=["one-report-to-both", "two-first-reports"],
)
def test_one_new_host_reported_to_two_servers_at_once_is_one_ci(
    cluster: Cluster, lone_keys: frozenset[str], same_report: bool
):
    """The same new host's first report reaches server A and server B at the same moment:
    the very same report (an agent's retry through a load balancer), or two first reports
    of one host with different report ids (an agent restarted before it was answered)."""
    trials = []
    for number in range(TRIALS):
        rng = random.Random(f"{RUN}:one:{same_report}:{number}")
        tag = f"race-{RUN}-{'s' if same_report else 'd'}{number:02d}-"
        host = new_host(rng, tag + "host", subnet(rng), 5)
        packages = new_packages(tag)
        first = host.report(packages)
        second = first if same_report else host.report(packages)
        tokens = cluster.host_token(host.hostname)  # the host's own token, on both servers
        trial = Trial(
            number,
            at_once(
                [
                    ("A", cluster.urls[0], tokens[0], first),
                    ("B", cluster.urls[1], tokens[1], second),
                ]
            ),
        )
        check_deliveries(trial)
        hosts = hosts_of(cluster.driver, tag, [host.system_uuid])
        check_hosts(trial, hosts, [host], lone_keys)
        check_software(trial, software_of(cluster.driver, tag), packages, holders=1)
        check_single(trial, cluster.driver, "IPAddress", host.address)
        check_single(trial, cluster.driver, "Network", host.cidr)
        trials.append(trial)
    ok, message = verdict("one new host, two servers", trials)
    assert ok, message


def test_two_new_hosts_sharing_new_packages_at_once_make_one_software_ci_each(
    cluster: Cluster, lone_keys: frozenset[str]
):
    """Two different new hosts on one new subnet, with the same new packages, report at the
    same moment, one to each server: two Host CIs, one Software CI per package with two
    INSTALLED relationships, one Network CI."""
    trials = []
    for number in range(TRIALS):
        rng = random.Random(f"{RUN}:two:{number}")
        tag = f"race-{RUN}-p{number:02d}-"
        net = subnet(rng)
        a = new_host(rng, tag + "a", net, 5)
        b = new_host(rng, tag + "b", net, 6)
        packages = new_packages(tag)
        trial = Trial(
            number,
            at_once(
                [
                    ("A", cluster.urls[0], cluster.host_token(a.hostname)[0], a.report(packages)),
                    ("B", cluster.urls[1], cluster.host_token(b.hostname)[1], b.report(packages)),
                ]
            ),
        )
        check_deliveries(trial)
        hosts = hosts_of(cluster.driver, tag, [a.system_uuid, b.system_uuid])
        check_hosts(trial, hosts, [a, b], lone_keys)
        check_software(trial, software_of(cluster.driver, tag), packages, holders=2)
        check_single(trial, cluster.driver, "Network", a.cidr)
        trials.append(trial)
    ok, message = verdict("two new hosts sharing new packages, two servers", trials)
    assert ok, message
