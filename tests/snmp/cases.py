"""API: ``reports = await scan_case(snmp_cases, "stack-serials")`` -> {device folder: report}.
It runs the scan's own sweep (``cmdb.server.scans.manager.run_sweep`` + ``device_report``, default
ScanRequest timing) against the case's devices served by the ``snmp_cases`` fixture; feed the
reports to ``Ingestor(store).ingest`` in the order you need. A device that does not answer fails.

New and changed SNMP report fields (collectors/model.py ``SNMP_SECTION_SCHEMAS`` documents each):

* ``notes[]``: ``{"section", "message", "partial"}``; ``partial: true`` = the section IS in
  ``sections`` but holds only the rows read before a fault or lacks a table (add its facts,
  close nothing); ``partial: false`` = the section is absent (not read at all). Notes about
  the two units inside ``device`` name them ``device.bridge`` / ``device.lldp_local``.
* ``collector.tables``: ``{MIB table name: {"section", "status": "complete"|"partial"|"failed",
  "rows", "reason"}}`` for every table walked; ``collector.complete``: bool (no notes);
  ``collector.stepdowns``: timeouts answered with fewer repetitions / GETNEXT.
* ``sections.device.lldp_local`` (object, null when not read; null fields and ``ports: []``
  on a device without LLDP-MIB): ``chassis_id_subtype`` (lldpLocChassisIdSubtype label:
  macAddress, networkAddress, interfaceName, local, ...), ``chassis_id`` (lldpLocChassisId
  rendered by subtype exactly as lldp[].chassis_id is: MAC ``aa:bb:..``, an IP, text or hex),
  ``sys_name`` (lldpLocSysName), ``ports``: ``[{"port_num" (lldpLocPortNum), "id_subtype"
  (lldpLocPortIdSubtype label), "id" (lldpLocPortId by subtype), "descr" (lldpLocPortDesc)}]``.
* ``sections.device.bridge`` (object, null when not read; ``base_address`` null and
  ``ports: []`` on non-bridges): ``base_address`` (dot1dBaseBridgeAddress, ``aa:bb:..``),
  ``ports``: ``[{"port" (dot1dBasePort), "if_index" (dot1dBasePortIfIndex)}]``.
* ``sections.device.members``: every ENTITY-MIB chassis(3)/stack(11) row, ``[{"index",
  "entity_class", "member", "serial", "model", "name", "descr", "manufacturer", "hardware_rev",
  "software_rev", "contained_in"}]`` (``member`` = entPhysicalParentRelPos, else the number in
  "Switch N" of a chassis inside a stack; None otherwise); ``None`` when entities were not
  read. ``device.chassis`` stays (first top-level chassis, else first chassis).
* ``sections.lldp[]`` (lldpRemTable) keeps ``local_port_num`` = raw lldpRemLocalPortNum,
  ``chassis_id_subtype``/``port_id_subtype`` (lldpRemChassisIdSubtype/lldpRemPortIdSubtype labels),
  ``chassis_id``/``port_id`` rendered by subtype, and adds ``local_port_source``: how the collector
  mapped the number to ``local_if_index``/``local_port``: ``"lldpLocPortId"`` (port ID matched
  by its subtype: name/alias/unique MAC), ``"lldpLocPortDesc"``, ``"dot1dBasePortIfIndex"``,
  ``"ifIndex"`` (only on a device without a bridge port table), or ``None`` (unresolved:
  ``local_if_index`` and ``local_port`` are then None, never a guess).
* ``sections.cdp[]`` adds ``address_type`` (cdpCacheAddressType, 1 = ip); ``address`` is decoded
  only for type 1 and kept as read (0.0.0.0 included: usability is reconciliation's call).
* ``sections.entities[]`` adds ``parent_rel_pos`` (entPhysicalParentRelPos).
* Strings: not-UTF-8 octets are decoded cp1252 (configurable), then latin-1; never U+FFFD.
"""

from __future__ import annotations

from typing import Any

from cmdb.collectors.snmp.session import Credential
from cmdb.collectors.snmp.sweep import SweepTarget
from cmdb.server.scans.manager import ScanRequest, device_report, run_sweep
from deploy.snmpsim.simulator import COMMUNITY, CaseSimulators

CASE_SCAN_ID = "case-scan"


async def scan_case(
    snmp_cases: CaseSimulators, name: str, **request: Any
) -> dict[str, dict[str, Any]]:
    """Collect every device of case ``name`` as a scan does; {device folder: report JSON}.

    ``request`` overrides ``ScanRequest`` fields (timeout, retries, device_budget, ...).
    """
    addresses = snmp_cases.addresses(name)
    credentials = [Credential("2c", community=COMMUNITY, name="public")]
    scan = ScanRequest(
        targets=list(addresses.values()),
        credentials=credentials,
        port=snmp_cases.port,
        **request,
    )
    targets = [SweepTarget(a, snmp_cases.port) for a in addresses.values()]
    results = {r.host: r for r in await run_sweep(scan, targets, credentials)}
    out: dict[str, dict[str, Any]] = {}
    for device, address in sorted(addresses.items()):
        result = results[address]
        if result.inventory is None:
            raise AssertionError(
                f"{name}/{device} at {address} was not inventoried: {result.status} "
                f"{result.error or ''}"
            )
        out[device] = device_report(result, CASE_SCAN_ID)
    return out
