"""LLDP-MIB: the local system (lldpLocChassisId, lldpLocPortTable) and the remote
systems (lldpRemTable, lldpRemManAddrTable), with each neighbour's local port
number mapped to our interface.

lldpRemLocalPortNum is an lldpLocPortNum, which agents number in one of three
ways; it is mapped, in this order:

1. ``lldpLocPortId`` read by its subtype: interfaceName/local -> ifName or
   ifDescr, interfaceAlias -> ifAlias, macAddress -> the one interface with
   that MAC (a MAC several interfaces share, as VLAN interfaces do, matches
   nothing); then ``lldpLocPortDesc`` -> ifDescr/ifName;
2. ``dot1dBasePortIfIndex``: on bridges the number is a bridge port number;
3. the number as an ``ifIndex``, when it is not a bridge port number (NX-OS numbers
   its LLDP ports by ifIndex, 436207616 and the like, beside a bridge port table).

A number none of these resolves stays unresolved (``local_port_source`` None):
a wrong port is worse than none. When the interfaces were not read, a port
keeps the name it gives itself (an interfaceName ID, else its description)
with no ifIndex.
"""

from __future__ import annotations

from collections.abc import Iterable

from cmdb.collectors.snmp.convert import (
    enum,
    hex_or_text,
    inet_address_from_index,
    ip_from_octets,
    mac,
)
from cmdb.collectors.snmp.convert import text as text_
from cmdb.collectors.snmp.mib import Column, Scalars, Table, read_scalars, read_table
from cmdb.collectors.snmp.records import (
    BridgeInfo,
    Interface,
    LldpLocal,
    LldpLocalPort,
    LldpNeighbor,
)
from cmdb.collectors.snmp.session import SnmpSession, Value

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

