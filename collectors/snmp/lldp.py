"""LLDP-MIB: remote systems (lldpRemTable, lldpRemManAddrTable), local ports mapped
to interface names through lldpLocPortTable."""

from __future__ import annotations

from collections.abc import Iterable

from collectors.snmp.convert import enum, hex_or_text, inet_address_from_index, ip_from_octets, mac
from collectors.snmp.convert import text as text_
from collectors.snmp.mib import Column, Table, read_table
from collectors.snmp.records import Interface, LldpNeighbor
from collectors.snmp.session import SnmpSession, Value

CHASSIS_SUBTYPE = {
    1: "chassisComponent",
    2: "interfaceAlias",
    3: "portComponent",
    4: "macAddress",
    5: "networkAddress",
    6: "interfaceName",
    7: "local",
}
PORT_SUBTYPE = {
    1: "interfaceAlias",
    2: "portComponent",
    3: "macAddress",
    4: "networkAddress",
    5: "interfaceName",
    6: "agentCircuitId",
    7: "local",
}

LOC_PORT = Table(
    "lldpLocPortTable",
    "1.0.8802.1.1.2.1.3.7.1",
    {
        2: Column("id_subtype", enum(PORT_SUBTYPE)),
        3: Column("id", hex_or_text),
        4: Column("descr", text_),
    },
)
REM = Table(
    "lldpRemTable",
    "1.0.8802.1.1.2.1.4.1.1",
    {
        4: Column("chassis_id_subtype", enum(CHASSIS_SUBTYPE)),
        5: Column("chassis_id_raw"),
        6: Column("port_id_subtype", enum(PORT_SUBTYPE)),
        7: Column("port_id_raw"),
        8: Column("port_descr", text_),
        9: Column("sys_name", text_),
        10: Column("sys_descr", text_),
    },
)
REM_MAN_ADDR = Table("lldpRemManAddrTable", "1.0.8802.1.1.2.1.4.2.1", {3: Column("if_subtype")})
SUBTREES = LOC_PORT.subtrees() + REM.subtrees() + REM_MAN_ADDR.subtrees()


def format_id(subtype: str | None, value: Value) -> str | None:
    """A chassis or port ID rendered by its subtype."""
    if value is None:
        return None
    if subtype == "macAddress":
        return mac(value) or hex_or_text(value)
    if subtype == "networkAddress" and isinstance(value, bytes) and len(value) > 1:
        return ip_from_octets(value[1:]) or hex_or_text(value)  # first octet: IANA family
    return hex_or_text(value)


def local_port_map(
    loc_rows: dict, interfaces: Iterable[Interface] | None
) -> dict[int, tuple[str | None, int | None]]:
    """lldpLocPortNum -> (interface name, ifIndex).

    Matches the port's ID or description against ifName/ifDescr; failing that,
    agents that number LLDP ports by ifIndex are matched by number.
    """
    ifs = list(interfaces or ())
    by_name: dict[str, Interface] = {}
    for i in ifs:
        for key in (i.descr, i.name):
            if key:
                by_name.setdefault(key, i)
    by_index = {i.index: i for i in ifs}
    out: dict[int, tuple[str | None, int | None]] = {}
    for index, row in loc_rows.items():
        if len(index) != 1:
            continue
        num = index[0]
        hit = next(
            (by_name[k] for k in (row["id"], row["descr"]) if k and k in by_name), None
        ) or by_index.get(num)
        if hit is not None:
            out[num] = (hit.name, hit.index)
        else:
            out[num] = (row["descr"] or row["id"], None)
    return out


def transform(
    loc_rows: dict, rem_rows: dict, man_rows: dict, interfaces: Iterable[Interface] | None = None
) -> tuple[LldpNeighbor, ...]:
    ports = local_port_map(loc_rows, interfaces)
    for i in interfaces or ():  # no lldpLocPortTable row: ports numbered by ifIndex
        ports.setdefault(i.index, (i.name, i.index))
    addrs: dict[tuple[int, ...], list[str]] = {}
    for index, _row in man_rows.items():
        ip, rest = inet_address_from_index(index[3:])
        if ip is not None and not rest:
            addrs.setdefault(tuple(index[:3]), []).append(ip)
    out = []
    for index, row in rem_rows.items():
        if len(index) != 3:
            continue
        local = index[1]
        name, if_index = ports.get(local, (None, None))
        out.append(
            LldpNeighbor(
                local_port_num=local,
                local_port=name,
                local_if_index=if_index,
                chassis_id_subtype=row["chassis_id_subtype"],
                chassis_id=format_id(row["chassis_id_subtype"], row["chassis_id_raw"]),
                port_id_subtype=row["port_id_subtype"],
                port_id=format_id(row["port_id_subtype"], row["port_id_raw"]),
                port_descr=row["port_descr"],
                sys_name=row["sys_name"],
                sys_descr=row["sys_descr"],
                management_addresses=tuple(addrs.get(tuple(index), ())),
            )
        )
    return tuple(out)


async def collect(
    session: SnmpSession, interfaces: Iterable[Interface] | None = None
) -> tuple[LldpNeighbor, ...]:
    rem = await read_table(session, REM)
    if not rem:
        return ()
    loc = await read_table(session, LOC_PORT)
    man = await read_table(session, REM_MAN_ADDR)
    return transform(loc, rem, man, interfaces)
