"""BRIDGE-MIB and Q-BRIDGE-MIB: the bridge itself (base MAC, bridge port -> ifIndex)
and the forwarding databases (MAC -> bridge port -> ifIndex).

Like most collectors this reads the default context only: per-VLAN FDBs that
Cisco serves under community@vlan are not walked.
"""

from __future__ import annotations

from cmdb.collectors.snmp.convert import enum, integer, mac, mac_from_index
from cmdb.collectors.snmp.mib import Column, Scalars, Table, read_scalars, read_table
from cmdb.collectors.snmp.records import BridgeInfo, BridgePort, FdbEntry
from cmdb.collectors.snmp.session import SnmpSession

FDB_STATUS = {1: "other", 2: "invalid", 3: "learned", 4: "self", 5: "mgmt"}

BASE = Scalars("dot1dBase", {"1.3.6.1.2.1.17.1.1.0": Column("base_address", mac)})
BASE_PORT = Table("dot1dBasePortTable", "1.3.6.1.2.1.17.1.4.1", {2: Column("if_index", integer)})
TP_FDB = Table(
    "dot1dTpFdbTable",
    "1.3.6.1.2.1.17.4.3.1",
    {2: Column("port", integer), 3: Column("status", enum(FDB_STATUS))},
)
Q_TP_FDB = Table(
    "dot1qTpFdbTable",
    "1.3.6.1.2.1.17.7.1.2.2.1",
    {2: Column("port", integer), 3: Column("status", enum(FDB_STATUS))},
)
BRIDGE_SUBTREES = BASE.subtrees() + BASE_PORT.subtrees()
SUBTREES = TP_FDB.subtrees() + Q_TP_FDB.subtrees()


def transform_bridge(base: dict, base_rows: dict) -> BridgeInfo:
    ports = tuple(BridgePort(i[0], r["if_index"]) for i, r in base_rows.items() if len(i) == 1)
    return BridgeInfo(base["base_address"], ports)


async def collect_bridge(session: SnmpSession) -> BridgeInfo:
    """dot1dBaseBridgeAddress and dot1dBasePortTable (no address, no ports: not a bridge)."""
    return transform_bridge(await read_scalars(session, BASE), await read_table(session, BASE_PORT))


def transform(
    base_rows: dict | BridgeInfo, fdb_rows: dict, qfdb_rows: dict
) -> tuple[FdbEntry, ...]:
    if isinstance(base_rows, BridgeInfo):
        port_if = {p.port: p.if_index for p in base_rows.ports}
    else:
        port_if = {i[0]: r["if_index"] for i, r in base_rows.items() if len(i) == 1}
    out: dict[tuple[str, int | None], FdbEntry] = {}
    for index, row in qfdb_rows.items():
        m = mac_from_index(index)
        if m is None or len(index) != 7:
            continue
        port = row["port"] or None
        out[(m, index[0])] = FdbEntry(
            m, port, port_if.get(port), index[0], row["status"], Q_TP_FDB.name
        )
    vlan_macs = {m for m, _ in out}
    for index, row in fdb_rows.items():
        m = mac_from_index(index)
        if m is None or len(index) != 6 or m in vlan_macs:
            continue
        port = row["port"] or None
        out[(m, None)] = FdbEntry(m, port, port_if.get(port), None, row["status"], TP_FDB.name)
    return tuple(out.values())


async def collect(session: SnmpSession, bridge: BridgeInfo | None = None) -> tuple[FdbEntry, ...]:
    """The FDB; bridge ports map to ifIndex through ``bridge`` (read here when not given)."""
    base: dict | BridgeInfo = bridge if bridge is not None else await read_table(session, BASE_PORT)
    fdb = await read_table(session, TP_FDB)
    qfdb = await read_table(session, Q_TP_FDB)
    return transform(base, fdb, qfdb)
