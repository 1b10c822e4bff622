"""Full inventory of one device: every MIB area, each a section that is read
completely, read in part (with a partial note), or absent (with a note).

Phases (Netdisco-style): ``system`` first (if the device does not answer it,
nothing else is tried); then the device itself (entities, interfaces, the
bridge, the LLDP local system); then the areas that join against those (LLDP
and CDP neighbours, FDB) and the rest. Areas run concurrently up to
``parallel`` at a time on the one session.

No silent gaps: every MIB table is its own unit of completeness (``mib``); a
section whose tables all failed is absent with a note (``partial`` False), a
section with a failed or cut-short table keeps what was read and has a note
(``partial`` True) naming each table and why. The session retries timeouts
with fewer repetitions, then GETNEXT, until ``budget`` seconds are spent.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

from cmdb.collectors.model import Note
from cmdb.collectors.snmp import (
    bridge,
    cdp,
    entity,
    host_resources,
    interfaces,
    ip,
    lldp,
    system,
)
from cmdb.collectors.snmp.convert import legacy_charset
from cmdb.collectors.snmp.mib import TableLog, recording
from cmdb.collectors.snmp.records import (
    SNMP_SECTIONS,
    UNITS,
    CollectorStats,
    DeviceInventory,
    note_name,
    unit_order,
)
from cmdb.collectors.snmp.session import SnmpError, SnmpSession, SnmpTimeout

# section -> the subtrees it reads (for benchmarks and diagnostics)
SUBTREES: dict[str, list[str]] = {
    "system": system.SUBTREES,
    "entities": entity.SUBTREES,
    "interfaces": interfaces.SUBTREES,
    "bridge": bridge.BRIDGE_SUBTREES,
    "lldp_local": lldp.LOCAL_SUBTREES,
    "ip_addresses": ip.ADDRESS_SUBTREES,
    "arp": ip.ARP_SUBTREES,
    "fdb": bridge.SUBTREES,
    "lldp": lldp.SUBTREES,
    "cdp": cdp.SUBTREES,
    "software": host_resources.SOFTWARE_SUBTREES,
    "storage": host_resources.STORAGE_SUBTREES,
}

DEFAULT_BUDGET = 120.0  # seconds one device's inventory may take, retries included


def _note(unit: str, exc: BaseException) -> Note:
    name = note_name(unit)
    if isinstance(exc, SnmpError):
        return Note(name, f"not read: {exc}", partial=False)
    return Note(name, f"not read: collector error {type(exc).__name__}: {exc}", partial=False)


def _wanted(sections: Iterable[str] | None) -> set[str]:
    """The units to collect; LLDP neighbours need the LLDP local system and the bridge
    port table to map their local ports, the FDB needs the bridge port table."""
    wanted = set(sections) if sections is not None else set(UNITS)
    unknown = wanted - set(UNITS)
    if unknown:
        raise ValueError(f"unknown SNMP sections: {', '.join(sorted(unknown))}")
    if "lldp" in wanted:
        wanted |= {"lldp_local", "bridge"}
    if "fdb" in wanted:
        wanted.add("bridge")
    return wanted


def _describe(log: TableLog) -> str:
    """``dot1dTpFdbTable read in part (12 rows): column ...: reason; ...``"""
    return "; ".join(
        f"{t.table}: {t.reason}"
        if t.status == "failed"
        else f"{t.table} read in part ({t.rows} rows): {t.reason}"
        for t in log.faults
    )


async def collect_device(
    session: SnmpSession,
    *,
    sections: Iterable[str] | None = None,
    parallel: int = 4,
    budget: float | None = DEFAULT_BUDGET,
    charset: str | None = None,
) -> DeviceInventory:
    """Read every MIB area of the device behind ``session``; never raises for SNMP errors.

    ``budget``: seconds after which walks stop (what was read is kept, with a
    note); None for no limit. ``charset``: the legacy charset for strings that
    are not UTF-8 (default cp1252, then latin-1).
    """
    wanted = _wanted(sections)
    with legacy_charset(charset):
        return await _collect(session, wanted, parallel, budget)


async def _collect(
    session: SnmpSession, wanted: set[str], parallel: int, budget: float | None
) -> DeviceInventory:
    inv = DeviceInventory(session.host, session.port, session.credential.label)
    started = time.perf_counter()
    requests_before, stepdowns_before = session.requests, session.stepdowns
    session.deadline = time.monotonic() + budget if budget else None
    limit = asyncio.Semaphore(max(1, parallel))

    async def run(section: str, fn: Callable[[], Awaitable[Any]]) -> None:
        if section not in wanted:
            return
        async with limit:
            with recording(section) as log:
                try:
                    value = await fn()
                except asyncio.CancelledError:
                    raise
                except Exception as exc:  # one area failing is a note, never a failed scan
                    inv.notes.append(_note(section, exc))
                    value = None
            inv.tables.extend((section, t) for t in log.tables)
            if value is None:
                return
            if log.nothing_read:
                inv.notes.append(
                    Note(note_name(section), f"not read: {_describe(log)}", partial=False)
                )
                return
            if log.faults:
                inv.notes.append(Note(note_name(section), _describe(log), partial=True))
            setattr(inv, section, value)

    try:
        # phase 1: does it answer at all?
        try:
            inv.system = await system.collect(session)
        except SnmpTimeout as exc:
            inv.notes.append(_note("system", exc))
            inv.notes.extend(
                Note(
                    note_name(s),
                    "not read: the device did not answer the system group",
                    partial=False,
                )
                for s in SNMP_SECTIONS  # the device parts go with the device: no note each
                if s != "system" and s in wanted
            )
            return _finish(inv, session, started, requests_before, stepdowns_before)
        except Exception as exc:
            inv.notes.append(_note("system", exc))

        # phase 2: the device itself
        await asyncio.gather(
            run("entities", lambda: entity.collect(session)),
            run("interfaces", lambda: interfaces.collect(session)),
            run("bridge", lambda: bridge.collect_bridge(session)),
            run("lldp_local", lambda: lldp.collect_local(session)),
        )
        if inv.entities is not None:
            inv.chassis = entity.chassis(inv.entities)
            inv.members = entity.members(inv.entities)

        # phase 3: addresses, neighbours, forwarding, host resources
        ifs, br, local = inv.interfaces, inv.bridge, inv.lldp_local
        await asyncio.gather(
            run("lldp", lambda: lldp.collect(session, ifs, local, br)),
            run("cdp", lambda: cdp.collect(session, ifs)),
            run("ip_addresses", lambda: ip.collect_addresses(session)),
            run("arp", lambda: ip.collect_arp(session)),
            run("fdb", lambda: bridge.collect(session, br)),
            run("software", lambda: host_resources.collect_software(session)),
            run("storage", lambda: host_resources.collect_storage(session)),
        )
    finally:
        session.deadline = None
    inv.notes.sort(key=lambda n: unit_order(n.section))
    return _finish(inv, session, started, requests_before, stepdowns_before)


def _finish(
    inv: DeviceInventory,
    session: SnmpSession,
    started: float,
    requests_before: int,
    stepdowns_before: int,
) -> DeviceInventory:
    inv.stats = CollectorStats(
        duration_ms=round((time.perf_counter() - started) * 1000),
        requests=session.requests - requests_before,
        stepdowns=session.stepdowns - stepdowns_before,
    )
    return inv
