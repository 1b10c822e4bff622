"""Builders of realistic agent reports for tests and benchmarks."""

from __future__ import annotations

import copy
import uuid
from datetime import datetime
from typing import Any

from cmdb.collectors.model import Report
from cmdb.server.ingest import Ingestor


def agent_report(
    hostname: str = "web1",
    system_uuid: str | None = "4c4c4544-0042-3510-8057-b4c04f4a4d32",
    machine_id: str | None = "5f2d0c7a9b1e4d3c8a6f0e1d2c3b4a59",
    serial: str | None = "7XK2M33",
    manufacturer: str | None = "Dell Inc.",
    interfaces: list[dict[str, Any]] | None = None,
    packages: int | list[dict[str, Any]] | None = 20,
    listening: list[dict[str, Any]] | None = None,
    connections: list[dict[str, Any]] | None = None,
    collected_at: str = "2026-11-28T10:00:00.000Z",
    report_id: str | None = None,
    drop: tuple[str, ...] = (),
) -> dict[str, Any]:
    if interfaces is None:
        interfaces = [
            nic("lo", None, [("127.0.0.1", 8), ("::1", 128)], kind="loopback"),
            nic("eth0", "52:54:00:12:34:56", [("10.20.0.5", 24), ("fe80::5054:ff:fe12:3456", 64)]),
        ]
    if isinstance(packages, int):
        packages = [
            {"name": f"pkg{i}", "version": f"1.{i}", "architecture": "amd64", "manager": "dpkg"}
            for i in range(packages)
        ]
    if listening is None:
        listening = [
            {"protocol": "tcp", "address": "0.0.0.0", "port": 22, "pid": 812, "process": "sshd"},
            {"protocol": "tcp6", "address": "::", "port": 22, "pid": 812, "process": "sshd"},
        ]
    sections: dict[str, Any] = {
        "system": {
            "hostname": hostname,
            "fqdn": f"{hostname}.example.net",
            "machine_id": machine_id,
            "system_uuid": system_uuid,
            "manufacturer": manufacturer,
            "product": "PowerEdge R640",
            "serial": serial,
        },
        "os": {
            "name": "Debian GNU/Linux",
            "version": "12",
            "id": "debian",
            "kernel": "6.1.0-27-amd64",
            "architecture": "x86_64",
            "boot_time": "2026-11-01T08:00:00Z",
        },
        "cpu": {"model": "Intel Xeon Gold 6230", "sockets": 2, "cores": 40, "threads": 80},
        "memory": {"total_bytes": 256 << 30, "swap_bytes": 8 << 30},
        "interfaces": interfaces,
        "packages": packages,
        "listening": listening,
        "connections": connections or [],
    }
    for name in drop:
        sections.pop(name, None)
    return {
        "schema_version": 1,
        "report_id": report_id or str(uuid.uuid4()),
        "source": "agent",
        "collected_at": collected_at,
        "collector": {"name": "test"},
        "sections": copy.deepcopy(sections),
        "notes": [{"section": s, "message": "not readable in this test"} for s in drop],
    }


def nic(
    name: str,
    mac: str | None,
    addresses: list[tuple[str, int]],
    kind: str = "ethernet",
    mtu: int = 1500,
) -> dict[str, Any]:
    return {
        "name": name,
        "mac": mac,
        "mtu": mtu,
        "speed_mbps": 1000 if kind == "ethernet" else None,
        "is_up": True,
        "kind": kind,
        "addresses": [
            {"address": a, "prefixlen": p, "family": 6 if ":" in a else 4} for a, p in addresses
        ],
    }


class ReplayIngestor(Ingestor):
    """An ingestor whose server clock reads each report's own ``collected_at``: it replays
    a history (reports days apart) as if every report had arrived the moment it was
    collected, so tests can travel in time without waiting."""

    async def ingest(self, report: dict[str, Any], *args: Any, **kwargs: Any) -> dict[str, Any]:
        moment = datetime.fromisoformat(report["collected_at"].replace("Z", "+00:00"))
        self.clock = lambda: moment
        return await super().ingest(report, *args, **kwargs)


def switch_scan(
    name: str,
    address: str,
    collected_at: str,
    interfaces: list[dict[str, Any]] | None = None,
    fdb: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """An SNMP scan of a Cisco C2960X switch named ``name`` at ``address``: its
    ``interfaces``, its forwarding table ``fdb`` (the section left out when None), no LLDP
    neighbours and no chassis (without a bridge, identified by its address alone)."""
    sections: dict[str, Any] = {
        "system": {
            "descr": "Cisco IOS Software, C2960X Software",
            "object_id": "1.3.6.1.4.1.9.1.1208",
            "uptime_ticks": 100,
            "contact": None,
            "name": name,
            "location": None,
            "enterprise": 9,
            "vendor": "ciscoSystems",
        },
        "device": {"host": address, "port": 161, "chassis": None},
        "interfaces": interfaces or [],
        "lldp": [],
    }
    if fdb is not None:
        sections["fdb"] = fdb
    report = Report(source="snmp", sections=sections, collected_at=collected_at).to_json()
    report["report_id"] = str(uuid.uuid4())
    return report


def replay_clock(ingestor: Ingestor) -> None:
    """Make a running server's ingestor receive each report at the time it says it was
    collected (what ``ReplayIngestor`` does, for an ingestor the app already built)."""
    inner = ingestor.ingest

    async def ingest(report: dict[str, Any], *args: Any, **kwargs: Any) -> dict[str, Any]:
        moment = datetime.fromisoformat(report["collected_at"].replace("Z", "+00:00"))
        ingestor.clock = lambda: moment
        return await inner(report, *args, **kwargs)

    ingestor.ingest = ingest  # type: ignore[method-assign]
