"""collect_device against recorded real devices, checked against net-snmp's own
reading of the same simulated endpoint (snmpget / snmpbulkwalk as subprocesses)."""

from __future__ import annotations

import shutil
import subprocess
import time

import pytest

from cmdb.collectors.snmp.convert import enterprise_number
from cmdb.collectors.snmp.inventory import collect_device
from cmdb.collectors.snmp.session import (
    Credential,
    SnmpAuthError,
    SnmpTimeout,
    open_session,
)
from cmdb.collectors.snmp.sweep import sweep
from cmdb.collectors.snmp.vendors import enterprise_name
from deploy.snmpsim.simulator import TEST_DEVICES

pytestmark = [
    pytest.mark.snmp,
    pytest.mark.skipif(not shutil.which("snmpbulkwalk"), reason="net-snmp tools missing"),
]

SILENT = "127.0.9.9"  # a loopback address nothing listens on


# ------------------------------------------------------------------ net-snmp ground truth
def netsnmp(tool: str, host: str, port: int, *oids: str, auth: list[str] | None = None) -> dict:
    """Run snmpget/snmpbulkwalk; return {oid tuple: bytes | int | str}."""
    auth = auth or ["-v2c", "-c", "public"]
    cmd = [tool, *auth, "-On", "-Oqx", "-Oe", "-Ot", "-t", "3", "-r", "1", f"{host}:{port}", *oids]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=120, check=True).stdout
    records: list[list[str]] = []
    for line in out.splitlines():
        if line.startswith(".") and line[1:2].isdigit():
            oid, _, value = line.partition(" ")
            records.append([oid, value])
        elif records:  # long hex strings wrap onto further lines
            records[-1][1] += " " + line
    result: dict = {}
    for oid, value in records:
        key = tuple(int(x) for x in oid.lstrip(".").split("."))
        value = value.strip()
        if value.startswith('"') and value.endswith('"'):
            result[key] = bytes.fromhex(value[1:-1].replace(" ", ""))
        elif value.startswith("No Such") or value.startswith("No more"):
            continue
        elif value.lstrip("-").isdigit():
            result[key] = int(value)
        else:
            result[key] = value
    return result


def walk_rows(host: str, port: int, entry: str, column: int) -> dict[tuple, object]:
    root = tuple(int(x) for x in entry.split(".")) + (column,)
    got = netsnmp("snmpbulkwalk", host, port, ".".join(map(str, root)))
    return {k[len(root) :]: v for k, v in got.items() if k[: len(root)] == root}


def text(v) -> str | None:
    if v is None:
        return None
    s = v.rstrip(b"\x00").decode("utf-8", "replace").strip() if isinstance(v, bytes) else str(v)
    return s or None


def truth(host: str, port: int) -> dict:
    sysname = netsnmp("snmpget", host, port, "1.3.6.1.2.1.1.5.0", "1.3.6.1.2.1.1.2.0")
    object_id = sysname.get((1, 3, 6, 1, 2, 1, 1, 2, 0))
    ent = "1.3.6.1.2.1.47.1.1.1.1"
    classes = walk_rows(host, port, ent, 5)
    contained = walk_rows(host, port, ent, 4)
    chassis = [i for i, c in sorted(classes.items()) if c == 3]
    top = [i for i in chassis if not contained.get(i)]
    pick = (top or chassis or [None])[0]
    model = serial = None
    if pick is not None:
        model = text(walk_rows(host, port, ent, 13).get(pick))
        serial = text(walk_rows(host, port, ent, 11).get(pick))
    lldp = netsnmp("snmpbulkwalk", host, port, "1.0.8802.1.1.2.1.4.1.1")
    cdp = netsnmp("snmpbulkwalk", host, port, "1.3.6.1.4.1.9.9.23.1.2.1.1")
    lldp_rows = {k[11:] for k in lldp if len(k) == 14}  # entry(10) + column + 3-part index
    cdp_rows = {k[14:] for k in cdp if len(k) == 16}  # entry(13) + column + 2-part index
    return {
        "name": text(sysname.get((1, 3, 6, 1, 2, 1, 1, 5, 0))),
        "vendor": enterprise_name(enterprise_number(object_id)),
        "model": model,
        "serial": serial,
        "interfaces": len(walk_rows(host, port, "1.3.6.1.2.1.2.2.1", 1)),
        "neighbors": len(lldp_rows) + len(cdp_rows),
    }


# ------------------------------------------------------------------ recorded devices
@pytest.mark.parametrize("host", list(TEST_DEVICES), ids=list(TEST_DEVICES.values()))
async def test_collect_device_matches_netsnmp(snmpsim_devices, host):
    session = await open_session(host, port=snmpsim_devices.port, timeout=3, retries=1)
    inv = await collect_device(session)
    assert inv.notes == []
    expected = truth(host, snmpsim_devices.port)
    got = {
        "name": inv.system.name,
        "vendor": inv.vendor,
        "model": inv.chassis.model if inv.chassis else None,
        "serial": inv.chassis.serial if inv.chassis else None,
        "interfaces": len(inv.interfaces),
        "neighbors": inv.neighbor_count,
    }
    assert got == expected
    assert inv.vendor is not None
    assert set(inv.complete_sections) == {
        "system",
        "entities",
        "interfaces",
        "ip_addresses",
        "arp",
        "fdb",
        "lldp",
        "cdp",
        "software",
        "storage",
    }


