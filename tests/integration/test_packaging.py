"""The light agent's packaging: its command path imports no server code, its wheel and
Debian package hold only the agent and pull only psutil and netifaces, and the systemd
units are valid and hardened."""

from __future__ import annotations

import configparser
import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SYSTEMD = ROOT / "deploy" / "systemd"
HEAVY = (
    "aiohttp", "neo4j", "pysnmp", "cmdb.server", "cmdb.graph", "yaml", "croniter", "tqdm",
)  # fmt: skip
HARDENING = {
    "NoNewPrivileges": "yes",
    "ProtectSystem": "strict",
    "ProtectHome": "yes",
    "PrivateTmp": "yes",
    "ProtectKernelTunables": "yes",
    "ProtectControlGroups": "yes",
    "RestrictNamespaces": "yes",
    "SystemCallArchitectures": "native",
    "UMask": "0077",
}


def _modules_after(argv: list[str]) -> set[str]:
    """Top-level modules (and ``cmdb.*`` packages) loaded by ``python -m cmdb.agent ARGV``,
    run in a child."""
    code = (
        "import sys, runpy, json\n"
        f"sys.argv = ['agent', *{argv!r}]\n"
        "try:\n    runpy.run_module('cmdb.agent', run_name='__main__')\n"
        "except SystemExit:\n    pass\n"
        "names = {'.'.join(m.split('.')[: 2 if m.startswith('cmdb.') else 1])\n"
        "         for m in sys.modules}\n"
        "sys.stderr.write('MODULES' + json.dumps(sorted(names)))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=120
    )
    return set(json.loads(done.stderr.rsplit("MODULES", 1)[1]))


def test_agent_command_path_imports_only_collection_and_sending(tmp_path):
    loaded = _modules_after(["collect", "--sections", "system,os"])
    assert {"cmdb.agent", "cmdb.collectors", "psutil"} <= loaded
    assert not loaded & set(HEAVY), loaded & set(HEAVY)
    # the sending path too: a run against a closed port spools and exits 3
    loaded = _modules_after(
        ["run", "--once", "--server", "http://127.0.0.1:9", "--token", "t"]
        + ["--spool-dir", str(tmp_path / "spool")]
    )
    assert not loaded & set(HEAVY), loaded & set(HEAVY)
    assert "http" in loaded


def _unit(path: Path) -> configparser.ConfigParser:
    parser = configparser.ConfigParser(strict=False, interpolation=None)
    parser.optionxform = str  # keep the keys' case
    parser.read_string(path.read_text())
    return parser


@pytest.mark.parametrize("name", ["cmdb-agent", "cmdb-server", "cmdb-poller"])
def test_units_are_hardened(name):
    service = _unit(SYSTEMD / f"{name}.service")["Service"]
    for key, value in HARDENING.items():
        assert service.get(key) == value, (name, key)
    # a user of its own: made up per run, or the dedicated cmdb user
    assert service.get("DynamicUser") == "yes" or service.get("User") == "cmdb"
    assert service.get("StateDirectory", "").startswith("cmdb")
    assert service.get("StateDirectoryMode") == "0700"
    # a repeated key adds to the filter: read the lines, not the parser's last value
    text = (SYSTEMD / f"{name}.service").read_text()
    assert "SystemCallFilter=@system-service" in text
    assert "SystemCallFilter=~@privileged" in text


def test_agent_timer_and_token_as_credential():
    service = _unit(SYSTEMD / "cmdb-agent.service")
    assert service["Service"]["Type"] == "oneshot"
    assert "--once" in service["Service"]["ExecStart"]
    assert service["Service"]["LoadCredential"].startswith("token:")
    assert "--token " not in service["Service"]["ExecStart"]  # never in ps
    timer = _unit(SYSTEMD / "cmdb-agent.timer")
    assert timer["Timer"]["OnUnitActiveSec"] == "1h" and timer["Timer"]["RandomizedDelaySec"]


@pytest.mark.skipif(not shutil.which("systemd-analyze"), reason="no systemd-analyze")
def test_units_pass_systemd_analyze_verify(tmp_path):
    """Each unit verified with its ExecStart pointed at an executable that exists here."""
    for unit in sorted(SYSTEMD.glob("cmdb-*.*")):
        text = unit.read_text()
        for exe in ("/usr/bin/cmdb-agent", "/usr/local/bin/cmdb"):
            text = text.replace(exe, "/bin/true")
        (tmp_path / unit.name).write_text(text)
    units = sorted(str(p) for p in tmp_path.iterdir())
    done = subprocess.run(
        ["systemd-analyze", "verify", "--man=no", *units],
        capture_output=True,
        text=True,
        timeout=120,
    )
    problems = [
        line
        for line in done.stderr.splitlines()
        # systemd-analyze in a container without systemd as PID 1 says so; not a unit problem
        if line.strip() and "cmdb" in line
    ]
    assert not problems, done.stderr


