"""The host collector against this real machine, checked with independent tools."""

from __future__ import annotations

import json
import os
import pwd
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import psutil
import pytest
from jsonschema import Draft202012Validator, FormatChecker

import cmdb.collectors.host as host
from cmdb.collectors.host import (
    connections,
    cpu,
    dns,
    interfaces,
    listening,
    memory,
    osinfo,
    packages,
    processes,
)
from cmdb.collectors.model import AGENT_REPORT_SCHEMA, HOST_SECTIONS

ROOT = Path(__file__).resolve().parents[2]
needs_dpkg = pytest.mark.skipif(shutil.which("dpkg-query") is None, reason="no dpkg")
needs_ip = pytest.mark.skipif(shutil.which("ip") is None, reason="no iproute2")


def _run(*cmd: str) -> str:
    return subprocess.run(cmd, capture_output=True, text=True, check=True).stdout


@pytest.fixture(scope="module")
def report():
    return host.collect_report()


def test_report_validates_against_agent_schema(report):
    doc = json.loads(json.dumps(report.to_json()))
    validator = Draft202012Validator(AGENT_REPORT_SCHEMA, format_checker=FormatChecker())
    errors = sorted(validator.iter_errors(doc), key=lambda e: list(e.path))
    assert errors == [], [f"{list(e.path)}: {e.message}" for e in errors]
    assert doc["source"] == "agent"
    assert doc["collector"]["name"] == "cmdb-agent"
    assert isinstance(doc["collector"]["duration_ms"], float)


def test_every_section_present_on_this_machine(report):
    failed = {n.section: n.message for n in report.notes if n.section not in report.sections}
    assert failed == {}
    assert tuple(report.sections) == HOST_SECTIONS
    for name in ("system", "os", "cpu", "memory", "dns"):
        assert not isinstance(report.sections[name], list)
    for name in set(HOST_SECTIONS) - {"system", "os", "cpu", "memory", "dns"}:
        assert isinstance(report.sections[name], list)


def test_collection_is_fast():
    host.collect_report()  # warm imports and page cache
    report = host.collect_report()
    assert report.collector["duration_ms"] < 1000, report.collector


@needs_dpkg
def test_package_count_equals_dpkg_query():
    ours = packages.collect()
    dpkg = [p for p in ours if p.manager == "dpkg"]
    states = _run("dpkg-query", "-W", "-f=${db:Status-Status}\n").splitlines()
    assert len(dpkg) == states.count("installed")
    # the rule in the brief: grep 'install ok installed' of ${Status}, plus held packages
    status = _run("dpkg-query", "-W", "-f=${Status}\n").splitlines()
    grep = sum("install ok installed" in s for s in status)
    held = status.count("hold ok installed")
    assert len(dpkg) == grep + held


@needs_dpkg
def test_package_names_and_versions_equal_dpkg_query():
    listed = _run(
        "dpkg-query", "-W", "-f=${db:Status-Status}\t${Package}\t${Version}\t${Architecture}\n"
    )
    expected = {
        tuple(line.split("\t")[1:])
        for line in listed.splitlines()
        if line.startswith("installed\t")
    }
    ours = {(p.name, p.version, p.architecture) for p in packages.collect() if p.manager == "dpkg"}
    assert ours == expected
    dated = [p for p in packages.collect() if p.install_date]
    assert len(dated) >= 0.9 * len(ours)
    assert all(p.install_date.endswith("Z") for p in dated)


@needs_ip
def test_interface_names_equal_ip_link():
    names = []
    for line in _run("ip", "-o", "link").splitlines():
        names.append(line.split(":", 2)[1].strip().split("@", 1)[0])
    ours = [i.name for i in interfaces.collect()]
    assert sorted(ours) == sorted(names)
    assert len(ours) == len(set(ours))


@needs_ip
def test_addresses_equal_ip_addr():
    expected = set()
    for line in _run("ip", "-o", "addr").splitlines():
        fields = line.split()
        name, family, cidr = fields[1], fields[2], fields[3]
        address, _, prefix = cidr.partition("/")
        expected.add((name, address, int(prefix) if prefix else None, 4 if family == "inet" else 6))
    ours = {
        (i.name, a.address, a.prefixlen, a.family)
        for i in interfaces.collect()
        for a in i.addresses
    }
    assert ours == expected
    assert not any("%" in a for _, a, _, _ in ours)


def test_interface_attributes_match_sysfs():
    for iface in interfaces.collect():
        sysdir = Path("/sys/class/net") / iface.name
        if not sysdir.exists():
            continue
        assert iface.mtu == int((sysdir / "mtu").read_text())
        assert iface.speed_mbps is None or iface.speed_mbps > 0
        if (sysdir / "type").read_text().strip() == "772":
            assert iface.kind == "loopback" and iface.mac is None
        else:
            assert iface.mac == (sysdir / "address").read_text().strip()


