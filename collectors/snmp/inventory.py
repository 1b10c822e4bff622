"""Full inventory of one device: every MIB area, each a section that is either
read completely or absent with a note.

Phases (Netdisco-style): ``system`` first (if the device does not answer it,
nothing else is tried); then entities and interfaces; then the areas that join
against interfaces (LLDP, CDP) and the rest. Areas run concurrently up to
``parallel`` at a time on the one session.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

from collectors.model import Note
from collectors.snmp import (
    bridge,
    cdp,
    entity,
    host_resources,
    interfaces,
    ip,
    lldp,
    system,
)
from collectors.snmp.records import SNMP_SECTIONS, CollectorStats, DeviceInventory
from collectors.snmp.session import SnmpError, SnmpSession, SnmpTimeout

# section -> the subtrees it reads (for benchmarks and diagnostics)
SUBTREES: dict[str, list[str]] = {
    "system": system.SUBTREES,
    "entities": entity.SUBTREES,
    "interfaces": interfaces.SUBTREES,
    "ip_addresses": ip.ADDRESS_SUBTREES,
    "arp": ip.ARP_SUBTREES,
    "fdb": bridge.SUBTREES,
    "lldp": lldp.SUBTREES,
    "cdp": cdp.SUBTREES,
    "software": host_resources.SOFTWARE_SUBTREES,
    "storage": host_resources.STORAGE_SUBTREES,
}


def _note(section: str, exc: BaseException) -> Note:
    if isinstance(exc, SnmpError):
        return Note(section, f"not read: {exc}")
    return Note(section, f"not read: collector error {type(exc).__name__}: {exc}")


async def collect_device(
    session: SnmpSession,
    *,
    sections: Iterable[str] | None = None,
    parallel: int = 4,
) -> DeviceInventory:
    """Read every MIB area of the device behind ``session``; never raises for SNMP errors."""
    wanted = set(sections) if sections is not None else set(SNMP_SECTIONS)
    unknown = wanted - set(SNMP_SECTIONS)
    if unknown:
        raise ValueError(f"unknown SNMP sections: {', '.join(sorted(unknown))}")
    inv = DeviceInventory(session.host, session.port, session.credential.label)
    started = time.perf_counter()
    requests_before = session.requests
    limit = asyncio.Semaphore(max(1, parallel))

    async def run(section: str, fn: Callable[[], Awaitable[Any]]) -> None:
        if section not in wanted:
            return
        async with limit:
            try:
                setattr(inv, section, await fn())
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # one table failing is a note, never a failed scan
                inv.notes.append(_note(section, exc))

    # phase 1: does it answer at all?
    try:
        inv.system = await system.collect(session)
    except SnmpTimeout as exc:
        inv.notes.append(_note("system", exc))
        inv.notes.extend(
            Note(s, "not read: the device did not answer the system group")
            for s in SNMP_SECTIONS
            if s != "system" and s in wanted
        )
        return _finish(inv, session, started, requests_before)
    except Exception as exc:
        inv.notes.append(_note("system", exc))

    # phase 2: the device itself
    await asyncio.gather(
        run("entities", lambda: entity.collect(session)),
        run("interfaces", lambda: interfaces.collect(session)),
    )
    if inv.entities is not None:
        inv.chassis = entity.chassis(inv.entities)

    # phase 3: addresses, neighbours, forwarding, host resources
    ifs = inv.interfaces
    await asyncio.gather(
        run("lldp", lambda: lldp.collect(session, ifs)),
        run("cdp", lambda: cdp.collect(session, ifs)),
        run("ip_addresses", lambda: ip.collect_addresses(session)),
        run("arp", lambda: ip.collect_arp(session)),
        run("fdb", lambda: bridge.collect(session)),
        run("software", lambda: host_resources.collect_software(session)),
        run("storage", lambda: host_resources.collect_storage(session)),
    )
    inv.notes.sort(key=lambda n: SNMP_SECTIONS.index(n.section))
    return _finish(inv, session, started, requests_before)


def _finish(
    inv: DeviceInventory, session: SnmpSession, started: float, requests_before: int
) -> DeviceInventory:
    inv.stats = CollectorStats(
        duration_ms=round((time.perf_counter() - started) * 1000),
        requests=session.requests - requests_before,
    )
    return inv
