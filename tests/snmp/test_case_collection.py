"""The collector's report for each recorded failure case (tests/fixtures/cases/snmp):
the right sections, fields and notes, as a scan would post them (``scan_case``)."""

from __future__ import annotations

import pytest

from cmdb.collectors.snmp.session import Credential
from cmdb.collectors.snmp.sweep import SweepTarget
from cmdb.server.ingest import validate_report
from cmdb.server.scans.manager import (
    ScanRequest,
    ScanState,
    completeness,
    outcome_message,
    run_sweep,
)
from tests.snmp.cases import scan_case

pytestmark = pytest.mark.snmp


def by(rows: list[dict], key: str) -> dict:
    return {r[key]: r for r in rows}


def tables(report: dict) -> dict[str, str]:
    return {name: t["status"] for name, t in report["collector"]["tables"].items()}


async def test_every_case_report_validates(snmp_cases):
    cases = sorted({d.case for d in snmp_cases.devices.values()} - {"slow-fdb-silent"})
    for case in cases:
        for device, report in (await scan_case(snmp_cases, case)).items():
            validate_report(report)  # the schema the server checks, SNMP sections included
            assert report["sections"]["device"]["host"] == snmp_cases.addresses(case)[device]


async def test_lldp_no_mgmt_fqdn_collects_the_local_chassis_id(snmp_cases):
    reports = await scan_case(snmp_cases, "lldp-no-mgmt-fqdn")
    north, south = reports["north"], reports["south"]
    assert north["notes"] == [] and north["collector"]["complete"] is True
    assert north["sections"]["system"]["name"] == "sw-north.corp.example"
    local = north["sections"]["device"]["lldp_local"]
    assert local["chassis_id_subtype"] == "macAddress"
    assert local["chassis_id"] == "02:d1:00:00:00:00"
    assert local["sys_name"] == "sw-north"
    assert by(local["ports"], "port_num")[4] == {
        "port_num": 4,
        "id_subtype": "interfaceName",
        "id": "Gi0/4",
        "descr": "GigabitEthernet0/4",
    }
    (neighbour,) = north["sections"]["lldp"]
    # the neighbour's chassis ID is rendered exactly as the neighbour renders its own
    assert neighbour["chassis_id"] == south["sections"]["device"]["lldp_local"]["chassis_id"]
    assert neighbour["chassis_id_subtype"] == "macAddress"
    assert (neighbour["port_id_subtype"], neighbour["port_id"]) == ("interfaceName", "Gi0/1")
    assert neighbour["sys_name"] == "sw-south"
    assert neighbour["management_addresses"] == []
    assert (neighbour["local_port_num"], neighbour["local_port"]) == (4, "Gi0/4")
    assert (neighbour["local_if_index"], neighbour["local_port_source"]) == (4, "lldpLocPortId")


async def test_lldp_local_port_is_a_bridge_port_not_an_ifindex(snmp_cases):
    gamma = (await scan_case(snmp_cases, "lldp-localport-bridgeport"))["gamma"]
    (neighbour,) = gamma["sections"]["lldp"]
    assert neighbour["local_port_num"] == 3  # raw lldpRemLocalPortNum
    # not Vlan3 (ifIndex 3): the port's MAC (lldpLocPortId subtype macAddress) names Gi1/0/3
    assert (neighbour["local_port"], neighbour["local_if_index"]) == ("Gi1/0/3", 10103)
    assert neighbour["local_port_source"] == "lldpLocPortId"
    assert neighbour["chassis_id"] == "02:e4:00:00:00:00"
    bridge = gamma["sections"]["device"]["bridge"]
    assert by(bridge["ports"], "port")[3]["if_index"] == 10103
    ports = by(gamma["sections"]["device"]["lldp_local"]["ports"], "port_num")
    assert ports[3]["id_subtype"] == "macAddress" and ports[3]["id"] == "02:e3:00:00:01:03"


async def test_stack_reports_every_member_with_serial_and_number(snmp_cases):
    dev = (await scan_case(snmp_cases, "stack-serials"))["dev"]
    members = dev["sections"]["device"]["members"]
    chassis = [m for m in members if m["entity_class"] == "chassis"]
    assert sorted((m["member"], m["serial"], m["model"]) for m in chassis) == [
        (1, "STK1000AAA", "ACM-2448"),
        (2, "STK2000BBB", "ACM-2448"),
    ]
    (stack,) = [m for m in members if m["entity_class"] == "stack"]
    assert stack["serial"] == "STK1000AAA" and stack["member"] is None
    assert all(e["entity_class"] != "powerSupply" for e in members)
    assert dev["sections"]["device"]["chassis"]["serial"] == "STK1000AAA"


async def test_cdp_neighbours_keep_address_type_and_address_as_read(snmp_cases):
    dev = (await scan_case(snmp_cases, "cdp-zero-address"))["dev"]
    cdp = by(dev["sections"]["cdp"], "device_id")
    assert set(cdp) == {"edge-a", "edge-b"}
    for n in cdp.values():
        assert (n["address_type"], n["address"]) == (1, "0.0.0.0")
    assert (cdp["edge-a"]["local_port"], cdp["edge-b"]["local_port"]) == ("Gi0/1", "Gi0/2")
    assert dev["notes"] == []


