"""IF-MIB ifTable + ifXTable: one record per ifIndex."""

from __future__ import annotations

from cmdb.collectors.snmp.convert import enum, first, integer, mac, positive, text
from cmdb.collectors.snmp.mib import Column, Table, read_table
from cmdb.collectors.snmp.records import Interface
from cmdb.collectors.snmp.session import SnmpSession

IF_TYPE = {
    1: "other",
    6: "ethernetCsmacd",
    22: "propPointToPointSerial",
    23: "ppp",
    24: "softwareLoopback",
    32: "frameRelay",
    37: "atm",
    49: "aal5",
    53: "propVirtual",
    56: "fibreChannel",
    62: "fastEther",
    71: "ieee80211",
    117: "gigabitEthernet",
    131: "tunnel",
    135: "l2vlan",
    136: "l3ipvlan",
    142: "ipForward",
    150: "mplsTunnel",
    161: "ieee8023adLag",
    166: "mpls",
    209: "bridge",
}
ADMIN_STATUS = {1: "up", 2: "down", 3: "testing"}
OPER_STATUS = {
    1: "up",
    2: "down",
    3: "testing",
    4: "unknown",
    5: "dormant",
    6: "notPresent",
    7: "lowerLayerDown",
}

IF_TABLE = Table(
    "ifTable",
    "1.3.6.1.2.1.2.2.1",
    {
        1: Column("index", integer),
        2: Column("descr", text),
        3: Column("type", enum(IF_TYPE)),
        4: Column("mtu", positive),
        5: Column("speed", integer),
        6: Column("mac", mac),
        7: Column("admin_status", enum(ADMIN_STATUS)),
        8: Column("oper_status", enum(OPER_STATUS)),
    },
)
IFX_TABLE = Table(
    "ifXTable",
    "1.3.6.1.2.1.31.1.1.1",
    {
        1: Column("name", text),
        15: Column("high_speed", integer),
        18: Column("alias", text),
    },
)
SUBTREES = IF_TABLE.subtrees() + IFX_TABLE.subtrees()


def speed_mbps(high_speed: int | None, speed: int | None) -> int | None:
    """ifHighSpeed (Mbps) when the agent has it, else ifSpeed (bps) in Mbps."""
    if high_speed:
        return high_speed
    if speed:
        # ifSpeed saturates at 4294967295 for >= 4.29 Gbps: that is not a speed
        return None if speed >= 4294967295 else max(1, round(speed / 1_000_000))
    return None


def transform(if_rows: dict, ifx_rows: dict) -> tuple[Interface, ...]:
    out = []
    for index, row in if_rows.items():
        if len(index) != 1:
            continue
        x = ifx_rows.get(index, {})
        out.append(
            Interface(
                index=index[0],
                name=first(x.get("name"), row["descr"]),
                descr=row["descr"],
                alias=x.get("alias"),
                type=row["type"],
                mac=row["mac"],
                speed_mbps=speed_mbps(x.get("high_speed"), row["speed"]),
                mtu=row["mtu"],
                admin_status=row["admin_status"],
                oper_status=row["oper_status"],
            )
        )
    return tuple(out)


async def collect(session: SnmpSession) -> tuple[Interface, ...]:
    if_rows = await read_table(session, IF_TABLE)
    ifx_rows = await read_table(session, IFX_TABLE) if if_rows else {}
    return transform(if_rows, ifx_rows)