async def test_recordings_cover_chassis_lldp_cdp(snmpsim_devices):
    """The chosen recordings exercise every interesting path at least once."""
    invs = []
    for host in snmpsim_devices.devices:
        session = await open_session(host, port=snmpsim_devices.port, timeout=3)
        invs.append(await collect_device(session, sections=["system", "entities", "lldp", "cdp"]))
    assert sum(1 for i in invs if i.chassis and i.chassis.serial) >= 5
    assert sum(1 for i in invs if i.lldp) >= 3
    assert sum(1 for i in invs if i.cdp) >= 2
    mapped = [n for i in invs for n in i.lldp or () if n.local_port]
    assert mapped, "LLDP local ports should map to interface names"
    report = invs[0].to_report()
    assert report.source == "snmp" and "system" in report.sections


async def test_snmpv1_uses_getnext(snmpsim_devices):
    host = next(iter(snmpsim_devices.devices))
    v1 = await open_session(host, Credential("1", community="public"), snmpsim_devices.port)
    v2 = await open_session(host, Credential("2c", community="public"), snmpsim_devices.port)
    a = await collect_device(v1, sections=["system", "interfaces"])
    b = await collect_device(v2, sections=["system", "interfaces"])
    assert a.interfaces == b.interfaces and a.system.name == b.system.name
    assert a.stats.requests > b.stats.requests  # one row per GETNEXT vs many per GETBULK


# ------------------------------------------------------------------ SNMPv3 (snmpd)
def v3(agent, **overrides) -> Credential:
    fields = dict(
        version="3",
        user=agent.user,
        auth_protocol=agent.auth_protocol,
        auth_password=agent.auth_password,
        priv_protocol=agent.priv_protocol,
        priv_password=agent.priv_password,
        name="v3-test",
    )
    fields.update(overrides)
    return Credential(**fields)


async def test_snmpv3_authpriv(snmpd_v3):
    session = await open_session(snmpd_v3.host, v3(snmpd_v3), snmpd_v3.port, timeout=3)
    inv = await collect_device(session, sections=["system", "interfaces", "software"])
    assert inv.notes == []
    assert inv.system.name == snmpd_v3.sys_name
    auth = [
        "-v3", "-l", "authPriv", "-u", snmpd_v3.user,
        "-a", snmpd_v3.auth_protocol, "-A", snmpd_v3.auth_password,
        "-x", snmpd_v3.priv_protocol, "-X", snmpd_v3.priv_password,
    ]  # fmt: skip
    names = netsnmp(
        "snmpbulkwalk", snmpd_v3.host, snmpd_v3.port, "1.3.6.1.2.1.25.6.3.1.2", auth=auth
    )
    assert len(inv.software) == len(names) > 0
    ifs = netsnmp("snmpbulkwalk", snmpd_v3.host, snmpd_v3.port, "1.3.6.1.2.1.2.2.1.1", auth=auth)
    assert len(inv.interfaces) == len(ifs)


async def test_snmpv3_wrong_password_is_a_clear_error(snmpd_v3):
    bad = v3(snmpd_v3, auth_password="not-the-password", name="v3-bad")
    session = await open_session(snmpd_v3.host, bad, snmpd_v3.port, timeout=1, retries=0)
    with pytest.raises(SnmpAuthError, match="refused the credentials"):
        await session.get(["1.3.6.1.2.1.1.5.0"])
    inv = await collect_device(session)
    assert inv.system is None and inv.complete_sections == ()
    assert any("refused the credentials" in n.message for n in inv.notes)
    # the good profile on the same loop still works after the bad one
    good = await open_session(snmpd_v3.host, v3(snmpd_v3), snmpd_v3.port, timeout=3)
    assert (await good.get(["1.3.6.1.2.1.1.5.0"]))["1.3.6.1.2.1.1.5.0"] == b"cmdb-snmpd-v3"
    results = await sweep(
        [(snmpd_v3.host, snmpd_v3.port)], [bad], timeout=1, retries=0, collect=False
    )
    assert results[0].status == "error" and "refused" in results[0].error


# ------------------------------------------------------------------ silence
async def test_silent_address_times_out_quickly():
    session = await open_session(SILENT, port=1161, timeout=0.3, retries=1)
    t0 = time.perf_counter()
    with pytest.raises(SnmpTimeout, match="no SNMP answer"):
        await session.get(["1.3.6.1.2.1.1.2.0"])
    assert time.perf_counter() - t0 < 1.5
    t0 = time.perf_counter()
    inv = await collect_device(session)
    assert time.perf_counter() - t0 < 1.5
    assert inv.complete_sections == () and len(inv.notes) == 10


async def test_sweep_reports_each_target(snmpsim_devices):
    hosts = list(snmpsim_devices.devices)[:3] + [SILENT]
    creds = [Credential("2c", community="nope", name="nope"), Credential(name="public")]
    seen = []
    results = await sweep(
        hosts,
        creds,
        concurrency=4,
        timeout=0.5,
        retries=0,
        on_progress=lambda r, done, total: seen.append((r.host, done, total)),
        port=snmpsim_devices.port,
    )
    assert [r.host for r in results] == hosts
    assert [r.status for r in results] == ["answered"] * 3 + ["timeout"]
    assert all(r.credential == "public" and r.credential_index == 1 for r in results[:3])
    assert all(r.inventory and r.inventory.system for r in results[:3])
    assert results[0].sys_object_id.startswith("1.3.6.1.4.1.")
    assert len(seen) == 4 and seen[-1][1:] == (4, 4)
