"""Remote pollers (issue 15, item 6) against two real servers on one real Neo4j: a poller
pulls its site's schedules from one server, scans the simulated devices (snmpsim on
loopback) and posts their reports; the run is a scan record every server shows. Device
claims: of two pollers claiming the same devices at once, each device goes to one of
them until it is released or its claim expires. Credentials received encrypted: a poller
holding no credentials registers its key, receives the schedule's SNMPv3 profile sealed
to it and scans Debian snmpd with it; no server answer, log or Neo4j node holds the
secrets in clear, and a second key on the same token is refused until an admin removes
the first. Also: the compose file and the poller's systemd unit (item 7)."""

from __future__ import annotations

import configparser
import json
import os
import shlex
import stat
import threading
import time
import uuid
from pathlib import Path

import pytest
import yaml
from cryptography.fernet import Fernet

from tests.integration.test_fleet_shared_state import call
from tests.processes import cmdb, neo4j_env, running_server
from tests.snmp.conftest import snmpd_v3, snmpsim_devices  # noqa: F401 - the fixtures

ROOT = Path(__file__).resolve().parents[2]
RUN = uuid.uuid4().hex[:8]


@pytest.fixture(scope="module")
def servers(neo4j_server, tmp_path_factory):
    env = {
        **neo4j_env(neo4j_server.uri, neo4j_server.password, neo4j_server.user),
        "CMDB_SECRETS_KEY": Fernet.generate_key().decode(),
    }
    cli_dir = tmp_path_factory.mktemp("poller-cli")
    made = {}
    for role in ("admin", "poller", "v3poller"):
        made[role] = cmdb(
            "token", "create", "--role", role.removeprefix("v3"), "--name", f"{role}-{RUN}",
            "--data-dir", str(cli_dir), env=env,
        ).stdout.strip()  # fmt: skip
    dirs = (tmp_path_factory.mktemp("poller-a"), tmp_path_factory.mktemp("poller-b"))
    with (
        running_server(dirs[0], env=env) as (a, _),
        running_server(dirs[1], env=env) as (b, _),
    ):
        made["logs"] = [d / "server.log" for d in dirs]
        yield (a, b), made, env


