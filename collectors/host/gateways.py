"""Gateways (default and others) from the routing table via netifaces."""

from __future__ import annotations

import socket

import netifaces

from cmdb.collectors.model import Gateway

_FAMILIES = {socket.AF_INET: 4, socket.AF_INET6: 6}


def from_netifaces(table: dict) -> list[Gateway]:
    """Gateway records from a ``netifaces.gateways()`` result."""
    result = []
    seen = set()
    for af, family in _FAMILIES.items():
        for entry in table.get(af, []):
            address, interface = entry[0], entry[1]
            is_default = bool(entry[2]) if len(entry) > 2 else False
            key = (family, address, interface)
            if key in seen:
                continue
            seen.add(key)
            result.append(Gateway(family, address.split("%", 1)[0], interface, is_default))
        default = table.get("default", {}).get(af)
        if default and (family, default[0], default[1]) not in seen:
            seen.add((family, default[0], default[1]))
            result.append(Gateway(family, default[0].split("%", 1)[0], default[1], True))
    return result


def collect() -> list[Gateway]:
    return from_netifaces(netifaces.gateways())