async def test_empty_sysname_device_is_reported_with_its_ports(snmp_cases):
    dev = (await scan_case(snmp_cases, "empty-sysname"))["dev"]
    sections = dev["sections"]
    assert sections["system"]["name"] is None  # empty is unknown, never ""
    assert [i["name"] for i in sections["interfaces"]] == ["port1", "port2", "vlan1"]
    assert by(sections["ip_addresses"], "address")["127.0.4.11"]["if_index"] == 3
    assert sections["entities"] == [] and sections["device"]["members"] == []
    assert sections["device"]["chassis"] is None
    assert sections["device"]["bridge"] == {"base_address": None, "ports": []}
    assert dev["notes"] == []


async def test_fdb_maps_bridge_ports_to_ifindex(snmp_cases):
    reports = await scan_case(snmp_cases, "fdb-uplink-few-macs")
    edge = by(reports["edge"]["sections"]["fdb"], "mac")
    assert edge["02:a1:00:00:00:ff"]["if_index"] == 20001  # the core's MAC on the uplink
    assert edge["02:a9:00:00:00:07"]["if_index"] == 20001  # the host behind the core
    core = by(reports["core"]["sections"]["fdb"], "mac")
    assert (core["02:a9:00:00:00:07"]["bridge_port"], core["02:a9:00:00:00:07"]["if_index"]) == (
        7,
        10007,
    )
    assert by(reports["core"]["sections"]["device"]["bridge"]["ports"], "port")[24] == {
        "port": 24,
        "if_index": 10024,
    }
    assert reports["host"]["sections"]["ip_addresses"][0]["address"] == "127.0.4.93"
    assert all(r["notes"] == [] for r in reports.values())


async def test_backwards_ipaddresstable_keeps_the_clean_ipaddrtable(snmp_cases):
    dev = (await scan_case(snmp_cases, "ipaddresstable-backwards"))["dev"]
    addresses = by(dev["sections"]["ip_addresses"], "address")
    v4 = addresses["127.0.4.81"]
    assert (v4["if_index"], v4["prefixlen"], v4["source"]) == (1, 24, "ipAddrTable")
    # the rows the faulty table gave before it stepped back are kept
    assert addresses["fe80::b8:ff:fe00:1"]["source"] == "ipAddressTable"
    (note,) = dev["notes"]
    assert note["section"] == "ip_addresses" and note["partial"] is True
    assert "ipAddressTable" in note["message"] and "non-increasing" in note["message"]
    assert "ipAddrTable" not in note["message"].replace("ipAddressTable", "")
    status = tables(dev)
    assert (status["ipAddrTable"], status["ipAddressTable"]) == ("complete", "partial")
    assert dev["collector"]["complete"] is False
    # every other section was read completely and has no note
    assert {"interfaces", "entities", "arp", "fdb", "lldp", "cdp"} <= set(dev["sections"])


async def test_partial_device_is_named_in_the_scan_result(snmp_cases):
    addresses = [
        snmp_cases.addresses("ipaddresstable-backwards")["dev"],
        snmp_cases.addresses("cdp-zero-address")["dev"],
    ]
    creds = [Credential("2c", community="public", name="public")]
    request = ScanRequest(targets=addresses, credentials=creds, port=snmp_cases.port)
    results = await run_sweep(request, [SweepTarget(a, snmp_cases.port) for a in addresses], creds)
    state = ScanState(id="t", status="done", total=2, spec="", port=snmp_cases.port, credentials=[])
    for r in results:
        state.devices.append({"target": f"{r.host}:{r.port}", **completeness(r)})
    state.counts["devices"] = 2
    bad, good = state.devices
    assert good == {"target": f"{addresses[1]}:{snmp_cases.port}", "complete": True}
    assert bad["complete"] is False
    assert bad["partial_sections"] == ["ip_addresses"] and bad["missing_sections"] == []
    assert bad["tables"]["ipAddressTable"]["status"] == "partial"
    message = outcome_message(state)
    assert message.startswith("done, 2 devices, 1 partial: " + addresses[0])
    assert "ip_addresses partial (ipAddressTable partial)" in message
    assert "0 errors" not in message


async def test_slow_fdb_is_read_with_smaller_requests(snmp_cases):
    """GETBULK of the slow FDB times out; the session asks for fewer repetitions, then
    GETNEXT, and reads every table within the scan's default time budget."""
    sw = (await scan_case(snmp_cases, "slow-fdb-silent"))["sw"]
    assert sw["notes"] == [] and sw["collector"]["complete"] is True
    assert sw["collector"]["stepdowns"] > 0
    fdb = by(sw["sections"]["fdb"], "mac")
    assert len(fdb) == 20
    host = fdb["02:b1:00:00:00:03"]  # app-03's eth0
    assert (host["bridge_port"], host["if_index"]) == (3, 3)
    assert all(t == "complete" for t in tables(sw).values())


async def test_slow_fdb_out_of_time_says_which_tables_were_not_read(snmp_cases):
    """With a budget too short for the slow table, the report says so: never a silent gap."""
    sw = (await scan_case(snmp_cases, "slow-fdb-silent", device_budget=4.0))["sw"]
    assert sw["collector"]["complete"] is False
    notes = by(sw["notes"], "section")
    assert "fdb" in notes
    assert "dot1dTpFdbTable" in notes["fdb"]["message"]
    assert "time budget" in notes["fdb"]["message"] or "no SNMP answer" in notes["fdb"]["message"]
    status = tables(sw)
    assert status["dot1dTpFdbTable"] in ("partial", "failed")
    if notes["fdb"]["partial"]:
        assert "fdb" in sw["sections"]
    else:
        assert "fdb" not in sw["sections"]
    # whatever a note calls partial is in the report, whatever it calls not read is not
    for note in sw["notes"]:
        if note["section"] in ("device.bridge", "device.lldp_local"):
            continue
        assert (note["section"] in sw["sections"]) is note["partial"]