LOC_SYSTEM = Scalars(
    "lldpLocalSystemData",
    {
        "1.0.8802.1.1.2.1.3.1.0": Column("chassis_id_subtype", enum(CHASSIS_SUBTYPE)),
        "1.0.8802.1.1.2.1.3.2.0": Column("chassis_id_raw"),
        "1.0.8802.1.1.2.1.3.3.0": Column("sys_name", text_),
    },
)
LOC_PORT = Table(
    "lldpLocPortTable",
    "1.0.8802.1.1.2.1.3.7.1",
    {
        2: Column("id_subtype", enum(PORT_SUBTYPE)),
        3: Column("id_raw"),
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
LOCAL_SUBTREES = LOC_SYSTEM.subtrees() + LOC_PORT.subtrees()
SUBTREES = REM.subtrees() + REM_MAN_ADDR.subtrees()

# local_port_source values
BY_PORT_ID = "lldpLocPortId"
BY_PORT_DESCR = "lldpLocPortDesc"
BY_BRIDGE_PORT = "dot1dBasePortIfIndex"
BY_IF_INDEX = "ifIndex"


def format_id(subtype: str | None, value: Value) -> str | None:
    """A chassis or port ID rendered by its subtype."""
    if value is None:
        return None
    if subtype == "macAddress":
        return mac(value) or hex_or_text(value)
    if subtype == "networkAddress" and isinstance(value, bytes) and len(value) > 1:
        return ip_from_octets(value[1:]) or hex_or_text(value)  # first octet: IANA family
    return hex_or_text(value)


def transform_local(system: dict, loc_rows: dict) -> LldpLocal:
    ports = tuple(
        LldpLocalPort(
            port_num=index[0],
            id_subtype=row["id_subtype"],
            id=format_id(row["id_subtype"], row["id_raw"]),
            descr=row["descr"],
        )
        for index, row in loc_rows.items()
        if len(index) == 1
    )
    subtype = system["chassis_id_subtype"]
    return LldpLocal(
        chassis_id_subtype=subtype,
        chassis_id=format_id(subtype, system["chassis_id_raw"]),
        sys_name=system["sys_name"],
        ports=ports,
    )


def _unique(matches: Iterable[Interface]) -> Interface | None:
    found = {i.index: i for i in matches}
    return next(iter(found.values())) if len(found) == 1 else None


def _by_port_id(port: LldpLocalPort, ifs: list[Interface]) -> Interface | None:
    """The interface the port's ID names, read by the ID's subtype."""
    pid = port.id
    if not pid:
        return None
    if port.id_subtype == "macAddress":
        m = mac(pid)
        return _unique(i for i in ifs if m and i.mac == m)
    if port.id_subtype == "interfaceAlias":
        return _unique(i for i in ifs if i.alias == pid)
    if port.id_subtype == "networkAddress":
        return None  # an address names the device, not a port
    # interfaceName, local, portComponent, agentCircuitId: names first, exact then
    # case-blind; a "local" ID that is a number is often the ifIndex
    hit = _unique(i for i in ifs if pid in (i.name, i.descr))
    if hit is None:
        low = pid.casefold()
        hit = _unique(
            i for i in ifs if low in ((i.name or "").casefold(), (i.descr or "").casefold())
        )
    if hit is None and port.id_subtype == "local" and pid.isdigit():
        hit = _unique(i for i in ifs if i.index == int(pid))
    return hit


def _own_name(port: LldpLocalPort) -> str | None:
    """The name the port gives itself: an interfaceName ID, else its description."""
    return port.id if port.id_subtype == "interfaceName" and port.id else port.descr


def _own_name_source(port: LldpLocalPort) -> str:
    return BY_PORT_ID if port.id_subtype == "interfaceName" and port.id else BY_PORT_DESCR


def local_port_map(
    local: LldpLocal | None,
    interfaces: Iterable[Interface] | None,
    bridge: BridgeInfo | None = None,
    numbers: Iterable[int] = (),
) -> dict[int, tuple[str | None, int | None, str | None]]:
    """lldpLocPortNum -> (interface name, ifIndex, how it was found) for every port
    number of ``local`` and ``numbers``; see the module docstring for the order."""
    ifs = list(interfaces or ())
    by_index = {i.index: i for i in ifs}
    ports = {p.port_num: p for p in (local.ports if local else ())}
    bridge_ports = {p.port: p.if_index for p in (bridge.ports if bridge else ())}
    out: dict[int, tuple[str | None, int | None, str | None]] = {}
    for num in sorted(set(ports) | set(numbers)):
        port = ports.get(num)
        hit: Interface | None = None
        source: str | None = None
        if port is not None:
            hit = _by_port_id(port, ifs)
            source = BY_PORT_ID
            if hit is None and port.descr:
                hit = _unique(i for i in ifs if port.descr in (i.descr, i.name))
                source = BY_PORT_DESCR
        if hit is not None:
            out[num] = (hit.name, hit.index, source)
        elif interfaces is None and port is not None and _own_name(port):
            # interfaces not read: the port's own name is all there is to say
            out[num] = (_own_name(port), None, _own_name_source(port))
        elif bridge_ports.get(num):
            if_index = bridge_ports[num]
            nic = by_index.get(if_index)
            out[num] = (nic.name if nic else None, if_index, BY_BRIDGE_PORT)
        elif num in by_index and num not in bridge_ports:
            # not a bridge port number: agents that number LLDP ports by ifIndex (NX-OS)
            out[num] = (by_index[num].name, num, BY_IF_INDEX)
        else:
            out[num] = (None, None, None)
    return out


def _as_local(local: LldpLocal | dict | None) -> LldpLocal | None:
    """Accept lldpLocPortTable rows (``{(num,): {"id_subtype", "id" | "id_raw", "descr"}}``)."""
    if local is None or isinstance(local, LldpLocal):
        return local
    ports = tuple(
        LldpLocalPort(
            index[0],
            row.get("id_subtype"),
            row["id"] if "id" in row else format_id(row.get("id_subtype"), row.get("id_raw")),
            row.get("descr"),
        )
        for index, row in local.items()
        if len(index) == 1
    )
    return LldpLocal(None, None, None, ports)


def transform(
    local: LldpLocal | dict | None,
    rem_rows: dict,
    man_rows: dict,
    interfaces: Iterable[Interface] | None = None,
    bridge: BridgeInfo | None = None,
) -> tuple[LldpNeighbor, ...]:
    """lldpRemTable rows (+ lldpRemManAddrTable) -> neighbours with their local port
    resolved through ``local`` (an ``LldpLocal`` or raw lldpLocPortTable rows) and ``bridge``."""
    local = _as_local(local)
    numbers = {index[1] for index in rem_rows if len(index) == 3}
    ports = local_port_map(local, interfaces, bridge, numbers)
    addrs: dict[tuple[int, ...], list[str]] = {}
    for index, _row in man_rows.items():
        ip, rest = inet_address_from_index(index[3:])
        if ip is not None and not rest:
            addrs.setdefault(tuple(index[:3]), []).append(ip)
    out = []
    for index, row in rem_rows.items():
        if len(index) != 3:
            continue
        local_num = index[1]
        name, if_index, source = ports.get(local_num, (None, None, None))
        out.append(
            LldpNeighbor(
                local_port_num=local_num,
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
                local_port_source=source,
            )
        )
    return tuple(out)


async def collect_local(session: SnmpSession) -> LldpLocal:
    """lldpLocChassisId (+ subtype, sysName) and lldpLocPortTable."""
    system = await read_scalars(session, LOC_SYSTEM)
    return transform_local(system, await read_table(session, LOC_PORT))


async def collect(
    session: SnmpSession,
    interfaces: Iterable[Interface] | None = None,
    local: LldpLocal | None = None,
    bridge: BridgeInfo | None = None,
) -> tuple[LldpNeighbor, ...]:
    rem = await read_table(session, REM)
    if not rem:
        return ()
    man = await read_table(session, REM_MAN_ADDR)
    return transform(local, rem, man, interfaces, bridge)
