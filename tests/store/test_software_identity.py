"""One package, two views: the agent's package database and an SNMP scan's
hrSWInstalledTable of the same host make one Software CI and one INSTALLED relationship,
on both stores.

The SNMP report is built like ``tests/fixtures/cases/host/rename-snmp-lag/s1-*.json`` (a
net-snmp Linux host) and carries the agent's hostname and primary MAC, the evidence that
joins it to the agent's Host; the rows of its ``software`` section have the shape of
``cmdb.collectors.snmp.records.InstalledSoftware``.
"""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from cmdb.server.ingest import Ingestor
from tests.reports import agent_report

pytestmark = pytest.mark.asyncio

MAC = "52:54:00:12:34:56"  # agent_report's eth0
ADDRESS = "10.20.0.5"
DEBIAN = "Linux web1 6.1.0-27-amd64 #1 SMP PREEMPT_DYNAMIC Debian 6.1.115-1 x86_64"
RHEL = "Linux web1 5.14.0-427.13.1.el9_4.x86_64 #1 SMP PREEMPT_DYNAMIC x86_64"

# (the agent's package rows, the same packages as snmpd names them, sysDescr)
DEB_HOST = (
    [
        {"name": "bsdutils", "version": "1:2.38.1-5+deb12u3", "architecture": "amd64",
         "manager": "dpkg", "vendor": "Debian", "install_date": "2026-06-01T08:00:00Z"},
        {"name": "libc6", "version": "2.36-9+deb12u14", "architecture": "amd64",
         "manager": "dpkg"},
        {"name": "adduser", "version": "3.134", "architecture": "all", "manager": "dpkg"},
    ],
    ["bsdutils_1:2.38.1-5+deb12u3_amd64", "libc6_2.36-9+deb12u14_amd64", "adduser_3.134_all"],
    DEBIAN,
)  # fmt: skip
RPM_HOST = (
    [
        {"name": "openssl", "version": "1:3.0.7-27.el9", "architecture": "x86_64",
         "manager": "rpm", "vendor": "Red Hat, Inc."},
        {"name": "python3-setuptools_scm", "version": "6.4.2-5.el9", "architecture": "noarch",
         "manager": "rpm", "vendor": "Red Hat, Inc."},
        {"name": "perl-Pod-Escapes", "version": "1.07-460.el9", "architecture": "noarch",
         "manager": "rpm", "vendor": "Red Hat, Inc."},
    ],
    [
        "openssl-3.0.7-27.el9.x86_64",
        "python3-setuptools_scm-6.4.2-5.el9.noarch",
        "perl-Pod-Escapes-1.07-460.el9.noarch",
    ],
    RHEL,
)  # fmt: skip


def snmp_report(
    installed: list[str], descr: str, hostname: str = "web1", collected_at: str | None = None
) -> dict[str, Any]:
    """A net-snmp scan of the agent_report host: same sysName, eth0 MAC and address."""
    return {
        "schema_version": 1,
        "report_id": str(uuid.uuid4()),
        "source": "snmp",
        "collected_at": collected_at or "2026-11-28T10:05:00.000Z",
        "collector": {"name": "cmdb-snmp", "version": "0.1.0"},
        "sections": {
            "system": {
                "descr": descr,
                "object_id": "1.3.6.1.4.1.8072.3.2.10",
                "uptime_ticks": 8640000,
                "contact": None,
                "name": hostname,
                "location": None,
                "enterprise": 8072,
                "vendor": "net-snmp",
            },
            "device": {"host": ADDRESS, "port": 161, "chassis": None},
            "interfaces": [
                {
                    "index": 1,
                    "name": "lo",
                    "descr": "lo",
                    "alias": None,
                    "type": "softwareLoopback",
                    "mac": None,
                    "speed_mbps": 10,
                    "mtu": 65536,
                    "admin_status": "up",
                    "oper_status": "up",
                },
                {
                    "index": 2,
                    "name": "eth0",
                    "descr": "eth0",
                    "alias": None,
                    "type": "ethernetCsmacd",
                    "mac": MAC,
                    "speed_mbps": 1000,
                    "mtu": 1500,
                    "admin_status": "up",
                    "oper_status": "up",
                },
            ],  # fmt: skip
            "ip_addresses": [
                {"address": "127.0.0.1", "prefixlen": 8, "if_index": 1},
                {"address": ADDRESS, "prefixlen": 24, "if_index": 2},
            ],
            "software": [
                {
                    "index": i,
                    "name": text,
                    "type": "application",
                    "installed": "2026-06-01T08:00:00+00:00",
                }
                for i, text in enumerate(installed, start=1)
            ],  # fmt: skip
        },
        "notes": [],
    }


async def installed_rels(store, host_id: str) -> list:
    return [v for v in await store.relationships(host_id) if v.rel.type == "INSTALLED"]


@pytest.mark.parametrize("case", [DEB_HOST, RPM_HOST], ids=["dpkg", "rpm"])
async def test_agent_and_snmp_views_of_a_package_are_one_ci(store, case):
    packages, installed, descr = case
    ingestor = Ingestor(store)
    agent = await ingestor.ingest(agent_report(packages=packages))
    scan = await ingestor.ingest(snmp_report(installed, descr))
    assert scan["ci_id"] == agent["ci_id"], scan["identification"]
    hosts, host_total = await store.list_cis("Host", None, 10, 0)
    assert host_total == 1

    software, total = await store.list_cis("Software", None, 50, 0)
    assert total == len(packages), sorted((s.name, s.attributes["version"]) for s in software)
    rels = await installed_rels(store, agent["ci_id"])
    assert len(rels) == len(packages)
    assert {v.other.id for v in rels} == {s.id for s in software}
    for view in rels:
        assert view.rel.sources == ["agent", "snmp"]
        installers = [
            r for r in await store.relationships(view.other.id) if r.rel.type == "INSTALLED"
        ]
        assert len(installers) == 1
        assert sorted(view.other.sources) == ["agent", "snmp"]


async def test_the_scan_does_not_erase_what_only_the_agent_knows(store):
    ingestor = Ingestor(store)
    agent = await ingestor.ingest(agent_report(packages=RPM_HOST[0]))
    await ingestor.ingest(snmp_report(RPM_HOST[1], RHEL))
    openssl = next(
        v.other for v in await installed_rels(store, agent["ci_id"]) if v.other.name == "openssl"
    )
    attrs = openssl.attributes
    assert (attrs["ecosystem"], attrs["version"], attrs["arch"]) == (
        "rpm",
        "3.0.7-27.el9",
        "x86_64",
    )
    assert (attrs["epoch"], attrs["vendor"], attrs["manager"]) == ("1", "Red Hat, Inc.", "rpm")


async def test_scan_first_then_agent_also_gives_one_ci(store):
    ingestor = Ingestor(store)
    scan = await ingestor.ingest(
        snmp_report(DEB_HOST[1], DEBIAN, collected_at="2026-11-28T09:55:00.000Z")
    )
    agent = await ingestor.ingest(agent_report(packages=DEB_HOST[0]))
    assert agent["ci_id"] == scan["ci_id"], agent["identification"]
    _, total = await store.list_cis("Software", None, 50, 0)
    assert total == len(DEB_HOST[0])
    bsdutils = next(
        v.other for v in await installed_rels(store, agent["ci_id"]) if v.other.name == "bsdutils"
    )
    # the agent's Origin fills the vendor the scan could not know
    assert bsdutils.attributes["vendor"] == "Debian"
    assert bsdutils.attributes["version"] == "1:2.38.1-5+deb12u3"