@pytest.fixture(scope="module")
def deb(tmp_path_factory):
    if not shutil.which("dpkg-deb"):
        pytest.skip("no dpkg-deb")
    out = tmp_path_factory.mktemp("deb")
    done = subprocess.run(
        ["bash", str(ROOT / "deploy" / "build-agent-deb.sh"), str(out)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    return Path(done.stdout.strip().splitlines()[-1])


def test_deb_control_and_contents(deb):
    info = subprocess.run(
        ["dpkg-deb", "--field", str(deb)], capture_output=True, text=True, check=True
    ).stdout
    fields = dict(line.split(": ", 1) for line in info.splitlines() if ": " in line)
    assert fields["Package"] == "cmdb-agent" and fields["Architecture"] == "all"
    depends = {d.strip().split(" ")[0] for d in fields["Depends"].split(",")}
    assert depends == {"python3", "python3-psutil", "python3-netifaces"}
    contents = subprocess.run(
        ["dpkg-deb", "--contents", str(deb)], capture_output=True, text=True, check=True
    ).stdout
    paths = [line.split()[-1].lstrip(".") for line in contents.splitlines()]
    for wanted in (
        "/usr/bin/cmdb-agent",
        "/usr/lib/cmdb-agent/cmdb/agent/cli.py",
        "/usr/lib/cmdb-agent/cmdb/collectors/host/packages.py",
        "/usr/lib/cmdb-agent/cmdb/collectors/model.py",
        "/lib/systemd/system/cmdb-agent.service",
        "/lib/systemd/system/cmdb-agent.timer",
        "/etc/cmdb-agent/agent.env",
    ):
        assert wanted in paths, wanted
    assert not [p for p in paths if "/server/" in p or "/graph/" in p or "/snmp/" in p]
    assert all(line.startswith(("-rw", "drw", "-rwx", "lrw")) for line in contents.splitlines())
    assert " root/root " in contents
    conffiles = subprocess.run(
        ["dpkg-deb", "--info", str(deb), "conffiles"], capture_output=True, text=True, check=True
    ).stdout
    assert conffiles.split() == ["/etc/cmdb-agent/agent.env"]
    for script in ("postinst", "prerm", "postrm"):
        text = subprocess.run(
            ["dpkg-deb", "--info", str(deb), script], capture_output=True, text=True, check=True
        ).stdout
        subprocess.run(["sh", "-n"], input=text, text=True, check=True)


def test_unpacked_deb_collects_with_debians_python(deb, tmp_path):
    """The package's own command, run by /usr/bin/python3 as once installed."""
    probe = subprocess.run(
        ["/usr/bin/python3", "-I", "-c", "import psutil, netifaces"], capture_output=True
    )
    if probe.returncode != 0:
        pytest.skip("python3-psutil / python3-netifaces are not installed here")
    subprocess.run(["dpkg-deb", "-x", str(deb), str(tmp_path)], check=True)
    done = subprocess.run(
        [str(tmp_path / "usr/bin/cmdb-agent"), "collect", "--compact"],
        capture_output=True,
        text=True,
        timeout=120,
        env={"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8"},
    )
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["sections"]["packages"] and report["sections"]["interfaces"]
    bad = subprocess.run(
        [str(tmp_path / "usr/bin/cmdb-agent"), "run", "--once", "--server", "h:1", "--token", "t"],
        capture_output=True,
        text=True,
        timeout=60,
        env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)},
    )
    assert bad.returncode == 2 and "use http://h:1" in bad.stderr


def test_agent_wheel_needs_only_psutil_and_netifaces(tmp_path):
    if os.environ.get("CMDB_TEST_OFFLINE"):
        pytest.skip("building the wheel needs setuptools from the index")
    done = subprocess.run(
        ["bash", str(ROOT / "deploy" / "build-agent-wheel.sh"), str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    if done.returncode != 0 and "Could not find a version" in done.stderr:
        pytest.skip("no package index reachable for the build environment")
    assert done.returncode == 0, done.stderr
    wheel = next(tmp_path.glob("cmdb_agent-*.whl"))
    with zipfile.ZipFile(wheel) as zf:
        names = zf.namelist()
        metadata = zf.read(next(n for n in names if n.endswith("METADATA"))).decode()
        entry = zf.read(next(n for n in names if n.endswith("entry_points.txt"))).decode()
    requires = sorted(
        line.split(": ", 1)[1].split(">")[0]
        for line in metadata.splitlines()
        if line.startswith("Requires-Dist:")
    )
    assert requires == ["netifaces-plus", "psutil"]
    assert "cmdb-agent = cmdb.agent.cli:main" in entry
    top = {"/".join(n.split("/")[:2]) for n in names if not n.startswith("cmdb_agent-")}
    assert top == {"cmdb/agent", "cmdb/collectors"}, top
    assert not [
        n for n in names if n.startswith(("cmdb/collectors/snmp", "cmdb/server", "cmdb/graph"))
    ]