@pytest.mark.e2e
@pytest.mark.neo4j
def test_device_claims_go_to_one_poller_at_a_time(servers):
    (a, b), tokens, _ = servers
    targets = [f"10.250.{int(RUN[:2], 16)}.{i}:161" for i in range(1, 41)]  # this run's
    granted: dict[str, list[str]] = {}

    def claim(name: str, url: str) -> None:
        body = {"targets": targets, "ttl": 2, "poller": name}
        status, answer = call(url, tokens["poller"], "POST", "/api/v1/poller/claims", body)
        assert status == 200, answer
        granted[name] = answer["granted"]

    threads = [threading.Thread(target=claim, args=(n, u)) for n, u in (("p1", a), ("p2", b))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not set(granted["p1"]) & set(granted["p2"]), "a device went to two pollers"
    assert sorted(granted["p1"] + granted["p2"]) == sorted(targets)
    loser = "p2" if granted["p1"] else "p1"
    winner = "p1" if loser == "p2" else "p2"
    # released by its holder: the other poller gets it at once
    held = granted[winner][:5]
    body = {"targets": held, "poller": winner}
    assert call(a, tokens["poller"], "POST", "/api/v1/poller/release", body)[0] == 200
    body = {"targets": held, "ttl": 60, "poller": loser}
    assert call(b, tokens["poller"], "POST", "/api/v1/poller/claims", body)[1]["granted"] == held
    # expired (ttl 2 s): the rest goes to the other poller too
    rest = granted[winner][5:]
    body = {"targets": rest, "ttl": 60, "poller": loser}
    assert call(b, tokens["poller"], "POST", "/api/v1/poller/claims", body)[1]["granted"] == []
    time.sleep(2.5)
    assert sorted(
        call(a, tokens["poller"], "POST", "/api/v1/poller/claims", body)[1]["granted"]
    ) == sorted(rest)
    # an admin token is not a poller
    assert call(a, tokens["admin"], "POST", "/api/v1/poller/claims", body)[0] == 403


@pytest.mark.e2e
@pytest.mark.neo4j
@pytest.mark.snmp
def test_poller_runs_its_sites_schedule_and_posts_device_reports(
    servers,
    snmpsim_devices,  # noqa: F811 - the fixture imported above
    tmp_path,
):
    (a, b), tokens, env = servers
    addresses = sorted(snmpsim_devices.devices)
    site = f"lab-{RUN}"
    schedule = {
        "name": f"site-{RUN}",
        "cron": "* * * * * */2",
        "targets": ",".join(addresses),
        "port": snmpsim_devices.port,
        "timeout": 0.5,
        "retries": 0,
        "site": site,  # no credentials: the poller holds them
    }
    status, saved = call(a, tokens["admin"], "POST", "/api/v1/schedules", schedule)
    assert status == 201, saved
    # servers never run a site's schedule themselves
    assert (
        call(b, tokens["admin"], "POST", f"/api/v1/schedules/{schedule['name']}/run", {})[0] == 409
    )
    token_file = tmp_path / "token"
    token_file.write_text(tokens["poller"])
    credentials = tmp_path / "credentials.toml"
    credentials.write_text(
        f'[[credentials]]\nversion = "2c"\ncommunity = "{snmpsim_devices.community}"\n'
    )
    time.sleep(2.1)  # the schedule is due
    done = cmdb(
        "poller", "run", "--once", "--site", site, "--server", a,
        "--token-file", str(token_file), "--credentials", str(credentials),
        "--state-dir", str(tmp_path / "state"), env=env, timeout=300,
    )  # fmt: skip
    runs = json.loads(done.stdout.strip().splitlines()[-1])
    assert [r["schedule"] for r in runs] == [schedule["name"]], done.stderr[-2000:]
    run = runs[0]
    assert run["status"] == "done" and run["counts"]["devices"] == len(addresses), run
    # the run is a scan record on every server, and the devices are CIs
    # (read through server b: the record is shared; allow b a moment on a loaded machine)
    deadline = time.monotonic() + 30
    while True:
        scan = call(b, tokens["admin"], "GET", f"/api/v1/scans/{run['scan_id']}")[1]
        if scan["status"] != "running" or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    assert scan["status"] == "done" and scan["schedule"] == schedule["name"], scan
    status, found = call(b, tokens["admin"], "GET", "/api/v1/cis?class=NetworkDevice&limit=1000")
    assert status == 200 and found["items"], found
    call(a, tokens["admin"], "DELETE", f"/api/v1/schedules/{schedule['name']}")


@pytest.mark.e2e
@pytest.mark.neo4j
@pytest.mark.snmp
def test_poller_receives_the_schedules_credentials_sealed_to_its_key(
    servers,
    snmpd_v3,  # noqa: F811 - the fixture imported above
    neo4j_server,
    tmp_path,
):
    (a, b), tokens, env = servers
    token, admin = tokens["v3poller"], tokens["admin"]
    site = f"v3-{RUN}"
    secrets = (snmpd_v3.auth_password, snmpd_v3.priv_password)
    schedule = {
        "name": f"v3-{RUN}",
        "cron": "* * * * * */2",
        "targets": snmpd_v3.host,
        "port": snmpd_v3.port,
        "timeout": 2,
        "retries": 1,
        "site": site,
        "credentials": [
            {
                "version": "3",
                "user": snmpd_v3.user,
                "auth_protocol": snmpd_v3.auth_protocol,
                "auth_password": snmpd_v3.auth_password,
                "priv_protocol": snmpd_v3.priv_protocol,
                "priv_password": snmpd_v3.priv_password,
            }
        ],
    }
    status, saved = call(a, admin, "POST", "/api/v1/schedules", schedule)
    assert status == 201, saved
    token_file = tmp_path / "token"
    token_file.write_text(token)
    state_dir = tmp_path / "state"

    def poller(state: Path, check: bool = True):
        return cmdb(
            "poller", "run", "--once", "--site", site, "--server", b, "--token-file",
            str(token_file), "--state-dir", str(state), env=env, timeout=300, check=check,
        )  # fmt: skip

    time.sleep(2.1)  # the schedule is due
    done = poller(state_dir)  # holds no credentials: it scans with what it receives
    runs = json.loads(done.stdout.strip().splitlines()[-1])
    assert [r["schedule"] for r in runs] == [schedule["name"]], done.stderr[-2000:]
    assert runs[0]["status"] == "done" and runs[0]["counts"]["devices"] == 1, runs[0]
    # the private key: made at first run, 0600 in a 0700 directory
    key_file = state_dir / "poller.key"
    assert stat.S_IMODE(os.stat(key_file).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(state_dir).st_mode) == 0o700
    # the key is registered on the token; the run names the key its profiles went to
    keys = call(a, admin, "GET", "/api/v1/poller/keys")[1]["items"]
    mine = [k for k in keys if k["token_name"] == f"v3poller-{RUN}"]
    assert len(mine) == 1 and mine[0]["site"] == site, keys
    scan = call(a, admin, "GET", f"/api/v1/scans/{runs[0]['scan_id']}")[1]
    assert scan["status"] == "done" and scan["credentials_sent_to"] == mine[0]["fingerprint"]
    assert scan["credentials"][0]["user"] == snmpd_v3.user
    found = call(a, admin, "GET", f"/api/v1/cis?q={snmpd_v3.sys_name}")[1]  # a Host over SNMP
    assert snmpd_v3.sys_name in [c["name"] for c in found["items"]], found

    # a second key on the same token is refused (stolen token, or a replaced poller) ...
    other = poller(tmp_path / "other-state", check=False)
    assert other.returncode != 0 and "already has key" in other.stderr, other.stderr
    assert mine[0]["fingerprint"] in other.stderr
    # ... until an admin removes the registration; then the new key registers
    forgot = cmdb(
        "poller", "forget-key", str(mine[0]["token_id"]), "--server", a, "--token", admin,
        env=env,
    )  # fmt: skip
    assert "forgotten" in forgot.stdout
    assert poller(tmp_path / "other-state").returncode == 0
    keys = call(b, admin, "GET", "/api/v1/poller/keys")[1]["items"]
    assert [k["fingerprint"] for k in keys if k["token_name"] == f"v3poller-{RUN}"] != [
        mine[0]["fingerprint"]
    ]

    # the secrets in clear: in no answer, no server log, no Neo4j node
    answers = [
        call(url, admin, "GET", path)[1]
        for url in (a, b)
        for path in ("/api/v1/schedules", f"/api/v1/scans/{runs[0]['scan_id']}")
    ]
    answers.append(call(a, token, "GET", f"/api/v1/poller/schedules?site={site}")[1])
    from neo4j import GraphDatabase

    with GraphDatabase.driver(
        neo4j_server.uri, auth=(neo4j_server.user, neo4j_server.password)
    ) as driver:
        stored, _, _ = driver.execute_query(
            "MATCH (n) WHERE any(l IN labels(n) WHERE l STARTS WITH 'Cmdb') "
            "RETURN properties(n) AS p"
        )
    texts = [json.dumps(answers), json.dumps([r["p"] for r in stored], default=str)]
    texts += [log.read_text() for log in tokens["logs"]] + [done.stdout, done.stderr]
    for secret in secrets:
        assert not [t for t in texts if secret in t], "a secret in clear"
    call(a, admin, "DELETE", f"/api/v1/schedules/{schedule['name']}")


def test_compose_runs_two_servers_behind_a_load_balancer_on_neo4j():
    compose = yaml.safe_load((ROOT / "deploy/docker-compose.yml").read_text())
    services = compose["services"]
    servers = {n: s for n, s in services.items() if "server" in (s.get("command") or [])}
    assert len(servers) >= 2, list(services)
    for name, service in servers.items():
        environment = service["environment"]
        assert environment["CMDB_STORE"] == "neo4j" and "--store" in service["command"], name
        assert environment["CMDB_NEO4J_URI"].startswith(("bolt://", "neo4j://")), name
        assert "CMDB_SECRETS_KEY" in environment, name  # one key for every server
    assert len({json.dumps(s["environment"], sort_keys=True) for s in servers.values()}) == 1
    balancers = [
        s for s in services.values() if s.get("image", "").split(":")[0] in ("haproxy", "nginx")
    ]
    assert len(balancers) == 1
    config = compose["configs"]["haproxy"]["content"]
    for name in servers:
        assert f"server {name} {name}:8080" in config
    assert services["neo4j"]["image"].startswith("neo4j:")


def test_poller_unit_runs_the_poller_command():
    from cmdb.server.cli import build_parser

    parser = configparser.ConfigParser(strict=False, interpolation=None)
    parser.optionxform = str
    parser.read_string((ROOT / "deploy/systemd/cmdb-poller.service").read_text())
    argv = shlex.split(parser["Service"]["ExecStart"])
    assert argv[0].endswith("/cmdb")
    args = build_parser().parse_args(argv[1:])
    assert args.func.__name__ == "cmd_poller_run"
    assert args.site and args.server and args.token_file and args.config
