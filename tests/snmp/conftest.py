"""Simulated SNMP agents for the tests, on loopback addresses only.

``snmpsim_devices`` serves recordings of real switches, routers and firewalls
(one per address, 127.0.1.X:1161, community ``public``); ``snmpd_v3`` runs
Debian snmpd as an SNMPv3 authPriv agent on 127.0.0.20:1162. Both start
themselves once per session (or reuse agents already answering there) and stop
at the end if they started them. When they cannot start the tests skip, except
under ``CI=true`` where that fails the run.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from deploy.snmpsim import simulator


def _unavailable(what: str, exc: BaseException) -> None:
    message = f"{what} could not start: {exc}"
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(message, pytrace=False)
    pytest.skip(message)


@dataclass(frozen=True)
class SimulatedDevices:
    devices: dict[str, str]  # address -> recording short name
    port: int
    community: str


@pytest.fixture(scope="session")
def snmpsim_devices() -> Iterator[SimulatedDevices]:
    try:
        import snmpsim_data  # noqa: F401

        sim = simulator.start_snmpsim(simulator.TEST_DEVICES, log_name="test")
    except Exception as exc:
        _unavailable("snmpsim", exc)
    try:
        yield SimulatedDevices(dict(sim.devices), sim.port, simulator.COMMUNITY)
    finally:
        sim.stop()


@pytest.fixture(scope="session")
def snmpd_v3() -> Iterator[simulator.V3Agent]:
    if not (shutil.which("snmpd") or os.path.exists("/usr/sbin/snmpd")):
        _unavailable("snmpd", FileNotFoundError("snmpd is not installed"))
    try:
        agent = simulator.start_snmpd()
    except Exception as exc:
        _unavailable("snmpd", exc)
    try:
        yield agent.agent
    finally:
        agent.stop()


@pytest.fixture(scope="session")
def snmp_cases() -> Iterator[simulator.CaseSimulators]:
    """Every device of tests/fixtures/cases/snmp served on its own 127.0.2.X:1161
    (community ``public``); ``snmp_cases.addresses(case)`` -> {device folder: address}.
    Use ``tests.snmp.cases.scan_case`` to collect a case as a scan does."""
    try:
        import snmpsim  # noqa: F401

        cases = simulator.start_cases()
    except Exception as exc:
        _unavailable("snmpsim (cases)", exc)
    try:
        yield cases
    finally:
        cases.stop()