def test_cpu_and_memory_match_kernel():
    info = cpu.collect()
    assert info.threads == os.cpu_count()
    assert info.sockets is not None and 1 <= info.sockets <= info.threads
    assert info.cores is not None and info.sockets <= info.cores <= info.threads
    mem = memory.collect()
    assert mem.total_bytes == psutil.virtual_memory().total
    assert mem.swap_bytes == psutil.swap_memory().total


def test_os_matches_platform(report):
    os_info = report.sections["os"]
    assert os_info.kernel == os.uname().release
    assert os_info.architecture == os.uname().machine
    assert os_info.boot_time.endswith("Z")
    assert os_info.name and os_info.id


def test_own_process_listener_and_connection_are_seen():
    server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        server.bind(("127.0.0.1", 0))
        server.listen(1)
        udp.bind(("127.0.0.1", 0))
        client = socket.create_connection(server.getsockname())
        accepted, _ = server.accept()
        try:
            pid = os.getpid()
            mine = {server.getsockname()[1], udp.getsockname()[1]}
            # other tests in this process may hold sockets of their own: look at ours only
            ours = [s for s in listening.collect().value if s.pid == pid and s.port in mine]
            assert {(s.protocol, s.address, s.port) for s in ours} == {
                ("tcp", "127.0.0.1", server.getsockname()[1]),
                ("udp", "127.0.0.1", udp.getsockname()[1]),
            }
            exe = os.readlink("/proc/self/exe")
            assert all(s.exe == exe and s.process for s in ours)
            conns = [c for c in connections.collect() if c.pid == pid]
            pairs = {(c.local_port, c.remote_port, c.status) for c in conns}
            cport, sport = client.getsockname()[1], server.getsockname()[1]
            assert pairs == {(cport, sport, "ESTABLISHED"), (sport, cport, "ESTABLISHED")}
        finally:
            client.close()
            accepted.close()
    finally:
        server.close()
        udp.close()


def test_own_process_is_listed():
    by_pid = {p.pid: p for p in processes.collect()}
    me = by_pid[os.getpid()]
    assert me.exe == os.readlink("/proc/self/exe")
    assert me.user == pwd.getpwuid(os.getuid()).pw_name
    assert me.cmdline and "pytest" in me.cmdline
    assert len(by_pid) >= 0.8 * len([n for n in os.listdir("/proc") if n.isdigit()])


def test_missing_sources_become_notes_not_crashes(monkeypatch, tmp_path):
    missing = str(tmp_path / "does-not-exist")
    monkeypatch.setattr(packages, "DPKG_STATUS", missing)
    monkeypatch.setattr(packages.shutil, "which", lambda _name: None)
    monkeypatch.setattr(dns, "RESOLV_CONF", missing)
    monkeypatch.setattr(osinfo, "OS_RELEASE_PATHS", (missing,))
    monkeypatch.setattr(memory, "MEMINFO_PATH", missing)
    monkeypatch.setattr(interfaces, "PROC_NET_DEV", missing)

    def boom():
        raise RuntimeError("simulated collector bug")

    monkeypatch.setattr(cpu, "collect", boom)
    report = host.collect_report()
    lost = {"packages", "dns", "os", "memory", "interfaces", "cpu"}
    assert lost.isdisjoint(report.sections)
    assert set(report.sections) == set(HOST_SECTIONS) - lost
    notes = {n.section: n.message for n in report.notes}
    assert lost <= set(notes)
    assert "no package database" in notes["packages"]
    assert missing in notes["dns"] and "No such file" in notes["dns"]
    assert notes["cpu"] == "RuntimeError: simulated collector bug"
    errors = list(Draft202012Validator(AGENT_REPORT_SCHEMA).iter_errors(report.to_json()))
    assert errors == []


def test_section_subset_and_unknown_section():
    report = host.collect_report(["dns", "memory"])
    assert list(report.sections) == ["dns", "memory"]
    with pytest.raises(ValueError, match="unknown host section 'bogus'"):
        host.collect_report(["bogus"])


def test_module_entry_point_prints_report():
    out = subprocess.run(
        [sys.executable, "-m", "cmdb.collectors.host", "--sections", "os,dns"],
        capture_output=True,
        text=True,
        check=True,
        cwd=ROOT,
    ).stdout
    doc = json.loads(out)
    assert set(doc["sections"]) == {"os", "dns"}
    assert doc["sections"]["os"]["kernel"] == os.uname().release
